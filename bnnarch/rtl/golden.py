"""Host side of an RTL run: a layer as bit-plane GEMM data, the numpy golden
model, and the buffer images / configuration words the array is loaded with.

Data conventions (also what the RTL computes, see ``bnnarch.rtl.pe``):

* A layer is ``groups`` GEMMs: activations ``A[g, m, k]`` (M output pixels x
  K = kh*kw*cin/groups) and weights ``W[g, n, k]`` (N filters per group).
* 1-bit x 1-bit: bits code {0 -> -1, 1 -> +1}; a padded tap is 0 (as in the
  trained models and the workload's golden forward): ``valid[m, k]`` marks the
  taps inside the image and ``dot = 2*popcount(xnor AND valid) - popcount(valid)``
  (``bnnarch.workload.golden.xnor_popcount``, the same function).
* multi-bit: activations ``a_bits``-bit, unsigned or (``a_signed``, the
  layer's QONNX signed input quantizer: ``workload.golden.activation_signed``)
  two's complement, weights two's complement ``w_bits``-bit (w_bits >= 2),
  stored as bit planes ``[..., plane, k]`` (plane p has weight 2^p, a signed
  operand's MSB plane -2^(bits-1)); ``dot = sum_k w*a``; with ``w_bits = 1``
  (and a_bits > 1) the weights are {-1,+1} coded {0,1} as in binary layers;
  with ``a_bits = 1`` (and w_bits > 1) the activations are {-1,+1} coded
  {0,1} and a padded tap (``valid`` 0) contributes 0, as in the workload's
  golden forward.
* ``sign = dot >= threshold[g*N + n]`` (BN folded into an integer threshold).
* Packed workload weights (``Layer.packed_weights``, written by
  ``bnnarch.nn.layers.pack_sign_bits``): hex of the sign bits (1 = +1),
  row-major cout x K, most significant bit of each byte first (numpy
  ``unpackbits``), rows contiguous (also accepted: each row padded to whole
  bytes); K in PyTorch ``weight.flatten(1)`` order (cin/groups, kh, kw).
  Used for conv2d and linear layers (a transposed conv's GEMM view is a
  sub-pixel decomposition, so it gets random weights). Thresholds follow
  ``bnnarch.nn.layers.fold_bn_threshold``: bit = 1 iff dot >= T_c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnnarch.array.timing import GemmTile, ceil_div, tile_compute_cycles
from bnnarch.errors import RtlError, WorkloadError
from bnnarch.rtl.array import RtlArray
from bnnarch.workload.golden import activation_signed, unpack_sign_bits, valid_taps, xnor_popcount
from bnnarch.workload.golden import im2col as _im2col
from bnnarch.workload.layer import Layer


@dataclass(frozen=True)
class LayerData:
    """One layer as bit-plane GEMM operands (uint8 {0,1})."""

    name: str
    w_planes: np.ndarray  # (G, N, Pw, K)
    a_planes: np.ndarray  # (G, M, Pa, K)
    thresholds: np.ndarray  # (G*N,) int64
    w_bits: int
    a_bits: int
    valid: np.ndarray | None = None  # (M, K) uint8, 1 = tap inside the image; None = all
    a_signed: bool = False  # two's-complement multi-bit activations (MSB plane negative)

    @property
    def valid_taps(self) -> np.ndarray:
        """(M, K) uint8 valid-tap mask (all ones unless the layer pads)."""
        if self.valid is not None:
            return self.valid
        _, m, _, k = self.shape
        return np.ones((m, k), dtype=np.uint8)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        g, n, _, k = self.w_planes.shape
        return g, self.a_planes.shape[1], n, k

    @property
    def passes(self) -> int:
        return self.w_planes.shape[2] * self.a_planes.shape[2]

    @property
    def xnor(self) -> bool:
        return self.w_bits == 1 and self.a_bits == 1

    @property
    def pm1_acts(self) -> bool:
        """+-1 activations with multi-bit weights (w_bits > 1, a_bits = 1)."""
        return self.a_bits == 1 and self.w_bits > 1

    @property
    def masked(self) -> bool:
        """1-bit activations: a valid-tap mask word travels with each word."""
        return self.a_bits == 1

    def tile(self) -> GemmTile:
        g, m, n, k = self.shape
        return GemmTile(m=m, n=n, k_bits=k, groups=g, passes=self.passes)


def values_from_planes(planes: np.ndarray, signed: bool) -> np.ndarray:
    """(..., P, K) bit planes -> (..., K) int64 values."""
    p = planes.shape[-2]
    weights = np.array([1 << i for i in range(p)], dtype=np.int64)
    if signed and p > 1:
        weights[-1] = -weights[-1]
    return np.einsum("...pk,p->...k", planes.astype(np.int64), weights)


def golden(data: LayerData) -> tuple[np.ndarray, np.ndarray]:
    """Numpy reference: (dot[G, M, N] int64, sign[G, M, N] uint8)."""
    g, m, n, k = data.shape
    thr = data.thresholds.reshape(g, 1, n)
    if data.xnor:  # the workload golden forward's XNOR-popcount: padded taps give 0
        dot = xnor_popcount(data.a_planes[None, :, :, 0, :], data.valid_taps,
                            data.w_planes[:, :, 0, :])[0]
        return dot, (dot >= thr).astype(np.uint8)
    if data.w_bits == 1:
        w = data.w_planes[:, :, 0, :].astype(np.int64) * 2 - 1
    else:
        w = values_from_planes(data.w_planes, signed=True)
    if data.pm1_acts:  # +-1 activations, a padded tap 0
        a = (data.a_planes[:, :, 0, :].astype(np.int64) * 2 - 1) * data.valid_taps[None]
    else:
        a = values_from_planes(data.a_planes, signed=data.a_signed)
    dot = np.einsum("gmk,gnk->gmn", a, w)
    return dot, (dot >= thr).astype(np.uint8)


def max_abs_dot(data: LayerData) -> int:
    return dot_bound(data.shape[3], data.w_bits, data.a_bits, data.a_signed)


def dot_bound(k: int, w_bits: int, a_bits: int, a_signed: bool) -> int:
    """Largest |dot product| of a K-long reduction: |w| <= 2^(w_bits-1)
    (1 for +-1 weights), |a| <= 2^(a_bits-1) signed, 2^a_bits - 1 unsigned,
    1 for +-1 activations."""
    wmax = 1 << (w_bits - 1) if w_bits > 1 else 1
    amax = 1 if a_bits == 1 else (1 << (a_bits - 1)) if a_signed else (1 << a_bits) - 1
    return k * wmax * amax


def mode_cfg(data: LayerData) -> dict[str, int]:
    """The arithmetic-mode configuration words (``bnnarch.rtl.pe``): PE XNOR
    products (1-bit activations), negative weight / activation MSB planes,
    +-1 weights x multi-bit activations (``pm1``), +-1 activations x
    multi-bit weights (``pm1a``)."""
    return {"cfg_xnor": int(data.a_bits == 1), "cfg_signed": int(data.w_bits > 1),
            "cfg_asigned": int(data.a_signed and data.a_bits > 1),
            "cfg_amsb": data.a_planes.shape[2] - 1,
            "cfg_pm1": int(data.w_bits == 1 and data.a_bits > 1),
            "cfg_pm1a": int(data.pm1_acts)}


def decode_packed(hexstr: str, rows: int, k: int, where: str) -> np.ndarray:
    """Packed sign bits -> (rows, k) uint8 (see module docstring); the
    workload's own decoder (bnnarch.workload.golden), errors as RtlError."""
    try:
        return unpack_sign_bits(hexstr, rows, k, where)
    except WorkloadError as e:
        raise RtlError(str(e)) from None


