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
from bnnarch.dataflow._rowskip import events

SNAPSHOTS = 32  # states kept to find a period (two a frame: source start, sink end)
SNAP_SOURCE, SNAP_SINK = 0, 1  # where a snapshot is taken (SNAP_SINK + the sink's process)
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
def _snapshot(  # noqa: C901 - normalises every part of the state
        out: np.ndarray, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
              hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int,
              sp: np.ndarray, stats: np.ndarray, completion: np.ndarray, f0: int, t0: int) -> int:
    """The whole state at a frame boundary (the source in frame ``f0``) at cycle ``t0``,
    with frames counted from ``f0`` and times from ``t0``: every process's
    counters, FIFO fills and waiters, line-buffer counters, the pending
    events in heap order, and the counters of the frames still in flight.
    Two equal snapshots mean the run from the second repeats the run from
    the first, shifted by whole frames and cycles (the kernel is
    deterministic and reads nothing else). Returns its length (0: too many
    frames in flight to compare). The ring ``rq[rh:rt]`` holds pending events
    at ``t0`` that come after the heap's events at ``t0``."""
    lo, hi = _lowest_frame(ps), _highest_frame(ps)
    if hi - lo + 1 > MAX_WINDOW:
        return 0
    n = 0
    for p in range(ps.shape[0]):
        s = ps[p, S_STAGE]
        npix = sp[s, P_HIN] * sp[s, P_WIN]
        for c in range(N_S):
            v = ps[p, c]
            if ps[p, S_KIND] == K_OUTER:
                pass  # started its reader and writer; nothing else
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
            fq[q, F_CAP], fq[q, F_CNT], fq[q, F_PUTW], fq[q, F_GETW])
        n += 4
    for s in range(ws.shape[0]):
        npix = sp[s, P_HIN] * sp[s, P_WIN]
        out[n], out[n + 1] = ws[s, W_READ] - f0 * npix, ws[s, W_FREED] - f0 * npix
        out[n + 2], out[n + 3] = ws[s, W_GOTW], ws[s, W_FREEDW]
        n += 4
    n = events(out, n, hk, hn, rq, rh, rt, t0)  # pending events in processing order
    out[n], out[n + 1] = f0 - lo, hi - f0
    n += 2
    for f in range(lo, hi + 1):
        for plane in range(6):
            for s in range(stats.shape[1]):
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
def _jump(ps: np.ndarray, fq: np.ndarray, ws: np.ndarray, hk: np.ndarray, hn: int,
          sp: np.ndarray, stats: np.ndarray, completion: np.ndarray, f0: int, t0: int,
          d_f: int, d_t: int, m: int) -> int:
    """Skip ``m`` periods of ``d_f`` frames and ``d_t`` cycles: shift the
    state by ``m*d_f`` frames and ``m*d_t`` cycles, move the counters of the
    frames in flight with it and fill the skipped frames' counters with
    those of the frame one period earlier (shifted by ``d_t``). Returns the
    new time."""
    sh_f, sh_t = m * d_f, m * d_t
    lo, hi = _lowest_frame(ps), _highest_frame(ps)
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
    for s in range(ws.shape[0]):
        npix = sp[s, P_HIN] * sp[s, P_WIN]
        ws[s, W_READ] += sh_f * npix
        ws[s, W_FREED] += sh_f * npix
    for i in range(hn):
        hk[i, 0] += 2 * sh_t
    for f in range(hi, lo - 1, -1):  # frames in flight move with the state
        for plane in range(6):
            for s in range(stats.shape[1]):
                stats[plane, s, f + sh_f] = _shifted(plane, stats[plane, s, f], sh_t)
        completion[f + sh_f] = completion[f] + sh_t if completion[f] > 0 else 0
    for f in range(lo, lo + sh_f):  # skipped frames repeat the frame a period earlier
        for plane in range(6):
            for s in range(stats.shape[1]):
                stats[plane, s, f] = _shifted(plane, stats[plane, s, f - d_f], d_t)
        completion[f] = completion[f - d_f] + d_t
    return t0 + sh_t


@njit(cache=True)
def at_boundary(where: int, scratch: np.ndarray, snaps: np.ndarray, snap_meta: np.ndarray,
                 n_snap: int, n_taken: int, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
                 hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int, sp: np.ndarray,
                 stats: np.ndarray, completion: np.ndarray, frames: int, now: int,
                 jump: np.ndarray) -> tuple[int, int, int]:
    """At a frame boundary (``where``: the source starting a frame, or a sink
    finishing one): snapshot the state (frames counted from the source's
    frame ``f``); if it equals an earlier snapshot taken at the same place,
    skip whole periods with :func:`_jump`, else keep it. Returns (time,
    snapshots kept — 0 once jumped —, snapshots taken)."""
    f = ps[0, S_F]  # the source is process 0
    ln = _snapshot(scratch, ps, fq, ws, hk, hn, rq, rh, rt, sp, stats, completion, f, now)
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
        if m >= 1:
            jump[0], jump[1], jump[2], jump[3], jump[4] = f, d_f, d_t, m, where
            now = _jump(ps, fq, ws, hk, hn, sp, stats, completion, f, now, d_f, d_t, m)
            return now, 0, n_taken  # one jump: what is left is the end
        break
    if ln > 0:
        e = n_taken % n_snap
        snaps[e, :ln] = scratch[:ln]
        snap_meta[e, 0], snap_meta[e, 1], snap_meta[e, 2], snap_meta[e, 3] = ln, f, now, where
        n_taken += 1
    return now, n_snap, n_taken
