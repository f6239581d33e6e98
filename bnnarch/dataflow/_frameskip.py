"""Skipping whole periods of frames (numba helpers of
``bnnarch.dataflow._fastkernel``): each time the source starts a frame and
each time a sink finishes one, the whole state, frames counted from the
source's and cycles from now, is compared with the states kept at the same
place; once one repeats, the run from then on repeats with that period, so
the kernel jumps whole periods and fills in the skipped frames' counters.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bnnarch.dataflow._kernelconst import (
    F_CAP,
    F_CNT,
    F_GETW,
    F_PEAK,
    F_PUTS,
    F_PUTW,
    K_OUTER,
    K_SNK,
    K_SRC,
    K_WRT,
    N_S,
    P_HIN,
    P_NAT,
    P_PB,
    P_WB,
    P_WIN,
    PC_END,
    PC_GETRET,
    PC_PUTRET,
    PC_WAITRET,
    S_F,
    S_KIND,
    S_NEED,
    S_PC,
    S_SENT,
    S_STAGE,
    S_T0,
    T_DONE,
    T_START,
    W_FREED,
    W_FREEDW,
    W_GOTW,
    W_READ,
)
from bnnarch.dataflow._rowskip import events, fifo_bound

SNAPSHOTS = 32  # states kept to find a period (two a frame: source start, sink end)
# where a snapshot is taken: SNAP_SINK + the sink's process; in the drain
# (the source done) SNAP_SINK + processes + the first running reader
SNAP_SOURCE, SNAP_SINK = 0, 1
MAX_WINDOW = 64  # frames in flight beyond which no snapshot is taken


@njit(cache=True)
def snapshot_len(ps: np.ndarray, fq: np.ndarray, ws: np.ndarray) -> int:
    n_proc, n_st = ps.shape[0], ws.shape[0]
    return (n_proc * N_S + fq.shape[0] * 4 + n_st * 4 + (n_proc + 8) * 5
            + (n_st * 6 + 1) * MAX_WINDOW + 5)


@njit(cache=True)
def _lowest_frame(ps: np.ndarray) -> int:
    """The oldest frame any running process is still working on."""
    lo = 1 << 62
    for p in range(ps.shape[0]):
        if ps[p, S_KIND] != K_OUTER and ps[p, S_PC] != PC_END:
            lo = min(lo, ps[p, S_F])
    return lo


@njit(cache=True)
def _highest_frame(ps: np.ndarray) -> int:
    """The newest frame any running process is working on (at a sink's frame
    end, a consumer may be a frame ahead of the source waiting on its last put)."""
    hi = -1
    for p in range(ps.shape[0]):
        if ps[p, S_KIND] != K_OUTER and ps[p, S_PC] != PC_END:
            hi = max(hi, ps[p, S_F])
    return hi


@njit(cache=True)
def _running(ps: np.ndarray, n_st: int, drain: bool) -> np.ndarray:
    """Per stage: whether a process of it still runs (every stage outside
    the drain). A stage done keeps its counters: nothing moves them."""
    run = np.ones(n_st, np.bool_)
    if drain:
        run[:] = False
        for p in range(ps.shape[0]):
            kind = ps[p, S_KIND]
            if kind != K_OUTER and kind != K_SNK and ps[p, S_PC] != PC_END:
                run[ps[p, S_STAGE]] = True
    return run


@njit(cache=True)
def _snapshot(  # noqa: C901 - normalises every part of the state
        out: np.ndarray, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
              hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int,
              sp: np.ndarray, stats: np.ndarray, completion: np.ndarray, f0: int, t0: int,
              drain: bool) -> int:
    """The whole state at a frame boundary (the source in frame ``f0``) at cycle ``t0``,
    with frames counted from ``f0`` and times from ``t0``: every process's
    counters, FIFO fills and waiters, line-buffer counters, the pending
    events in heap order, and the counters of the frames still in flight.
    Two equal snapshots mean the run from the second repeats the run from
    the first, shifted by whole frames and cycles (the kernel is
    deterministic and reads nothing else). Returns its length (0: too many
    frames in flight to compare). The ring ``rq[rh:rt]`` holds pending events
    at ``t0`` that come after the heap's events at ``t0``. ``drain``: FIFO
    fills are left out (the caller bounds them) and so are the counters of
    the processes and stages done."""
    lo, hi = _lowest_frame(ps), _highest_frame(ps)
    if hi - lo + 1 > MAX_WINDOW:
        return 0
    run = _running(ps, ws.shape[0], drain)
    n = 0
    for p in range(ps.shape[0]):
        s = ps[p, S_STAGE]
        npix = sp[s, P_HIN] * sp[s, P_WIN]
        done = drain and ps[p, S_PC] == PC_END
        for c in range(N_S):
            v = ps[p, c]
            if ps[p, S_KIND] == K_OUTER or done:
                pass  # started its reader and writer, or ended; nothing else
            elif c == S_F:
                v -= f0
            elif c == S_T0:  # read only when a wait ends
                pc = ps[p, S_PC]
                waiting = pc == PC_PUTRET or pc == PC_GETRET or pc == PC_WAITRET
                v = v - t0 if waiting and ps[p, S_KIND] != K_SNK else 0
            elif c == S_SENT:
                v = v % sp[s, P_WB]  # the source's next busy cycles depend on this only
            elif c == S_NEED and ps[p, S_KIND] == K_WRT:
                v -= f0 * npix
            out[n] = v
            n += 1
    for q in range(fq.shape[0]):
        out[n], out[n + 1], out[n + 2], out[n + 3] = (
            fq[q, F_CAP], 0 if drain else fq[q, F_CNT], fq[q, F_PUTW], fq[q, F_GETW])
        n += 4
    for s in range(ws.shape[0]):
        npix = sp[s, P_HIN] * sp[s, P_WIN] if run[s] else 0
        out[n], out[n + 1] = ws[s, W_READ] - f0 * npix, ws[s, W_FREED] - f0 * npix
        out[n + 2], out[n + 3] = ws[s, W_GOTW], ws[s, W_FREEDW]
        n += 4
    n = events(out, n, hk, hn, rq, rh, rt, t0)  # pending events in processing order
    out[n], out[n + 1] = f0 - lo, hi - f0
    n += 2
    for f in range(lo, hi + 1):
        for plane in range(6):
            for s in range(stats.shape[1]):
                if not run[s]:
                    continue
                v = stats[plane, s, f]
                if (plane == T_DONE and v > 0) or (plane == T_START and v >= 0):
                    v -= t0
                out[n] = v
                n += 1
        out[n] = completion[f] - t0 if completion[f] > 0 else -(1 << 62)
        n += 1
    return n


@njit(cache=True)
def _shifted(plane: int, v: int, dt: int) -> int:
    if (plane == T_DONE and v > 0) or (plane == T_START and v >= 0):
        return v + dt
    return v


@njit(cache=True)
def _move_fifos(fq: np.ndarray, fifo_d: np.ndarray, m: int) -> None:
    """Every FIFO's puts and fill ``m`` periods on (``fifo_d``: (puts, fill)
    a period), a growing one's peak too (it rose in the base period:
    ``at_boundary`` checks)."""
    for q in range(fq.shape[0]):
        fq[q, F_PUTS] += m * fifo_d[q, 0]
        fq[q, F_CNT] += m * fifo_d[q, 1]
        if fifo_d[q, 1] > 0:
            fq[q, F_PEAK] += m * fifo_d[q, 1]


@njit(cache=True)
def _shift_ws(ws: np.ndarray, sp: np.ndarray, run: np.ndarray, sh_f: int) -> None:
    """The line-buffer counters of the running stages ``sh_f`` frames on."""
    for s in range(ws.shape[0]):
        npix = sp[s, P_HIN] * sp[s, P_WIN] if run[s] else 0
        ws[s, W_READ] += sh_f * npix
        ws[s, W_FREED] += sh_f * npix


@njit(cache=True)
def _jump(ps: np.ndarray, fq: np.ndarray, ws: np.ndarray, hk: np.ndarray, hn: int,
          sp: np.ndarray, stats: np.ndarray, completion: np.ndarray, f0: int, t0: int,
          d_f: int, d_t: int, m: int, drain: bool, fifo_d: np.ndarray) -> int:
    """Skip ``m`` periods of ``d_f`` frames and ``d_t`` cycles: shift the
    state by ``m*d_f`` frames and ``m*d_t`` cycles, move the counters of the
    frames in flight with it and fill the skipped frames' counters with
    those of the frame one period earlier (shifted by ``d_t``); in the
    drain only those of the stages still running, and every FIFO's fill,
    puts and (growing) peak move by ``m`` times ``fifo_d``'s per-period
    change (rows (puts, fill)). Returns the new time."""
    sh_f, sh_t = m * d_f, m * d_t
    lo, hi = _lowest_frame(ps), _highest_frame(ps)
    run = _running(ps, ws.shape[0], drain)
    if drain:
        _move_fifos(fq, fifo_d, m)
    for p in range(ps.shape[0]):
        if ps[p, S_KIND] == K_OUTER or ps[p, S_PC] == PC_END:
            continue
        s = ps[p, S_STAGE]
        ps[p, S_F] += sh_f
        ps[p, S_T0] += sh_t
        if ps[p, S_KIND] == K_SRC:
            ps[p, S_SENT] += sh_f * sp[s, P_NAT] * sp[s, P_PB]
        elif ps[p, S_KIND] == K_WRT:
            ps[p, S_NEED] += sh_f * sp[s, P_HIN] * sp[s, P_WIN]
    _shift_ws(ws, sp, run, sh_f)
    for i in range(hn):
        hk[i, 0] += 2 * sh_t
    for f in range(hi, lo - 1, -1):  # frames in flight move with the state
        for plane in range(6):
            for s in range(stats.shape[1]):
                if run[s]:
                    stats[plane, s, f + sh_f] = _shifted(plane, stats[plane, s, f], sh_t)
        completion[f + sh_f] = completion[f] + sh_t if completion[f] > 0 else 0
    for f in range(lo, lo + sh_f):  # skipped frames repeat the frame a period earlier
        for plane in range(6):
            for s in range(stats.shape[1]):
                if run[s]:
                    stats[plane, s, f] = _shifted(plane, stats[plane, s, f - d_f], d_t)
        completion[f] = completion[f - d_f] + d_t
    return t0 + sh_t


@njit(cache=True)
def at_boundary(where: int, scratch: np.ndarray, snaps: np.ndarray, snap_meta: np.ndarray,
                 n_snap: int, n_taken: int, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
                 hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int, sp: np.ndarray,
                 stats: np.ndarray, completion: np.ndarray, frames: int, now: int,
                 jump: np.ndarray, anchor: int, snap_fifo: np.ndarray) -> tuple[int, int, int]:
    """At a frame boundary (``where``: the source starting a frame, or a sink
    finishing one; in the drain, the first running reader ``anchor``
    starting one): snapshot the state (frames counted from ``anchor``'s
    frame ``f``, the source is process 0); if it equals an earlier snapshot
    taken at the same place, skip whole periods with :func:`_jump`, else
    keep it. In the drain, FIFO fills are not compared but bounded
    (``_rowskip.fifo_bound``, from the (puts, fill, peak) per FIFO kept in
    ``snap_fifo``). Returns (time, snapshots kept — 0 once jumped —,
    snapshots taken)."""
    f = ps[anchor, S_F]
    drain = where >= SNAP_SINK + ps.shape[0]
    ln = _snapshot(scratch, ps, fq, ws, hk, hn, rq, rh, rt, sp, stats, completion, f, now, drain)
    n_fifo = fq.shape[0]
    for e in range(min(n_taken, n_snap)):
        if snap_meta[e, 0] != ln or snap_meta[e, 3] != where or snap_meta[e, 1] >= f:
            continue
        same = True
        for x in range(ln):
            if snaps[e, x] != scratch[x]:
                same = False
                break
        if not same:
            continue
        d_f, d_t = f - snap_meta[e, 1], now - snap_meta[e, 2]
        m = (frames - 1 - _highest_frame(ps)) // d_f  # every process stays within the batch
        fifo_d = np.zeros((n_fifo, 2), np.int64)
        if drain:
            for q in range(n_fifo):
                fifo_d[q, 0] = fq[q, F_PUTS] - snap_fifo[e, 3 * q]
                fifo_d[q, 1] = fq[q, F_CNT] - snap_fifo[e, 3 * q + 1]
                m = min(m, fifo_bound(fq[q, F_CAP], snap_fifo[e, 3 * q + 1], fifo_d[q, 1],
                                      fifo_d[q, 0], fq[q, F_PEAK] > snap_fifo[e, 3 * q + 2]))
        if m >= 1:
            jump[0], jump[1], jump[2], jump[3], jump[4] = f, d_f, d_t, m, where
            now = _jump(ps, fq, ws, hk, hn, sp, stats, completion, f, now, d_f, d_t, m, drain,
                        fifo_d)
            return now, 0, n_taken  # one jump: what is left is the end
        break
    if ln > 0:
        e = n_taken % n_snap
        for q in range(n_fifo):
            snap_fifo[e, 3 * q], snap_fifo[e, 3 * q + 1] = fq[q, F_PUTS], fq[q, F_CNT]
            snap_fifo[e, 3 * q + 2] = fq[q, F_PEAK]
        snaps[e, :ln] = scratch[:ln]
        snap_meta[e, 0], snap_meta[e, 1], snap_meta[e, 2], snap_meta[e, 3] = ln, f, now, where
        n_taken += 1
    return now, n_snap, n_taken
