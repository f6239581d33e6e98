"""The fast engine: the dataflow pipeline of ``bnnarch.dataflow.engine`` run
by a compiled event loop (``bnnarch.dataflow._fastkernel``) that processes
the same events in the same order as SimPy, so every counter it returns —
frame completion times, per-stage busy / wait / done cycles, FIFO occupancy
peaks and first puts — equals the SimPy run's (tested on every shipped
dataflow design and on random chains and DAGs). A deadlock is reported by
rerunning SimPy, whose error names the FIFOs.

Periodic steady state: the kernel compares the whole state each time the
source starts a frame, and each time a sink finishes one, with the states
at the same place earlier (frames counted from the source's, cycles from
then); once one repeats, the run from then on repeats
with that period, so it skips whole periods and fills in the skipped
frames' counters (FIFO peaks are reached within a period already). The rest
of the run — the last frames and the drain — is simulated, so the result is
the full simulation's (tested with and without skipping).

Repeated rows: inside a frame, at each of the source's row starts, the
state is compared again, this time up to positions that move by a fixed
amount a period (``bnnarch.dataflow._rowskip``); away from every process's
frame edges the kernel jumps whole periods of rows, so a large frame costs
about its edges (the pipeline's fill and drain), not its pixel count.

The drain: once the source has sent its last frame, the same two skips
run at the first still-running windowed stage's reader — its row starts
and its frame starts — with FIFO fills moved out of the compared state
(they shrink or grow by a fixed amount a period while queued frames drain,
as in the FIFO sizing's unbounded reference run) and the counters of the
stages done left out. A jump then also stays within the periods in which no
FIFO can run empty or fill up (bounds from each FIFO's puts and gets a
period), and a growing FIFO's peak moves by its growth a period (only when
it rose in the period compared, so the peak is that period's).

``run_pipeline_fast(stages, frames)`` has the signature and result of
``engine.run_pipeline``.
"""

from __future__ import annotations

import math

import numpy as np

from bnnarch.dataflow import _kernelconst as k
from bnnarch.dataflow._fastkernel import run_kernel
from bnnarch.dataflow.engine import PipelineRun, StageStats, run_pipeline
from bnnarch.dataflow.plan import JOINS, Stage
from bnnarch.errors import SimError

INF_DEPTH = 1 << 62  # an unbounded FIFO (math.inf in the SimPy run)

_WINDOWED = ("swu", "pool", "upsample")
# (source frame — in the drain the reader's —, period frames, period cycles,
# periods skipped, where: 0 at the source's frame start, 1 + process at a
# sink's frame end, 1 + processes + process at a reader's frame start in the
# drain) of the last run's jump, -1 without one: for tests and the benchmark
LAST_JUMP: list[int] = [-1, -1, -1, -1, -1]
SKIP = True  # skip repeated periods and rows; False simulates every event (the benchmark compares)
# (row jumps, periods skipped, cycles skipped) by the last run's row skips
LAST_ROW_JUMPS: list[int] = [0, 0, 0]
# the same for the drain's row skips (after the source's last frame)
LAST_DRAIN_JUMPS: list[int] = [0, 0, 0]


def _row_pixels(stages: list[Stage]) -> int:
    """Source pixels per input row where the source feeds one windowed stage
    a frame of whole rows (row snapshots are taken there), else 0."""
    src = stages[0]
    nxt = [s for s in stages[1:] if s.in_fifos and s.in_fifos[0] in {n for n, _ in src.out_fifos}]
    if len(nxt) != 1 or nxt[0].kind not in _WINDOWED or nxt[0].hin * nxt[0].win != src.out_natural:
        return 0
    return nxt[0].win