def layer_data(layer: Layer, rng: np.random.Generator, use_real: bool = True) -> LayerData:
    """Operands for one workload layer: the packed trained weights when present
    (1-bit layers), random otherwise; activations from a random input map
    through the layer's window (im2col: stride, padding, dilation, groups), so
    neighbouring windows overlap as in the real layer; the layer's thresholds
    when present, random in [-K/4, K/4] otherwise."""
    if not layer.is_compute:
        raise RtlError(f"layer {layer.name!r}: op {layer.op} does not run on the array")
    if layer.is_full_precision:
        raise RtlError(f"layer {layer.name!r}: full-precision layer ({layer.w_bits}/"
                       f"{layer.a_bits} bits) runs on the MAC unit, not the array RTL")
    g, m, n, k = layer.gemm()
    wb, ab = layer.w_bits, layer.a_bits
    w = rng.integers(0, 2, size=(g, n, wb, k), dtype=np.uint8)
    if use_real and layer.packed_weights and wb == 1 and layer.op in ("conv2d", "linear"):
        bits = decode_packed(layer.packed_weights, g * n, k, f"layer {layer.name!r}")
        w = bits.reshape(g, n, 1, k).astype(np.uint8)
    valid = None
    if layer.op == "conv2d":
        fmap = rng.integers(0, 2, size=(ab,) + tuple(layer.in_shape), dtype=np.uint8)
        a = np.stack([im2col(fmap[p], layer) for p in range(ab)], axis=2)
        valid = conv_valid_taps(layer)
    else:
        a = rng.integers(0, 2, size=(g, m, ab, k), dtype=np.uint8)
    signed = activation_signed(layer)
    if layer.thresholds is not None and len(layer.thresholds) == g * n:
        thr = np.asarray(layer.thresholds, dtype=np.int64)
    else:
        span = max(1, k // 4)
        thr = rng.integers(-span, span + 1, size=g * n).astype(np.int64)
    return LayerData(layer.name, w, a, thr, wb, ab, valid, signed)


def conv_valid_taps(layer: Layer) -> np.ndarray:
    """(M, K) valid-tap mask of a conv2d: the workload golden forward's
    (``bnnarch.workload.golden.valid_taps``)."""
    _, ho, wo = layer.out_shape
    return valid_taps(tuple(layer.in_shape), layer.kernel, layer.stride, layer.padding,
                      layer.dilation, (ho, wo), layer.groups)


def im2col(fmap: np.ndarray, layer: Layer) -> np.ndarray:
    """One bit plane of an input map (C, H, W) -> the conv's GEMM operand
    (G, M, K), K in (cin/groups, kh, kw) order like ``weight.flatten(1)``.
    Padding bits are 0; in a 1-bit layer the valid-tap mask
    (``conv_valid_taps``) makes them contribute 0, as in the model."""
    _, ho, wo = layer.out_shape
    return _im2col(fmap[None], layer.kernel, layer.stride, layer.padding, layer.dilation,
                   (ho, wo), layer.groups)[0]


def random_data(name: str, g: int, m: int, n: int, k: int, w_bits: int, a_bits: int,
                rng: np.random.Generator, a_signed: bool = False) -> LayerData:
    """Random operands for a (g, m, n, k) GEMM at the given bit-widths; a GEMM
    with 1-bit activations also gets a random valid-tap mask (about a quarter
    of the taps padded: activation bit 0, contributing 0)."""
    w = rng.integers(0, 2, size=(g, n, w_bits, k), dtype=np.uint8)
    a = rng.integers(0, 2, size=(g, m, a_bits, k), dtype=np.uint8)
    span = max(1, k // 4)
    thr = rng.integers(-span, span + 1, size=g * n).astype(np.int64)
    if a_bits == 1:
        valid = (rng.integers(0, 4, size=(m, k)) > 0).astype(np.uint8)
        return LayerData(name, w, a & valid[None, :, None, :], thr, w_bits, 1, valid)
    return LayerData(name, w, a, thr, w_bits, a_bits, a_signed=a_signed)


@dataclass(frozen=True)
class Program:
    """What the host loads before ``start``: buffer images and cfg words."""

    memories: dict[str, dict[int, int]]  # MemBlock name -> {addr: value}
    cfg: dict[str, int]  # input name -> value
    words: int
    row_folds: int
    col_folds: int
    sim_cycles: int


def _pack_words(planes: np.ndarray, s: int, kw: int) -> list[int]:
    """(..., K) bits -> flat list of S-bit ints, word j holds k = j*S + i at bit i."""
    lead = planes.shape[:-1]
    k = planes.shape[-1]
    padded = np.zeros(lead + (kw * s,), dtype=np.uint8)
    padded[..., :k] = planes
    by = np.packbits(padded.reshape(-1, s), axis=-1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in by]


def _lane_images(x: np.ndarray, lanes: int, folds: int, s: int, kw: int) -> list[dict[int, int]]:
    """x (G, X, P, K) -> per lane {addr: word}, addr = ((g*F + f)*P + p)*kw + j."""
    g, nx, p, k = x.shape
    full = np.zeros((g, folds * lanes, p, k), dtype=np.uint8)
    full[:, :nx] = x
    out = []
    for lane in range(lanes):
        sel = full[:, lane::lanes]  # (G, F, P, K)
        words = _pack_words(sel, s, kw)
        out.append({i: v for i, v in enumerate(words) if v})
    return out


def program(arr: RtlArray, data: LayerData) -> Program:
    """Buffer images + cfg words for one layer; RtlError if it does not fit."""
    if arr.dataflow in ("ws", "is"):
        from bnnarch.rtl.stationary import stationary_program

        return stationary_program(arr, data)
    g, m, n, k = data.shape
    R, C, S, AB = arr.rows, arr.cols, arr.simd_bits, arr.acc_bits
    kw = ceil_div(k, S)
    row_x, col_x = ((data.w_planes, data.a_planes) if arr.weights_on_rows
                    else (data.a_planes, data.w_planes))
    fr, fc = ceil_div(row_x.shape[1], R), ceil_div(col_x.shape[1], C)
    pr, pc = row_x.shape[2], col_x.shape[2]
    need = {"row": g * fr * pr * kw, "col": g * fc * pc * kw, "out": g * fr * fc}
    have = {"row": arr.depths.row, "col": arr.depths.col, "out": arr.depths.out}
    bufname = {"row": "weights" if arr.weights_on_rows else "activations",
               "col": "activations" if arr.weights_on_rows else "weights", "out": "outputs"}
    for key, words_needed in need.items():
        if words_needed > have[key]:
            raise RtlError(
                f"layer {data.name!r} needs {words_needed} words per lane of the {bufname[key]} "
                f"buffer but the design's tile holds {have[key]}; the RTL runs a layer as one "
                "tile (use a smaller layer or larger buffers)")
    bound = max_abs_dot(data)
    if bound > (1 << (AB - 1)) - 1 or 2 * kw * S > (1 << AB):
        raise RtlError(f"layer {data.name!r}: dot products up to {bound} overflow "
                       f"acc_bits={AB}")
    if max(data.w_bits, data.a_bits) > 8:
        raise RtlError(f"layer {data.name!r}: at most 8-bit operands")
    mems: dict[str, dict[int, int]] = {}
    for lane, img in enumerate(_lane_images(row_x, R, fr, S, kw)):
        mems[f"rowbuf{lane}"] = img
    for lane, img in enumerate(_lane_images(col_x, C, fc, S, kw)):
        mems[f"colbuf{lane}"] = img
    if data.masked:  # the valid-tap mask beside each activation word
        masks = np.broadcast_to(data.valid_taps[None, :, None, :], (g, m, 1, k))
        lanes_a, folds_a = (C, fc) if arr.weights_on_rows else (R, fr)
        for lane, img in enumerate(_lane_images(masks, lanes_a, folds_a, S, kw)):
            mems[f"mskbuf{lane}"] = img
    # thresholds: per filter lane, addr = g * filter_folds + f
    lanes = R if arr.weights_on_rows else C
    ffolds = fr if arr.weights_on_rows else fc
    thr = np.zeros((g, ffolds * lanes), dtype=np.int64)
    thr[:, :n] = data.thresholds.reshape(g, n)
    mask = (1 << AB) - 1
    for lane in range(lanes):
        vals = thr[:, lane::lanes].reshape(-1)
        mems[f"thrbuf{lane}"] = {i: int(v) & mask for i, v in enumerate(vals) if v}
    cfg = {"cfg_kw_last": kw - 1, "cfg_pr_last": pr - 1, "cfg_pc_last": pc - 1,
           "cfg_fc_last": fc - 1, "cfg_fr_last": fr - 1, "cfg_g_last": g - 1,
           "cfg_wmsb": data.w_planes.shape[2] - 1, **mode_cfg(data), "cfg_cont": 0}
    sim = tile_compute_cycles(data.tile(), R, C, S, arr.interconnect, arr.dataflow)
    return Program(mems, cfg, kw, fr, fc, sim)


def unpack_results(arr: RtlArray, data: LayerData, events: list[tuple[int, int, int, int, int]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output-buffer writes ``(cycle, row, addr, dot_vec, sign_vec)`` -> (dot,
    sign, cycle) arrays of shape (G, M, N); unwritten outputs have cycle -1."""
    if arr.dataflow in ("ws", "is"):
        from bnnarch.rtl.stationary import stationary_results

        return stationary_results(arr, data, events)
    g, m, n, _ = data.shape
    R, C, AB = arr.rows, arr.cols, arr.acc_bits
    fr = ceil_div(n if arr.weights_on_rows else m, R)
    fc = ceil_div(m if arr.weights_on_rows else n, C)
    dot = np.zeros((g, m, n), dtype=np.int64)
    sign = np.zeros((g, m, n), dtype=np.uint8)
    cyc = np.full((g, m, n), -1, dtype=np.int64)
    mask = (1 << AB) - 1
    for cycle, r, addr, dvec, svec in events:
        gi, rest = divmod(addr, fr * fc)
        fri, fci = divmod(rest, fc)
        if gi >= g:
            continue
        for c in range(C):
            row_i, col_i = fri * R + r, fci * C + c
            mi, ni = (col_i, row_i) if arr.weights_on_rows else (row_i, col_i)
            if mi >= m or ni >= n:
                continue
            v = (dvec >> (c * AB)) & mask
            dot[gi, mi, ni] = v - (1 << AB) if v >> (AB - 1) else v
            sign[gi, mi, ni] = (svec >> c) & 1
            cyc[gi, mi, ni] = cycle
    return dot, sign, cyc
