"""simulate(spec, workload, precision) -> SimResult for the array template.

Layers run one after another on the shared array. Compute layers: mapper ->
tile schedule -> SimPy engine -> energy ledger. Post-processing layers
(threshold, pooling, add, concat, upsample) run on their units at the spec's
elements/cycle; their data stays on chip when input + output fit the
activation buffer, otherwise it streams through DRAM in buffer-sized chunks.
Per-layer results are cached on (layer shape, bits, design), so a search that
revisits a configuration pays nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import lru_cache

from bnnarch.array.area import area_breakdown_mm2, leakage_pj
from bnnarch.array.energy import compute_layer_energy, postproc_energy
from bnnarch.array.engine import TimedLayer, run_tiles, run_tiles_fast
from bnnarch.array.mapper import layer_bits, map_layer, out_bits, stores_dot_products
from bnnarch.array.residency import hold_plan
from bnnarch.array.reuse import hook as reuse
from bnnarch.array.schedule import Tile
from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import GemmTile, ceil_div
from bnnarch.errors import MappingError, SimError
from bnnarch.result import LayerResult, SimResult, counter_add
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.io import PrecisionMap, apply_precision
from bnnarch.workload.layer import Layer

INPUT_BITS = 8  # input images enter as 8-bit pixels


def _peak_bitops_per_cycle(spec: ArraySpec) -> int:
    return spec.array.rows * spec.array.cols * spec.array.simd_bits


def _simulate_compute(layer: Layer, spec: ArraySpec, engine_kind: str = "simpy",
                      held: tuple[bool, bool] = (False, False)) -> LayerResult:
    s = map_layer(layer, spec, held)
    dram_bits = sum(s.load_bits) + s.store_bits
    reused = reuse.apply(layer, spec, s, compute_layer_energy(s, spec, dram_bits))
    hs, e = reused.schedule, reused.energy
    if engine_kind == "recurrence" and hs.cycles is not None:
        # the mapper already ran this schedule through the recurrence (no tiles needed)
        timed = TimedLayer(hs.cycles, hs.compute_cycles, hs.cycles - hs.compute_cycles,
                           sum(hs.load_bits), hs.store_bits)
    else:
        timed = (run_tiles if engine_kind == "simpy" else run_tiles_fast)(hs.tiles, spec)
    if timed.dram_read_bits + timed.dram_write_bits != dram_bits:
        raise SimError(f"layer {layer.name!r}: the engine moved "
                       f"{timed.dram_read_bits + timed.dram_write_bits} DRAM bits, its "
                       f"schedule {dram_bits}")
    _wb, _ab, passes, engine = layer_bits(layer, spec)
    if engine == "array":
        useful = layer.macs * passes
        util = useful / (_peak_bitops_per_cycle(spec) * timed.cycles) if timed.cycles else 0.0
        util *= reused.report.executed_fraction if reused.report else 1.0
    else:
        util = layer.macs / (spec.full_precision.units * timed.cycles) if timed.cycles else 0.0
    gt, th, ci, co = s.tiling
    mapping = (f"order={s.order} tile(g={gt},rows={th},cin={ci},cout={co}) "
               f"tiles={s.n_tiles} passes={passes}")
    if any(held):
        mapping += " on-chip:" + "+".join(w for w, h in zip(("in", "out"), held, strict=True) if h)
    return LayerResult(
        name=layer.name, op=layer.op, w_bits=layer.w_bits, a_bits=layer.a_bits, engine=engine,
        cycles=timed.cycles, compute_cycles=timed.compute_cycles, stall_cycles=timed.stall_cycles,
        utilization=util, energy_pj=sum(e.values()), energy_breakdown_pj=tuple(sorted(e.items())),
        macs=layer.macs, ops=layer.ops, dram_read_bits=timed.dram_read_bits,
        dram_write_bits=timed.dram_write_bits, mapping=mapping,
        extra=reused.report.as_fields() if reused.report else (),
    )


def postproc_elements(layer: Layer) -> int:
    """Elements a post-processing op handles (a pool reads its whole window)."""
    if layer.op in ("maxpool", "avgpool"):
        return layer.out_elems * layer.kernel[0] * layer.kernel[1]
    if layer.op == "reshape":
        return 0
    return layer.out_elems


def _rate(layer: Layer, spec: ArraySpec) -> int:
    pp = spec.postproc
    return {
        "threshold": pp.threshold_per_cycle, "maxpool": pp.pool_per_cycle,
        "avgpool": pp.pool_per_cycle, "add": pp.add_per_cycle, "concat": pp.concat_per_cycle,
        "upsample": pp.upsample_per_cycle, "reshape": 1,
    }[layer.op]


def _simulate_post(layer: Layer, spec: ArraySpec, data_bits: int,
                   engine_kind: str = "simpy",
                   held: tuple[tuple[bool, ...], bool] = ((), False)) -> LayerResult:
    elements = postproc_elements(layer)
    cycles = ceil_div(elements, _rate(layer, spec)) if elements else 0
    in_bits = layer.in_elems * data_bits * max(1, len(layer.inputs))
    out_bits = layer.out_elems * data_bits
    chunk = spec.buffers.activations.tile_bits
    if spec.buffers.activations.hold_bits > 0:
        # with a hold region, only what is not held crosses DRAM
        held_in, held_out = held
        in_bits = layer.in_elems * data_bits * sum(1 for h in held_in if not h)
        out_bits = 0 if held_out else out_bits
        on_chip = in_bits + out_bits == 0
    else:
        on_chip = in_bits + out_bits <= spec.buffers.activations.capacity_bits
    if layer.op == "reshape" or on_chip:
        tiles: list[Tile] = []
        reads = writes = 0
        total = cycles
    else:
        n = ceil_div(in_bits + out_bits, chunk)
        tiles = []
        for i in range(n):
            c = cycles // n + (1 if i < cycles % n else 0)
            tiles.append(Tile(0, in_bits // n + (1 if i < in_bits % n else 0), 0, c,
                              out_bits // n + (1 if i < out_bits % n else 0), GemmTile(0, 0, 0)))
        timed = (run_tiles if engine_kind == "simpy" else run_tiles_fast)(tiles, spec)
        reads, writes, total = timed.dram_read_bits, timed.dram_write_bits, timed.cycles
    e = postproc_energy(elements, spec, data_bits, reads + writes)
    return LayerResult(
        name=layer.name, op=layer.op, w_bits=layer.w_bits, a_bits=layer.a_bits,
        engine="postproc" if elements else "none", cycles=total, compute_cycles=cycles,
        stall_cycles=total - cycles, utilization=0.0, energy_pj=sum(e.values()),
        energy_breakdown_pj=tuple(sorted(e.items())), macs=0, ops=0, dram_read_bits=reads,
        dram_write_bits=writes, mapping="on-chip" if not tiles else f"streamed chunks={len(tiles)}",
    )


@lru_cache(maxsize=131072)
def _layer_cached(layer: Layer, spec: ArraySpec, data_bits: int, engine: str,
                  held: tuple[tuple[bool, ...], bool], dots_out: bool) -> LayerResult:
    """``dots_out`` (``stores_dot_products``) is part of the key only: the
    layer's thresholds / params do not take part in its equality."""
    if layer.is_compute:
        return _simulate_compute(layer, spec, engine, (bool(held[0]) and all(held[0]), held[1]))
    return _simulate_post(layer, spec, data_bits, engine, held)


