"""Skipping repeated rows inside a frame (numba helpers of
``bnnarch.dataflow._fastkernel``).

Each time the source starts an input row (``row_pixels`` pixels into its
frame), the kernel takes a *row snapshot*: the state split into an **exact**
part — every program counter, frame index, intra-item counter, FIFO fill and
waiter, pending event (times from now), frame start / done times and
completions of the frames in flight — and a **linear** part: the positions
in the frame (pixel / output / row index, a window's last pixel, line-buffer
read and freed counters, bits sent) and the per-frame busy and wait
accumulators. When the exact part equals that of a snapshot ``d_t`` cycles
earlier, the kernel has gone through one period: every process stayed in its
frame and moved its positions by ``D`` (linear part now minus then). Each
decision a process takes compares a position with another position moved by
the same amount (a window's last pixel with the pixels read, the pixels read
with the rows freed) or with a frame edge (the frame's end, the padding rows
at the top and bottom, where the window and freed-row formulas clamp). So
while every position stays away from its frame edges (checked per process:
``_max_periods``), and a windowed stage's counters move consistently (whole
output rows, a multiple of the upsampling factor, and the pixels read, freed
and needed all by the rows' pixels), the next period repeats this one
shifted by ``D`` and ``d_t``: the kernel jumps ``m`` periods (``_row_jump``)
by adding ``m * D`` and ``m * d_t``. FIFO peaks are reached within a period
already; first puts are set once. A row snapshot is compared by a hash
first, then element by element.

The drain (the source done): snapshots at the first running reader's row
starts, FIFO fills in the linear part. A FIFO whose fill moves by ``d`` a
period, with ``puts`` and ``gets`` a period, stays within ``[c - gets, c +
puts]`` over a period starting at fill ``c``; while that keeps at least one
item and one free entry at the start of the base period and of every
skipped one, no get finds it empty and no put full, as in the base period
(``fifo_bound``); a growing FIFO's peak is carried along only when it rose
in the base period (it is then that period's peak, ``d`` higher each
period).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bnnarch.dataflow._kernelconst import (
    E_RESUME,
    F_CAP,
    F_CNT,
    F_GETW,
    F_PEAK,
    F_PUTS,
    F_PUTW,
    K_OUTER,
    K_RDR,
    K_SNK,
    K_WRT,
    N_S,
    NORMAL,
    P_DIL,
    P_GIN,
    P_HIN,
    P_HOUT,
    P_K,
    P_NAT,
    P_PAD,
    P_STRIDE,
    P_UP,
    P_WB,
    P_WIN,
    PC_END,
    PC_GETRET,
    PC_PUTRET,
    PC_WAITRET,
    S_A,
    S_F,
    S_KIND,
    S_NEED,
    S_NITEMS,
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

ROW_SNAPSHOTS = 40  # row snapshots kept: periods up to this many source rows
ROW_WINDOW = 8  # frames in flight beyond which no row snapshot is taken
_LIN_PLANES = (0, 1, 2, 5)  # T_BUSY, T_WIN, T_WOUT, T_RBUSY: accumulated per frame


@njit(cache=True)
def row_exact_len(n_proc: int, n_fifo: int, n_st: int) -> int:
    return n_proc * N_S + n_fifo * 4 + n_st * 2 + (2 * n_proc + 16) * 5 + 2 + (n_st * 2 + 1) * ROW_WINDOW


@njit(cache=True)
def row_lin_len(n_proc: int, n_fifo: int, n_st: int) -> int:
    return 3 * n_proc + 2 * n_st + n_fifo + 4 * n_st * ROW_WINDOW + 2 * n_fifo


@njit(cache=True)
def _fifo_col(lin: np.ndarray, n_fifo: int, q: int) -> int:
    """Where FIFO ``q``'s fill sits in the linear part (its peak follows)."""
    return lin.shape[0] - 2 * n_fifo + 2 * q


@njit(cache=True)
def _frames(ps: np.ndarray) -> tuple[int, int]:
    lo, hi = 1 << 62, -1
    for p in range(ps.shape[0]):
        if ps[p, S_KIND] != K_OUTER and ps[p, S_PC] != PC_END:
            lo = min(lo, ps[p, S_F])
            hi = max(hi, ps[p, S_F])
    return lo, hi


@njit(cache=True)
def first_reader(ps: np.ndarray, p: int) -> bool:
    """Whether the reader ``p`` is the first reader still running."""
    for r in range(p):
        if ps[r, S_KIND] == K_RDR and ps[r, S_PC] != PC_END:
            return False
    return True


