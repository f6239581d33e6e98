"""Mapper: per compute layer, search the legal DRAM-level tilings and loop
orders that fit the on-chip buffers; return the schedule with the fewest
simulated cycles (ties: fewer DRAM bits). Candidates and their closed-form
DRAM traffic and cycle lower bounds come from bnnarch.array.candidates; they
are simulated in order of their bound until none can win (branch and bound).

A tiling of a layer is (gt groups, th output rows, ci input channels per
group, co output channels per group) per tile; a loop order is a permutation
of the three tile loops m (output rows), n (output channels), k (input
channels). A tensor's tile is re-fetched from DRAM for every iteration of a
loop it does not depend on that sits outside its innermost dependent loop;
partial sums are spilled (acc_bits) when k is not the innermost of (m, n, k)
relative to the output's loops. Convolution input tiles include their halo
rows ((th - 1) * stride + dilated kernel height).
"""

from __future__ import annotations

import itertools
from dataclasses import fields, replace
from functools import lru_cache, partial

import numpy as np

from bnnarch.array._kernel import search, tile_rows
from bnnarch.array.candidates import ORDER3, ORDERS, SPILLED, Candidates, enumerate_candidates
from bnnarch.array.candidates import spilled as is_spilled
from bnnarch.array.energy import LEDGER
from bnnarch.array.engine import buffer_slots, dram_latency_cycles
from bnnarch.array.schedule import Schedule, Tile
from bnnarch.array.spec import ArrayCore, ArraySpec, PostProc, Reuse
from bnnarch.array.timing import GemmTile, ceil_div, tile_compute_cycles
from bnnarch.errors import MappingError
from bnnarch.spec.fields import Technology
from bnnarch.workload.layer import Layer

_DEFAULT_TECH, _DEFAULT_POST, _DEFAULT_REUSE = Technology(), PostProc(), Reuse()
_MAC_ONLY_ARRAY = ArrayCore(rows=1, cols=1, simd_bits=1, acc_bits=4)  # cache key only


def layer_bits(layer: Layer, spec: ArraySpec) -> tuple[int, int, int, str]:
    """(w_bits stored, a_bits stored, passes, engine) of a layer on this design."""
    if layer.is_full_precision:
        fp = spec.full_precision
        if fp.mode == "mac_unit":
            return fp.bits, fp.bits, 1, "mac_unit"
        return fp.bits, fp.bits, fp.bits * fp.bits, "array"
    return layer.w_bits, layer.a_bits, layer.w_bits * layer.a_bits, "array"


def stores_dot_products(layer: Layer) -> bool:
    """The array's threshold unit has nothing to quantize this layer's outputs
    with: a layer of a real model (``params`` present) without integer
    thresholds — its batch-norm cannot fold (``fold_reason``: e.g. a residual
    add before the sign), or a multi-bit layer whose batch-norm the workload
    keeps in float. Its outputs leave as the integer dot products, at
    ``acc_bits`` (as spilled partial sums do), for the post-processing after it.
    Shapes-only workloads (no params) are assumed thresholded."""
    return (not layer.is_full_precision and layer.thresholds is None
            and (layer.fold_reason is not None or layer.params is not None))


def out_bits(layer: Layer, spec: ArraySpec) -> int:
    """Bits per output element a compute layer stores: the activation
    precision (the threshold unit quantizes), or ``acc_bits`` for a layer
    whose integer dot products leave the array (``stores_dot_products``)."""
    _wb, ab, _passes, engine = layer_bits(layer, spec)
    if engine == "array" and stores_dot_products(layer):
        return spec.array.acc_bits
    return ab


def _candidates(total: int, align: int) -> list[int]:
    """Tile sizes to try along one dimension: powers of two and power-of-two
    multiples of the array dimension (never below it: a narrower tile only
    idles PEs), and the full extent."""
    c = {total}
    v = 1
    while v < total:
        if v >= align:
            c.add(v)
        v *= 2
    m = align
    while m < total:
        c.add(m)
        m *= 2
    return sorted(x for x in c if 1 <= x <= total)


