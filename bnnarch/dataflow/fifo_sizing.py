"""Automatic FIFO sizing, after FINN's ``InsertAndSetFIFODepths``
(finn/transformation/fpgadataflow/set_fifo_depths.py): FINN makes every FIFO
deep, simulates a few frames streamed back to back, records each FIFO's
maximum occupancy and sets its depth to that.

Here, for the frames the design simulates (every FIFO that ``fifo.depths``
does not set; a "run" is one compiled-engine run of the whole pipeline):

1. **Reference run**: those FIFOs unbounded. Its II (last interval and mean
   over the second half of the frames, as reported) is the best the folding
   allows; each FIFO's peak occupancy is a depth at which the run is the
   same, event for event (a put never finds the FIFO full).
   ``fifo.sizing: finn`` stops here — FINN's result, one run.
2. **A low start** (``auto`` and ``minimal``): every FIFO at one entry except
   the join inputs that, in the reference run, receive items before another
   input of their join does (the bypass of a residual or skip connection),
   which stay unbounded. When that run reaches the reference II (it does for
   every shipped design and workload) its peaks are the depths; otherwise
   every bounded FIFO that filled up doubles, at most to its reference peak,
   and the run is repeated (at the reference peaks it is the reference run
   again). ``auto`` stops here: the reference II, every FIFO at its
   occupancy peak in the sized run (none deeper than it gets), in 2 runs on
   every shipped design and workload (the U-Net's: 1 CPU s, 0.6 s of it
   the reference run), more where FIFOs must double.
3. **Shrinking** (``minimal``): each FIFO deeper than one entry, in stream
   order, is tried one entry shallower (the minimality check); if that keeps
   the II, at one entry, then galloping down from the top (2, 4, 8 ...
   entries less) with a bisection in the last step. Passes repeat until one
   changes nothing.

Whenever a run keeps the II, every FIFO whose peak occupancy in that run is
below its depth is set to that peak (the same run, event for event), so one
run often shrinks many. "Keeps the II": no deadlock, last and mean interval no
longer than the reference's.

So ``minimal`` depths reach the reference II and every FIFO is minimal: one
entry less on any one of them lengthens the II or deadlocks (the last pass
tried each, on the final depths; tested on random chains and DAGs), none
deeper than ``auto``'s. Cost: 2 runs when every FIFO ends at one entry (the
shipped FINN chains), plus about 2-6 for each FIFO the shrinking moves and
one more for each FIFO left deeper than one entry (the last pass): 18 runs
for finn_resnet_digits, 88 for digits_seg, 135 for the U-Net (43 CPU s).
The unbounded reference run skips periodic frames and rows only in its
drain, after the source's last frame (while frames come in, the source runs
ahead, filling its FIFO more every frame), so it costs more than a sized
run. No depth beats the reference II: where it exceeds the
slowest stage's busy time, a line-buffered stage (an SWU whose line buffer
holds a whole frame cannot read the next one until its last window is out)
refills at frame boundaries, and the result says ``ii_limited_by:
line_buffer``, not ``fifo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from bnnarch.dataflow.engine import PipelineRun
from bnnarch.dataflow.fast import run_pipeline_fast, try_pipeline_fast
from bnnarch.dataflow.plan import JOINS, Stage, explicit_fifo, register_fifo
from bnnarch.dataflow.spec import DataflowSpec
from bnnarch.tech import tech_for


@dataclass(frozen=True)
class Sizing:
    """Auto-sized stages, the per-FIFO report and the reference run's II."""

    stages: list[Stage]
    fifos: list[FifoSize]
    unbounded_ii_cycles: int  # last interval with every auto FIFO unbounded
    runs: int  # pipeline runs the sizing took (the reference run included)
    # a compiled-engine run of ``stages``: the run that showed the depths keep
    # the II, the same event for event as running the sized stages again
    run: PipelineRun


@dataclass(frozen=True)
class FifoSize:
    """One FIFO's depth and where it came from, with its memory cost."""

    fifo: str
    producer: str
    consumer: str  # stage reading it ('host' for an output stream)
    depth: int
    origin: str  # auto | finn | fifo.depths | register (an MVTU pipeline register, one entry)
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


def _meets(run: PipelineRun | None, target: tuple[int, int]) -> bool:
    return run is not None and all(a <= b for a, b in zip(ii_of(run), target, strict=True))


def _intervals(frames: int) -> int:
    """Frame intervals that :func:`ii_of`'s second value spans."""
    return frames - 1 - (frames - 1) // 2 if frames > 1 else 1


