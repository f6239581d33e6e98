"""Typed workload layers and their op counting.

A layer is a frozen value. Shapes are (C, H, W) per image (batch 1).
Bit-widths: 1..8 are quantized layers run on the XNOR/AND-popcount array;
``FP_BITS`` (32) marks a full-precision layer (first/last layers of
XNOR-Net / Bi-Real), which the design runs on its integer MAC unit or
bit-serially at ``full_precision.bits``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

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


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for non-negative integers, exact (no float)."""
    return -(-a // b)


class LayerGeometry(NamedTuple):
    """A compute layer seen as ``groups`` matrix products of M output pixels x
    K reduction positions x N output channels (the one geometry the mapper,
    the reuse schemes, the RTL and the dataflow template use).

    A fully connected layer is one pixel with K = its flattened input; a
    transposed conv is counted by sub-pixel decomposition (each output pixel
    gathers ceil(kh/sh) * ceil(kw/sw) taps per input channel; the
    zero-inserted positions are never computed)."""

    groups: int
    cin_g: int  # input channels per group (fully connected: the flattened input)
    cout_g: int  # output channels per group: N
    out_h: int
    out_w: int
    in_h: int
    in_w: int
    taps: int  # kernel positions per input channel that contribute to an output
    in_rows_per_out_row: int  # input rows one more output row needs (the stride)

    @property
    def m(self) -> int:
        return self.out_h * self.out_w

    @property
    def n(self) -> int:
        return self.cout_g

    @property
    def k(self) -> int:
        return self.taps * self.cin_g


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
    """Exact counts that the computation-reuse model (bnnarch.array.reuse) needs,
    measured on trained weights and real binary activations of ``frames`` input
    images (bnnarch.nn.reuse_stats). Binary conv2d layers only.

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
class LayerParams:
    """Real-valued parameters a golden forward needs (bnnarch.workload.golden);
    float32 values (stored exactly in the JSON, bnnarch.workload.io). Optional:
    shapes-only workloads have none, and the simulator never reads them.

    Compute layers (conv2d / linear / conv_transpose2d):
      ``weight``        real weights in torch ``weight.flatten()`` order, for
                        layers whose weights are not 1-bit (full precision, or
                        k-bit values as the model uses them);
      ``weight_scale``  1-bit weights: per output channel, w = scale_c * (+-1)
                        (XNOR-Net / Bi-Real alpha = mean|W|; 1.0 for plain sign);
                        per weight row (input channel) of a transposed conv;
      ``bias``          per output channel;
      ``input_shift``   per input channel, added before the activation
                        quantizer (ReActNet's RSign shift);
      ``act_scale``     ``"xnor_k"``: the output is multiplied by XNOR-Net's
                        activation scale K = box filter of mean_c |input| over
                        each window (Rastegari et al. 2016, sec. 3.2);
      ``flip``          output channels whose ``packed_weights`` rows are
                        negated (batch-norm gamma < 0, see ``thresholds``);
      ``input_quant``   (scale, zero_point, bits, signed, narrow) of a QONNX
                        ``Quant`` on the layer's input (imported models):
                        x -> (clip(round(x / scale + zp), min, max) - zp) * scale.
    Batch-norm (``threshold``) layers: ``mean``, ``var``, ``gamma``, ``beta``
    per channel and ``eps``: y = (x - mean) / sqrt(var + eps) * gamma + beta.
    """

    weight: tuple[float, ...] | None = None
    weight_scale: tuple[float, ...] | None = None
    bias: tuple[float, ...] | None = None
    input_shift: tuple[float, ...] | None = None
    act_scale: str | None = None
    flip: tuple[int, ...] = ()
    input_quant: tuple[float, float, int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    var: tuple[float, ...] | None = None
    gamma: tuple[float, ...] | None = None
    beta: tuple[float, ...] | None = None
    eps: float | None = None

    @property
    def is_batchnorm(self) -> bool:
        return self.mean is not None


ACT_SCALES = ("xnor_k",)


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
    # Optional real-valued parameters for the golden forward (LayerParams).
    params: LayerParams | None = field(default=None, compare=False, repr=False)
    # Set on a binary layer whose batch-norm + sign cannot be folded into
    # integer thresholds exactly: the reason (e.g. a residual add before the sign).
    fold_reason: str | None = field(default=None, compare=False, repr=False)

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
    @property
    def geometry(self) -> LayerGeometry:
        """The layer as GEMMs (compute layers only; see LayerGeometry)."""
        g = self.groups
        cin, h, w = self.in_shape
        cout, ho, wo = self.out_shape
        if self.op == "linear":
            return LayerGeometry(1, cin * h * w, cout, 1, 1, 1, 1, 1, 1)
        kh, kw = self.kernel
        if self.op == "conv_transpose2d":
            taps = ceil_div(kh, self.stride[0]) * ceil_div(kw, self.stride[1])
            return LayerGeometry(g, cin // g, cout // g, ho, wo, h, w, taps, 1)
        return LayerGeometry(g, cin // g, cout // g, ho, wo, h, w, kh * kw, self.stride[0])

    def gemm(self) -> tuple[int, int, int, int]:
        """(groups, M, N, K) of the layer's GEMMs; (1, 0, 0, 0) for a layer
        that computes none."""
        if not self.is_compute:
            return (1, 0, 0, 0)
        geo = self.geometry
        return (geo.groups, geo.m, geo.n, geo.k)

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


def _type_errors(layer: Layer) -> list[str]:
    """Shapes, window pairs and groups: integers in range (checked before any
    arithmetic on them)."""
    errs: list[str] = []
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
    return errs


def check_layer(layer: Layer) -> list[str]:
    """Structural checks of one layer; returns problems (empty if fine)."""
    if not isinstance(layer.op, str) or layer.op not in ALL_OPS:
        return [f"unknown op {layer.op!r} (known: {', '.join(ALL_OPS)})"]
    errs = _type_errors(layer)
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
    return errs + check_params(layer)


def check_params(layer: Layer) -> list[str]:
    """Lengths and kinds of ``layer.params`` (empty list if fine or absent)."""
    p = layer.params
    if p is None:
        return []
    cout, cin = layer.out_shape[0], layer.in_shape[0]
    want: dict[str, int] = {}
    if layer.is_compute:
        rows = cin if layer.op == "conv_transpose2d" else cout  # torch weight dim 0
        want = {"weight": layer.weight_count, "weight_scale": rows, "bias": cout,
                "input_shift": cin if layer.op != "linear" else layer.in_elems}
        if p.is_batchnorm:
            return ["batch-norm params (mean/var/gamma/beta) belong to a threshold layer"]
    elif layer.op == "threshold":
        want = {k: cout for k in ("mean", "var", "gamma", "beta")}
    errs = []
    for key in ("weight", "weight_scale", "bias", "input_shift", "mean", "var", "gamma", "beta"):
        v = getattr(p, key)
        if v is None:
            continue
        if key not in want:
            errs.append(f"params.{key} does not apply to a {layer.op} layer")
        elif len(v) != want[key]:
            errs.append(f"params.{key} has {len(v)} values, the layer needs {want[key]}")
    if p.act_scale is not None and p.act_scale not in ACT_SCALES:
        errs.append(f"params.act_scale must be one of {', '.join(ACT_SCALES)}, got {p.act_scale!r}")
    if p.input_quant is not None and (not layer.is_compute or len(p.input_quant) != 5
                                      or not 1 <= p.input_quant[2] <= 8 or p.input_quant[0] <= 0):
        errs.append("params.input_quant must be (scale > 0, zero_point, bits 1..8, signed, "
                    "narrow) on a compute layer")
    if any(not 0 <= c < cout for c in p.flip):
        errs.append(f"params.flip holds a channel outside 0..{cout - 1}")
    if layer.op == "threshold" and p.is_batchnorm and (p.var is None or p.eps is None):
        errs.append("params: a batch-norm needs mean, var and eps")
    return errs


def require_valid(layer: Layer) -> Layer:
    errs = check_layer(layer)
    if errs:
        raise WorkloadError(f"layer {layer.name!r}: " + "; ".join(errs))
    return layer