def _in_rows(layer: Layer, th: int, h_in: int) -> int:
    if layer.op == "linear":
        return 1
    if layer.op == "conv_transpose2d":
        kh = ceil_div(layer.kernel[0], layer.stride[0])
        return min(h_in, ceil_div(th, layer.stride[0]) + kh - 1)
    eff_k = layer.dilation[0] * (layer.kernel[0] - 1) + 1
    return min(h_in + 2 * layer.padding[0], (th - 1) * layer.stride[0] + eff_k)


def map_layer(layer: Layer, spec: ArraySpec,
              held: tuple[bool, bool] = (False, False)) -> Schedule:
    """Choose the tiling and loop order of a compute layer (see module doc).
    ``held``: its input / output feature map stays on chip (bnnarch.array.residency).
    Cached on the layer's shape (not its name), so repeated blocks map once."""
    anon = replace(layer, name="", inputs=(), stats=None)
    on_mac_unit = layer_bits(layer, spec)[3] == "mac_unit"
    try:
        return replace(_map_shape(anon, mapping_key(spec, on_mac_unit), held,
                                  out_bits(layer, spec)), layer=layer.name)
    except MappingError as e:
        raise MappingError(str(e).replace("layer ''", f"layer {layer.name!r}", 1)) from None


def mapping_key(spec: ArraySpec, on_mac_unit: bool = False) -> ArraySpec:
    """The spec with every field the mapping does not depend on reset, so that
    designs differing only in node, names, post-processing or reuse share one
    cached mapping. A layer on the MAC unit does not depend on the array
    either, so designs that differ only in the array share its mapping."""
    update = {"name": "-", "description": "", "postproc": _DEFAULT_POST,
              "reuse": _DEFAULT_REUSE}
    if spec.mapping.objective == "latency":  # energy needs the technology's prices
        update["technology"] = _DEFAULT_TECH
    if on_mac_unit:
        update["array"] = _MAC_ONLY_ARRAY
    return spec.model_copy(update=update)


