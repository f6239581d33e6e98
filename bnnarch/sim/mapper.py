"""Mapper: per compute layer, search the legal DRAM-level tilings and loop
orders that fit the on-chip buffers; return the schedule with the lowest
estimated latency (ties: fewer DRAM bits).

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
import math
from dataclasses import dataclass, replace
from functools import lru_cache

from bnnarch.errors import MappingError
from bnnarch.sim.timing import GemmTile, ceil_div, tile_compute_cycles
from bnnarch.spec.array import ArraySpec, PostProc, Reuse, Technology
from bnnarch.workload.layer import Layer

# Candidates simulated per layer shape at most (in order of their lower bound). Every
# layer of the shipped workloads is searched exactly within it except a few
# full-precision layers on the MAC unit, whose candidates all have near-equal bounds.
SEARCH_BUDGET = 48
_DEFAULT_TECH, _DEFAULT_POST, _DEFAULT_REUSE = Technology(), PostProc(), Reuse()
ORDERS: tuple[str, ...] = tuple("".join(p) for p in itertools.permutations("mnk"))


@dataclass(frozen=True)
class Tile:
    """One step of a layer's schedule: what to fetch, compute and write back."""

    load_w_bits: int
    load_a_bits: int
    load_psum_bits: int
    compute_cycles: int
    store_bits: int  # outputs (final) or spilled partial sums
    gemm: GemmTile


@dataclass(frozen=True)
class Schedule:
    layer: str
    engine: str  # "array" | "mac_unit"
    order: str
    tiling: tuple[int, int, int, int]  # (gt, th, ci, co)
    counts: tuple[int, int, int]  # tiles along m, n, k
    passes: int
    tiles: tuple[Tile, ...]
    dram_bits: int
    compute_cycles: int

    @property
    def n_tiles(self) -> int:
        return len(self.tiles)


def layer_bits(layer: Layer, spec: ArraySpec) -> tuple[int, int, int, str]:
    """(w_bits stored, a_bits stored, passes, engine) of a layer on this design."""
    if layer.is_full_precision:
        fp = spec.full_precision
        if fp.mode == "mac_unit":
            return fp.bits, fp.bits, 1, "mac_unit"
        return fp.bits, fp.bits, fp.bits * fp.bits, "array"
    return layer.w_bits, layer.a_bits, layer.w_bits * layer.a_bits, "array"


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


def _geometry(layer: Layer) -> tuple[int, int, int, int, int, int, int, int, int]:
    """(groups, cin/g, cout/g, Ho, Wo, H_in, W_in, taps, in_rows_per_out_row)."""
    g = layer.groups
    cin, h, w = layer.in_shape
    cout, ho, wo = layer.out_shape
    if layer.op == "linear":
        return 1, cin * h * w, cout, 1, 1, 1, 1, 1, 1
    kh, kw = layer.kernel
    if layer.op == "conv_transpose2d":
        kh = ceil_div(kh, layer.stride[0])
        kw = ceil_div(kw, layer.stride[1])
        return g, cin // g, cout // g, ho, wo, h, w, kh * kw, 1
    return g, cin // g, cout // g, ho, wo, h, w, kh * kw, layer.stride[0]


def _in_rows(layer: Layer, th: int, h_in: int) -> int:
    if layer.op == "linear":
        return 1
    if layer.op == "conv_transpose2d":
        kh = ceil_div(layer.kernel[0], layer.stride[0])
        return min(h_in, ceil_div(th, layer.stride[0]) + kh - 1)
    eff_k = layer.dilation[0] * (layer.kernel[0] - 1) + 1
    return min(h_in + 2 * layer.padding[0], (th - 1) * layer.stride[0] + eff_k)


def _sizes(total: int, step: int) -> list[tuple[int, int]]:
    """[(tile size, how many tiles of that size)] along one dimension."""
    full, rem = divmod(total, step)
    out = [(step, full)] if full else []
    if rem:
        out.append((rem, 1))
    return out


def _refetch(order: str, relevant: str, counts: dict[str, int]) -> int:
    """How many times a tensor's full volume crosses DRAM under ``order``: once
    per iteration of every loop it does not depend on that sits outside its
    innermost dependent loop (loops of extent 1 do not count)."""
    live = [c for c in order if counts[c] > 1]
    rel = [live.index(c) for c in relevant if c in live]
    if not rel:
        return 1
    innermost = max(rel)
    f = 1
    for pos, loop in enumerate(live):
        if loop not in relevant and pos < innermost:
            f *= counts[loop]
    return f


def map_layer(layer: Layer, spec: ArraySpec) -> Schedule:
    """Choose the tiling and loop order of a compute layer (see module doc).
    Cached on the layer's shape (not its name), so repeated blocks map once."""
    anon = replace(layer, name="", inputs=(), stats=None)
    try:
        return replace(_map_shape(anon, mapping_key(spec)), layer=layer.name)
    except MappingError as e:
        raise MappingError(str(e).replace("layer ''", f"layer {layer.name!r}", 1)) from None


