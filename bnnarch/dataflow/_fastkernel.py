"""Compiled event loop of the dataflow pipeline (numba): the same processes as
the SimPy pipeline in ``bnnarch.dataflow.engine``, the same events in the
same order.

It replays SimPy 4's kernel rules instead of calling it: events are
processed in ``(time, priority, eid)`` order (``Environment.schedule``:
URGENT = 0 for process initialisation, NORMAL = 1 otherwise, ``eid`` the
order of scheduling); a ``Store`` put appends the item at once when there is
room (``Store._do_put``) and the put event is processed later at the same
time, running ``_trigger_get`` (a waiting get takes the item) before the
producer resumes; a get takes an item at once (``Store._do_get``) and its
event runs ``_trigger_put`` (a blocked put adds its item) before the
consumer resumes. A signal wakes its waiter through an event at the same
time. The run stops when the sink's process event (one sink) or the
``AllOf`` of the sinks (several) is processed, as ``env.run(until=...)``.
So FIFO occupancy peaks, which depend on the order of a put and a get at the
same cycle, come out as in SimPy, not only the times.

Every process is a state machine over a row of ``ps`` (program counter and
loop counters); its ``resume`` runs until it schedules an event or registers
as a waiter, like a generator between two ``yield``s. Events that nobody
waits on (a signal fired with no waiter, a process end nobody joins) are not
scheduled: they would only take an eid, which keeps the relative order of
all other events. An empty event heap before the stop is a deadlock
(status 1); the caller then reruns SimPy for its message.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bnnarch.dataflow import _frameskip as _fs
from bnnarch.dataflow import _rowskip as _rs
from bnnarch.dataflow._kernelconst import (
    E_GET,
    E_PUT,
    E_RESUME,
    E_SINKEND,
    E_STOP,
    F_CAP,
    F_CNT,
    F_FIRST,
    F_GETW,
    F_PEAK,
    F_PUTS,
    F_PUTW,
    K_CMP,
    K_OUTER,
    K_RDR,
    K_SRC,
    K_WRT,
    NORMAL,
    P_CAP,
    P_DIL,
    P_GIN,
    P_GROUP,
    P_HIN,
    P_HOUT,
    P_IC,
    P_JOIN,
    P_K,
    P_NAT,
    P_NREAD,
    P_PAD,
    P_PB,
    P_RC,
    P_RIC,
    P_STRIDE,
    P_UP,
    P_WB,
    P_WIN,
    P_WOUT,
    PC_BUSYRET,
    PC_COL,
    PC_END,
    PC_GETRET,
    PC_INIT,
    PC_LOOP,
    PC_PIX,
    PC_PUT,
    PC_PUTRET,
    PC_RBUSYRET,
    PC_READ,
    PC_WAITRET,
    S_A,
    S_B,
    S_CONT,
    S_F,
    S_FIFO,
    S_J,
    S_KIND,
    S_NEED,
    S_NITEMS,
    S_PC,
    S_PEND,
    S_SENT,
    S_STAGE,
    S_T0,
    T_BUSY,
    T_DONE,
    T_RBUSY,
    T_START,
    T_WIN,
    T_WOUT,
    URGENT,
    W_FREED,
    W_FREEDW,
    W_GOTW,
    W_READ,
)

# numba caches run_kernel keyed on this file's stamp only, with the code and
# constants it calls from other modules compiled in: a change to them must
# change this file too. The first 16 hex digits of the sha256 of _frameskip.py
# + _rowskip.py + _kernelconst.py (checked by tests/dataflow/test_row_skip.py).
DEPS_SHA256 = "e383fd5236393548"


@njit(cache=True)
def _push(hk: np.ndarray, n: int, t: int, prio: int, eid: int, p: int) -> int:
    """Push the resumption of process ``p`` onto the binary heap: rows
    (2*time + priority, eid, p), ordered by the first two (SimPy's
    (time, priority, eid)). Only process resumptions wait in the heap."""
    tp = 2 * t + prio
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent, 0] < tp or (hk[parent, 0] == tp and hk[parent, 1] < eid):
            break
        hk[i, 0], hk[i, 1], hk[i, 2] = hk[parent, 0], hk[parent, 1], hk[parent, 2]
        i = parent
    hk[i, 0], hk[i, 1], hk[i, 2] = tp, eid, p
    return n + 1


@njit(cache=True)
def _rpush(rq: np.ndarray, rt: int, ety: int, a: int, b: int) -> int:
    """Append an event at the current time (NORMAL priority) to the ring
    ``rq`` (tail ``rt``); it comes after every heap event at this time,
    which all have smaller eids. Returns the new tail."""
    i = rt & (rq.shape[0] - 1)  # a power-of-two ring
    rq[i, 0], rq[i, 1], rq[i, 2] = ety, a, b
    return rt + 1


@njit(cache=True)
def _less(hk: np.ndarray, i: int, j: int) -> bool:
    return hk[i, 0] < hk[j, 0] or (hk[i, 0] == hk[j, 0] and hk[i, 1] < hk[j, 1])


@njit(cache=True)
def _pop(hk: np.ndarray, n: int) -> int:
    """Remove the root (the caller has read it); returns the new size. The
    last entry sinks from the root through a hole (children move up)."""
    n -= 1
    tp, eid, p = hk[n, 0], hk[n, 1], hk[n, 2]
    i = 0
    while True:
        m = 2 * i + 1
        if m >= n:
            break
        if m + 1 < n and _less(hk, m + 1, m):
            m += 1
        if not (hk[m, 0] < tp or (hk[m, 0] == tp and hk[m, 1] < eid)):
            break
        hk[i, 0], hk[i, 1], hk[i, 2] = hk[m, 0], hk[m, 1], hk[m, 2]
        i = m
    hk[i, 0], hk[i, 1], hk[i, 2] = tp, eid, p
    return n


@njit(cache=True, inline="always")
def _emitted(ps: np.ndarray, p: int, col: int, cont: int, group: int, now: int) -> None:
    """An output computed (``col``: the source's / compute unit's output
    index, the writer's column): every ``group`` outputs the put sequence
    starts (one put per output FIFO, then ``cont``), else on to ``cont``."""
    ps[p, S_PEND] += 1
    ps[p, col] += 1
    ps[p, S_PC] = cont
    if ps[p, S_PEND] == group:
        ps[p, S_PEND] = 0
        ps[p, S_T0] = now
        ps[p, S_J] = 0
        ps[p, S_CONT] = cont
        ps[p, S_PC] = PC_PUT


@njit(cache=True)
def run_kernel(  # noqa: C901 - one state machine per process kind, compiled
        sp: np.ndarray, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
               in_ptr: np.ndarray, in_idx: np.ndarray, out_ptr: np.ndarray,
               out_idx: np.ndarray, frames: int, n_sinks: int,
               stats: np.ndarray, completion: np.ndarray, skip: bool,
               jump: np.ndarray, row_pixels: int, row_jumps: np.ndarray) -> int:
    """Run every process until the sinks have taken ``frames`` frames.
    Returns 0 when done, 1 on a deadlock (no event left). With ``skip``, a
    repeated state at a frame boundary — the source starting a frame or a
    sink finishing one (``_frameskip.at_boundary``) — skips whole periods of
    frames; ``jump`` receives (source frame, period in frames, period in
    cycles, periods skipped, where) of that jump. With ``row_pixels``, a
    repeated state at the source's row starts skips rows inside a frame
    (``_rowskip.at_row``); ``row_jumps`` counts those jumps."""
    n_proc = ps.shape[0]
    hk = np.zeros((n_proc + 8, 3), np.int64)
    ring = 1
    while ring < n_proc + 8:  # >= the pending events, a power of two
        ring *= 2
    rq = np.zeros((ring, 3), np.int64)  # events at the current time, in eid order
    rh = 0
    rt = 0
    n_snap = _fs.SNAPSHOTS if skip else 0
    snap_len = _fs.snapshot_len(ps, fq, ws)
    snaps = np.zeros((n_snap, snap_len), np.int64)
    snap_meta = np.full((n_snap, 4), -1, np.int64)  # (length, frame, time, where)
    snap_fifo = np.zeros((n_snap, 3 * fq.shape[0]), np.int64)  # (puts, fill, peak) per FIFO
    scratch = np.zeros(snap_len, np.int64)
    n_taken = 0
    # row snapshots (bnnarch.dataflow._rowskip): at the source's row starts
    n_row = _rs.ROW_SNAPSHOTS if skip else 0
    n_st = ws.shape[0]
    row_ex = np.zeros((n_row, _rs.row_exact_len(n_proc, fq.shape[0], n_st)), np.int64)
    row_lin = np.zeros((n_row, _rs.row_lin_len(n_proc, fq.shape[0], n_st)), np.int64)
    row_meta = np.zeros((n_row, 4), np.int64)  # (exact length, time, hash, where)
    ex = np.zeros(row_ex.shape[1], np.int64)
    lin = np.zeros(row_lin.shape[1], np.int64)
    n_row_taken = 0
    hn = 0
    eid = 0
    now = 0
    sinks_done = 0
    for p in range(n_proc):
        if ps[p, S_KIND] != K_RDR and ps[p, S_KIND] != K_WRT:
            hn = _push(hk, hn, 0, URGENT, eid, p)
            eid += 1
    while True:
        if hn > 0 and (rh == rt or hk[0, 0] >> 1 == now):  # heap events at now come first
            now = hk[0, 0] >> 1
            ety, a, b = E_RESUME, hk[0, 2], 0
            hn = _pop(hk, hn)
        elif rh < rt:
            e = rh & (rq.shape[0] - 1)
            ety, a, b = rq[e, 0], rq[e, 1], rq[e, 2]
            rh += 1
        else:
            return 1
        p = a
        if ety == E_STOP:
            return 0
        if ety == E_SINKEND:
            if n_sinks == 1:
                return 0
            sinks_done += 1
            if sinks_done == n_sinks:  # AllOf succeeds: its event runs the stop callback
                rt = _rpush(rq, rt, E_STOP, 0, 0)
                eid += 1
            continue
        if ety == E_PUT:  # Store._trigger_get: a waiting get takes an item
            q = a
            p = b
            w = fq[q, F_GETW]
            if w >= 0 and fq[q, F_CNT] > 0:
                fq[q, F_CNT] -= 1
                fq[q, F_GETW] = -1
                rt = _rpush(rq, rt, E_GET, q, w)
                eid += 1
        elif ety == E_GET:  # Store._trigger_put: a blocked put adds its item
            q = a
            p = b
            w = fq[q, F_PUTW]
            if w >= 0 and fq[q, F_CNT] < fq[q, F_CAP]:
                fq[q, F_CNT] += 1
                fq[q, F_PEAK] = max(fq[q, F_PEAK], fq[q, F_CNT])
                fq[q, F_PUTS] += 1
                if fq[q, F_FIRST] < 0:
                    fq[q, F_FIRST] = now
                fq[q, F_PUTW] = -1
                rt = _rpush(rq, rt, E_PUT, q, w)
                eid += 1
        # ---- resume process p until it waits ----
        kind = ps[p, S_KIND]
        s = ps[p, S_STAGE]
        while True:
            pc = ps[p, S_PC]
            f = ps[p, S_F]
            # -- put sequence shared by every producer: one put per output FIFO in turn
            if pc == PC_PUT:
                q = out_idx[out_ptr[s] + ps[p, S_J]]
                if fq[q, F_CNT] < fq[q, F_CAP]:
                    fq[q, F_CNT] += 1
                    fq[q, F_PEAK] = max(fq[q, F_PEAK], fq[q, F_CNT])
                    fq[q, F_PUTS] += 1
                    if fq[q, F_FIRST] < 0:
                        fq[q, F_FIRST] = now
                    rt = _rpush(rq, rt, E_PUT, q, p)
                    eid += 1
                else:
                    fq[q, F_PUTW] = p
                ps[p, S_PC] = PC_PUTRET
                break
            if pc == PC_PUTRET:
                ps[p, S_J] += 1
                if ps[p, S_J] < out_ptr[s + 1] - out_ptr[s]:
                    ps[p, S_PC] = PC_PUT
                    continue
                stats[T_WOUT, s, f] += now - ps[p, S_T0]
                ps[p, S_PC] = ps[p, S_CONT]
                continue
            if kind == K_OUTER:  # a windowed stage starts its reader and writer
                for r in (p + 1, p + 2):
                    hn = _push(hk, hn, now, URGENT, eid, r)
                    eid += 1
                ps[p, S_PC] = PC_END
                break
            if pc == PC_END:
                break
            if kind == K_SRC:
                if pc == PC_INIT:
                    ps[p, S_F] = 0
                    ps[p, S_PC] = PC_LOOP
                    ps[p, S_A] = -1  # pixel index, -1: start of frame
                    continue
                if pc == PC_LOOP:
                    if ps[p, S_A] < 0:
                        if f == frames:
                            ps[p, S_PC] = PC_END
                            break
                        if n_snap and f + 1 < frames:
                            now, n_snap, n_taken = _fs.at_boundary(
                                _fs.SNAP_SOURCE, scratch, snaps, snap_meta, n_snap, n_taken, ps, fq,
                                ws, hk, hn, rq, rh, rt, sp, stats, completion, frames, now, jump,
                                0, snap_fifo)
                            f = ps[p, S_F]
                            n_row_taken = 0
                        if stats[T_START, s, f] < 0:
                            stats[T_START, s, f] = now
                        ps[p, S_PEND] = 0
                        ps[p, S_A] = 0
                    if ps[p, S_A] == sp[s, P_NAT]:
                        stats[T_DONE, s, f] = now
                        ps[p, S_F] = f + 1
                        ps[p, S_A] = -1
                        continue
                    if n_row and row_pixels and ps[p, S_A] > 0 and ps[p, S_A] % row_pixels == 0:
                        now, n_row_taken = _rs.at_row(
                            ex, lin, row_ex, row_lin, row_meta, n_row_taken, ps, fq, ws, hk, hn,
                            rq, rh, rt, sp, stats, completion, now, row_jumps, -1)
                    sent = ps[p, S_SENT]
                    pb, wb = sp[s, P_PB], sp[s, P_WB]
                    busy = -(-(sent + pb) // wb) - (-(-sent // wb))
                    ps[p, S_SENT] = sent + pb
                    ps[p, S_PC] = PC_BUSYRET
                    if busy:
                        stats[T_BUSY, s, f] += busy
                        hn = _push(hk, hn, now + busy, NORMAL, eid, p)
                        eid += 1
                        break
                    continue
                if pc == PC_BUSYRET:
                    _emitted(ps, p, S_A, PC_LOOP, sp[s, P_GROUP], now)
                    continue
            elif kind == K_CMP:
                if pc == PC_INIT:
                    ps[p, S_F] = 0
                    ps[p, S_A] = -1  # output index, -1: start of frame
                    ps[p, S_PC] = PC_LOOP
                    continue
                if pc == PC_LOOP:
                    if ps[p, S_A] < 0:
                        if f == frames:
                            ps[p, S_PC] = PC_END
                            break
                        ps[p, S_PEND] = 0
                        ps[p, S_A] = 0
                    if ps[p, S_A] == sp[s, P_NAT]:
                        stats[T_DONE, s, f] = now
                        ps[p, S_F] = f + 1
                        ps[p, S_A] = -1
                        continue
                    ps[p, S_B] = 0  # reads done for this output
                    ps[p, S_PC] = PC_READ
                    continue
                if pc == PC_READ:
                    if ps[p, S_B] < sp[s, P_NREAD]:
                        q = in_idx[in_ptr[s] + (ps[p, S_B] if sp[s, P_JOIN] else 0)]
                        ps[p, S_T0] = now
                        if fq[q, F_CNT] > 0:
                            fq[q, F_CNT] -= 1
                            rt = _rpush(rq, rt, E_GET, q, p)
                            eid += 1
                        else:
                            fq[q, F_GETW] = p
                        ps[p, S_PC] = PC_GETRET
                        break
                    if stats[T_START, s, f] < 0:
                        stats[T_START, s, f] = now
                    ic = sp[s, P_IC]
                    stats[T_BUSY, s, f] += ic
                    if ic:
                        hn = _push(hk, hn, now + ic, NORMAL, eid, p)
                    else:  # a zero-cycle wait: an event at the same time
                        rt = _rpush(rq, rt, E_RESUME, p, 0)
                    eid += 1
                    ps[p, S_PC] = PC_BUSYRET
                    break
                if pc == PC_GETRET:
                    stats[T_WIN, s, f] += now - ps[p, S_T0]
                    ric = sp[s, P_RIC]
                    if ric:  # early_fc: the first fold on each input item
                        if stats[T_START, s, f] < 0:
                            stats[T_START, s, f] = now
                        stats[T_BUSY, s, f] += ric
                        hn = _push(hk, hn, now + ric, NORMAL, eid, p)
                        eid += 1
                        ps[p, S_PC] = PC_RBUSYRET
                        break
                    ps[p, S_B] += 1
                    ps[p, S_PC] = PC_READ
                    continue
                if pc == PC_RBUSYRET:
                    ps[p, S_B] += 1
                    ps[p, S_PC] = PC_READ
                    continue
                if pc == PC_BUSYRET:
                    _emitted(ps, p, S_A, PC_LOOP, sp[s, P_GROUP], now)
                    continue
            elif kind == K_RDR:
                npix = sp[s, P_HIN] * sp[s, P_WIN]
                gin = sp[s, P_GIN]
                if pc == PC_INIT:
                    ps[p, S_F] = 0
                    ps[p, S_A] = 0  # pixel index i in the frame
                    ps[p, S_PC] = PC_LOOP
                    continue
                if pc == PC_LOOP:  # while i < P: wait for line-buffer room
                    if ps[p, S_A] >= npix:
                        ps[p, S_F] = f + 1
                        ps[p, S_A] = 0
                        if f + 1 == frames:
                            ps[p, S_PC] = PC_END
                            break
                        if (n_snap and ps[0, S_PC] == PC_END and f + 2 < frames
                                and _rs.first_reader(ps, p)):  # the drain: at its frame starts
                            now, n_snap, n_taken = _fs.at_boundary(
                                _fs.SNAP_SINK + n_proc + p, scratch, snaps, snap_meta, n_snap,
                                n_taken, ps, fq, ws, hk, hn, rq, rh, rt, sp, stats, completion,
                                frames, now, jump, p, snap_fifo)
                            n_row_taken = 0
                        continue
                    base = f * npix
                    if base + ps[p, S_A] + gin - 1 - ws[s, W_FREED] >= max(sp[s, P_CAP], gin):
                        ps[p, S_T0] = now
                        ws[s, W_FREEDW] = p
                        ps[p, S_PC] = PC_WAITRET
                        break
                    q = in_idx[in_ptr[s]]
                    ps[p, S_T0] = now
                    if fq[q, F_CNT] > 0:
                        fq[q, F_CNT] -= 1
                        rt = _rpush(rq, rt, E_GET, q, p)
                        eid += 1
                    else:
                        fq[q, F_GETW] = p
                    ps[p, S_PC] = PC_GETRET
                    break
                if pc == PC_WAITRET:
                    stats[T_WOUT, s, f] += now - ps[p, S_T0]
                    ps[p, S_PC] = PC_LOOP
                    continue
                if pc == PC_GETRET:
                    stats[T_WIN, s, f] += now - ps[p, S_T0]
                    ps[p, S_B] = 0  # pixels of this item read
                    ps[p, S_PC] = PC_PIX
                    continue
                if pc == PC_PIX:
                    if ps[p, S_B] == gin:
                        ps[p, S_PC] = PC_LOOP
                        if (n_row and ps[0, S_PC] == PC_END and 0 < ps[p, S_A] < npix
                                and ps[p, S_A] % sp[s, P_WIN] == 0 and _rs.first_reader(ps, p)):
                            # the drain: row snapshots at the first running reader's row starts
                            now, n_row_taken = _rs.at_row(
                                ex, lin, row_ex, row_lin, row_meta, n_row_taken, ps, fq, ws, hk,
                                hn, rq, rh, rt, sp, stats, completion, now, row_jumps, p)
                        continue
                    if stats[T_START, s, f] < 0:
                        stats[T_START, s, f] = now
                    rc = sp[s, P_RC]
                    stats[T_RBUSY, s, f] += rc
                    if rc:
                        hn = _push(hk, hn, now + rc, NORMAL, eid, p)
                    else:  # a zero-cycle wait: an event at the same time
                        rt = _rpush(rq, rt, E_RESUME, p, 0)
                    eid += 1
                    ps[p, S_PC] = PC_BUSYRET
                    break
                if pc == PC_BUSYRET:
                    ws[s, W_READ] += 1
                    ps[p, S_A] += 1
                    ps[p, S_B] += 1
                    w = ws[s, W_GOTW]
                    if w >= 0:  # fire got_pixel
                        ws[s, W_GOTW] = -1
                        rt = _rpush(rq, rt, E_RESUME, w, 0)
                        eid += 1
                    ps[p, S_PC] = PC_PIX
                    continue
            elif kind == K_WRT:
                npix = sp[s, P_HIN] * sp[s, P_WIN]
                if pc == PC_INIT:
                    ps[p, S_F] = 0
                    ps[p, S_PEND] = 0  # kept across frames
                    ps[p, S_A] = 0  # output row r
                    ps[p, S_B] = 0  # output column c
                    ps[p, S_PC] = PC_COL
                    if frames == 0:
                        ps[p, S_PC] = PC_END
                    continue
                if pc == PC_COL:
                    r, c = ps[p, S_A], ps[p, S_B]
                    base = f * npix
                    up, st_, pad, kk, dil = (sp[s, P_UP], sp[s, P_STRIDE], sp[s, P_PAD],
                                             sp[s, P_K], sp[s, P_DIL])
                    hin, win = sp[s, P_HIN], sp[s, P_WIN]
                    if c == sp[s, P_WOUT]:  # end of row r: free the rows no later window needs
                        if r == sp[s, P_HOUT] - 1:
                            ws[s, W_FREED] = base + npix
                        else:
                            keep_from = (r + 1) // up * st_ - pad
                            ws[s, W_FREED] = base + max(0, min(hin, keep_from)) * win
                        w = ws[s, W_FREEDW]
                        if w >= 0:
                            ws[s, W_FREEDW] = -1
                            rt = _rpush(rq, rt, E_RESUME, w, 0)
                            eid += 1
                        ps[p, S_B] = 0
                        ps[p, S_A] = r + 1
                        if r + 1 == sp[s, P_HOUT]:
                            stats[T_DONE, s, f] = now
                            ps[p, S_A] = 0
                            ps[p, S_F] = f + 1
                            if f + 1 == frames:
                                ps[p, S_PC] = PC_END
                                break
                        continue
                    last_row = min(hin - 1, r // up * st_ - pad + (kk - 1) * dil)
                    last_col = min(win - 1, c // up * st_ - pad + (kk - 1) * dil)
                    ps[p, S_NEED] = base + last_row * win + last_col + 1
                    ps[p, S_PC] = PC_READ
                    continue
                if pc == PC_READ:  # wait for the window's last pixel
                    if ws[s, W_READ] < ps[p, S_NEED]:
                        ps[p, S_T0] = now
                        ws[s, W_GOTW] = p
                        ps[p, S_PC] = PC_WAITRET
                        break
                    ic = sp[s, P_IC]
                    stats[T_BUSY, s, f] += ic
                    if ic:
                        hn = _push(hk, hn, now + ic, NORMAL, eid, p)
                    else:  # a zero-cycle wait: an event at the same time
                        rt = _rpush(rq, rt, E_RESUME, p, 0)
                    eid += 1
                    ps[p, S_PC] = PC_BUSYRET
                    break
                if pc == PC_WAITRET:
                    stats[T_WIN, s, f] += now - ps[p, S_T0]
                    ps[p, S_PC] = PC_READ
                    continue
                if pc == PC_BUSYRET:
                    _emitted(ps, p, S_B, PC_COL, sp[s, P_GROUP], now)
                    continue
            else:  # K_SNK: the host drains one output stream
                if pc == PC_INIT:
                    ps[p, S_F] = 0
                    ps[p, S_A] = 0
                    ps[p, S_PC] = PC_LOOP
                    continue
                if pc == PC_LOOP:
                    if ps[p, S_A] == ps[p, S_NITEMS]:
                        completion[f] = max(completion[f], now)
                        ps[p, S_F] = f + 1
                        ps[p, S_A] = 0
                        if f + 1 == frames:  # the process ends: its event is scheduled
                            rt = _rpush(rq, rt, E_SINKEND, p, 0)
                            eid += 1
                            ps[p, S_PC] = PC_END
                            break
                        if n_snap and ps[0, S_F] + 1 < frames:  # a frame left the pipeline
                            now, n_snap, n_taken = _fs.at_boundary(
                                _fs.SNAP_SINK + p, scratch, snaps, snap_meta, n_snap, n_taken, ps,
                                fq, ws, hk, hn, rq, rh, rt, sp, stats, completion, frames, now,
                                jump, 0, snap_fifo)
                            n_row_taken = 0
                        continue
                    q = ps[p, S_FIFO]
                    if fq[q, F_CNT] > 0:
                        fq[q, F_CNT] -= 1
                        rt = _rpush(rq, rt, E_GET, q, p)
                        eid += 1
                    else:
                        fq[q, F_GETW] = p
                    ps[p, S_PC] = PC_GETRET
                    break
                if pc == PC_GETRET:
                    ps[p, S_A] += 1
                    ps[p, S_PC] = PC_LOOP
                    continue
            break
    return 0