@njit(cache=True)
def row_state(ex: np.ndarray, lin: np.ndarray, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
              hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int, sp: np.ndarray,
              stats: np.ndarray, completion: np.ndarray, now: int, drain: bool) -> int:
    """Fill the exact part ``ex`` and the linear part ``lin`` (module doc) of
    the state at cycle ``now``; returns the exact part's length (0: too many
    frames in flight). ``drain``: FIFO fills are linear, not exact."""
    lo, hi = _frames(ps)
    if hi < lo or hi - lo + 1 > ROW_WINDOW:
        return 0
    n_proc, n_st = ps.shape[0], ws.shape[0]
    n = 0
    for p in range(n_proc):
        kind = ps[p, S_KIND]
        s = ps[p, S_STAGE]
        for c in range(N_S):
            v = ps[p, c]
            if kind == K_OUTER:
                pass
            elif c == S_A or (c == S_NEED and kind == K_WRT):
                v = 0  # linear
            elif c == S_T0:  # read only when a wait ends
                pc = ps[p, S_PC]
                waiting = pc == PC_PUTRET or pc == PC_GETRET or pc == PC_WAITRET
                v = v - now if waiting and kind != K_SNK else 0
            elif c == S_SENT:
                v = v % sp[s, P_WB]
            ex[n] = v
            n += 1
        lin[2 * p], lin[2 * p + 1] = ps[p, S_A], ps[p, S_NEED]
        lin[2 * n_proc + p] = ps[p, S_SENT]
    for q in range(fq.shape[0]):
        cnt = 0 if drain else fq[q, F_CNT]
        ex[n], ex[n + 1], ex[n + 2], ex[n + 3] = fq[q, F_CAP], cnt, fq[q, F_PUTW], fq[q, F_GETW]
        n += 4
        lin[3 * n_proc + 2 * n_st + q] = fq[q, F_PUTS]
        c = _fifo_col(lin, fq.shape[0], q)
        lin[c], lin[c + 1] = fq[q, F_CNT], fq[q, F_PEAK]
    for s in range(n_st):
        ex[n], ex[n + 1] = ws[s, W_GOTW], ws[s, W_FREEDW]
        n += 2
        lin[3 * n_proc + 2 * s], lin[3 * n_proc + 2 * s + 1] = ws[s, W_READ], ws[s, W_FREED]
    n = events(ex, n, hk, hn, rq, rh, rt, now)
    ex[n], ex[n + 1] = lo, hi
    n += 2
    x = 3 * n_proc + 2 * n_st + fq.shape[0]
    for f in range(lo, hi + 1):
        for s in range(n_st):
            ex[n], ex[n + 1] = stats[T_START, s, f], stats[T_DONE, s, f]
            n += 2
            for plane in _LIN_PLANES:
                lin[x] = stats[plane, s, f]
                x += 1
        ex[n] = completion[f]
        n += 1
    return n


@njit(cache=True)
def events(ex: np.ndarray, n: int, hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int,
            now: int) -> int:
    """The pending events in processing order as (time - now, priority, type,
    a, b): the heap's at ``now``, then the ring's (at ``now``, NORMAL), then
    the heap's later ones."""
    order = np.arange(hn)
    for i in range(1, hn):
        j = i
        while j > 0 and (hk[order[j], 0] < hk[order[j - 1], 0] or (
                hk[order[j], 0] == hk[order[j - 1], 0] and hk[order[j], 1] < hk[order[j - 1], 1])):
            order[j], order[j - 1] = order[j - 1], order[j]
            j -= 1
    i = 0
    while i < hn and hk[order[i], 0] >> 1 == now:
        e = order[i]
        ex[n], ex[n + 1], ex[n + 2], ex[n + 3], ex[n + 4] = 0, hk[e, 0] & 1, E_RESUME, hk[e, 2], 0
        n += 5
        i += 1
    for r in range(rh, rt):
        e = r & (rq.shape[0] - 1)
        ex[n], ex[n + 1], ex[n + 2], ex[n + 3], ex[n + 4] = 0, NORMAL, rq[e, 0], rq[e, 1], rq[e, 2]
        n += 5
    while i < hn:
        e = order[i]
        ex[n], ex[n + 1] = (hk[e, 0] >> 1) - now, hk[e, 0] & 1
        ex[n + 2], ex[n + 3], ex[n + 4] = E_RESUME, hk[e, 2], 0
        n += 5
        i += 1
    return n


@njit(cache=True)
def row_hash(ex: np.ndarray, n: int) -> int:
    h = n
    for i in range(n):
        h = (h * 1000003) ^ ex[i]
    return h


