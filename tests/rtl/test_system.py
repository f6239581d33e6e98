"""The memory system in RTL (DMA, ping-pong slots, staging buffers, DRAM
model) with the array, against the simulator: total cycles, stalls, DRAM
bits and bit-exact outputs per layer, and the user-facing errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyrtl
import pytest

from bnnarch.array.engine import recurrence_cycles, run_tiles
from bnnarch.array.mapper import _build, map_layer
from bnnarch.array.schedule import Tile
from bnnarch.array.timing import GemmTile
from bnnarch.errors import RtlError
from bnnarch.rtl.syscheck import check_layer_system, plan_layers, run_network
from bnnarch.rtl.sysrun import run_layer_system, system_array
from bnnarch.rtl.system import build_system
from bnnarch.template import design_from_dict, load_design
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload
from bnnarch.workload.layer import Layer

from .helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]


def _spec(double_in: bool, double_out: bool, gbps: float = 8, latency_ns: float = 100):
    d = small_spec(kib=8).model_dump()
    d["dram"] |= {"bandwidth_gbps": gbps, "latency_ns": latency_ns}
    for buf, db in (("weights", double_in), ("activations", double_in), ("outputs", double_out)):
        d["buffers"][buf]["double_buffered"] = db
    return design_from_dict(d)


def _run_with_counter(sys, loads: list[int], comps: list[int], stores: list[int]) -> int | None:
    """The system block with the array replaced by a counter whose done rises
    exactly comps[i] cycles after its start (the array's cycle contract,
    held by the array tests): the DMA and slot control alone."""
    mem = {sys.ldesc: dict(enumerate(loads)), sys.sdesc: dict(enumerate(stores))}
    names = ("done", "comp_start", "comp_tile")
    tr = pyrtl.SimulationTrace(wires_to_track=[sys.block.get_wirevector_by_name(n)
                                               for n in names], block=sys.block)
    sim = pyrtl.FastSimulation(block=sys.block, memory_value_map=mem, tracer=tr)
    idle = {k: 0 for k in sys.input_names[4:]}
    done, left, cur = 0, 0, None
    for t in range(20 * (sum(comps) + sum(loads) + sum(stores) + 100)):
        sim.step({"start": int(t == 0), "cfg_tiles": len(loads), "comp_done": done,
                  "rdata": 0, **idle})
        if tr.trace["done"][-1]:
            return t
        if tr.trace["comp_start"][-1]:
            cur, left, done = tr.trace["comp_tile"][-1], comps[tr.trace["comp_tile"][-1]], 0
        if cur is not None and not done:
            left -= 1
            done = int(left == 0)
    return None


@pytest.mark.parametrize("slots", [(True, True), (True, False), (False, True), (False, False)])
def test_dma_matches_engine_on_random_schedules(slots: tuple[bool, bool]) -> None:
    """Random tile schedules (zero-bit loads and stores included, so several
    transfers complete in one cycle): the RTL's total cycles equal the
    engine's recurrence and its SimPy model, to the cycle."""
    rng = np.random.default_rng(7)
    for gbps, lat_ns in ((8, 100), (3.5, 2)):  # 128 bits / 50 cycles; 56 bits / 1 cycle
        spec = _spec(*slots, gbps=gbps, latency_ns=lat_ns)
        sys = build_system(spec)
        for _ in range(12):
            n = int(rng.integers(1, 10))
            loads = [int(x) * (rng.random() < 0.7) for x in rng.integers(1, 3000, n)]
            stores = [int(x) * (rng.random() < 0.5) for x in rng.integers(1, 3000, n)]
            comps = [int(x) for x in rng.integers(1, 200, n)]
            want = recurrence_cycles(loads, comps, stores, spec)
            tiles = [Tile(ld, 0, 0, c, st, GemmTile(1, 1, 1)) for ld, c, st in
                     zip(loads, comps, stores, strict=True)]
            assert run_tiles(tiles, spec).cycles == want
            assert _run_with_counter(sys, loads, comps, stores) == want, (loads, comps, stores)


DESIGNS = {  # design -> digits_bnn layers checked
    "rtl_dram_bound": ["layer2.0.conv1"],
    "rtl_buffer_bound": ["layer1.0.conv2", "layer3.0.conv1"],
    "rtl_hold": ["layer1.0.conv1"],
    "rtl_systolic": ["layer2.0.conv2"],
    "rtl_systolic_ws": ["layer1.0.conv1", "layer3.0.conv1"],
    "rtl_systolic_is": ["layer2.0.conv2"],
}


