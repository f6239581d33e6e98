"""Vectorised enumeration of a layer's legal tilings x loop orders, with each
candidate's DRAM traffic (closed form) and a lower bound on its cycles.

The mapper (bnnarch.array.mapper) then simulates candidates in order of their
bound (branch and bound). The closed forms here equal what mapper._build
produces tile by tile; tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bnnarch.array.engine import dram_latency_cycles
from bnnarch.array.timing import GemmTile, drain_cycles, fold_cycles, folds

if TYPE_CHECKING:
    from bnnarch.array.spec import ArraySpec
    from bnnarch.workload.layer import Layer, LayerGeometry

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
    cyc16: np.ndarray
    """(candidates, 16): compute cycles of a tile whose m/g/n/k extents are
    full (0) or the remainder (1), at column m*8 + g*4 + n*2 + k."""
    energy: np.ndarray | None = None
    """Dynamic energy (pJ) of each candidate's schedule (the energy ledger of
    bnnarch.array.energy), when the design's mapping objective is energy."""

    def __len__(self) -> int:
        return len(self.bound)


_PART = np.array([[(c >> s) & 1 for s in (3, 2, 1, 0)] for c in range(16)], dtype=bool)


def _vector_tile(m: np.ndarray, n: np.ndarray, k_bits: np.ndarray, groups: np.ndarray,
                 passes: int) -> GemmTile:
    """A GemmTile whose extents are arrays (one row per tile kind, one column
    per candidate): the cycle model's integer arithmetic vectorises over them."""
    return GemmTile(m=m, n=n, k_bits=k_bits, groups=groups,  # type: ignore[arg-type]  # arrays
                    passes=passes)


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


class Ledger(NamedTuple):
    """The energy ledger's prices, injected by the mapper when its objective is
    energy (bnnarch.array.energy.LEDGER): operand SRAM reads of one compute
    tile, and the dynamic energy of a layer's action counts (arrays of them)."""

    operand_reads: Callable[[GemmTile, ArraySpec], tuple[Any, Any, Any]]
    layer_energy: Callable[..., dict[str, Any]]