@njit(cache=True)
def _writer_periods(sp: np.ndarray, s: int, r: int, dr: int, d_read: int, d_freed: int,
                    d_need: int, d_i: int) -> int:
    """Periods a windowed stage's writer at output row ``r`` (``dr`` rows a
    period) can skip with its window and freed-row formulas linear, or -1
    when its counters do not move together (then nothing is skipped)."""
    up, st, win = sp[s, P_UP], sp[s, P_STRIDE], sp[s, P_WIN]
    if dr % up:
        return -1
    d_pix = dr // up * st * win
    if d_read != d_pix or d_freed != d_pix or d_need != d_pix or d_i != d_pix:
        return -1
    if dr == 0:
        return 1 << 62
    pad, hin = sp[s, P_PAD], sp[s, P_HIN]
    if (r - dr + 1) // up * st - pad < 0:  # the top rows' freed-row clamp
        return 0
    # the last row r' every skipped period (and one more) reaches keeps
    # last_row = r'//up*st - pad + (k-1)*dil <= hin-1, keep_from = (r'+1)//up*st - pad <= hin,
    # and r' <= hout - 2 (the frame's last row frees the whole frame)
    a = (hin - 1 + pad - (sp[s, P_K] - 1) * sp[s, P_DIL]) // st
    b = (hin + pad) // st
    r_max = min(sp[s, P_HOUT] - 2, a * up + up - 1, b * up + up - 2)
    return (r_max - r) // dr - 1


@njit(cache=True)
def _fifo_periods(fq: np.ndarray, lin: np.ndarray, base: np.ndarray, n_proc: int, n_st: int) -> int:
    """How many periods every FIFO whose fill moves by ``d != 0`` a period
    keeps every get and put decision of the base period: with ``puts`` and
    ``gets`` a period, a period starting at fill ``c`` stays within
    ``[c - gets, c + puts]``, so ``c - gets >= 1`` and ``c + puts < cap`` at
    the start of the base period and of every skipped one means no get finds
    it empty and no put full. A growing FIFO's peak must be the base
    period's (it then grows by ``d`` a period); <= 0: none."""
    m = 1 << 62
    n_fifo = fq.shape[0]
    for q in range(n_fifo):
        c = _fifo_col(lin, n_fifo, q)
        x = 3 * n_proc + 2 * n_st + q
        m = min(m, fifo_bound(fq[q, F_CAP], base[c], lin[c] - base[c], lin[x] - base[x],
                              lin[c + 1] > base[c + 1]))
        if m <= 0:
            return 0
    return m


@njit(cache=True)
def fifo_bound(cap: int, c0: int, d: int, puts: int, new_peak: bool) -> int:
    """Periods one FIFO allows (:func:`_fifo_periods`): fill ``c0`` at the
    base period's start, ``d`` more a period, ``puts`` a period;
    ``new_peak``: its peak rose in the base period."""
    if d == 0:
        return 1 << 62
    gets = puts - d
    if c0 - gets < 1 or c0 + puts >= cap:
        return 0
    if d < 0:
        return (c0 - gets - 1) // -d
    if not new_peak:  # peak reached before the base period
        return 0
    return (cap - 1 - puts - c0) // d


