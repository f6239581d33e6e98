"""Automatic FIFO sizing (``fifo.sizing: auto``), after FINN's
``InsertAndSetFIFODepths`` (finn/transformation/fpgadataflow/set_fifo_depths.py):
FINN makes every FIFO deep, simulates a few frames streamed back to back,
records each FIFO's maximum occupancy and sets its depth to that.

Here, for the frames the design simulates:

1. **Reference run**: every FIFO the design does not size explicitly
   (``fifo.depths``) is unbounded. Its II (last interval and mean over the
   second half of the frames, as reported) is the best the folding allows;
   each FIFO's peak occupancy is a depth at which the run is the same, event
   for event (a put never finds the FIFO full) — FINN's result.
2. **Shrinking**: FINN's peaks are often far more than needed (upstream of
   the slowest stage the source runs ahead and fills every FIFO). Each FIFO
   in stream order gets the smallest depth, by bisection between 1 and its
   peak, at which the run still reaches the reference II (no deadlock, last
   and mean interval no longer); then each is checked again one entry
   shallower, and shrunk again if that now keeps the II, until none changes.

So the depths reach the reference II, and every FIFO is minimal: one entry
less on any one of them lengthens the II or deadlocks (tested on random
chains and DAGs). No depth beats the reference II: where it exceeds the
slowest stage's busy time, a line-buffered stage (an SWU whose line buffer
holds a whole frame cannot read the next one until its last window is out)
refills at frame boundaries, and the result says ``ii_limited_by:
line_buffer``, not ``fifo``. The searches run the compiled engine; a design with ``F``
auto FIFOs costs about ``F x log2(peak)`` runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from bnnarch.dataflow.engine import PipelineRun
from bnnarch.dataflow.fast import run_pipeline_fast, try_pipeline_fast
from bnnarch.dataflow.plan import Stage, explicit_fifo, register_fifo
from bnnarch.dataflow.spec import DataflowSpec
from bnnarch.tech import tech_for

MAX_ROUNDS = 4  # re-check passes after the first shrinking pass


@dataclass(frozen=True)
class Sizing:
    """Auto-sized stages, the per-FIFO report and the reference run's II."""

    stages: list[Stage]
    fifos: list[FifoSize]
    unbounded_ii_cycles: int  # last interval with every auto FIFO unbounded


@dataclass(frozen=True)
class FifoSize:
    """One FIFO's depth and where it came from, with its memory cost."""

    fifo: str
    producer: str
    consumer: str  # stage reading it ('host' for an output stream)
    depth: int
    origin: str  # auto | fifo.depths | register (an MVTU pipeline register, one entry)
    reference_peak: int  # occupancy peak with every auto FIFO unbounded
    item_bits: int
    area_um2: float
    energy_pj: float  # per frame: every item written and read once

    @property
    def bits(self) -> int:
        return self.depth * self.item_bits

    def to_dict(self) -> dict[str, Any]:
        return {"fifo": self.fifo, "from": self.producer, "to": self.consumer,
                "depth": self.depth, "origin": self.origin,
                "reference_peak": self.reference_peak, "item_bits": self.item_bits,
                "bits": self.bits, "area_um2": self.area_um2, "energy_pj": self.energy_pj}


def with_depths(stages: list[Stage], depths: dict[str, int | float]) -> list[Stage]:
    """The same stages with the FIFOs named in ``depths`` resized."""
    out = []
    for s in stages:
        if s.out_fifo in depths or any(n in depths for n, _ in s.more_outs):
            s = replace(s, out_depth=depths.get(s.out_fifo, s.out_depth),
                        more_outs=tuple((n, depths.get(n, d)) for n, d in s.more_outs))
        out.append(s)
    return out


def ii_of(run: PipelineRun) -> tuple[int, int]:
    """(last interval, cycles over the second half of the frames): the II
    and, over a fixed number of intervals, the mean II that results report."""
    c = run.completion
    if len(c) < 2:
        return c[0], c[0]
    k = (len(c) - 1) // 2
    return c[-1] - c[-2], c[-1] - c[k]


def _try(stages: list[Stage], depths: dict[str, int | float], frames: int) -> PipelineRun | None:
    return try_pipeline_fast(with_depths(stages, depths), frames)


def _keeps(stages: list[Stage], depths: dict[str, int | float], frames: int,
           target: tuple[int, int]) -> bool:
    run = _try(stages, depths, frames)
    return run is not None and all(a <= b for a, b in zip(ii_of(run), target, strict=True))


def _shrink(stages: list[Stage], depths: dict[str, int | float], name: str, hi: int,
            frames: int, target: tuple[int, int]) -> int:
    """Smallest depth in [1, hi] of FIFO ``name`` keeping the II (``hi`` does)."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _keeps(stages, depths | {name: mid}, frames, target):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _intervals(frames: int) -> int:
    """Frame intervals that :func:`ii_of`'s second value spans."""
    return frames - 1 - (frames - 1) // 2 if frames > 1 else 1


def size_fifos(spec: DataflowSpec, stages: list[Stage], frames: int,
               target_cycles: int | None = None) -> Sizing:
    """The stages with every FIFO not set by ``fifo.depths`` auto-sized,
    one :class:`FifoSize` per FIFO, and the unbounded reference II. ``target_cycles``: size for that II
    (last and mean interval at most that) where the unbounded run is faster."""
    consumer = {n: s for s in stages for n in s.in_fifos}
    producer = {n: s for s in stages for n, _ in s.out_fifos}
    auto = [n for n in producer if not register_fifo(n)
            and (n not in consumer or not explicit_fifo(spec, n, consumer[n].layer))]
    ref = run_pipeline_fast(with_depths(stages, dict.fromkeys(auto, math.inf)), frames)
    target = ii_of(ref)
    if target_cycles is not None:
        target = (max(target[0], target_cycles),
                  max(target[1], target_cycles * _intervals(frames)))
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
    sized = with_depths(stages, depths)
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    report = []
    for s in sized:
        for name, depth in s.out_fifos:
            bits = int(depth) * s.item_bits
            pj = t.sram_access_pj_per_bit(bits / 8192)
            report.append(FifoSize(
                name, s.name, consumer[name].name if name in consumer else "host", int(depth),
                "auto" if name in depths else "register" if register_fifo(name) else "fifo.depths",
                ref.fifo_peaks[name], s.item_bits,
                t.sram_area_um2(bits), 2 * s.out_items * s.item_bits * pj))
    return Sizing(sized, report, ii_of(ref)[0])
