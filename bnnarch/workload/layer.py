"""Typed workload layers and their op counting.

A layer is a frozen value. Shapes are (C, H, W) per image (batch 1).
Bit-widths: 1..8 are quantized layers run on the XNOR/AND-popcount array;
``FP_BITS`` (32) marks a full-precision layer (first/last layers of
XNOR-Net / Bi-Real), which the design runs on its integer MAC unit or
bit-serially at ``full_precision.bits``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from bnnarch.errors import WorkloadError

FP_BITS = 32
QUANT_BITS = (1, 2, 4, 8)

Op = Literal[
    "conv2d",
    "conv_transpose2d",
    "linear",
    "maxpool",
    "avgpool",
    "add",
    "concat",
    "upsample",
    "threshold",
    "reshape",
]
COMPUTE_OPS = ("conv2d", "conv_transpose2d", "linear")
POST_OPS = ("maxpool", "avgpool", "add", "concat", "upsample", "threshold", "reshape")
ALL_OPS = COMPUTE_OPS + POST_OPS

Shape = tuple[int, int, int]
Pair = tuple[int, int]


@dataclass(frozen=True)
class KernelStats:
    """Repetition of binary 2-D kernels in one layer, measured on trained weights.

    Counted per input channel across output filters (the unit a kernel-pattern
    reuse scheme shares): ``kernels`` = cout * cin/groups 2-D kernels;
    ``distinct`` = number of distinct kh x kw bit patterns summed over input
    channels; ``distinct_signfolded`` = the same with a pattern and its
    complement counted once.
    """

    kernels: int
    distinct: int
    distinct_signfolded: int


@dataclass(frozen=True)
class WindowStats:
    """Similarity of horizontally neighbouring binary input windows, measured
    on real activations. ``diff_hist[d]`` = fraction of (window, neighbour) pairs
    (per channel, kh x kw bits) whose bits differ in exactly ``d`` positions."""

    window_bits: int
    pairs: int
    identical_fraction: float
    diff_hist: tuple[float, ...]


@dataclass(frozen=True)
class ReuseStats:
    """Exact counts that the computation-reuse model (bnnarch.reuse) needs,
    measured on trained weights and real binary activations of ``frames`` input
    images (bnnarch.reuse.stats). Binary conv2d layers only.

    Kernel side (weights; within each group, per input channel, a 2-D kernel is
    a *representative* if no earlier output filter has the same pattern —
    or, ``_signfolded``, the same or the complementary pattern):
    ``rep_slices[o]`` = representative 2-D kernels of output filter ``o``;
    ``shared_results`` = (channel, pattern class) pairs that at least one later
    filter reuses (entries the shared-result buffer must hold per pixel).

    Window side (activations; a window is one output pixel's receptive field,
    kh*kw*cin positions, each +1, -1 or padding): ``windows`` = windows seen
    (output pixels x frames); ``border_windows`` = windows with a left
    neighbour in the same output row whose padding pattern differs from it;
    ``diff_hist`` = sparse ((D, count), ...) over the other windows with a left
    neighbour, D = positions whose +-1 value differs from the neighbour's.
    """

    frames: int
    rep_slices: tuple[int, ...]
    rep_slices_signfolded: tuple[int, ...]
    shared_results: int
    shared_results_signfolded: int
    windows: int
    diff_hist: tuple[tuple[int, int], ...]
    border_windows: int = 0


@dataclass(frozen=True)
class LayerStats:
    kernel: KernelStats | None = None
    window: WindowStats | None = None
    extra: tuple[tuple[str, float], ...] = ()
    reuse: ReuseStats | None = None


@dataclass(frozen=True)
class Layer:
    name: str
    op: Op
    inputs: tuple[str, ...]
    in_shape: Shape
    out_shape: Shape
    kernel: Pair = (1, 1)
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    w_bits: int = 1
    a_bits: int = 1
    stats: LayerStats | None = None
    # Optional packed binary weights (hex of sign bits, row-major cout x K) for RTL checks.
    packed_weights: str | None = field(default=None, compare=False, repr=False)
    # Optional integer thresholds per output channel (BN folded), for RTL checks.
    thresholds: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    # ---- classification -------------------------------------------------
    @property
    def is_compute(self) -> bool:
        return self.op in COMPUTE_OPS

    @property
    def is_full_precision(self) -> bool:
        return self.w_bits > 8 or self.a_bits > 8

    @property
    def is_binary(self) -> bool:
        return self.w_bits == 1 and self.a_bits == 1

    def with_bits(self, w_bits: int, a_bits: int) -> Layer:
        return replace(self, w_bits=w_bits, a_bits=a_bits)

    # ---- GEMM view --------------------------------------------------------
    def gemm(self) -> tuple[int, int, int, int]:
        """(groups, M, N, K) of the layer seen as ``groups`` matrix products
        M x K by K x N: M output pixels, N output channels per group, K the
        reduction length (kh*kw*cin/groups).

        A transposed conv is counted by sub-pixel decomposition: each output
        pixel gathers ceil(kh/sh)*ceil(kw/sw) taps per input channel (the
        zero-inserted positions are never computed)."""
        if not self.is_compute:
            return (1, 0, 0, 0)
        cin, _, _ = self.in_shape
        cout, ho, wo = self.out_shape
        g = self.groups
        kh, kw = self.kernel
        if self.op == "linear":
            return (1, 1, cout, cin * self.in_shape[1] * self.in_shape[2])
        if self.op == "conv_transpose2d":
            kh = math.ceil(kh / self.stride[0])
            kw = math.ceil(kw / self.stride[1])
        return (g, ho * wo, cout // g, kh * kw * (cin // g))

    @property
    def macs(self) -> int:
        g, m, n, k = self.gemm()
        return g * m * n * k

    @property
    def binary_ops(self) -> int:
        """XNOR + popcount operations (2 per binary MAC, the BNN-literature
        convention, e.g. XNOR-Net / FINN count ops = 2 x MACs). Zero for
        layers that are not 1-bit x 1-bit."""
        return 2 * self.macs if self.is_binary else 0

    @property
    def ops(self) -> int:
        """Operations of any precision, 2 per MAC (used for TOPS)."""
        return 2 * self.macs

    @property
    def weight_count(self) -> int:
        g, _, n, k = self.gemm()
        if self.op == "conv_transpose2d":
            cin = self.in_shape[0]
            return cin * (self.out_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]
        return g * n * k

    @property
    def weight_bits(self) -> int:
        return self.weight_count * self.w_bits

    @property
    def in_elems(self) -> int:
        c, h, w = self.in_shape
        return c * h * w

    @property
    def out_elems(self) -> int:
        c, h, w = self.out_shape
        return c * h * w


# Largest channel count / height / width a layer may have: the largest shipped
# layer dimension is 25,088 (a flattened VGG feature map); 2^20 keeps every
# real network and refuses sizes whose schedules would not fit in memory.
MAX_DIM = 2**20


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def check_layer(layer: Layer) -> list[str]:
    """Structural checks of one layer; returns problems (empty if fine)."""
    errs: list[str] = []
    if not isinstance(layer.op, str) or layer.op not in ALL_OPS:
        return [f"unknown op {layer.op!r} (known: {', '.join(ALL_OPS)})"]
    for nm, shp in (("in_shape", layer.in_shape), ("out_shape", layer.out_shape)):
        if len(shp) != 3 or any(not _is_int(v) or v <= 0 for v in shp):
            errs.append(f"{nm} must be three positive integers (C, H, W), got {list(shp)}")
        elif max(shp) > MAX_DIM:
            errs.append(f"{nm} {list(shp)}: a dimension above {MAX_DIM:,} is not a layer this "
                        "simulator models")
    for nm, lo in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        pair = getattr(layer, nm)
        if len(pair) != 2 or any(not _is_int(v) or v < lo or v > MAX_DIM for v in pair):
            errs.append(f"{nm} must be two integers in [{lo}, {MAX_DIM:,}], got {list(pair)}")
    if not _is_int(layer.groups):
        errs.append(f"groups must be an integer, got {layer.groups!r}")
    if errs:
        return errs
    for nm in ("w_bits", "a_bits"):
        b = getattr(layer, nm)
        if b not in QUANT_BITS and b != FP_BITS:
            errs.append(f"{nm} must be one of 1, 2, 4, 8 or {FP_BITS} (full precision), got {b}")
    if layer.groups <= 0:
        errs.append(f"groups must be > 0, got {layer.groups}")
        return errs
    if layer.op in ("conv2d", "conv_transpose2d"):
        cin, h, w = layer.in_shape
        cout, ho, wo = layer.out_shape
        if cin % layer.groups or cout % layer.groups:
            errs.append(f"groups={layer.groups} must divide in/out channels {cin}/{cout}")
        if layer.op == "conv2d":
            eh = conv_out(h, layer.kernel[0], layer.stride[0], layer.padding[0], layer.dilation[0])
            ew = conv_out(w, layer.kernel[1], layer.stride[1], layer.padding[1], layer.dilation[1])
            if (eh, ew) != (ho, wo):
                errs.append(
                    f"out_shape H,W {ho}x{wo} does not follow from in {h}x{w}, kernel "
                    f"{list(layer.kernel)}, stride {list(layer.stride)}, padding "
                    f"{list(layer.padding)}, dilation {list(layer.dilation)} (expected {eh}x{ew})"
                )
    return errs


def require_valid(layer: Layer) -> Layer:
    errs = check_layer(layer)
    if errs:
        raise WorkloadError(f"layer {layer.name!r}: " + "; ".join(errs))
    return layer