@lru_cache(maxsize=65536)
def _map_shape(layer: Layer, spec: ArraySpec, held: tuple[bool, bool], out_b: int) -> Schedule:
    """``out_b``: bits per stored output (``out_bits``; the cache key holds it
    because the layer's thresholds / params do not take part in its equality)."""
    wb, ab, passes, engine = layer_bits(layer, spec)
    acc = spec.array.acc_bits if engine == "array" else 32
    geo = layer.geometry
    g, cin_g, cout_g, ho, _wo, h_in, _w_in, _taps, _ = geo
    a = spec.array
    bufs = spec.buffers
    # tiles of output channels in multiples of the array dimension they map to
    # (the MAC unit has no such dimension)
    align_n = 1 if engine == "mac_unit" else (a.rows if a.interconnect == "broadcast" else a.cols)
    sizes_m = _candidates(ho, 1)
    in_rows = _in_rows_table(layer, ho, h_in)  # input rows (halo included) per tile height
    cands = enumerate_candidates(
        layer, spec, engine, geometry=geo, sizes_m=sizes_m,
        sizes_k=_candidates(cin_g, 1) if g == 1 else [cin_g],
        sizes_n=_candidates(cout_g, align_n) if g == 1 else [cout_g],
        sizes_g=_candidates(g, 1) if g > 1 else [1],
        in_rows=in_rows, passes=passes, wb=wb, ab=ab,
        acc=acc, out_b=out_b, mac_units=spec.full_precision.units, held=held,
        ledger=LEDGER if spec.mapping.objective == "energy" else None)
    if len(cands) == 0:
        raise MappingError(
            f"layer {layer.name!r} ({layer.op}, in {list(layer.in_shape)}, out "
            f"{list(layer.out_shape)}, {wb}b weights) cannot be mapped: even its smallest tile "
            f"(1 output row, 1 input channel, {min(align_n, cout_g)} output channels) does not "
            f"fit the buffers (weights {bufs.weights.capacity_kib} KiB, activations "
            f"{bufs.activations.capacity_kib} KiB, outputs {bufs.outputs.capacity_kib} KiB; "
            "half of each when double buffered)"
        )
    # Branch and bound (compiled: bnnarch.array._kernel.search): simulate candidates
    # in order of their lower bound until no remaining bound can beat the best
    # simulated latency. The result is the exact argmin of simulated cycles over
    # all legal candidates (ties: fewer DRAM bits), so more bandwidth or bigger
    # buffers can never make a layer slower.
    k_in, k_out = buffer_slots(spec)
    wo, taps, row_w = geo[4], geo[7], _row_w(layer)
    c = cands
    if c.energy is not None:  # energy objective: the fewest cycles among the least energy
        c = _subset(c, np.flatnonzero(c.energy == c.energy.min()))
    best, cycles, _evaluated = search(
        ORDER3[c.order], SPILLED[c.order], c.bound, c.dram, c.n_tiles, c.th, c.gt, c.ci, c.co,
        c.cm, c.cn, c.ck, c.cyc16, ho, g, cin_g, cout_g, wo, taps, row_w, in_rows, wb, ab, acc,
        out_b, k_in, k_out, dram_latency_cycles(spec), spec.dram_bits_per_cycle, *held)
    order, tiling, counts = _unpack(c, best, ORDERS)
    rows = np.empty((6, int(c.n_tiles[best])), np.int64)
    tile_rows(ORDER3[c.order[best]], c.cm[best], c.cn[best], c.ck[best], c.th[best], c.gt[best],
              c.ci[best], c.co[best], ho, g, cin_g, cout_g, wo, taps, row_w, in_rows, wb, ab,
              acc, out_b, SPILLED[c.order[best]], c.cyc16[best], *held, rows)
    sums = rows[:5].sum(axis=1).tolist()
    gt, th, ci, co = tiling
    sizes = {0: (th, gt, co, ci), 1: (ho % th, g % gt, cout_g % co, cin_g % ci)}
    gemms = []
    for kind, n in enumerate(np.bincount(rows[5], minlength=16).tolist()):
        if n:
            mt = sizes[kind >> 3 & 1][0]
            gs = sizes[kind >> 2 & 1][1]
            nt = sizes[kind >> 1 & 1][2]
            kt = sizes[kind & 1][3]
            gemms.append((GemmTile(m=mt * wo, n=nt, k_bits=kt * taps, groups=gs, passes=passes),
                          n))
    return Schedule(
        layer.name, engine, order, tiling, (counts["m"], counts["n"], counts["k"]), passes,
        n_tiles=rows.shape[1], dram_bits=int(c.dram[best]), compute_cycles=sums[3],
        load_bits=(sums[0], sums[1], sums[2]), store_bits=sums[4], gemms=tuple(gemms),
        cycles=int(cycles), make_tiles=partial(_build_tiles, layer, spec, engine, order, tiling,
                                               counts, passes, wb, ab, acc, out_b, held),
        held_out_bits=g * cout_g * ho * wo * out_b if held[1] else 0)


def _subset(c: Candidates, keep: np.ndarray) -> Candidates:
    """The candidates at ``keep`` (in their sorted order)."""
    return replace(c, **{f.name: getattr(c, f.name)[keep] for f in fields(Candidates)
                         if getattr(c, f.name) is not None})


def _row_w(layer: Layer) -> int:
    return layer.in_shape[2] + 2 * layer.padding[1] if layer.op != "linear" else 1


def _in_rows_table(layer: Layer, ho: int, h_in: int) -> np.ndarray:
    """_in_rows for every output-row tile height 0..ho."""
    return np.array([_in_rows(layer, t, h_in) for t in range(ho + 1)], dtype=np.int64)


def _unpack(c, i: int, orders: tuple[str, ...]) -> tuple[str, tuple[int, int, int, int],
                                                         dict[str, int]]:
    return (orders[int(c.order[i])],
            (int(c.gt[i]), int(c.th[i]), int(c.ci[i]), int(c.co[i])),
            {"m": int(c.cm[i]), "n": int(c.cn[i]), "k": int(c.ck[i])})


