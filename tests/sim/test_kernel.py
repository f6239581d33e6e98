"""The compiled search kernel (bnnarch.array._kernel) against the references:
mapper._build's tiles and the SimPy engine (run_tiles), on every candidate of
several layers x designs; and its branch and bound against an exhaustive
argmin."""

from __future__ import annotations

import numpy as np
import pytest

from bnnarch.array import _kernel, mapper
from bnnarch.array.candidates import ORDER3, ORDERS, SPILLED, enumerate_candidates
from bnnarch.array.energy import LEDGER
from bnnarch.array.engine import buffer_slots, dram_latency_cycles, recurrence_cycles, run_tiles
from bnnarch.workload.layer import Layer

from .helpers import conv, design

LAYERS = [
    conv(),
    conv(cin=96, cout=40, hw=7, k=3, s=2),
    conv(cin=16, cout=8, hw=9, k=1, bits=(2, 2)),
    conv(cin=3, cout=16, hw=10, k=3, bits=(8, 8)),  # full precision: MAC unit
    Layer("dw", "conv2d", ("input",), (32, 8, 8), (32, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 8,
          1, 1),
    Layer("fc", "linear", ("input",), (200, 1, 1), (24, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), 1,
          1, 1),
    Layer("up", "conv_transpose2d", ("input",), (24, 5, 5), (12, 10, 10), (4, 4), (2, 2), (1, 1),
          (1, 1), 1, 1, 1),
]
DESIGNS = [
    {"buffers__weights__capacity_kib": 2, "buffers__activations__capacity_kib": 2,
     "buffers__outputs__capacity_kib": 8},
    {"buffers__weights__capacity_kib": 1, "buffers__activations__capacity_kib": 4,
     "buffers__outputs__capacity_kib": 2, "buffers__outputs__double_buffered": False,
     "dram__latency_ns": 37, "dram__bandwidth_gbps": 3.3, "array__interconnect": "systolic",
     "array__dataflow": "ws", "array__rows": 3, "array__cols": 5},
    {"buffers__weights__capacity_kib": 4, "buffers__activations__capacity_kib": 2,
     "buffers__outputs__capacity_kib": 4, "buffers__weights__double_buffered": False,
     "dram__latency_ns": 5, "dram__bandwidth_gbps": 9.7, "array__interconnect": "systolic",
     "array__dataflow": "os", "array__simd_bits": 32},
]


def _setup(layer: Layer, spec, held=(False, False)):  # type: ignore[no-untyped-def]
    wb, ab, passes, engine = mapper.layer_bits(layer, spec)
    acc = spec.array.acc_bits if engine == "array" else 32
    geo = layer.geometry
    g, cin_g, cout_g, ho, _wo, h_in, *_ = geo
    a = spec.array
    align = 1 if engine == "mac_unit" else (a.rows if a.interconnect == "broadcast" else a.cols)
    sizes_m = mapper._candidates(ho, 1)
    c = enumerate_candidates(
        layer, spec, engine, geometry=geo, sizes_m=sizes_m,
        sizes_k=mapper._candidates(cin_g, 1) if g == 1 else [cin_g],
        sizes_n=mapper._candidates(cout_g, align) if g == 1 else [cout_g],
        sizes_g=mapper._candidates(g, 1) if g > 1 else [1],
        in_rows=mapper._in_rows_table(layer, ho, h_in), passes=passes, wb=wb,
        ab=ab, acc=acc, out_b=ab, mac_units=spec.full_precision.units, held=held,
        ledger=LEDGER if spec.mapping.objective == "energy" else None)
    return c, (wb, ab, passes, engine, acc, geo)


CASES = ([(over, (False, False)) for over in DESIGNS]
         + [(DESIGNS[1], held) for held in ((True, False), (False, True), (True, True))])


@pytest.mark.parametrize("over,held", CASES, ids=["small", "ws-single-out", "os-single-w",
                                                  "held-in", "held-out", "held-both"])
@pytest.mark.parametrize("layer", LAYERS, ids=[x.name + x.op for x in LAYERS])
def test_kernel_equals_python_reference_on_every_candidate(layer, over, held):
    spec = design(**over)
    c, (wb, ab, passes, engine, acc, geo) = _setup(layer, spec, held)
    assert len(c) > 0
    g, cin_g, cout_g, ho, wo, h_in, _w, taps, _ = geo
    k_in, k_out = buffer_slots(spec)
    lat, bw = dram_latency_cycles(spec), spec.dram_bits_per_cycle
    in_rows = mapper._in_rows_table(layer, ho, h_in)
    cycles = []
    for i in range(len(c)):
        order, tiling, counts = mapper._unpack(c, i, ORDERS)
        ref = mapper._build(layer, spec, engine, order, tiling, counts, passes, wb, ab, acc, ab,
                            held)
        assert ref.dram_bits == int(c.dram[i])
        n = int(c.n_tiles[i])
        rows = np.zeros((6, n), np.int64)
        got = _kernel.tile_rows(
            ORDER3[c.order[i]], c.cm[i], c.cn[i], c.ck[i], c.th[i], c.gt[i], c.ci[i],
            c.co[i], ho, g, cin_g, cout_g, wo, taps, mapper._row_w(layer), in_rows, wb, ab, acc,
            ab, bool(SPILLED[c.order[i]]), c.cyc16[i], *held, rows)
        assert got == ref.n_tiles == n
        assert rows[:5].T.tolist() == [[t.load_w_bits, t.load_a_bits, t.load_psum_bits,
                                         t.compute_cycles, t.store_bits] for t in ref.tiles], \
            (order, tiling)
        gt, th, ci, co = tiling
        kinds = [(t.gemm.m != th * wo) * 8 + (t.gemm.groups != gt) * 4 + (t.gemm.n != co) * 2
                 + (t.gemm.k_bits != ci * taps) for t in ref.tiles]
        assert rows[5].tolist() == kinds
        cyc = _kernel.recurrence(rows[0] + rows[1] + rows[2], rows[3], rows[4], n, k_in, k_out,
                                 lat, bw)
        assert cyc == run_tiles(ref.tiles, spec).cycles  # the SimPy model
        assert cyc >= int(c.bound[i])
        cycles.append((cyc, int(c.dram[i]), i))
    # branch and bound == exhaustive argmin (fewest cycles, then DRAM bits, then order)
    best, best_cyc, evaluated = _kernel.search(
        ORDER3[c.order], SPILLED[c.order], c.bound, c.dram, c.n_tiles, c.th, c.gt,
        c.ci, c.co, c.cm, c.cn, c.ck, c.cyc16, ho, g, cin_g, cout_g, wo, taps,
        mapper._row_w(layer), in_rows, wb, ab, acc, ab, k_in, k_out, lat, bw, *held)
    assert (best_cyc, int(c.dram[best])) == min(cycles)[:2]
    assert 1 <= evaluated <= len(c)


def test_map_layer_schedule_is_the_searched_one():
    """map_layer's built schedule runs in the cycles the kernel found for it."""
    from bnnarch.array.engine import run_tiles_fast

    for over in DESIGNS:
        spec = design(**over)
        for layer in LAYERS:
            s = mapper.map_layer(layer, spec)
            c, _ = _setup(layer, spec)
            fastest = min(
                recurrence_cycles(*zip(*[(t.load_w_bits + t.load_a_bits + t.load_psum_bits,
                                          t.compute_cycles, t.store_bits) for t in
                                         mapper._build(layer, spec, s.engine,
                                                       *mapper._unpack(c, i, ORDERS),
                                                       s.passes, *_bits(layer, spec)).tiles],
                                       strict=True), spec)  # type: ignore[call-arg]
                for i in range(len(c)))
            assert run_tiles_fast(s.tiles, spec).cycles == s.cycles == fastest
            # the totals the mapper reports without building tiles equal the tiles'
            ref = mapper.Schedule.of_tiles(s, s.tiles)
            for f in ("n_tiles", "dram_bits", "compute_cycles", "load_bits", "store_bits"):
                assert getattr(s, f) == getattr(ref, f), f
            assert dict(s.gemms) == dict(ref.gemms)


def _bits(layer: Layer, spec) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    wb, ab, _p, engine = mapper.layer_bits(layer, spec)
    return wb, ab, spec.array.acc_bits if engine == "array" else 32, ab
