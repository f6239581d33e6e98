"""Binary layers of an imported QONNX model: packed weights, integer
thresholds and kernel statistics from the constant weights.

Thresholds: a 1-bit x 1-bit layer computes ``y``, the integer dot product of
+-1 inputs and +-1 weights; the model then applies ``in_scale * alpha_c * y +
bias_c`` and a chain of per-channel affine nodes (BatchNormalization, Mul /
Div / Add / Sub with a constant) before its binarizer (``BipolarQuant``,
1-bit signed ``Quant`` or a one-threshold ``MultiThreshold``). That chain is
evaluated in float32, node by node as ONNX defines it, for every possible
``y`` in [-K, K] (K = weights per output channel); the binarizer's decision
is then a step in ``y``: ``T_c`` = the smallest ``y`` giving +1. A decision
falling with ``y`` (negative folded scale, e.g. BN gamma < 0) negates the
channel: its packed weight row is inverted and ``T_c`` taken on ``-y``
(the convention of bnnarch.nn.layers.fold_bn_threshold and FINN's
thresholding, Umuroglu et al. 2017, sec. 4.2). Constant decisions give
``T = -(K+1)`` (always 1) or ``K+1`` (never). Anything else between the layer
and its binarizer (a residual add, a second consumer, a non-affine
activation) leaves the layer without thresholds and says why
(``fold_reason``).

Golden-forward parameters (``LayerParams``, bnnarch.workload.golden): binary
layers ``weight_scale`` = in_scale * alpha_c, ``bias``, ``flip``; other
compute layers their weights as the model uses them (after their ``Quant``),
``bias`` and the ``Quant`` on their input (``input_quant``); batch-norms their
mean / var / gamma / beta / eps.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import FP_BITS, Layer, LayerParams, LayerStats
from bnnarch.workload.onnx_build import Compute, Imported
from bnnarch.workload.onnx_graph import OnnxView, attrs, is_qonnx, where
from bnnarch.workload.packing import PACKING, THRESHOLDS, pack_bits
from bnnarch.workload.stats import kernel_stats

_PASS = ("Identity", "Dropout")


def binary_weight(c: Compute) -> tuple[np.ndarray, np.ndarray] | None:
    """(sign bits uint8 shaped like the weight, alpha_c) if every output
    channel's weights are +-alpha_c with alpha_c > 0, else None."""
    w = np.asarray(c.weight, dtype=np.float64)
    mag = np.abs(w.reshape(w.shape[0], -1))
    alpha = mag.max(axis=1)
    if np.any(alpha <= 0) or not np.all(mag == alpha[:, None]):
        return None
    return (w >= 0).astype(np.uint8), alpha


def _per_channel(v: np.ndarray | None, c: int, rank: int = 0) -> np.ndarray | None:
    """A constant as a (C,) float32 vector if it broadcasts per channel (axis 1)
    against a rank-``rank`` NC... tensor (``rank`` 0: a plain (C,) vector, as
    BatchNormalization's parameters); a scalar is repeated. Else None."""
    if v is None:
        return None
    v = np.asarray(v, dtype=np.float32)
    if v.size == 1:
        return np.full(c, v.reshape(-1)[0], np.float32)
    if rank == 0:
        return v.reshape(c) if v.shape == (c,) else None
    axis = 1 - (rank - v.ndim)
    if v.ndim > rank or axis < 0 or v.shape[axis] != c or v.size != c:
        return None
    return v.reshape(c)


def _affine(op: str, v: np.ndarray, k: np.ndarray, first: bool) -> np.ndarray:
    """``v op k`` (``k op v`` when the constant is the first operand), float32."""
    if op == "Mul":
        return v * k
    if op == "Add":
        return v + k
    if op == "Div":
        return v / k if first else k / v
    return v - k if first else k - v