def mapping_key(spec: ArraySpec) -> ArraySpec:
    """The spec with every field the mapping does not depend on reset, so that
    designs differing only in node, names, post-processing or reuse share one
    cached mapping."""
    return spec.model_copy(update={"name": "-", "description": "",
                                   "technology": _DEFAULT_TECH, "postproc": _DEFAULT_POST,
                                   "reuse": _DEFAULT_REUSE})


@lru_cache(maxsize=65536)
def _map_shape(layer: Layer, spec: ArraySpec) -> Schedule:
    wb, ab, passes, engine = layer_bits(layer, spec)
    acc = spec.array.acc_bits if engine == "array" else 32
    out_b = ab  # outputs leave at the activation precision (threshold units quantize)
    g, cin_g, cout_g, ho, wo, h_in, w_in, taps, _ = _geometry(layer)
    a = spec.array
    bufs = spec.buffers
    bw = spec.dram_bits_per_cycle
    lat = math.ceil(spec.dram.latency_ns * spec.clock_mhz / 1000)
    align_n = a.rows if a.interconnect == "broadcast" else a.cols
    row_w = w_in + 2 * layer.padding[1] if layer.op != "linear" else 1
    cands: list[tuple[int, int, int, str, tuple[int, int, int, int], dict[str, int]]] = []
    w_total = g * cout_g * cin_g * taps * wb
    outs = g * cout_g * ho * wo
    a_rel = "mk" if g == 1 else "mnk"
    for gt in (_candidates(g, 1) if g > 1 else [1]):
        for th in _candidates(ho, 1):
            if layer.op == "linear":
                a_total = g * cin_g * ab
            else:
                a_total = (sum(n * _in_rows(layer, mt, h_in) for mt, n in _sizes(ho, th))
                           * row_w * g * cin_g * ab)
            for ci in (_candidates(cin_g, 1) if g == 1 else [cin_g]):
                a_tile = gt * ci * (_in_rows(layer, th, h_in) * row_w if layer.op != "linear"
                                    else 1) * ab
                if a_tile > bufs.activations.tile_bits:
                    continue
                for co in (_candidates(cout_g, align_n) if g == 1 else [cout_g]):
                    w_tile = gt * co * ci * taps * wb
                    o_tile = gt * co * th * wo * acc
                    if w_tile > bufs.weights.tile_bits or o_tile > bufs.outputs.tile_bits:
                        continue
                    counts = {"m": ceil_div(ho, th), "n": ceil_div(cout_g, co) * ceil_div(g, gt),
                              "k": ceil_div(cin_g, ci)}
                    compute_total = 0
                    for mt, mn in _sizes(ho, th):
                        for gs, gn in _sizes(g, gt):
                            for nt, nn in _sizes(cout_g, co):
                                for kt, kn in _sizes(cin_g, ci):
                                    gem = GemmTile(m=mt * wo, n=nt, k_bits=kt * taps, groups=gs,
                                                   passes=passes)
                                    compute_total += mn * gn * nn * kn * _compute(gem, spec, engine)
                    # first tile's load and last tile's store bound the prologue/epilogue
                    first = w_tile + a_tile
                    last_m = ho - (counts["m"] - 1) * th
                    last_g = g - (ceil_div(g, gt) - 1) * gt
                    last_n = cout_g - (ceil_div(cout_g, co) - 1) * co
                    last_store = last_g * last_n * last_m * wo * out_b
                    edge = 2 * lat + math.ceil(first / bw) + math.ceil(last_store / bw)
                    n_tiles = counts["m"] * counts["n"] * counts["k"]
                    seen_orders: set[str] = set()
                    for order in ORDERS:
                        live = "".join(c for c in order if counts[c] > 1)
                        if live in seen_orders:
                            continue  # same tile sequence as an order already tried
                        seen_orders.add(live)
                        spilled = _spilled(order)
                        # DRAM bits in closed form (equal to what _build produces)
                        dram = (w_total * _refetch(order, "nk", counts)
                                + a_total * _refetch(order, a_rel, counts) + outs * out_b)
                        # every tile loads something (consecutive tiles differ in m, n or
                        # k); every output tile is stored once, plus spills
                        transfers = n_tiles + counts["m"] * counts["n"]
                        if spilled and counts["k"] > 1:
                            dram += 2 * outs * acc * (counts["k"] - 1)
                            transfers += counts["m"] * counts["n"] * (counts["k"] - 1)
                        bound = max(compute_total + edge,
                                    math.ceil(dram / bw) + transfers * lat)
                        cands.append((bound, dram, n_tiles, order, (gt, th, ci, co), counts))
    if not cands:
        raise MappingError(
            f"layer {layer.name!r} ({layer.op}, in {list(layer.in_shape)}, out "
            f"{list(layer.out_shape)}, {wb}b weights) cannot be mapped: even its smallest tile "
            f"(1 output row, 1 input channel, {min(align_n, cout_g)} output channels) does not "
            f"fit the buffers (weights {bufs.weights.capacity_kib} KiB, activations "
            f"{bufs.activations.capacity_kib} KiB, outputs {bufs.outputs.capacity_kib} KiB; "
            "half of each when double buffered)"
        )
    # Branch and bound: simulate candidates in order of their lower bound until no
    # remaining bound can beat the best simulated latency. The result is the exact
    # argmin of simulated cycles over all legal candidates (ties: fewer DRAM bits),
    # so more bandwidth or bigger buffers can never make a layer slower.
    from bnnarch.sim.engine import recurrence_cycles

    cands.sort(key=lambda c: (c[0], c[2], c[1]))
    best: tuple[int, int, tuple] | None = None
    evaluated = 0
    for bound, dram, _nt, order, tiling, counts in cands:
        if best is not None and (bound > best[0] or (bound == best[0] and dram >= best[1])):
            if bound > best[0]:
                break
            continue
        if evaluated >= SEARCH_BUDGET:
            break  # lower bounds still below the best: result is the best of the budget
        evaluated += 1
        rows = _tile_rows(layer, spec, engine, order, tiling, counts, passes, wb, ab, acc, out_b)
        cyc = recurrence_cycles(rows[0], rows[1], rows[2], spec)
        if best is None or (cyc, dram) < (best[0], best[1]):
            best = (cyc, dram, (order, tiling, counts))
    assert best is not None
    order, tiling, counts = best[2]
    return _build(layer, spec, engine, order, tiling, counts, passes, wb, ab, acc, out_b)