ENGINES = ("simpy", "recurrence")


def simulate_layer(layer: Layer, spec: ArraySpec, data_bits: int = 1, *,
                   engine: str = "simpy",
                   held: tuple[tuple[bool, ...], bool] = ((), False)) -> LayerResult:
    """One layer on the design (cached on shape, bits and design, not name).
    ``engine``: ``simpy`` (the discrete-event model) or ``recurrence`` (the same
    model computed directly; equal results, tested; used by searches).
    ``held``: per input, whether it is held on chip, and whether the output is
    (bnnarch.array.residency; a compute layer reads on chip when all inputs are)."""
    if engine not in ENGINES:
        raise SimError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    anon = replace(layer, name="", inputs=tuple("" for _ in layer.inputs))
    try:
        r = _layer_cached(anon, spec, data_bits, engine, held, stores_dot_products(layer))
    except MappingError as e:
        raise MappingError(str(e).replace("layer ''", f"layer {layer.name!r}")) from None
    return replace(r, name=layer.name)


def output_bits(graph: WorkloadGraph, spec: ArraySpec) -> dict[str, int]:
    """Bits per element of each layer's output as stored on chip."""
    bits: dict[str, int] = {INPUT: INPUT_BITS}
    for layer in graph:
        if layer.is_compute:
            bits[layer.name] = out_bits(layer, spec)
        else:
            bits[layer.name] = max(bits.get(s, INPUT_BITS) for s in layer.inputs) if layer.inputs else 1
    return bits