@pytest.fixture(scope="module")
def digits() -> WorkloadGraph:
    return load_workload(ROOT / "workloads" / "digits_bnn.json")


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_system_layers_match_simulator(design: str, digits: WorkloadGraph) -> None:
    """Real digits_bnn layers (trained packed weights and thresholds) through
    the memory system and the array: cycles, compute cycles, stalls, DRAM
    read/write bits equal simulate's; outputs bit-exact (reductions split over
    tiles included: the output buffer carries the partial sums)."""
    spec = load_design(ROOT / "designs" / f"{design}.yaml")
    plans = plan_layers(spec, digits, DESIGNS[design])
    arr = system_array(spec, [map_layer(p.layer, spec, p.held) for p in plans])
    sys = build_system(spec)
    rng = np.random.default_rng(0)
    for p in plans:
        c = check_layer_system(arr, sys, p, rng)
        assert c.diffs() == [] and c.failures() == []
        assert c.rtl.cycles == p.sim.cycles > 0
        assert not c.rtl.chain_full
        s = map_layer(p.layer, spec, p.held)
        assert c.bit_exact is True and c.note == "outputs equal the golden model"
        if design == "rtl_dram_bound":
            assert c.stall_cycles > 2 * c.rtl.compute_cycles
        if design == "rtl_buffer_bound":
            assert s.n_tiles >= 4
        if design == "rtl_hold":  # input and output stay on chip: only weights cross DRAM
            assert p.held == (True, True)
            assert c.rtl.dram_write_bits == 0 and c.rtl.dram_read_bits == sum(
                t.load_w_bits for t in s.tiles)


def test_reduction_split_over_tiles_keeps_partial_sums() -> None:
    """brevitas_digits conv1 on rtl_systolic_ws: the reduction is split over
    two tiles (cfg_cont adds to the partial sums in the output buffer);
    cycles and DRAM bits equal simulate's, threshold bits exact."""
    spec = load_design(ROOT / "designs" / "rtl_systolic_ws.yaml")
    graph = load_workload(ROOT / "workloads" / "brevitas_digits.json")
    p = plan_layers(spec, graph, ["conv1"])[0]
    s = map_layer(p.layer, spec, p.held)
    assert s.counts[2] == 2
    c = check_layer_system(system_array(spec, [s]), build_system(spec), p,
                           np.random.default_rng(0))
    assert c.diffs() == [] and c.failures() == [] and c.bit_exact


@pytest.mark.parametrize("design", ["rtl_small", "rtl_systolic_is"])
@pytest.mark.parametrize("order", ["kmn", "nkm"])
def test_spilled_partial_sums_cross_dram(design: str, order: str) -> None:
    """A schedule whose reduction loop is not innermost stores partial sums
    (acc_bits each) to DRAM and reloads them into the output buffer: cycles
    equal the SimPy engine's, the bits equal the schedule's, outputs exact."""
    spec = load_design(ROOT / "designs" / f"{design}.yaml")
    layer = Layer("sp", "conv2d", ("input",), (16, 6, 6), (8, 6, 6), kernel=(3, 3),
                  padding=(1, 1))
    s = _build(layer, spec, "array", order, (1, 3, 4, 4), {"m": 2, "n": 2, "k": 4}, 1, 1, 1,
               spec.array.acc_bits, 1)
    assert sum(t.load_psum_bits for t in s.tiles) > 0
    ref = run_tiles(s.tiles, spec)
    from bnnarch.rtl.syscheck import layer_tensors

    t = layer_tensors(layer, np.random.default_rng(0))
    run = run_layer_system(system_array(spec, [s]), build_system(spec), layer, s, t)
    assert (run.cycles, run.compute_cycles) == (ref.cycles, ref.compute_cycles)
    assert (run.dram_read_bits, run.dram_write_bits) == (ref.dram_read_bits,
                                                         ref.dram_write_bits)
    assert np.array_equal(run.out, t.golden()[1].transpose(0, 2, 1))


def test_network_feeds_rtl_outputs_through_held_maps() -> None:
    """conv -> threshold -> conv: the second layer reads the first layer's RTL
    output from the hold region (never from DRAM); both bit-exact, total
    cycles equal the simulator's sum."""
    spec = load_design(ROOT / "designs" / "rtl_hold.yaml")
    a = Layer("a", "conv2d", ("input",), (16, 8, 8), (16, 8, 8), kernel=(3, 3), padding=(1, 1))
    t = Layer("t", "threshold", ("a",), (16, 8, 8), (16, 8, 8))
    b = Layer("b", "conv2d", ("t",), (16, 8, 8), (8, 4, 4), kernel=(3, 3), stride=(2, 2),
              padding=(1, 1))
    c = Layer("c", "conv2d", ("b",), (8, 4, 4), (8, 4, 4), kernel=(1, 1))
    graph = WorkloadGraph("chain", (16, 8, 8), (a, t, b, c))
    plans = plan_layers(spec, graph)
    arr = system_array(spec, [map_layer(p.layer, spec, p.held) for p in plans])
    checks, summary = run_network(arr, build_system(spec), graph, np.random.default_rng(1))
    assert [ch.held for ch in checks] == [(False, True), (True, True), (True, False)]
    assert summary["fed_by_rtl"] == 2 and summary["bit_exact"] and summary["cycle_match"]
    assert summary["rtl_cycles"] == sum(p.sim.cycles for p in plans)
    assert all(ch.bit_exact for ch in checks)
    # the second layer's golden check used the first layer's RTL output
    assert checks[1].rtl.dram_read_bits == sum(
        x.load_w_bits for x in map_layer(b, spec, (True, True)).tiles)