def _stage_row(s: Stage) -> list[int]:
    row = [0] * k.N_P
    row[k.P_NAT], row[k.P_GROUP], row[k.P_IC] = s.out_natural, s.out_group, s.item_cycles
    if s.kind in JOINS:
        row[k.P_NREAD], row[k.P_JOIN] = len(s.in_fifos), 1
    else:  # engine._mvtu: input items per output
        row[k.P_NREAD] = max(1, s.in_items // s.out_natural if s.out_natural else 0)
    row[k.P_HIN], row[k.P_WIN], row[k.P_HOUT], row[k.P_WOUT] = s.hin, s.win, s.hout, s.wout
    row[k.P_K], row[k.P_STRIDE], row[k.P_PAD], row[k.P_DIL], row[k.P_UP] = (
        s.k, s.stride, s.pad, s.dil, s.up)
    row[k.P_RC] = s.read_cycles
    row[k.P_CAP] = s.line_rows * s.win
    npix = s.hin * s.win
    row[k.P_GIN] = 1 if (npix and s.in_items >= npix and s.in_items // npix) else npix
    row[k.P_PB], row[k.P_WB] = s.pixel_bits, max(1, s.width_bits)
    row[k.P_RIC] = s.read_item_cycles
    return row


def run_pipeline_fast(stages: list[Stage], frames: int, *, skip: bool | None = None) -> PipelineRun:
    """Stream ``frames`` frames through the stages (see :func:`try_pipeline_fast`);
    a deadlock raises SimPy's :class:`PipelineDeadlock`, naming the FIFOs."""
    run = try_pipeline_fast(stages, frames, skip=skip)
    if run is None:  # SimPy's run raises the error that names the FIFOs
        run_pipeline(stages, frames)
        raise SimError("the compiled pipeline deadlocked but the SimPy run did not")  # pragma: no cover
    return run


def try_pipeline_fast(stages: list[Stage], frames: int, *,
                      skip: bool | None = None) -> PipelineRun | None:
    """Stream ``frames`` frames through the stages (compiled; same result as
    :func:`bnnarch.dataflow.engine.run_pipeline`). ``skip``: once the state at
    the start of a frame repeats an earlier one (the periodic steady state),
    jump over whole periods instead of simulating them; the counters of the
    skipped frames are those of the frames a period earlier; likewise repeated
    rows inside a frame (``bnnarch.dataflow._rowskip``). ``None``: :data:`SKIP`."""
    if frames < 1:
        raise SimError('"frames" must be > 0.')
    skip = SKIP if skip is None else skip
    fifo_names: list[str] = []
    depth: dict[str, int | float] = {}
    for s in stages:
        for name, d in s.out_fifos:
            fifo_names.append(name)
            depth[name] = d
    fidx = {n: i for i, n in enumerate(fifo_names)}
    readers = {n for s in stages for n in s.in_fifos}
    n_st = len(stages)
    sp = np.array([_stage_row(s) for s in stages], dtype=np.int64).reshape(n_st, k.N_P)
    in_ptr = np.zeros(n_st + 1, np.int64)
    out_ptr = np.zeros(n_st + 1, np.int64)
    in_idx: list[int] = []
    out_idx: list[int] = []
    for i, s in enumerate(stages):
        in_idx += [fidx[n] for n in s.in_fifos]
        out_idx += [fidx[n] for n, _ in s.out_fifos]
        in_ptr[i + 1], out_ptr[i + 1] = len(in_idx), len(out_idx)
    procs: list[list[int]] = []

    def proc(kind: int, stage: int, fifo: int = 0, n_items: int = 0) -> None:
        row = [0] * k.N_S
        row[k.S_KIND], row[k.S_STAGE], row[k.S_FIFO], row[k.S_NITEMS] = kind, stage, fifo, n_items
        procs.append(row)

    for i, s in enumerate(stages):
        if i == 0:
            proc(k.K_SRC, i)
        elif s.kind in _WINDOWED:
            proc(k.K_OUTER, i)
            proc(k.K_RDR, i)
            proc(k.K_WRT, i)
        else:
            proc(k.K_CMP, i)
    sinks = [(fidx[n], s.out_items) for s in stages for n, _ in s.out_fifos if n not in readers]
    for q, n_items in sinks:
        proc(k.K_SNK, 0, q, n_items)
    ps = np.array(procs, dtype=np.int64)
    fq = np.zeros((len(fifo_names), k.N_F), np.int64)
    for i, n in enumerate(fifo_names):
        d = depth[n]
        fq[i, k.F_CAP] = INF_DEPTH if math.isinf(d) else int(d)
        if fq[i, k.F_CAP] < 1:
            raise SimError(f'FIFO {n!r}: "capacity" must be > 0.')
    fq[:, k.F_FIRST] = -1
    fq[:, k.F_PUTW] = -1
    fq[:, k.F_GETW] = -1
    ws = np.zeros((n_st, 4), np.int64)
    ws[:, k.W_GOTW] = -1
    ws[:, k.W_FREEDW] = -1
    stats = np.zeros((6, n_st, frames), np.int64)
    stats[k.T_START] = -1
    completion = np.zeros(frames, np.int64)
    jump = np.full(5, -1, np.int64)
    row_jumps = np.zeros(6, np.int64)
    status = run_kernel(sp, ps, fq, ws, in_ptr, np.array(in_idx, np.int64), out_ptr,
                        np.array(out_idx, np.int64), frames, len(sinks), stats, completion, skip,
                        jump, _row_pixels(stages), row_jumps)
    if status:  # deadlock
        return None
    LAST_JUMP[:] = jump.tolist()
    LAST_ROW_JUMPS[:] = row_jumps[:3].tolist()
    LAST_DRAIN_JUMPS[:] = row_jumps[3:].tolist()
    st = {s.name: StageStats(*(stats[plane, i].tolist() for plane in
                               (k.T_BUSY, k.T_WIN, k.T_WOUT, k.T_DONE, k.T_START, k.T_RBUSY)))
          for i, s in enumerate(stages)}
    return PipelineRun(frames, tuple(completion.tolist()), st,
                       {n: int(fq[i, k.F_PEAK]) for i, n in enumerate(fifo_names)},
                       {n: depth[n] for n in fifo_names},
                       {n: int(fq[i, k.F_FIRST]) for i, n in enumerate(fifo_names)})
