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

Grouped and depthwise convolutions: an MVTU over ``MW = K*K*Cin/groups``
(each output channel sees its group's inputs), ``(MH/PE) * (MW/SIMD)``
cycles per vector; for a depthwise conv that is FINN's
VectorVectorActivation (vectorvectoractivation.py, ``get_exp_cycles``:
``Channels*K*K / PE / SIMD`` per output pixel). Its SWU emits the
``PE`` channels x ``SIMD`` kernel positions the unit consumes per cycle
(FINN's VVAU input stream is PE*SIMD wide): ``swu_lanes``, capped by Cin.

Multiple windows per cycle (MMV, FINN's ConvolutionInputGenerator
``M`` / ``mmv``, convolutioninputgenerator_hls.py ``get_exp_cycles``:
``cycles_write_block = Wout*K*K*Cin/SIMD / mmv``): the SWU emits ``M``
windows per window slot, ``K*K*Cin/SIMD / M`` cycles per window.

Transposed convolutions, as FINN's InferPixelPaddingDeconv
(infer_pixel_padding_deconv.py): FMPadding_Pixel inserts ``stride-1``
zeros between pixels (``(H-1)*s+1`` rows, fmpadding_pixel.py
``get_exp_cycles``: ``C/SIMD * odim_h * odim_w``, here all channels per
cycle), then a stride-1 convolution with padding ``K-1-p`` (``as_conv``).

Data-width converters (``dwc: true``; FINN's InsertDWC,
insert_dwc.py, between a producer whose output stream width differs from
its consumer's input width): between an MVTU emitting ``PE`` channels per
cycle and a convolution's SWU reading ``S`` channels per cycle, a
StreamingDataWidthConverter moves one word per cycle on its wider side
(finn-hlslib streamtools.h, StreamingDataWidthConverter_Batch), i.e.
``max(C/PE, C/S)`` cycles per pixel (``dwc_cycles``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from bnnarch.errors import WorkloadError
from bnnarch.workload.layer import FP_BITS, Layer, ceil_div


def mvtu_dims(layer: Layer) -> tuple[int, int]:
    """(MW, MH) of a compute layer's weight matrix: MW = K*K*Cin/groups (or
    the flattened input of a fully connected layer), MH = Cout. A transposed
    conv runs as the stride-1 conv over its zero-inserted input (``as_conv``),
    so its MW is K*K*Cin/groups too (FINN's MVAU after FMPadding_Pixel)."""
    if layer.op in ("linear", "conv2d"):
        geo = layer.geometry
        return geo.k, geo.groups * geo.cout_g
    if layer.op == "conv_transpose2d":
        kh, kw = layer.kernel
        return kh * kw * (layer.in_shape[0] // layer.groups), layer.out_shape[0]
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


def swu_cycles(layer: Layer, simd: int, mmv: int = 1) -> int:
    """Stall-free SWU cycles per frame in steady state (reader and writer
    overlap); ``mmv`` windows per window slot."""
    cin, hin, win = layer.in_shape
    _, hout, wout = layer.out_shape
    k = layer.kernel[0]
    return max(hin * win * swu_read_cycles(cin, simd),
               hout * wout * (swu_write_cycles(k, cin, simd) // mmv))


def swu_finn_cycles(layer: Layer, simd: int, mmv: int = 1) -> int:
    """FINN's ConvolutionInputGenerator estimate (convolutioninputgenerator_hls.py,
    ``get_exp_cycles``): ``Win*K*Cin/SIMD + Hout*max(Wout*K*K*Cin/SIMD/mmv,
    stride*Win*Cin/SIMD)`` — a K-row fill per frame, then rows overlapped."""
    cin, _, win = layer.in_shape
    _, hout, wout = layer.out_shape
    k, s = layer.kernel[0], layer.stride[0]
    rd = swu_read_cycles(cin, simd)
    return win * k * rd + hout * max(wout * (swu_write_cycles(k, cin, simd) // mmv), s * win * rd)


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


def as_conv(layer: Layer) -> Layer:
    """The convolution an SWU runs for a layer: the layer itself, or for a
    transposed convolution the stride-1 convolution over its zero-inserted
    input (FINN InferPixelPaddingDeconv: padding ``dilation*(K-1) - p``)."""
    if layer.op != "conv_transpose2d":
        return layer
    cin, h, w = layer.in_shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    hz, wz = (h - 1) * sh + 1, (w - 1) * sw + 1
    cph, cpw = kh - 1 - ph, kw - 1 - pw
    if (hz + 2 * cph - kh + 1, wz + 2 * cpw - kw + 1) != layer.out_shape[1:] or min(cph, cpw) < 0:
        raise WorkloadError(f"layer {layer.name!r}: transposed conv {layer.in_shape} -> "
                            f"{layer.out_shape} (kernel {kh}, stride {sh}, padding {ph}) is not "
                            "a pixel-padded stride-1 convolution (FINN's deconvolution needs "
                            "output = (H-1)*stride + K - 2*padding)")
    return replace(layer, op="conv2d", in_shape=(cin, hz, wz), stride=(1, 1), padding=(cph, cpw),
                   dilation=(1, 1))


def swu_lanes(layer: Layer, pe: int, simd: int) -> int:
    """Values of the window the SWU emits per cycle: SIMD for a dense conv;
    for a grouped conv SIMD per group the PE output channels span (a
    depthwise conv: PE x SIMD, FINN's VVAU input width)."""
    return simd * ceil_div(pe * layer.groups, layer.out_shape[0])


def dwc_cycles(channels: int, in_lanes: int, out_lanes: int) -> int:
    """Cycles per pixel of a data-width converter from ``in_lanes`` to
    ``out_lanes`` channels per word: one word per cycle on the wider side
    (finn-hlslib StreamingDataWidthConverter_Batch)."""
    return max(ceil_div(channels, in_lanes), ceil_div(channels, out_lanes))
