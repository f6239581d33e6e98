"""Vectorised enumeration of a layer's legal tilings x loop orders, with each
candidate's DRAM traffic (closed form) and a lower bound on its cycles.

The mapper (bnnarch.sim.mapper) then simulates candidates in order of their
bound (branch and bound). The closed forms here equal what mapper._build
produces tile by tile; tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bnnarch.sim.timing import GemmTile, drain_cycles, fold_cycles, folds

if TYPE_CHECKING:
    from bnnarch.spec.array import ArraySpec
    from bnnarch.workload.layer import Layer

ORDERS: tuple[str, ...] = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")


@dataclass(frozen=True)
class Candidates:
    """Parallel arrays, one entry per candidate, sorted by (bound, tiles, dram)."""

    bound: np.ndarray
    dram: np.ndarray
    n_tiles: np.ndarray
    order: np.ndarray  # index into ORDERS
    gt: np.ndarray
    th: np.ndarray
    ci: np.ndarray
    co: np.ndarray
    cm: np.ndarray
    cn: np.ndarray
    ck: np.ndarray

    def __len__(self) -> int:
        return len(self.bound)


def _cdiv(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return -(-np.asarray(a) // np.asarray(b))


def spilled(order: str) -> bool:
    """Partial sums leave the output buffer when k is not innermost w.r.t. m and n."""
    return order.index("k") < max(order.index("m"), order.index("n"))


def refetch(order: str, relevant: str, counts: dict[str, np.ndarray]) -> np.ndarray:
    """How many times a tensor's full volume crosses DRAM under ``order``: once
    per iteration of every loop it does not depend on that sits outside its
    innermost dependent loop (loops of extent 1 do not count)."""
    shape = counts["m"].shape
    inner = np.full(shape, -1)
    for p, c in enumerate(order):
        if c in relevant:
            inner = np.where(counts[c] > 1, p, inner)
    f = np.ones(shape, dtype=np.int64)
    for p, c in enumerate(order):
        if c not in relevant:
            f = f * np.where((counts[c] > 1) & (p < inner), counts[c], 1)
    return f


def enumerate_candidates(layer: Layer, spec: ArraySpec, engine: str, *, geometry: tuple,
                         sizes_m: list[int], sizes_k: list[int], sizes_n: list[int],
                         sizes_g: list[int], in_rows: dict[int, int], passes: int,
                         wb: int, ab: int, acc: int, out_b: int,
                         mac_units: int) -> Candidates:
    g, cin_g, cout_g, ho, wo, h_in, w_in, taps, _ = geometry
    bufs = spec.buffers
    a = spec.array
    bw = spec.dram_bits_per_cycle
    lat = int(np.ceil(spec.dram.latency_ns * spec.clock_mhz / 1000))
    linear = layer.op == "linear"
    row_w = 1 if linear else w_in + 2 * layer.padding[1]
    GT, TH, CI, CO = (x.ravel().astype(np.int64) for x in
                      np.meshgrid(sizes_g, sizes_m, sizes_k, sizes_n, indexing="ij"))
    rows_of = np.array([in_rows[int(t)] for t in sizes_m], dtype=np.int64)
    th_idx = np.searchsorted(np.array(sizes_m), TH)
    ROWS = rows_of[th_idx]
    a_tile = GT * CI * ab * ROWS * row_w  # linear: one row of width 1
    w_tile = GT * CO * CI * taps * wb
    o_tile = GT * CO * TH * wo * acc
    ok = ((a_tile <= bufs.activations.tile_bits) & (w_tile <= bufs.weights.tile_bits)
          & (o_tile <= bufs.outputs.tile_bits))
    GT, TH, CI, CO, ROWS, a_tile, w_tile = (x[ok] for x in (GT, TH, CI, CO, ROWS, a_tile, w_tile))
    CM = _cdiv(ho, TH)
    CNG = _cdiv(g, GT)
    CN = _cdiv(cout_g, CO) * CNG
    CK = _cdiv(cin_g, CI)
    # compute cycles summed over the (at most 2 per dimension) distinct tile sizes
    comp = np.zeros_like(TH)
    drain = drain_cycles(a.simd_bits, a.interconnect) if engine == "array" else 0
    for mt, mn in ((TH, ho // TH), (ho % TH, (ho % TH > 0).astype(np.int64))):
        for gs, gn in ((GT, g // GT), (g % GT, (g % GT > 0).astype(np.int64))):
            for nt, nn in ((CO, cout_g // CO), (cout_g % CO, (cout_g % CO > 0).astype(np.int64))):
                for kt, kn in ((CI, cin_g // CI), (cin_g % CI, (cin_g % CI > 0).astype(np.int64))):
                    mult = mn * gn * nn * kn
                    if not mult.any():
                        continue
                    if engine == "mac_unit":
                        cyc = _cdiv(gs * mt * wo * nt * kt * taps, mac_units)
                    else:
                        tile = GemmTile(m=mt * wo, n=nt, k_bits=kt * taps, groups=gs,
                                        passes=passes)
                        f = folds(tile, a.rows, a.cols, a.simd_bits, a.interconnect,
                                  a.effective_dataflow)
                        cyc = f * fold_cycles(tile, a.rows, a.cols, a.simd_bits, a.interconnect,
                                              a.effective_dataflow) + drain
                    comp = comp + mult * cyc
    first = w_tile + a_tile
    last_m = ho - (CM - 1) * TH
    last_g = g - (CNG - 1) * GT
    last_n = cout_g - (_cdiv(cout_g, CO) - 1) * CO
    last_store = last_g * last_n * last_m * wo * out_b
    edge = 2 * lat + np.ceil(first / bw).astype(np.int64) + np.ceil(last_store / bw).astype(np.int64)
    w_total = g * cout_g * cin_g * taps * wb
    outs = g * cout_g * ho * wo
    if linear:
        a_total = np.full_like(TH, g * cin_g * ab)
    else:
        # per th: sum over m-tiles of their input rows (halo included)
        a_by_th = {}
        for t in np.unique(TH):
            t = int(t)
            full, rem = divmod(ho, t)
            r = full * in_rows[t] + (in_rows_partial(layer, rem, h_in) if rem else 0)
            a_by_th[t] = r * row_w * g * cin_g * ab
        a_total = np.array([a_by_th[int(t)] for t in TH], dtype=np.int64)
    a_rel = "mk" if g == 1 else "mnk"
    n_tiles = CM * CN * CK
    counts = {"m": CM, "n": CN, "k": CK}
    parts = []
    for oi, order in enumerate(ORDERS):
        dram = w_total * refetch(order, "nk", counts) + a_total * refetch(order, a_rel, counts) \
            + outs * out_b
        transfers = n_tiles + CM * CN
        if spilled(order):
            extra = np.where(CK > 1, CK - 1, 0)
            dram = dram + 2 * outs * acc * extra
            transfers = transfers + CM * CN * extra
        bound = np.maximum(comp + edge, np.ceil(dram / bw).astype(np.int64) + transfers * lat)
        parts.append((bound, dram, np.full_like(TH, oi)))
    bound = np.concatenate([p[0] for p in parts])
    dram = np.concatenate([p[1] for p in parts])
    order_idx = np.concatenate([p[2] for p in parts])
    rep = len(ORDERS)
    GT, TH, CI, CO, CM, CN, CK, n_tiles = (np.tile(x, rep) for x in
                                           (GT, TH, CI, CO, CM, CN, CK, n_tiles))
    idx = np.lexsort((dram, n_tiles, bound))
    return Candidates(bound[idx], dram[idx], n_tiles[idx], order_idx[idx], GT[idx], TH[idx],
                      CI[idx], CO[idx], CM[idx], CN[idx], CK[idx])


def in_rows_partial(layer: Layer, th: int, h_in: int) -> int:
    from bnnarch.sim.mapper import _in_rows

    return _in_rows(layer, th, h_in)
