"""When batch-norm + sign after a binary layer folds into integer thresholds.

FINN's thresholding (Umuroglu et al. 2017, sec. 4.2) replaces
``sign(BN(alpha_c * y + b_c))`` by ``y >= T_c`` (``y`` the layer's integer
+-1 dot product). That is exact only when the sign sees the batch-norm's
output and nothing else. This module decides it on a workload graph (with
``params``), and says why not otherwise:

- the binary layer must feed exactly one batch-norm (``threshold`` layer);
- that batch-norm must feed only 1-bit-activation compute layers that take
  the sign of their input as it is (no input shift). A residual add between
  the batch-norm and the sign (Bi-Real, ReActNet shortcuts), pooling, a
  concat, or the network output breaks it: the sign input is then a
  real-valued sum, not a function of ``y`` alone;
- the layer's output must not be scaled by XNOR-Net's activation scale K,
  which depends on the real-valued input of every window.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from bnnarch.workload.golden import unpack_sign_bits
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer, LayerParams


def consumers(graph: WorkloadGraph) -> dict[str, list[str]]:
    """Layer name -> names of the layers that read it (in graph order)."""
    out: dict[str, list[str]] = defaultdict(list)
    for layer in graph.layers:
        for src in layer.inputs:
            out[src].append(layer.name)
    return out


def fold_blocker(graph: WorkloadGraph, name: str, users: dict[str, list[str]] | None = None
                 ) -> str | None:
    """None if layer ``name`` (1-bit x 1-bit) folds exactly into integer
    thresholds; otherwise the reason it does not."""
    users = consumers(graph) if users is None else users
    layer = graph[name]
    if not layer.is_binary:
        return f"not a 1-bit x 1-bit layer ({layer.w_bits}/{layer.a_bits} bits)"
    if layer.params is not None and layer.params.act_scale == "xnor_k":
        return ("XNOR-Net activation scale K (mean |input| over each window) multiplies the "
                "output: the sign depends on the real-valued input, not only on the popcount")
    outs = users.get(name, [])
    if len(outs) != 1 or graph[outs[0]].op != "threshold":
        return "not followed by exactly one batch-norm"
    bn = outs[0]
    readers = users.get(bn, [])
    if not readers:
        return f"batch-norm {bn!r} is a network output (real-valued)"
    for r in readers:
        c = graph[r]
        if c.op == "add":
            return (f"residual add {r!r} between batch-norm {bn!r} and the sign: the sign input "
                    "adds a real-valued shortcut")
        if not c.is_compute:
            return f"{c.op} {r!r} between batch-norm {bn!r} and the sign"
        if c.a_bits != 1:
            return f"{r!r} reads batch-norm {bn!r} at {c.a_bits}-bit activations, not a sign"
        if c.params is not None and c.params.input_shift is not None:
            return f"{r!r} shifts its input before the sign (RSign)"
    return None


def fold_thresholds(layer: Layer, bn: LayerParams) -> tuple[list[int], list[bool]]:
    """Integer thresholds and flipped channels of a foldable binary layer from
    stored params: bnnarch.nn.layers.fold_bn_threshold's rule (sigma in float32
    as torch computes it, the rest in float64): bit = y' >= T_c, y' = -y on
    channels with gamma < 0."""
    p = layer.params
    cout = layer.out_shape[0]
    alpha = np.asarray(p.weight_scale if p and p.weight_scale else [1.0] * cout)
    bias = np.asarray(p.bias if p and p.bias else [0.0] * cout)
    mu, var, g, bt = (np.asarray(v, dtype=np.float64) for v in (bn.mean, bn.var, bn.gamma, bn.beta))
    sg = np.sqrt(var.astype(np.float32) + np.float32(bn.eps or 0.0)).astype(np.float64)
    k = layer.weight_count // cout
    thr, flip = [], []
    for c in range(cout):
        if g[c] == 0.0 or alpha[c] == 0.0:
            thr.append(-(k + 1) if bt[c] >= 0 else k + 1)
            flip.append(False)
            continue
        t = (mu[c] - bt[c] * sg[c] / g[c] - bias[c]) / alpha[c]
        thr.append(math.ceil((t if g[c] > 0 else -t) - 1e-9))
        flip.append(bool(g[c] < 0))
    return thr, flip


def flip_packed(layer: Layer, flip: list[bool]) -> str:
    """``layer.packed_weights`` with the rows of flipped channels negated."""
    cout = layer.out_shape[0]
    bits = unpack_sign_bits(layer.packed_weights or "", cout, layer.weight_count // cout,
                            f"layer {layer.name!r}")
    bits = np.where(np.asarray(flip)[:, None], 1 - bits, bits).astype(np.uint8)
    return np.packbits(bits.reshape(-1), bitorder="big").tobytes().hex()