def test_corrupted_dram_data_is_caught(digits: WorkloadGraph) -> None:
    """The bit-exact check sees what crossed the DMA: flipping filter 0's
    weight bits in the DRAM model's image (after the golden model read it)
    fails."""
    spec = load_design(ROOT / "designs" / "rtl_small.yaml")
    p = plan_layers(spec, digits, ["layer2.0.conv1"])[0]
    s = map_layer(p.layer, spec)
    arr, sys = system_array(spec, [s]), build_system(spec)
    from bnnarch.rtl.syscheck import layer_tensors

    t = layer_tensors(p.layer, np.random.default_rng(0))
    assert t.dots_out  # a non-foldable batch-norm: the dot products leave the array
    want, _s = t.golden()
    t.weights = t.weights.copy()
    t.weights[0, 0] ^= 1
    run = run_layer_system(arr, sys, p.layer, s, t)
    assert run.cycles == p.sim.cycles
    assert not np.array_equal(run.out, want.transpose(0, 2, 1))


def test_errors_name_the_field_or_layer(digits: WorkloadGraph) -> None:
    d = small_spec(kib=8).model_dump()
    with pytest.raises(RtlError, match="moves 266.667 bits per cycle; the system RTL needs a "
                                       "whole number"):
        build_system(design_from_dict(d | {"clock_mhz": 300}))
    with pytest.raises(RtlError, match="latency_ns gives 0 cycles; the system RTL needs at "
                                       "least one cycle"):
        build_system(design_from_dict(d | {"dram": {"bandwidth_gbps": 8, "latency_ns": 0}}))
    spec = load_design(ROOT / "designs" / "rtl_small.yaml")
    reuse = spec.model_copy(update={"reuse": spec.reuse.model_copy(update={
        "input_similarity": spec.reuse.input_similarity.model_copy(update={"enabled": True})})})
    with pytest.raises(RtlError, match="has no computation-reuse hardware"):
        plan_layers(reuse, digits)
    with pytest.raises(RtlError, match=r"layer 'conv1' \(conv2d, 32/32 bits\): the system "
                                       "check runs conv2d and linear layers of at most 8 bits"):
        plan_layers(spec, digits, ["conv1"])
    from bnnarch.rtl.syscheck import layer_tensors

    bb = load_design(ROOT / "designs" / "rtl_buffer_bound.yaml")
    p = plan_layers(bb, digits, ["layer3.0.conv2"])[0]
    s = map_layer(p.layer, bb)
    with pytest.raises(RtlError, match="its schedule has 16 tiles; the system RTL's descriptor "
                                       "tables hold 4"):
        run_layer_system(system_array(bb, [s]), build_system(bb, max_tiles=4), p.layer,
                         s, layer_tensors(p.layer, np.random.default_rng(0)))
    p = plan_layers(spec, digits, ["layer1.0.conv1"])[0]
    held = replace(p, held=(True, False))
    with pytest.raises(RtlError, match="its input is held on chip but no held map was given"):
        hs = map_layer(p.layer, spec, (True, False))
        run_layer_system(system_array(spec, [hs]), build_system(spec), p.layer, hs,
                         layer_tensors(p.layer, np.random.default_rng(0)), held.held)


def test_consistency_errors_name_the_tile(digits: WorkloadGraph) -> None:
    """The DRAM model refuses a load whose data do not add up to what the
    mapper counts, or a DMA request of another size; a workload without 1-bit
    layers and a too-large descriptor table are refused."""
    from bnnarch.rtl.syscheck import layer_tensors
    from bnnarch.rtl.sysrun import Dram, tile_indices

    spec = load_design(ROOT / "designs" / "rtl_small.yaml")
    layer = digits["layer2.0.conv1"]
    s = map_layer(layer, spec)
    t = layer_tensors(layer, np.random.default_rng(0))
    bad = replace(s.tiles[0], load_a_bits=s.tiles[0].load_a_bits + 1)
    wrong = replace(s, make_tiles=lambda: (bad, *s.tiles[1:]))
    dram = Dram(t, layer, wrong, tile_indices(layer, wrong), 50, 128, 16, False, False)
    with pytest.raises(RtlError, match=r"layer 'layer2.0.conv1' tile 0: the DRAM holds \d+ "
                                       r"bits for a load the mapper counts as \d+"):
        dram.load_stream(0)
    dram = Dram(t, layer, s, tile_indices(layer, s), 50, 128, 16, False, False)
    with pytest.raises(RtlError, match=r"tile 0: DMA asked for 5 bits, the tile's load is \d+"):
        dram.request(0, 0, False, 5)
    fp_only = WorkloadGraph("fp", (1, 16, 16), (digits["conv1"],))
    with pytest.raises(RtlError, match="workload 'fp' has no 1-bit conv2d or linear layer"):
        run_network(system_array(spec, []), build_system(spec), fp_only,
                    np.random.default_rng(0))
    with pytest.raises(RtlError, match="max_tiles=70000: the tile counters have 16 bits"):
        build_system(spec, max_tiles=70_000)