def _build(layer: Layer, spec: ArraySpec, engine: str, order: str,
           tiling: tuple[int, int, int, int], counts: dict[str, int], passes: int,
           wb: int, ab: int, acc: int, out_b: int,
           held: tuple[bool, bool] = (False, False)) -> Schedule:
    """The schedule of one candidate, tile by tile (the Python reference the
    compiled kernel is tested against)."""
    tiles = _build_tiles(layer, spec, engine, order, tiling, counts, passes, wb, ab, acc, out_b,
                         held)
    g, _cin_g, cout_g, ho, wo, *_ = layer.geometry
    return Schedule.of_tiles(None, tiles, layer=layer.name, engine=engine, order=order,
                             tiling=tiling, counts=(counts["m"], counts["n"], counts["k"]),
                             passes=passes,
                             held_out_bits=g * cout_g * ho * wo * out_b if held[1] else 0)


def _build_tiles(layer: Layer, spec: ArraySpec, engine: str, order: str,
                 tiling: tuple[int, int, int, int], counts: dict[str, int], passes: int,
                 wb: int, ab: int, acc: int, out_b: int,
                 held: tuple[bool, bool] = (False, False)) -> tuple[Tile, ...]:
    """The tiles of one candidate in schedule order (see module doc)."""
    gt, th, ci, co = tiling
    g, cin_g, cout_g, ho, wo, h_in, w_in, taps, _ = layer.geometry
    # loop extents: m over output-row tiles; n over (group tiles x out-channel tiles); k over in-ch tiles
    m_sizes = [min(th, ho - i * th) for i in range(counts["m"])]
    n_units = []
    for gi in range(ceil_div(g, gt)):
        gsz = min(gt, g - gi * gt)
        for j in range(ceil_div(cout_g, co)):
            n_units.append((gi, gsz, min(co, cout_g - j * co)))
    k_sizes = [min(ci, cin_g - i * ci) for i in range(counts["k"])]
    row_w = w_in + 2 * layer.padding[1] if layer.op != "linear" else 1
    ranges = {"m": range(len(m_sizes)), "n": range(len(n_units)), "k": range(len(k_sizes))}
    tiles: list[Tile] = []
    last_w = last_a = None
    seen_out: set[tuple[int, int]] = set()
    compute_cache: dict[tuple[int, int, int, int], tuple[GemmTile, int]] = {}
    last_k = len(k_sizes) - 1
    spilled = is_spilled(order)
    rows_of = {mt: _in_rows(layer, mt, h_in) for mt in set(m_sizes)}
    pos = (order.index("m"), order.index("n"), order.index("k"))
    for idx in itertools.product(*(ranges[c] for c in order)):
        mi, ni, ki = idx[pos[0]], idx[pos[1]], idx[pos[2]]
        mt = m_sizes[mi]
        gi, gsz, nt = n_units[ni]
        kt = k_sizes[ki]
        w_key, a_key = (ni, ki), (mi, ki, gi)
        lw = gsz * nt * kt * taps * wb if w_key != last_w else 0
        rows = rows_of[mt]
        la = gsz * kt * rows * row_w * ab if a_key != last_a and not held[0] else 0
        last_w, last_a = w_key, a_key
        out_key = (mi, ni)
        outs = gsz * nt * mt * wo
        # partial sums: if this output tile was started before and left, reload it
        lp = outs * acc if (ki > 0 and spilled and out_key in seen_out) else 0
        seen_out.add(out_key)
        final = ki == last_k
        st = (0 if held[1] else outs * out_b) if final else (outs * acc if spilled else 0)
        ck = (mt, nt, kt, gsz)
        hit = compute_cache.get(ck)
        if hit is None:
            gem = GemmTile(m=mt * wo, n=nt, k_bits=kt * taps, groups=gsz, passes=passes)
            hit = compute_cache[ck] = (gem, _compute(gem, spec, engine))
        gem, cyc = hit
        tiles.append(Tile(lw, la, lp, cyc, st, gem))
    return tuple(tiles)


def _compute(gem: GemmTile, spec: ArraySpec, engine: str) -> int:
    if engine == "mac_unit":
        macs = gem.groups * gem.m * gem.n * gem.k_bits
        return ceil_div(macs, spec.full_precision.units)
    a = spec.array
    return tile_compute_cycles(gem, a.rows, a.cols, a.simd_bits, a.interconnect,
                               a.effective_dataflow)
