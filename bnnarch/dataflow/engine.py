"""SimPy pipeline of a dataflow design: one process per stage, stages joined
by FIFOs (``simpy.Store`` with the design's capacity), so back-pressure and
under-sized FIFOs show up as stalls.

Granularity: one event per stream item (pixel vector, SWU window, MVTU input
vector), never per cycle; every timeout is an exact integer number of cycles.
A stage takes its input item(s), is busy for the stage's cycles, then puts
its output item (blocking while the FIFO is full). Time blocked on an empty
input FIFO is ``wait_in``, time blocked on a full output FIFO (or a full
line buffer) is ``wait_out``; an SWU / max-pool runs a reader and a writer
concurrently and their waits are added. Frames stream back to back; the
host keeps sending while the first stage accepts.

A forked stream is written into each consumer's FIFO in turn (the producer
blocks while any is full); a join (add / concat) takes one item from each of
its input FIFOs in turn, is busy, then puts its output. When the FIFO on a
short (bypass) branch of a join is too shallow, the fork blocks on it while
the long branch still needs input: the pipeline deadlocks, which the engine
detects (no event left) and reports naming the full FIFOs and the stages
waiting on empty ones — it never hangs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import simpy

from bnnarch.dataflow.plan import Stage
from bnnarch.errors import SimError


class Fifo(simpy.Store):
    """A Store that remembers its peak occupancy."""

    def __init__(self, env: simpy.Environment, capacity: int | float, name: str) -> None:
        if capacity < 1:
            raise SimError(f'FIFO {name!r}: "capacity" must be > 0.')
        super().__init__(env, capacity=capacity)
        self.name = name
        self.peak = 0
        self.puts = 0
        self.first_put = -1  # cycle of the first item written

    def _do_put(self, event: Any) -> Any:
        r = super()._do_put(event)
        self.peak = max(self.peak, len(self.items))
        if event.triggered:
            self.puts += 1
            if self.first_put < 0:
                self.first_put = int(self._env.now)
        return r


# a stage's output: its FIFO, or every consumer's FIFO of a forked stream
Outs = Fifo | list[Fifo]


class Signal:
    """A level change other processes can wait for."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.event = env.event()

    def fire(self) -> None:
        ev, self.event = self.event, self.env.event()
        ev.succeed()


@dataclass
class StageStats:
    """Per-frame counters of one stage (index = frame)."""

    busy: list[int]
    wait_in: list[int]
    wait_out: list[int]
    done: list[int]  # time the frame's last item was put
    start: list[int]  # time the frame's first busy cycle began
    read_busy: list[int] = field(default_factory=list)

    @classmethod
    def new(cls, frames: int) -> StageStats:
        z = [0] * frames
        return cls(list(z), list(z), list(z), list(z), [-1] * frames, list(z))

    def begin(self, f: int, now: int | float) -> None:
        """Record ``now`` (SimPy's ``env.now``; whole cycles here) as frame ``f``'s start."""
        if self.start[f] < 0:
            self.start[f] = int(now)


@dataclass(frozen=True)
class PipelineRun:
    frames: int
    completion: tuple[int, ...]  # cycle at which frame f left the last stage
    stats: dict[str, StageStats]
    fifo_peaks: dict[str, int]
    fifo_depths: dict[str, int | float]  # math.inf: unbounded
    fifo_first_put: dict[str, int] = field(default_factory=dict)


class PipelineDeadlock(SimError):
    """No stage can move: ``full`` FIFOs block their producers while
    ``starved`` FIFOs leave their consumers waiting."""

    def __init__(self, message: str, full: tuple[str, ...], starved: tuple[str, ...]) -> None:
        super().__init__(message)
        self.full = full
        self.starved = starved


def _put(env: simpy.Environment, fifo: Outs, item: Any, st: StageStats, f: int):
    t0 = env.now
    if isinstance(fifo, Fifo):
        yield fifo.put(item)
    else:  # a forked stream: every consumer's FIFO in turn
        for q in fifo:
            yield q.put(item)
    st.wait_out[f] += int(env.now - t0)


def _get(env: simpy.Environment, fifo: Fifo, st: StageStats, f: int):
    t0 = env.now
    item = yield fifo.get()
    st.wait_in[f] += int(env.now - t0)
    return item