@njit(cache=True)
def max_periods(ps: np.ndarray, sp: np.ndarray, lin: np.ndarray, base: np.ndarray,
                n_st: int, fq: np.ndarray) -> int:
    """How many periods (``lin - base`` each) every process can skip while
    its positions stay away from its frame's edges and every FIFO away from
    empty and full (module doc); <= 0: none."""
    n_proc = ps.shape[0]
    m = _fifo_periods(fq, lin, base, n_proc, n_st)
    if m <= 0:
        return 0
    for p in range(n_proc):
        kind = ps[p, S_KIND]
        if kind == K_OUTER or ps[p, S_PC] == PC_END:
            continue
        s = ps[p, S_STAGE]
        a, d = lin[2 * p], lin[2 * p] - base[2 * p]
        if d < 0:
            return 0
        if kind == K_WRT:
            rd = 3 * n_proc + 2 * s
            m = min(m, _writer_periods(sp, s, a, d, lin[rd] - base[rd], lin[rd + 1] - base[rd + 1],
                                       lin[2 * p + 1] - base[2 * p + 1],
                                       lin[2 * (p - 1)] - base[2 * (p - 1)]))  # its reader
            continue
        if d == 0:
            continue
        if kind == K_SNK:
            end = ps[p, S_NITEMS] - 1
        elif kind == K_RDR:
            end = sp[s, P_HIN] * sp[s, P_WIN] - 1 - sp[s, P_GIN]
        else:  # source, compute: outputs of the frame
            end = sp[s, P_NAT] - 1
        m = min(m, (end - a) // d - 1)
        if m <= 0:
            return 0
    return m


@njit(cache=True)
def row_jump(ps: np.ndarray, fq: np.ndarray, ws: np.ndarray, hk: np.ndarray, hn: int,
             stats: np.ndarray, lin: np.ndarray, base: np.ndarray, m: int, d_t: int,
             now: int) -> int:
    """Skip ``m`` periods: add ``m`` times the linear part's change and
    ``m * d_t`` cycles to every pending time; returns the new time."""
    n_proc, n_st = ps.shape[0], ws.shape[0]
    sh_t = m * d_t
    lo, hi = _frames(ps)
    for p in range(n_proc):
        if ps[p, S_KIND] == K_OUTER or ps[p, S_PC] == PC_END:
            continue
        ps[p, S_A] += m * (lin[2 * p] - base[2 * p])
        ps[p, S_NEED] += m * (lin[2 * p + 1] - base[2 * p + 1])
        ps[p, S_SENT] += m * (lin[2 * n_proc + p] - base[2 * n_proc + p])
        ps[p, S_T0] += sh_t
    for s in range(n_st):
        x = 3 * n_proc + 2 * s
        ws[s, W_READ] += m * (lin[x] - base[x])
        ws[s, W_FREED] += m * (lin[x + 1] - base[x + 1])
    for q in range(fq.shape[0]):
        x = 3 * n_proc + 2 * n_st + q
        fq[q, F_PUTS] += m * (lin[x] - base[x])
        c = _fifo_col(lin, fq.shape[0], q)
        d = lin[c] - base[c]
        fq[q, F_CNT] += m * d
        if d > 0:  # the base period's peak (max_periods), d higher each period
            fq[q, F_PEAK] += m * d
    for i in range(hn):
        hk[i, 0] += 2 * sh_t
    x = 3 * n_proc + 2 * n_st + fq.shape[0]
    for f in range(lo, hi + 1):
        for s in range(n_st):
            for plane in _LIN_PLANES:
                stats[plane, s, f] += m * (lin[x] - base[x])
                x += 1
    return now + sh_t


@njit(cache=True)
def at_row(ex: np.ndarray, lin: np.ndarray, row_ex: np.ndarray, row_lin: np.ndarray,
           row_meta: np.ndarray, n_taken: int, ps: np.ndarray, fq: np.ndarray, ws: np.ndarray,
           hk: np.ndarray, hn: int, rq: np.ndarray, rh: int, rt: int, sp: np.ndarray,
           stats: np.ndarray, completion: np.ndarray, now: int,
           row_jumps: np.ndarray, where: int) -> tuple[int, int]:
    """At the source's row start (``where`` -1), or once the source has
    ended at the row start of the reader process ``where`` (the drain, FIFO
    fills linear): take a row snapshot; if its exact part equals a kept
    one's taken at the same place (newest first) and every process can skip
    at least one period, jump (:func:`row_jump`) and forget the kept
    snapshots, else keep it. ``row_jumps`` counts (jumps, periods skipped,
    cycles skipped) at the source, then the same in the drain. Returns
    (time, snapshots taken)."""
    ln = row_state(ex, lin, ps, fq, ws, hk, hn, rq, rh, rt, sp, stats, completion, now, where >= 0)
    if ln == 0:
        return now, n_taken
    h = row_hash(ex, ln)
    n_keep = row_ex.shape[0]
    for back in range(1, min(n_taken, n_keep) + 1):
        e = (n_taken - back) % n_keep
        if row_meta[e, 2] != h or row_meta[e, 0] != ln or row_meta[e, 3] != where:
            continue
        same = True
        for x in range(ln):
            if row_ex[e, x] != ex[x]:
                same = False
                break
        if not same:
            continue
        m = max_periods(ps, sp, lin, row_lin[e], ws.shape[0], fq)
        if m >= 1:
            d_t = now - row_meta[e, 1]
            j = 0 if where < 0 else 3
            row_jumps[j] += 1
            row_jumps[j + 1] += m
            row_jumps[j + 2] += m * d_t
            return row_jump(ps, fq, ws, hk, hn, stats, lin, row_lin[e], m, d_t, now), 0
        break
    e = n_taken % n_keep
    row_ex[e, :ln] = ex[:ln]
    row_lin[e, :] = lin
    row_meta[e, 0], row_meta[e, 1], row_meta[e, 2], row_meta[e, 3] = ln, now, h, where
    return now, n_taken + 1