def enumerate_candidates(layer: Layer, spec: ArraySpec, engine: str, *,
                         geometry: LayerGeometry, sizes_m: list[int], sizes_k: list[int],
                         sizes_n: list[int], sizes_g: list[int], in_rows: np.ndarray,
                         passes: int, wb: int, ab: int, acc: int, out_b: int, mac_units: int,
                         held: tuple[bool, bool] = (False, False),
                         ledger: Ledger | None = None) -> Candidates:
    """``held``: the layer's input / output feature map stays on chip
    (bnnarch.array.residency): no DRAM traffic for it, and a held input needs no
    staging tile. ``ledger``: price every candidate's dynamic energy (the
    mapping objective ``energy``); None: cycles and traffic only."""
    in_held, out_held = held
    g, cin_g, cout_g, ho, wo, _h_in, w_in, taps, _ = geometry
    bufs = spec.buffers
    a = spec.array
    bw = spec.dram_bits_per_cycle
    lat = dram_latency_cycles(spec)
    linear = layer.op == "linear"
    row_w = 1 if linear else w_in + 2 * layer.padding[1]
    GT, TH, CI, CO = _grid(tuple(sizes_g), tuple(sizes_m), tuple(sizes_k), tuple(sizes_n))
    ROWS = in_rows[TH]
    a_tile = GT * CI * ab * ROWS * row_w  # linear: one row of width 1
    w_tile = GT * CO * CI * taps * wb
    o_tile = GT * CO * TH * wo * acc
    ok = ((in_held | (a_tile <= bufs.activations.tile_bits)) & (w_tile <= bufs.weights.tile_bits)
          & (o_tile <= bufs.outputs.tile_bits))
    GT, TH, CI, CO, a_tile, w_tile = (x[ok] for x in (GT, TH, CI, CO, a_tile, w_tile))
    CM = _cdiv(ho, TH)
    CNG = _cdiv(g, GT)
    CN = _cdiv(cout_g, CO) * CNG
    CK = _cdiv(cin_g, CI)
    # compute cycles summed over the (at most 2 per dimension) distinct tile sizes:
    # row c of the (16, candidates) arrays is the tile whose m/g/n/k extents are
    # full (bit 0) or the remainder (bit 1) of c = m*8 + g*4 + n*2 + k
    def stack(dim: int, full: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
        rem = total % full
        part = _PART[:, dim:dim + 1]
        return (np.where(part, rem[None, :], full[None, :]),
                np.where(part, (rem > 0)[None, :], (total // full)[None, :]))

    mt, mn = stack(0, TH, ho)
    gs, gn = stack(1, GT, g)
    nt, nn = stack(2, CO, cout_g)
    kt, kn = stack(3, CI, cin_g)
    if engine == "mac_unit":
        cyc = _cdiv(gs * mt * wo * nt * kt * taps, mac_units)
    else:
        tile = _vector_tile(mt * wo, nt, kt * taps, gs, passes)
        cyc = np.asarray(
            folds(tile, a.rows, a.cols, a.simd_bits, a.interconnect, a.effective_dataflow)
            * fold_cycles(tile, a.rows, a.cols, a.simd_bits, a.interconnect,
                          a.effective_dataflow) + drain_cycles(a.simd_bits, a.interconnect))
    mult = mn * gn * nn * kn
    comp = (mult * cyc).sum(axis=0)
    cyc16 = np.ascontiguousarray(cyc.T)
    if ledger is not None:  # order-independent action counts of the ledger, per tiling
        gem = _vector_tile(mt * wo, nt, kt * taps, gs, passes)
        w_rd, a_rd, psum_rmw = ((mult * x).sum(axis=0) for x in ledger.operand_reads(gem, spec))
        word_ops = (mult * gs * passes * mt * wo * nt * _cdiv(kt * taps, a.simd_bits)).sum(axis=0)
    first = w_tile + (0 if in_held else a_tile)
    last_m = ho - (CM - 1) * TH
    last_g = g - (CNG - 1) * GT
    last_n = cout_g - (_cdiv(cout_g, CO) - 1) * CO
    last_store = last_g * last_n * last_m * wo * (0 if out_held else out_b)
    # the first load precedes all compute, the last (final) store follows it
    edge = (lat + np.ceil(first / bw).astype(np.int64)
            + np.where(last_store > 0, lat + np.ceil(last_store / bw).astype(np.int64), 0))
    w_total = g * cout_g * cin_g * taps * wb
    outs = g * cout_g * ho * wo
    if linear:
        a_total = np.full_like(TH, g * cin_g * ab)
    else:
        # per th: sum over m-tiles of their input rows (halo included)
        rem = ho % TH
        rows_total = (ho // TH) * in_rows[TH] + np.where(rem > 0, in_rows[rem], 0)
        a_total = rows_total * (row_w * g * cin_g * ab)
    if in_held:
        a_total = np.zeros_like(a_total)
    # Per loop order (rows of the (orders, candidates) arrays), via tables over the
    # pattern of loops with extent > 1: DRAM traffic (each tensor re-fetched per
    # refetch()), transfers, and whether another order gives the same tile sequence.
    pattern = (CM > 1) * 4 + (CN > 1) * 2 + (CK > 1)
    n_tiles = CM * CN * CK
    dims = (CM, CN, CK)

    def factor(table: np.ndarray) -> np.ndarray:
        sel = table[:, pattern]
        return (np.where(sel & 1, dims[0], 1) * np.where(sel & 2, dims[1], 1)
                * np.where(sel & 4, dims[2], 1))

    spill = SPILLED[:, None] * (CK - 1)[None, :]
    fw, fa = factor(_REFETCH["nk"]), factor(_REFETCH["mk" if g == 1 else "mnk"])
    out_dram = 0 if out_held else outs * out_b
    dram = w_total * fw + a_total * fa + out_dram + 2 * outs * acc * spill
    # transfers that certainly carry bits (each pays the latency): every load when the
    # input streams (each tile changes its weight or activation tile), else at least
    # every weight-tile fetch; every final store unless held, every spill
    loads_nz = CN * CK * fw if in_held else n_tiles
    transfers = loads_nz + CM * CN * ((0 if out_held else 1) + spill)
    bound = np.maximum(comp + edge, np.ceil(dram / bw).astype(np.int64) + transfers * lat)
    energy = None
    if ledger is not None:
        psum_io = outs * acc * spill
        energy = sum(ledger.layer_energy(
            spec, engine, word_ops=word_ops, w_rd=w_rd, a_rd=a_rd, psum_rmw=psum_rmw, outs=outs,
            acc_writes=outs * CK, macs=outs * cin_g * taps, loads=(w_total * fw, a_total * fa, psum_io),
            stores=out_dram + psum_io, dram_bits=dram,
            held_out_bits=outs * out_b if out_held else 0).values())
    # loop orders that differ only in loops of extent 1 give the same tile sequence
    # (and the same bound and traffic): keep the first order of each such set
    bound_shape = bound.shape
    kept = np.flatnonzero(_FIRST_OF_SAME[:, pattern])  # into the (orders x candidates) ravel
    bound, dram = bound.ravel()[kept], dram.ravel()[kept]
    base = kept % len(TH)
    idx = np.lexsort((dram, n_tiles[base], bound))
    b = base[idx]
    return Candidates(bound[idx], dram[idx], n_tiles[b], kept[idx] // len(TH), GT[b], TH[b],
                      CI[b], CO[b], CM[b], CN[b], CK[b], cyc16[b],
                      None if energy is None else np.broadcast_to(energy, bound_shape).ravel()[
                          kept][idx])


@lru_cache(maxsize=4096)
def _grid(sizes_g: tuple[int, ...], sizes_m: tuple[int, ...], sizes_k: tuple[int, ...],
          sizes_n: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """All tilings (g, th, ci, co) of the size lists."""
    GT, TH, CI, CO = (x.ravel().astype(np.int64) for x in
                      np.meshgrid(sizes_g, sizes_m, sizes_k, sizes_n, indexing="ij"))
    for x in (GT, TH, CI, CO):
        x.flags.writeable = False  # shared by every call with these sizes
    return GT, TH, CI, CO


def _pattern_counts(p: int) -> dict[str, np.ndarray]:
    """Loop extents with the pattern p (bit 2: m > 1, bit 1: n > 1, bit 0: k > 1)."""
    return {c: np.array([2 if p >> (2 - i) & 1 else 1]) for i, c in enumerate("mnk")}


def _refetch_table(relevant: str) -> np.ndarray:
    """(orders, patterns): bit d set when loop d (m, n, k) multiplies the
    tensor's traffic under that order (refetch() with extents 1 or 2)."""
    t = np.zeros((len(ORDERS), 8), dtype=np.int64)
    for oi, order in enumerate(ORDERS):
        for p in range(8):
            for d, c in enumerate("mnk"):
                counts = _pattern_counts(p)
                with_d = refetch(order, relevant, counts)[0]
                counts[c] = np.array([3]) if counts[c][0] > 1 else counts[c]
                t[oi, p] |= (1 << d) * int(refetch(order, relevant, counts)[0] != with_d)
    return t


def _live_order(order: str, p: int) -> str:
    """The loop order restricted to loops of extent > 1 under pattern p."""
    return "".join(c for c in order if p >> (2 - "mnk".index(c)) & 1)


_REFETCH = {rel: _refetch_table(rel) for rel in ("nk", "mk", "mnk")}
SPILLED = np.array([spilled(o) for o in ORDERS])
"""Per order in ORDERS: partial sums are spilled."""
ORDER3 = np.array([["mnk".index(c) for c in o] for o in ORDERS], dtype=np.int64)
"""Per order in ORDERS: its loops outer to inner (0 m, 1 n, 2 k)."""
_FIRST_OF_SAME = np.array([[all(_live_order(ORDERS[j], p) != _live_order(o, p) for j in range(oi))
                            for p in range(8)] for oi, o in enumerate(ORDERS)])
