"""Cycle formulas of the dataflow stages (stall free) — the reference the
SimPy pipeline (bnnarch.dataflow.engine) must reproduce when no FIFO is full
and no stage starves.

MVTU (FINN, Umuroglu et al. FPGA 2017, Sec. 4.2; FINN-R, Blott et al.
TRETS 2018, Eq. 1): a matrix of MH rows (output channels) x MW columns
(K*K*Cin/groups input bits) folded onto PE rows x SIMD lanes takes
``(MH/PE) * (MW/SIMD)`` cycles per input vector; a convolution has one input
vector per output pixel, a fully connected layer one per frame. Bit-serial
multi-bit layers multiply this by w_bits x a_bits passes.

SWU (our buffer-fill model, after FINN's ConvolutionInputGenerator): a line
buffer of (K + extra) input rows; a reader writes one input pixel (Cin
channels) per ``Cin/SIMD`` cycles into it and a writer, concurrently, emits
each K x K x Cin window as ``K*K*Cin/SIMD`` stream words. The first window
needs the first ``(K-1-p)*Win + K-p`` pixels of the frame; afterwards read
and write overlap, so a frame's busy time is ``max(Hin*Win*Cin/SIMD,
Hout*Wout*K*K*Cin/SIMD)`` cycles (FINN's ``max(cycles_read_block,
cycles_write_block)`` per output row, summed). Rows are freed as output rows
complete, so while the last output row of a frame is written the reader can
prefetch only what the freed rows leave room for; when the SWU is the
bottleneck the rest of the next frame's fill is a bubble the simulation
shows as stall. Its II therefore lies between ``swu_cycles`` (no bubble,
e.g. a line buffer of a whole frame) and FINN's own estimate
``swu_finn_cycles`` = ``Win*K*Cin/SIMD + Hout*max(write row, read stride
rows)``, which refills K rows every frame without prefetch. A SIMD that does not divide
Cin is served at gcd(SIMD, Cin) channels per cycle (FINN would insert a
data-width converter).

Max-pool (after FINN's StreamingMaxPool, all channels in parallel): the same
line-buffered reader at one pixel per cycle, one output pixel per cycle.

Standalone thresholding: ``C/PE`` cycles per pixel (FINN Thresholding).
"""

from __future__ import annotations

import math

from bnnarch.errors import WorkloadError
from bnnarch.workload.layer import FP_BITS, Layer, ceil_div


def mvtu_dims(layer: Layer) -> tuple[int, int]:
    """(MW, MH) of a compute layer's weight matrix: MW = K*K*Cin (or the
    flattened input of a fully connected layer), MH = Cout."""
    if layer.op in ("linear", "conv2d"):
        geo = layer.geometry
        return geo.k, geo.groups * geo.cout_g
    raise WorkloadError(f"layer {layer.name!r}: the dataflow template has no MVTU for {layer.op}")


def input_vectors(layer: Layer) -> int:
    """Input vectors per frame: output pixels of a conv, 1 for a linear layer."""
    if layer.op == "linear":
        return 1
    return layer.out_shape[1] * layer.out_shape[2]


def effective_bits(bits: int, full_precision_bits: int) -> int:
    return full_precision_bits if bits >= FP_BITS else bits


def passes(w_bits: int, a_bits: int, mode: str) -> int:
    """Bit-serial passes of one MVTU input vector (1 in ``wide`` mode)."""
    return w_bits * a_bits if mode == "bit_serial" else 1


def mvtu_cycles_per_vector(mw: int, mh: int, pe: int, simd: int, n_passes: int = 1) -> int:
    return (mh // pe) * (mw // simd) * n_passes


def mvtu_cycles(layer: Layer, pe: int, simd: int, n_passes: int = 1) -> int:
    """FINN's MVTU cycles per frame: (MH/PE) x (MW/SIMD) x vectors (x passes)."""
    mw, mh = mvtu_dims(layer)
    return mvtu_cycles_per_vector(mw, mh, pe, simd, n_passes) * input_vectors(layer)


def swu_simd(cin: int, simd: int) -> int:
    return simd if cin % simd == 0 else math.gcd(cin, simd)


def swu_read_cycles(cin: int, simd: int) -> int:
    """Cycles to write one input pixel (Cin channels) into the line buffer."""
    return cin // swu_simd(cin, simd)


def swu_write_cycles(k: int, cin: int, simd: int) -> int:
    """Cycles to emit one K x K x Cin window."""
    return k * k * cin // swu_simd(cin, simd)


def swu_fill_pixels(layer: Layer) -> int:
    """Input pixels the first window of a frame needs."""
    (kh, kw), (ph, pw), (dh, dw) = layer.kernel, layer.padding, layer.dilation
    win = layer.in_shape[2]
    hin = layer.in_shape[1]
    last_row = min(hin - 1, (kh - 1) * dh - ph)
    last_col = min(win - 1, (kw - 1) * dw - pw)
    return last_row * win + last_col + 1


def swu_cycles(layer: Layer, simd: int) -> int:
    """Stall-free SWU cycles per frame in steady state (reader and writer overlap)."""
    cin, hin, win = layer.in_shape
    _, hout, wout = layer.out_shape
    k = layer.kernel[0]
    return max(hin * win * swu_read_cycles(cin, simd), hout * wout * swu_write_cycles(k, cin, simd))


def swu_finn_cycles(layer: Layer, simd: int) -> int:
    """FINN's ConvolutionInputGenerator estimate (finn.custom_op.fpgadataflow,
    ``get_exp_cycles``): ``Win*K*Cin/SIMD + Hout*max(Wout*K*K*Cin/SIMD,
    stride*Win*Cin/SIMD)`` — a K-row fill per frame, then rows overlapped."""
    cin, _, win = layer.in_shape
    _, hout, wout = layer.out_shape
    k, s = layer.kernel[0], layer.stride[0]
    rd = swu_read_cycles(cin, simd)
    return win * k * rd + hout * max(wout * swu_write_cycles(k, cin, simd), s * win * rd)


def swu_first_window_cycles(layer: Layer, simd: int) -> int:
    """Cycles from the first input pixel to the end of the first window (stall free)."""
    cin = layer.in_shape[0]
    return (swu_fill_pixels(layer) * swu_read_cycles(cin, simd)
            + swu_write_cycles(layer.kernel[0], cin, simd))


def pool_cycles(layer: Layer) -> int:
    """Stall-free max-pool cycles per frame: one pixel read and one output
    pixel written per cycle, overlapped."""
    _, hin, win = layer.in_shape
    _, hout, wout = layer.out_shape
    return max(hin * win, hout * wout)


def threshold_cycles(layer: Layer, pe: int) -> int:
    c, h, w = layer.out_shape
    return h * w * ceil_div(c, pe)
