"""The auto FIFO sizing as it was before the low start and the galloping
shrink (bnnarch.dataflow.fifo_sizing at commit c8c2c0f), kept only as the
peer that bench/dataflow_speed.py times the current sizing against: the
reference run (every auto FIFO unbounded), then each FIFO in stream order
bisected between 1 and its reference peak, then up to four re-check passes
one entry shallower. About ``FIFOs x log2(peak)`` runs."""

from __future__ import annotations

import math

from bnnarch.dataflow.fast import run_pipeline_fast, try_pipeline_fast
from bnnarch.dataflow.fifo_sizing import ii_of, with_depths
from bnnarch.dataflow.plan import Stage, explicit_fifo, register_fifo
from bnnarch.dataflow.spec import DataflowSpec

MAX_ROUNDS = 4  # re-check passes after the first shrinking pass


def _keeps(stages: list[Stage], depths: dict[str, int | float], frames: int,
           target: tuple[int, int]) -> bool:
    run = try_pipeline_fast(with_depths(stages, depths), frames)
    return run is not None and all(a <= b for a, b in zip(ii_of(run), target, strict=True))


def _shrink(stages: list[Stage], depths: dict[str, int | float], name: str, hi: int,
            frames: int, target: tuple[int, int]) -> int:
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _keeps(stages, depths | {name: mid}, frames, target):
            hi = mid
        else:
            lo = mid + 1
    return hi


def size_fifos_before(spec: DataflowSpec, stages: list[Stage], frames: int) -> dict[str, int]:
    """Depth per auto FIFO, as the sizing before computed them."""
    consumer = {n: s for s in stages for n in s.in_fifos}
    producer = {n: s for s in stages for n, _ in s.out_fifos}
    auto = [n for n in producer if not register_fifo(n)
            and (n not in consumer or not explicit_fifo(spec, n, consumer[n].layer))]
    ref = run_pipeline_fast(with_depths(stages, dict.fromkeys(auto, math.inf)), frames)
    target = ii_of(ref)
    depths: dict[str, int | float] = {n: max(1, ref.fifo_peaks[n]) for n in auto}
    for name in auto:
        depths[name] = _shrink(stages, depths, name, int(depths[name]), frames, target)
    for _ in range(MAX_ROUNDS):
        changed = False
        for name in auto:
            d = int(depths[name])
            if d > 1 and _keeps(stages, depths | {name: d - 1}, frames, target):
                depths[name] = _shrink(stages, depths, name, d - 1, frames, target)
                changed = True
        if not changed:
            break
    return {n: int(d) for n, d in depths.items()}
