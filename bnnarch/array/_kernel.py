"""Compiled inner loop of the mapper's exact search (numba).

The mapper simulates candidate schedules in order of their lower bound until
no remaining bound can beat the best simulated latency (branch and bound).
Per candidate that is: generate the tile sequence (mapper._build_tiles's loop)
and run it through the engine's recurrence (the DMA / compute model of
bnnarch.array.engine; ``recurrence`` here is the only implementation of it,
``engine.run_tiles_fast`` calls it). Both are integer loops over tiles,
compiled so that the search costs microseconds per candidate instead of
milliseconds (a design-space search simulates thousands of designs). Tests
hold the tile rows equal to mapper._build_tiles and the recurrence equal to
the SimPy engine (engine.run_tiles), tile by tile and cycle by cycle, on
every candidate of several layers and designs.

Compiled once per machine (``cache=True`` stores the machine code next to this
file; the first call of a fresh checkout compiles for a few seconds).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NO_TIME = np.iinfo(np.int64).max


@njit(cache=True)
def recurrence(loads: np.ndarray, comps: np.ndarray, stores: np.ndarray, n: int, k_in: int,
               k_out: int, lat: int, bw: float) -> int:
    """Cycles of the first ``n`` tiles on the engine's model (bnnarch.array.engine:
    buffer slots, one DMA issuing the oldest ready store before the next load)."""
    if n == 0:
        return 0
    load_end = np.zeros(n, np.int64)
    store_end = np.zeros(n, np.int64)
    comp_end = np.zeros(n, np.int64)
    comp_known = 0
    prev_comp = 0
    t = 0
    nl = 0
    ns = 0
    while nl < n or ns < n:
        while comp_known < nl and (comp_known < k_out or comp_known - k_out < ns):
            i = comp_known
            start = max(load_end[i], prev_comp)
            if i >= k_out and store_end[i - k_out] > start:
                start = store_end[i - k_out]
            prev_comp = start + comps[i]
            comp_end[i] = prev_comp
            comp_known += 1
        if ns < nl and ns < comp_known and comp_end[ns] <= t:
            b = stores[ns]
            if b > 0:
                t += lat + math.ceil(b / bw)
            store_end[ns] = t
            ns += 1
        elif nl < n and (nl < k_in or (nl - k_in < comp_known and comp_end[nl - k_in] <= t)):
            b = loads[nl]
            if b > 0:
                t += lat + math.ceil(b / bw)
            load_end[nl] = t
            nl += 1
        else:
            nxt = NO_TIME
            if ns < nl and ns < comp_known:
                nxt = comp_end[ns]
            if k_in <= nl < n and nl - k_in < comp_known and comp_end[nl - k_in] < nxt:
                nxt = comp_end[nl - k_in]
            t = max(t, nxt)
    return t


@njit(cache=True)
def tile_rows(order: np.ndarray, cm: int, cn: int, ck: int, th: int, gt: int, ci: int, co: int,
              ho: int, g: int, cin_g: int, cout_g: int, wo: int, taps: int, row_w: int,
              in_rows: np.ndarray, wb: int, ab: int, acc: int, out_b: int, spilled: bool,
              cyc16: np.ndarray, in_held: bool, out_held: bool, rows: np.ndarray) -> int:
    """The tiles mapper._build makes, one column of ``rows`` per tile: weight,
    activation and partial-sum load bits, compute cycles, store bits, and the
    compute tile's kind ``m*8 + g*4 + n*2 + k`` (each bit: that extent is the
    remainder, not full). Returns the tile count. ``order``: loop dimensions
    outer to inner (0 m, 1 n, 2 k); ``cyc16[kind]``: compute cycles; ``in_held``
    / ``out_held``: the input / output feature map stays on chip (no DRAM)."""
    cnj = (cout_g + co - 1) // co
    ext = np.empty(3, np.int64)
    ext[0] = cm
    ext[1] = cn
    ext[2] = ck
    e0 = ext[order[0]]
    e1 = ext[order[1]]
    e2 = ext[order[2]]
    seen = np.zeros(cm * cn, np.bool_)
    last_wn = -1
    last_wk = -1
    last_am = -1
    last_ak = -1
    last_ag = -1
    idx = np.zeros(3, np.int64)
    j = 0
    for i0 in range(e0):
        for i1 in range(e1):
            for i2 in range(e2):
                idx[order[0]] = i0
                idx[order[1]] = i1
                idx[order[2]] = i2
                mi = idx[0]
                ni = idx[1]
                ki = idx[2]
                mt = min(th, ho - mi * th)
                gi = ni // cnj
                gsz = min(gt, g - gi * gt)
                nt = min(co, cout_g - (ni % cnj) * co)
                kt = min(ci, cin_g - ki * ci)
                lw = 0
                if ni != last_wn or ki != last_wk:
                    lw = gsz * nt * kt * taps * wb
                la = 0
                if not in_held and (mi != last_am or ki != last_ak or gi != last_ag):
                    la = gsz * kt * in_rows[mt] * row_w * ab
                last_wn = ni
                last_wk = ki
                last_am = mi
                last_ak = ki
                last_ag = gi
                outs = gsz * nt * mt * wo
                o = mi * cn + ni
                lp = 0
                if ki > 0 and spilled and seen[o]:
                    lp = outs * acc
                seen[o] = True
                if ki == ck - 1:
                    st = 0 if out_held else outs * out_b
                elif spilled:
                    st = outs * acc
                else:
                    st = 0
                code = ((8 if mt != th else 0) + (4 if gsz != gt else 0)
                        + (2 if nt != co else 0) + (1 if kt != ci else 0))
                rows[0, j] = lw
                rows[1, j] = la
                rows[2, j] = lp
                rows[3, j] = cyc16[code]
                rows[4, j] = st
                rows[5, j] = code
                j += 1
    return j


@njit(cache=True)
def search(order3: np.ndarray, spilled: np.ndarray, bound: np.ndarray, dram: np.ndarray,
           n_tiles: np.ndarray, th: np.ndarray, gt: np.ndarray, ci: np.ndarray,
           co: np.ndarray, cm: np.ndarray, cn: np.ndarray, ck: np.ndarray, cyc16: np.ndarray,
           ho: int, g: int, cin_g: int, cout_g: int, wo: int, taps: int, row_w: int,
           in_rows: np.ndarray, wb: int, ab: int, acc: int, out_b: int, k_in: int, k_out: int,
           lat: int, bw: float, in_held: bool, out_held: bool) -> tuple[int, int, int]:
    """Branch and bound over candidates sorted by (bound, tiles, dram):
    (index of the best, its cycles, candidates simulated). Best = fewest
    simulated cycles, ties broken by fewer DRAM bits then by sort order."""
    biggest = n_tiles.max() if len(n_tiles) else 0
    rows = np.empty((6, biggest), np.int64)
    loads = np.empty(biggest, np.int64)
    best_i = -1
    best_c = 0
    best_d = 0
    evaluated = 0
    for i in range(len(bound)):
        if best_i >= 0:
            if bound[i] > best_c:
                break
            if bound[i] == best_c and dram[i] >= best_d:
                continue
        evaluated += 1
        n = tile_rows(order3[i], cm[i], cn[i], ck[i], th[i], gt[i], ci[i], co[i], ho, g, cin_g,
                      cout_g, wo, taps, row_w, in_rows, wb, ab, acc, out_b, spilled[i],
                      cyc16[i], in_held, out_held, rows)
        for j in range(n):
            loads[j] = rows[0, j] + rows[1, j] + rows[2, j]
        c = recurrence(loads, rows[3], rows[4], n, k_in, k_out, lat, bw)
        if best_i < 0 or c < best_c or (c == best_c and dram[i] < best_d):
            best_i = i
            best_c = c
            best_d = dram[i]
    return best_i, best_c, evaluated
