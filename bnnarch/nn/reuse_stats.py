"""Measure the statistics reuse schemes need (``ReuseStats``) on a trained
layer's real weights and real binary activations: the torch side.

* ``reuse_stats(layer, w, x)``, ``annotate(graph, captured)``: pure numpy, in
  bnnarch.workload.reuse_stats (re-exported here).
* ``capture(model, images)``: run images through a trained bnnarch.nn model
  and record every binary conv's weight bits and binary input (torch).
* ``python -m bnnarch.nn.reuse_stats CHECKPOINT WORKLOAD [--frames N]``:
  annotate a shipped workload JSON in place from its checkpoint and the
  digits data set of the checkpoint's task (test split).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from bnnarch.workload.reuse_stats import (
    annotate,
    eligible,
    representatives,
    reuse_stats,
    window_diffs,
)

# Test images the statistics are measured on, per task: every window of a
# digit (8x8 maps and smaller) is cheap; a 64x64 canvas has 4096 windows per
# layer per frame, so 8 frames give >= 32k window pairs on the large maps and
# keep the reference's re-execution in the tests fast.
FRAMES = {"classify": 64, "detect": 8, "segment": 8}
DEFAULT_FRAMES = 16


def frames_for(task: str) -> int:
    return FRAMES.get(task, DEFAULT_FRAMES)


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