class _Search:
    """Depth vectors tried against the target II; ``good`` is the best
    vector known to keep it, always tightened to the occupancy peaks of the
    run that showed it (the same run, event for event: no put found a FIFO
    full that the tightening made shallower)."""

    def __init__(self, stages: list[Stage], frames: int, target: tuple[int, int],
                 auto: list[str], good: dict[str, int | float]) -> None:
        self.stages, self.frames, self.target, self.auto = stages, frames, target, auto
        self.good = good
        self.runs = 1  # the reference run
        self.good_run: PipelineRun | None = None  # the run ``good`` repeats

    def run(self, depths: dict[str, int | float]) -> PipelineRun | None:
        self.runs += 1
        return _try(self.stages, depths, self.frames)

    def accept(self, depths: dict[str, int | float], run: PipelineRun) -> None:
        self.good = {n: min(depths[n], max(1, run.fifo_peaks[n])) for n in self.auto}
        self.good_run = run

    def keeps(self, depths: dict[str, int | float]) -> bool:
        """Whether ``depths`` keeps the II; if so it becomes ``good``."""
        run = self.run(depths)
        if _meets(run, self.target):
            assert run is not None
            self.accept(depths, run)
            return True
        return False

    def shrink(self, name: str) -> bool:
        """Make FIFO ``name`` as shallow as keeps the II with the others at
        ``good``: one entry less first (the minimality check), then one
        entry, then galloping down from the top (2, 4, 8 ... entries less)
        and a bisection in the last step."""
        d = int(self.good[name])
        if d <= 1 or not self.keeps(self.good | {name: d - 1}):
            return False
        if self.good[name] == 1 or self.keeps(self.good | {name: 1}):
            return True
        lo, step = 2, 2  # one entry loses the II
        while lo < (hi := int(self.good[name])):
            cand = max(lo, hi - step)
            if not self.keeps(self.good | {name: cand}):
                lo = cand + 1
                break
            step *= 2
        while lo < (hi := int(self.good[name])):  # cand fails, hi keeps
            mid = (lo + hi) // 2
            if not self.keeps(self.good | {name: mid}):
                lo = mid + 1
        return True


def _first_good(s: _Search, joins: set[str], ref: PipelineRun) -> None:
    """Start the search low: every FIFO at one entry but the join inputs on
    which items arrive before they do on another input of the join (in the
    reference run): those bypass FIFOs unbounded, their peaks then what they
    must hold while the pipeline runs throttled. Where that loses the II,
    every bounded FIFO that filled up doubles (at most to its reference
    peak: with every FIFO there the run is the reference run again)."""
    first = ref.fifo_first_put
    latest = {n: max(first[m] for m in j.in_fifos) for j in s.stages
              if j.in_fifos and j.in_fifos[0] in joins for n in j.in_fifos}
    depths: dict[str, int | float] = {
        n: math.inf if n in joins and first[n] < latest[n] else 1 for n in s.auto}
    peaks = {n: max(1, ref.fifo_peaks[n]) for n in s.auto}
    while True:
        run = s.run(depths)
        if _meets(run, s.target):
            assert run is not None
            s.accept(depths, run)
            return
        grown = {n: min(peaks[n], 2 * int(d)) for n, d in depths.items()
                 if not math.isinf(d) and d < peaks[n]
                 and (run is None or run.fifo_peaks[n] >= d)}
        if not grown:  # pragma: no cover - at the reference peaks the run is the reference
            return
        depths |= grown


def size_fifos(spec: DataflowSpec, stages: list[Stage], frames: int,
               target_cycles: int | None = None) -> Sizing:
    """The stages with every FIFO not set by ``fifo.depths`` sized
    (``fifo.sizing``: ``finn`` FINN's peaks, ``auto`` the low start's,
    ``minimal`` shrunk to minimal; anything else as ``auto``),
    one :class:`FifoSize` per FIFO, the unbounded reference II and the runs
    it took. ``target_cycles``: size for that II (last and mean interval at
    most that) where the unbounded run is faster."""
    consumer = {n: s for s in stages for n in s.in_fifos}
    producer = {n: s for s in stages for n, _ in s.out_fifos}
    auto = [n for n in producer if not register_fifo(n)
            and (n not in consumer or not explicit_fifo(spec, n, consumer[n].layer))]
    ref = run_pipeline_fast(with_depths(stages, dict.fromkeys(auto, math.inf)), frames)
    target = ii_of(ref)
    if target_cycles is not None:
        target = (max(target[0], target_cycles),
                  max(target[1], target_cycles * _intervals(frames)))
    search = _Search(stages, frames, target, auto, {})
    search.accept(dict.fromkeys(auto, math.inf), ref)
    origin = spec.fifo_sizing if spec.fifo_sizing in ("finn", "minimal") else "auto"
    if origin != "finn":
        _first_good(search, {n for s in stages if s.kind in JOINS for n in s.in_fifos}, ref)
    if origin == "minimal":
        changed = True
        while changed:  # a change makes the depths' sum smaller: this ends
            changed = False
            for name in auto:
                changed |= search.shrink(name)
    sized = with_depths(stages, search.good)
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    report = []
    for s in sized:
        for name, depth in s.out_fifos:
            bits = int(depth) * s.item_bits
            pj = t.sram_access_pj_per_bit(bits / 8192)
            report.append(FifoSize(
                name, s.name, consumer[name].name if name in consumer else "host", int(depth),
                origin if name in search.good else
                "register" if register_fifo(name) else "fifo.depths",
                ref.fifo_peaks[name], s.item_bits,
                t.sram_area_um2(bits), 2 * s.out_items * s.item_bits * pj))
    assert search.good_run is not None
    run = replace(search.good_run, fifo_depths={n: d for s in sized for n, d in s.out_fifos})
    return Sizing(sized, report, ii_of(ref)[0], search.runs, run)