def _build(layer: Layer, spec: ArraySpec, engine: str, order: str,
           tiling: tuple[int, int, int, int], counts: dict[str, int], passes: int,
           wb: int, ab: int, acc: int, out_b: int, as_rows: bool = False) -> Schedule:
    gt, th, ci, co = tiling
    g, cin_g, cout_g, ho, wo, h_in, w_in, taps, _ = _geometry(layer)
    a = spec.array
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
    dram = 0
    total_cycles = 0
    compute_cache: dict[tuple[int, int, int, int], tuple[GemmTile, int]] = {}
    r_load: list[int] = []
    r_comp: list[int] = []
    r_store: list[int] = []
    last_k = len(k_sizes) - 1
    spilled = _spilled(order)
    pos = (order.index("m"), order.index("n"), order.index("k"))
    for idx in itertools.product(*(ranges[c] for c in order)):
        mi, ni, ki = idx[pos[0]], idx[pos[1]], idx[pos[2]]
        mt = m_sizes[mi]
        gi, gsz, nt = n_units[ni]
        kt = k_sizes[ki]
        w_key, a_key = (ni, ki), (mi, ki, gi)
        lw = gsz * nt * kt * taps * wb if w_key != last_w else 0
        if layer.op == "linear":
            rows = 1
        else:
            rows = _in_rows(layer, mt, h_in)
        la = gsz * kt * rows * row_w * ab if a_key != last_a else 0
        last_w, last_a = w_key, a_key
        out_key = (mi, ni)
        outs = gsz * nt * mt * wo
        # partial sums: if this output tile was started before and left, reload it
        lp = outs * acc if (ki > 0 and spilled and out_key in seen_out) else 0
        seen_out.add(out_key)
        final = ki == last_k
        st = outs * out_b if final else (outs * acc if spilled else 0)
        ck = (mt, nt, kt, gsz)
        hit = compute_cache.get(ck)
        if hit is None:
            gem = GemmTile(m=mt * wo, n=nt, k_bits=kt * taps, groups=gsz, passes=passes)
            hit = compute_cache[ck] = (gem, _compute(gem, spec, engine))
        gem, cyc = hit
        if as_rows:
            r_load.append(lw + la + lp)
            r_comp.append(cyc)
            r_store.append(st)
            continue
        tiles.append(Tile(lw, la, lp, cyc, st, gem))
        dram += lw + la + lp + st
        total_cycles += cyc
    if as_rows:
        return (r_load, r_comp, r_store)  # type: ignore[return-value]
    return Schedule(layer.name, engine, order, tiling,
                    (counts["m"], counts["n"], counts["k"]), passes, tuple(tiles), dram,
                    total_cycles)


def _tile_rows(layer: Layer, spec: ArraySpec, engine: str, order: str,
               tiling: tuple[int, int, int, int], counts: dict[str, int], passes: int,
               wb: int, ab: int, acc: int, out_b: int) -> tuple[list[int], list[int], list[int]]:
    """(load bits, compute cycles, store bits) per tile, as _build, without objects."""
    s = _build(layer, spec, engine, order, tiling, counts, passes, wb, ab, acc, out_b,
               as_rows=True)
    return s  # type: ignore[return-value]


def _spilled(order: str) -> bool:
    """Partial sums leave the output buffer when k is not innermost w.r.t. m and n."""
    return order.index("k") < max(order.index("m"), order.index("n"))


def _compute(gem: GemmTile, spec: ArraySpec, engine: str) -> int:
    if engine == "mac_unit":
        macs = gem.groups * gem.m * gem.n * gem.k_bits
        return ceil_div(macs, spec.full_precision.units)
    a = spec.array
    return tile_compute_cycles(gem, a.rows, a.cols, a.simd_bits, a.interconnect,
                               a.effective_dataflow)