def _affine_step(view: OnnxView, n: onnx.NodeProto, t: str, c: int, rank: int,
                 v: np.ndarray) -> np.ndarray | str:
    """``v`` through one per-channel affine node ``n`` (reading tensor ``t``),
    or the reason ``n`` is not one."""
    op = n.op_type
    if op == "BatchNormalization":
        g, b, mu, var = (_per_channel(view.const(i), c) for i in n.input[1:5])
        if g is None or b is None or mu is None or var is None:
            return f"{where(n)} has non-constant or non-per-channel parameters"
        eps = np.float32(attrs(n).get("epsilon", 1e-5))
        sd = np.sqrt(var + eps)
        return (v - mu[:, None]) / sd[:, None] * g[:, None] + b[:, None]
    if op in ("Mul", "Div", "Add", "Sub"):
        other = [i for i in n.input if i != t]
        k = _per_channel(view.const(other[0]), c, rank) if len(other) == 1 else None
        if k is None:
            if op == "Add" and len(other) == 1 and view.const(other[0]) is None:
                return (f"a residual add ({where(n)}) sits between its batch-norm "
                        "and the binarizer (Bi-Real style): the sign depends on "
                        "the other branch")
            return f"{where(n)} is not a per-channel constant scale or shift"
        return _affine(op, v, k[:, None], n.input[0] == t)
    return f"{where(n)} sits between the layer and its binarizer"


def _binarize(view: OnnxView, n: onnx.NodeProto, c: int, v: np.ndarray
              ) -> tuple[np.ndarray | None, str | None] | None:
    """The decision of binarizer ``n`` on ``v`` as ``_decision`` returns it, or
    None if ``n`` is not a binarizer."""
    op = n.op_type
    if not is_qonnx(n) or op not in ("BipolarQuant", "Quant", "MultiThreshold"):
        return None
    a = attrs(n)
    if op == "BipolarQuant":
        s = view.const(n.input[1])
        if s is None or s.size != 1 or float(s.reshape(-1)[0]) <= 0:
            return None, f"{where(n)} has no positive scalar scale"
        return v / np.float32(s.reshape(-1)[0]) >= 0, None
    if op == "Quant":
        bw = view.const(n.input[3])
        s, zp = view.const(n.input[1]), view.const(n.input[2])
        if (bw is None or int(bw.reshape(-1)[0]) != 1 or not a.get("signed", 1)
                or s is None or zp is None or s.size != 1 or zp.size != 1
                or float(s.reshape(-1)[0]) <= 0):
            return None, f"{where(n)} is not a 1-bit signed quantizer with a scalar scale"
        return v / np.float32(s.reshape(-1)[0]) + np.float32(zp.reshape(-1)[0]) >= 0, None
    thr = view.const(n.input[1])
    if thr is None or thr.shape[-1] != 1 or a.get("out_scale", 1.0) <= 0:
        return None, f"{where(n)} is not a one-threshold, positive-scale MultiThreshold"
    tv = _per_channel(thr.reshape(-1), c)
    if tv is None:
        return None, f"{where(n)} thresholds are not per channel"
    return v >= tv[:, None], None


def _decision(view: OnnxView, start: str, c: int, rank: int, v: np.ndarray
              ) -> tuple[np.ndarray | None, str | None]:
    """Follow ``start`` through per-channel affine nodes to the binarizer:
    (bool decision (C, Y) on the values ``v`` (C, Y) float32, None) or
    (None, reason)."""
    t = start
    for _ in range(32):
        if t in view.outputs:
            return None, "its output is a model output (no binarizer after it)"
        cons = view.consumers.get(t, [])
        if len(cons) != 1:
            return None, f"its output feeds {len(cons)} nodes before any binarizer"
        n = cons[0]
        if n.op_type not in _PASS:
            decided = _binarize(view, n, c, v)
            if decided is not None:
                return decided
            stepped = _affine_step(view, n, t, c, rank, v)
            if isinstance(stepped, str):
                return None, stepped
            v = stepped
        t = n.output[0]
    return None, "no binarizer within 32 nodes"


def fold_thresholds(view: OnnxView, c: Compute, alpha: np.ndarray
                    ) -> tuple[list[int], list[bool]] | str:
    """(thresholds, flip) of a 1-bit x 1-bit layer, or the reason it does not fold."""
    if c.in_scale is None:
        return "the scale of its +-1 input is unknown"
    cout = c.weight.shape[0]
    k = int(np.prod(c.weight.shape[1:]))
    ys = np.arange(-k, k + 1, dtype=np.float32)
    v = (np.float32(c.in_scale) * alpha.astype(np.float32))[:, None] * ys[None, :]
    if c.bias is not None:
        b = _per_channel(np.asarray(c.bias).reshape(-1), cout)
        if b is None:
            return "its bias is not per channel"
        v = v + b[:, None]
    rank = len(view.shapes.get(c.node.output[0], (1, cout)))
    d, reason = _decision(view, c.node.output[0], cout, rank, v.astype(np.float32))
    if d is None:
        return reason or "not foldable"
    thr: list[int] = []
    flip: list[bool] = []
    for ch in range(cout):
        row = d[ch]
        if row.all() or not row.any():
            thr.append(-(k + 1) if row.all() else k + 1)
            flip.append(False)
        elif np.all(row[1:] >= row[:-1]):  # rises with y: y >= first true
            thr.append(int(ys[np.argmax(row)]))
            flip.append(False)
        elif np.all(row[1:] <= row[:-1]):  # falls with y: -y >= -(last true)
            last = len(row) - 1 - int(np.argmax(row[::-1]))
            thr.append(int(-ys[last]))
            flip.append(True)
        else:
            return f"its binarizer's decision is not a threshold on y (channel {ch})"
    return thr, flip