def simulate(spec: ArraySpec, graph: WorkloadGraph, precision: PrecisionMap | None = None, *,
             engine: str = "simpy", array_logic_mm2: float | None = None) -> SimResult:
    """Simulate a workload (with an optional precision map) on a design.
    ``engine="recurrence"`` gives the same result faster (see simulate_layer).
    ``array_logic_mm2``: the array's synthesised logic area, required when the
    design says ``area.source: yosys`` (``bnnarch.simulate`` synthesises it);
    otherwise the gate-equivalent model's area is used."""
    if spec.area.source == "yosys" and array_logic_mm2 is None:
        raise SimError("area.source: yosys needs the array's synthesised area: simulate through "
                       "bnnarch.simulate or the CLI (they run Yosys, cached per PE "
                       "configuration), or pass array_logic_mm2")
    if spec.area.source == "model":
        array_logic_mm2 = None
    g = apply_precision(graph, precision or {})
    bits = output_bits(g, spec)
    kept = hold_plan(g, spec, bits)
    layers: list[LayerResult] = []
    for layer in g:
        data_bits = max((bits.get(s, INPUT_BITS) for s in layer.inputs), default=INPUT_BITS)
        held = (tuple(s in kept for s in layer.inputs), layer.name in kept)
        layers.append(simulate_layer(layer, spec, data_bits, engine=engine, held=held))
    area = area_breakdown_mm2(spec, array_logic_mm2) | reuse.area_mm2(spec)
    total_area = sum(area.values())
    # leakage charged per layer on its cycles
    with_leak: list[LayerResult] = []
    for r in layers:
        leak = leakage_pj(total_area, r.cycles, spec)
        eb = Counter(dict(r.energy_breakdown_pj))
        counter_add(eb, "leakage", leak)
        with_leak.append(replace(r, energy_pj=r.energy_pj + leak,
                                 energy_breakdown_pj=tuple(sorted(eb.items()))))
    res = SimResult(spec.name, g.name, "array", spec.clock_mhz, tuple(with_leak), total_area,
                    tuple(sorted(area.items())),
                    extra=(("array_area_source",
                            "gate model" if array_logic_mm2 is None else "yosys"),))
    if spec.reuse.any_enabled:  # report reuse against the same design without it
        base = simulate(reuse.without_reuse(spec), graph, precision, engine=engine,
                        array_logic_mm2=array_logic_mm2)
        res = replace(res, extra=res.extra + reuse.totals(res, base))
    return res


def clear_caches() -> None:
    _layer_cached.cache_clear()
    from bnnarch.array import mapper

    mapper._map_shape.cache_clear()


__all__ = ["SimError", "clear_caches", "simulate", "simulate_layer"]
