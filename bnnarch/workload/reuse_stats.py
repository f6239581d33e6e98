"""The numpy half of the reuse statistics (``ReuseStats``): exact counts
from a binary conv's weight bits and its real binary inputs (conventions:
bnnarch.workload.bits). bnnarch.nn.reuse_stats captures those bits from a
trained torch model; the ONNX importer from onnxruntime."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bnnarch.workload.bits import kernel_keys, windows
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer, LayerStats, ReuseStats


def eligible(layer: Layer) -> bool:
    """Layers the reuse schemes apply to: binary (1b x 1b) conv2d."""
    return layer.op == "conv2d" and layer.is_binary


def representatives(w: np.ndarray, groups: int, signfold: bool) -> tuple[np.ndarray, int]:
    """(rep (cout, cin_g) bool, shared): ``rep[o, c]`` iff no earlier filter of
    o's group has the same (sign-folded) pattern in channel c; ``shared`` =
    (channel, pattern class) pairs with at least two members."""
    cout, cin_g = w.shape[:2]
    keys = kernel_keys(w, signfold)
    rep = np.zeros((cout, cin_g), bool)
    shared = 0
    ng = cout // groups
    for g in range(groups):
        blk = keys[g * ng:(g + 1) * ng]
        for c in range(cin_g):
            _, first, counts = np.unique(blk[:, c], return_index=True, return_counts=True)
            rep[g * ng + first, c] = True
            shared += int(np.count_nonzero(counts > 1))
    return rep, shared


def window_diffs(x: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(D, border) of every window that has a left neighbour in its output row,
    each (frames, Ho, Wo - 1): ``border`` = the neighbour's padding pattern
    differs; D = positions whose +-1 value differs (meaningful where not border)."""
    bits, valid = windows(x, layer)
    b = bits.reshape(*bits.shape[:3], -1)
    v = valid.reshape(*valid.shape[:3], -1)
    border = np.any(v[:, :, 1:] != v[:, :, :-1], axis=-1)
    d = np.count_nonzero((b[:, :, 1:] != b[:, :, :-1]) & (v[:, :, 1:] == 1), axis=-1)
    return d, border


def reuse_stats(layer: Layer, w: np.ndarray, x: np.ndarray) -> ReuseStats:
    """Exact ReuseStats of a binary conv from weight bits ``w`` (cout, cin_g,
    kh, kw) and input bits ``x`` (frames, cin, H, W)."""
    rep, shared = representatives(w, layer.groups, False)
    rep_f, shared_f = representatives(w, layer.groups, True)
    border_n = 0
    if layer.groups == 1:
        d, border = window_diffs(x, layer)
        vals, counts = np.unique(d[~border], return_counts=True)
        hist = tuple((int(a), int(b)) for a, b in zip(vals, counts, strict=True))
        border_n = int(border.sum())
    else:
        hist = ()  # input similarity is modelled for groups == 1 only
    _, ho, wo = layer.out_shape
    return ReuseStats(
        frames=int(x.shape[0]),
        rep_slices=tuple(int(v) for v in rep.sum(1)),
        rep_slices_signfolded=tuple(int(v) for v in rep_f.sum(1)),
        shared_results=shared,
        shared_results_signfolded=shared_f,
        windows=int(x.shape[0]) * ho * wo,
        diff_hist=hist,
        border_windows=border_n,
    )


def annotate(graph: WorkloadGraph, captured: dict[str, tuple[np.ndarray, np.ndarray]]
             ) -> WorkloadGraph:
    """The graph with ``stats.reuse`` of every eligible captured layer set."""
    layers = []
    for layer in graph.layers:
        if eligible(layer) and layer.name in captured:
            w, x = captured[layer.name]
            rs = reuse_stats(layer, w, x)
            st = layer.stats or LayerStats()
            layer = replace(layer, stats=replace(st, reuse=rs))
        layers.append(layer)
    return graph.with_layers(tuple(layers))
