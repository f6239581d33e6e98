"""Measure the statistics reuse schemes need (``ReuseStats``) on a trained
layer's real weights and real binary activations.

* ``reuse_stats(layer, w, x)``: pure numpy, from weight bits and input bits
  (conventions: bnnarch.workload.bits).
* ``capture(model, images)``: run images through a trained bnnarch.nn model
  and record every binary conv's weight bits and binary input (torch).
* ``annotate(graph, captured)``: the workload with ``stats.reuse`` filled in.
* ``python -m bnnarch.nn.reuse_stats CHECKPOINT WORKLOAD [--frames N]``:
  annotate a shipped workload JSON in place from its checkpoint and the
  digits data set of the checkpoint's task (test split).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from bnnarch.workload.bits import kernel_keys, windows
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer, LayerStats, ReuseStats

# Test images the statistics are measured on, per task: every window of a
# digit (8x8 maps and smaller) is cheap; a 64x64 canvas has 4096 windows per
# layer per frame, so 8 frames give >= 32k window pairs on the large maps and
# keep the reference's re-execution in the tests fast.
FRAMES = {"classify": 64, "detect": 8, "segment": 8}
DEFAULT_FRAMES = 16


def frames_for(task: str) -> int:
    return FRAMES.get(task, DEFAULT_FRAMES)


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


# ---- torch side -----------------------------------------------------------

def capture(model: Any, images: Any, names: set[str] | None = None
            ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer name: (weight bits, input bits)} of every binary QConv2d of a
    bnnarch.nn model on ``images`` (N x C x H x W tensor). Input bits are the
    layer's own quantized input (sign, as the forward pass uses it)."""
    import torch

    from bnnarch.nn.layers import QConv2d, quant_layers

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    hooks = []
    for name, m in quant_layers(model).items():
        if not isinstance(m, QConv2d) or (m.w_bits, m.a_bits) != (1, 1):
            continue
        if names is not None and name not in names:
            continue

        def hook(mod: Any, inp: tuple[Any, ...], _out: Any, name: str = name) -> None:
            q = mod.quantized_input(inp[0]).detach()
            wb = (mod.quantized_weight().detach() >= 0).to(torch.uint8).numpy()
            out[name] = (wb, (q >= 0).to(torch.uint8).numpy())

        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()
            model(images)
    finally:
        for h in hooks:
            h.remove()
    return out


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


def task_images(task: str, shape: tuple[int, int, int], frames: int) -> Any:
    """The first ``frames`` test images of a task's data set — the same images
    bnnarch.nn's extraction measures its statistics on (test split; canvases
    of seed 0)."""
    from bnnarch.nn.data import canvases, digits

    if task == "classify":
        x, _ = digits("test", size=shape[1])
        return x[:frames]
    try:
        from bnnarch.nn.train import N_TEST_CANVASES
    except ImportError:
        N_TEST_CANVASES = frames
    return canvases("test", max(frames, N_TEST_CANVASES), 0).images[:frames]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnnarch.nn.reuse_stats",
                                description="Write measured reuse statistics into a workload JSON.")
    p.add_argument("checkpoint")
    p.add_argument("workload")
    p.add_argument("--frames", type=int, help="test images (default: per task, FRAMES)")
    p.add_argument("--out", help="output JSON (default: overwrite the workload)")
    a = p.parse_args(argv)
    import torch

    from bnnarch.errors import BnnarchError, WorkloadError
    from bnnarch.nn.checkpoint import load_checkpoint
    from bnnarch.workload.io import load_workload, save_workload

    torch.set_num_threads(1)
    try:
        ck = load_checkpoint(a.checkpoint)
        model = ck.build()
        graph = load_workload(a.workload)
        images = task_images(ck.task, graph.input_shape, a.frames or frames_for(ck.task))
        cap = capture(model, images)
        if not any(eligible(la) and la.name in cap for la in graph):
            raise WorkloadError(f"{a.workload}: none of its binary conv layers is a binary conv "
                                f"of {a.checkpoint} (is this the checkpoint it was extracted from?)")
        g2 = annotate(graph, cap)
    except BnnarchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(1 for la in g2 if la.stats is not None and la.stats.reuse is not None)
    out = save_workload(g2, a.out or a.workload)
    print(f"wrote {out}: reuse statistics of {n} layers over {len(images)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["annotate", "capture", "eligible", "representatives", "reuse_stats", "window_diffs"]