def _f32(v: np.ndarray | None) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in np.asarray(v, np.float32).reshape(-1))


def _bn_params(view: OnnxView, node: onnx.NodeProto) -> LayerParams | None:
    vals = [view.const(i) for i in node.input[1:5]]
    if any(v is None for v in vals):
        return None
    gamma, beta, mean, var = (_f32(v) for v in vals)
    return LayerParams(mean=mean, var=var, gamma=gamma, beta=beta,
                       eps=float(np.float32(attrs(node).get("epsilon", 1e-5))))


def _compute_layer(view: OnnxView, layer: Layer, c: Compute) -> Layer:
    """Packed weights, thresholds, kernel statistics and golden-forward
    params of one compute layer."""
    iq = c.in_quant if layer.a_bits < FP_BITS and c.in_quant and c.in_quant[2] > 1 else None
    bias = _f32(c.bias)
    bw = binary_weight(c) if layer.w_bits == 1 and layer.op in ("conv2d", "linear") else None
    if bw is None:
        if layer.w_bits == 1:  # 1-bit by the precision map or not +-alpha: no packing
            return replace(layer, params=LayerParams(weight=_f32(c.weight), bias=bias,
                                                     input_quant=iq),
                           fold_reason=("weights are not +-alpha per output channel"
                                        if layer.is_binary else None))
        return replace(layer, params=LayerParams(weight=_f32(c.weight), bias=bias,
                                                 input_quant=iq))
    bits, alpha = bw
    thr: list[int] | None = None
    flip: list[bool] | None = None
    reason = None
    if layer.is_binary:
        folded = fold_thresholds(view, c, alpha)
        if isinstance(folded, str):
            reason = folded
        else:
            thr, flip = folded
    stats = layer.stats
    if layer.op == "conv2d" and layer.kernel[0] * layer.kernel[1] > 1:
        stats = replace(stats or LayerStats(), kernel=kernel_stats(bits.astype(bool)))
    # a binary layer's output is in_scale * alpha_c * y: both in weight_scale
    scale = alpha * (c.in_scale if layer.is_binary and c.in_scale else 1.0)
    params = LayerParams(weight_scale=tuple(float(v) for v in scale), bias=bias,
                         flip=tuple(i for i, f in enumerate(flip or []) if f), input_quant=iq)
    return replace(layer, packed_weights=pack_bits(bits, flip), stats=stats, params=params,
                   thresholds=tuple(thr) if thr is not None else None, fold_reason=reason)


def annotate_weights(view: OnnxView, graph: WorkloadGraph, imp: Imported) -> WorkloadGraph:
    """Every compute layer: packed weights + thresholds (binary) or its
    quantized weights, and the params a golden forward needs; batch-norms:
    their parameters. A binary layer that does not fold says why
    (``fold_reason``)."""
    layers: list[Layer] = []
    for layer in graph.layers:
        c = imp.compute.get(layer.name)
        bn = imp.batchnorm.get(layer.name)
        if c is not None:
            layer = _compute_layer(view, layer, c)
        elif bn is not None:
            layer = replace(layer, params=_bn_params(view, bn))
        layers.append(layer)
    meta = dict(graph.meta)
    if any(la.packed_weights for la in layers):
        meta["packed_weights"] = PACKING
    if any(la.thresholds for la in layers):
        meta["thresholds"] = THRESHOLDS
    return replace(graph.with_layers(tuple(layers)), meta=tuple(sorted(meta.items())))


__all__ = ["annotate_weights", "binary_weight", "fold_thresholds"]