def _source(env: simpy.Environment, s: Stage, out: Outs, st: StageStats, frames: int):
    sent = 0  # bits sent so far (continuous stream over frames)
    for f in range(frames):
        st.begin(f, env.now)
        pending = 0
        for _ in range(s.out_natural):
            busy = -(-(sent + s.pixel_bits) // s.width_bits) - (-(-sent // s.width_bits))
            sent += s.pixel_bits
            if busy:
                st.busy[f] += busy
                yield env.timeout(busy)
            pending += 1
            if pending == s.out_group:
                yield from _put(env, out, f, st, f)
                pending = 0
        st.done[f] = int(env.now)


def _compute(env: simpy.Environment, s: Stage, read: Callable[[int], Iterator[Any]], out: Outs,
             st: StageStats, frames: int):
    """A compute unit: per output pixel it takes its inputs (``read(f)``),
    computes for ``item_cycles`` and emits every ``out_group`` outputs as one
    item (``out_group`` divides ``out_natural``: 1, or a whole vector)."""
    for f in range(frames):
        pending = 0
        for _ in range(s.out_natural):
            yield from read(f)
            st.begin(f, env.now)
            st.busy[f] += s.item_cycles
            yield env.timeout(s.item_cycles)
            pending += 1
            if pending == s.out_group:
                yield from _put(env, out, f, st, f)
                pending = 0
        st.done[f] = int(env.now)


def _mvtu(env: simpy.Environment, s: Stage, inp: Fifo, out: Outs, st: StageStats,
          frames: int):
    per_vector_in = max(1, s.in_items // s.out_natural if s.out_natural else 0)

    def read(f: int):
        for _ in range(per_vector_in):
            yield from _get(env, inp, st, f)
            if s.read_item_cycles:  # early_fc: the first fold on each input item
                st.begin(f, env.now)
                st.busy[f] += s.read_item_cycles
                yield env.timeout(s.read_item_cycles)

    yield from _compute(env, s, read, out, st, frames)


def _threshold(env: simpy.Environment, s: Stage, inp: Fifo, out: Outs, st: StageStats,
               frames: int):
    yield from _mvtu(env, s, inp, out, st, frames)


def _windowed(env: simpy.Environment, s: Stage, inp: Fifo, out: Outs, st: StageStats,
              frames: int):
    """SWU, pool or upsample: a reader filling a line buffer of ``line_rows``
    input rows and a writer emitting windows (an upsample: each input pixel
    ``up`` x ``up`` times) as soon as their last pixel is in."""
    P = s.hin * s.win
    cap = s.line_rows * s.win
    state = {"read": 0, "freed": 0}
    got_pixel, freed_rows = Signal(env), Signal(env)
    per_item = s.in_items // P if s.in_items >= P else 0  # pixels per input item (1 or P)
    group_in = 1 if per_item else P  # pixels that arrive with one item

    def reader():
        for f in range(frames):
            base = f * P
            i = 0
            while i < P:
                # line-buffer space for the pixels of the next item
                while base + i + group_in - 1 - state["freed"] >= max(cap, group_in):
                    t0 = env.now
                    yield freed_rows.event
                    st.wait_out[f] += int(env.now - t0)
                yield from _get(env, inp, st, f)
                for _ in range(group_in):
                    st.begin(f, env.now)
                    st.read_busy[f] += s.read_cycles
                    yield env.timeout(s.read_cycles)
                    state["read"] += 1
                    i += 1
                    got_pixel.fire()

    def writer():
        pending = 0
        for f in range(frames):
            base = f * P
            for r in range(s.hout):
                last_row = min(s.hin - 1, r // s.up * s.stride - s.pad + (s.k - 1) * s.dil)
                for c in range(s.wout):
                    last_col = min(s.win - 1, c // s.up * s.stride - s.pad + (s.k - 1) * s.dil)
                    need = base + last_row * s.win + last_col + 1
                    while state["read"] < need:
                        t0 = env.now
                        yield got_pixel.event
                        st.wait_in[f] += int(env.now - t0)
                    st.busy[f] += s.item_cycles
                    yield env.timeout(s.item_cycles)
                    pending += 1
                    if pending == s.out_group:
                        yield from _put(env, out, f, st, f)
                        pending = 0
                # rows no later window of this frame needs
                keep_from = (r + 1) // s.up * s.stride - s.pad
                state["freed"] = base + (P if r == s.hout - 1 else
                                         max(0, min(s.hin, keep_from)) * s.win)
                freed_rows.fire()
            st.done[f] = int(env.now)

    env.process(reader())
    yield env.process(writer())


def _join(env: simpy.Environment, s: Stage, inps: list[Fifo], out: Outs, st: StageStats,
          frames: int):
    """Add / concat: one item from every input FIFO per output pixel."""
    def read(f: int):
        for q in inps:
            yield from _get(env, q, st, f)

    yield from _compute(env, s, read, out, st, frames)


_PROCS = {"mvtu": _mvtu, "threshold": _threshold, "dwc": _mvtu, "pipe": _mvtu, "swu": _windowed,
          "pool": _windowed,
          "upsample": _windowed}
_JOINS = {"add": _join, "concat": _join}


def _deadlock(frames: int, fifos: dict[str, Fifo], writer: dict[str, str],
              reader: dict[str, str]) -> PipelineDeadlock:
    """The deadlock's core: a stage waiting on an empty input FIFO while
    another of its inputs is full (a join whose bypass FIFO filled up)."""
    full = tuple(n for n, q in fifos.items() if q.put_queue and len(q.items) >= q.capacity)
    starved = tuple(n for n, q in fifos.items() if q.get_queue and not q.items)
    core = [f"{reader[m]!r} waits on empty FIFO {m!r} while its FIFO {n!r} (from {writer[n]!r}) "
            f"is full ({len(fifos[n].items)}/{fifos[n].capacity})"
            for m in starved for n in full if m in reader and reader.get(n) == reader[m]]
    if not core:
        core = [f"FIFO {n!r} is full and blocks {writer[n]!r}" for n in full[:3]]
    others = len(full) - sum(1 for n in full if any(repr(n) in c for c in core))
    msg = f"pipeline deadlocked before finishing {frames} frame(s)"
    if core:
        msg += ": " + "; ".join(core)
    if others > 0:
        msg += f" ({others} more FIFO(s) full upstream)"
    return PipelineDeadlock(msg, full, starved)


def run_pipeline(stages: list[Stage], frames: int, until: int | None = None) -> PipelineRun:
    """Stream ``frames`` frames through the stages; the sinks drain at once.

    FIFO depths may be ``math.inf`` (the simulator's run that derives bypass
    depths). Raises :class:`PipelineDeadlock` when no stage can move."""
    if frames < 1:
        raise SimError('"frames" must be > 0.')
    env = simpy.Environment()
    fifos: dict[str, Fifo] = {}
    writer: dict[str, str] = {}
    for s in stages:
        for name, depth in s.out_fifos:
            fifos[name] = Fifo(env, depth, name)
            writer[name] = s.name
    reader = {n: s.name for s in stages for n in s.in_fifos}
    stats = {s.name: StageStats.new(frames) for s in stages}
    completion = [0] * frames

    def outs(s: Stage) -> Outs:
        qs = [fifos[n] for n, _ in s.out_fifos]
        return qs[0] if len(qs) == 1 else qs

    src = stages[0]
    env.process(_source(env, src, outs(src), stats[src.name], frames))
    for s in stages[1:]:
        if s.kind in _JOINS:
            env.process(_JOINS[s.kind](env, s, [fifos[n] for n in s.in_fifos], outs(s),
                                       stats[s.name], frames))
        else:
            env.process(_PROCS[s.kind](env, s, fifos[s.in_fifos[0]], outs(s), stats[s.name],
                                       frames))
    sinks = [(fifos[n], s.out_items) for s in stages for n, _ in s.out_fifos if n not in reader]

    def sink(q: Fifo, n_items: int):  # the host drains every output stream on its own
        for f in range(frames):
            for _ in range(n_items):
                yield q.get()
            completion[f] = max(completion[f], int(env.now))

    procs = [env.process(sink(q, n)) for q, n in sinks]
    done = procs[0] if len(procs) == 1 else simpy.AllOf(env, procs)
    try:
        env.run(until=done if until is None else until)
    except RuntimeError:  # no events left before the sink finished
        raise _deadlock(frames, fifos, writer, reader) from None
    if not done.triggered:
        raise SimError(f"pipeline did not finish {frames} frame(s) within {until} cycles "
                       "(deadlock?)")
    return PipelineRun(frames, tuple(completion), stats,
                       {n: q.peak for n, q in fifos.items()},
                       {n: q.capacity for n, q in fifos.items()},
                       {n: q.first_put for n, q in fifos.items()})
