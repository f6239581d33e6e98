"""The memory system's generated units besides the DMA: the pack unit (the
array's results -> output slot rows in the cycles they arrive), the hold
region (a banked MemBlock the pack unit writes and the next layer reads) and
the staging buffers split into the spec's banks and port width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnnarch.array.mapper import map_layer
from bnnarch.errors import RtlError
from bnnarch.rtl.syscheck import check_layer_system, layer_tensors, plan_layers
from bnnarch.rtl.sysrun import run_layer_system, system_array
from bnnarch.rtl.system import build_system
from bnnarch.template import design_from_dict, load_design
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload
from bnnarch.workload.layer import Layer

ROOT = Path(__file__).resolve().parents[2]


def _design(name: str, **dram: float):
    d = load_design(ROOT / "designs" / f"{name}.yaml").model_dump()
    d["dram"] |= dram
    return design_from_dict(d)


@pytest.mark.parametrize("design", ["rtl_small", "rtl_systolic_ws"])
def test_pack_unit_fills_the_slot_before_a_one_cycle_dram_reads_it(design: str) -> None:
    """DRAM latency of one cycle: a store requested in the cycle its compute
    ends reads its first row the next cycle. The pack unit wrote the slot by
    then (no cycle added): cycles equal simulate's, outputs bit-exact. A pack
    unit one cycle later fails here."""
    spec = _design(design, latency_ns=2)  # 2 ns at 500 MHz: one cycle
    digits = load_workload(ROOT / "workloads" / "digits_bnn.json")
    p = plan_layers(spec, digits, ["layer2.0.conv1"])[0]
    sys = build_system(spec)
    assert sys.lat_cycles == 1
    c = check_layer_system(system_array(spec, [map_layer(p.layer, spec)]), sys, p,
                           np.random.default_rng(0))
    assert c.diffs() == [] and c.bit_exact, c.note
    ends = {i: t for t, kind, i in c.rtl.events if kind == "compute_end"}
    same = [i for t, kind, i in c.rtl.events if kind == "store" and ends.get(i) == t]
    assert same  # at least one store starts in the cycle its compute ends


def test_pack_unit_rows_are_hardware_writes() -> None:
    """The output slot is written only by the pack unit: the store beats the
    DRAM received are the rows it assembled, and the Verilog testbench no
    longer pokes the staging buffer (no pack-unit input beside the array's
    ports and the tile configuration)."""
    spec = load_design(ROOT / "designs" / "rtl_small.yaml")
    sys = build_system(spec)
    names = set(sys.input_names)
    assert {"aw0_we", "aw0_sign", "aw0_dot", "pk_on", "pk_wide", "pk_lane_rem"} <= names
    assert not any(n.startswith("pk_addr") or n.startswith("pk_data") for n in names)
    assert sys.pack.write_ports == 2  # 255 pending + 4 x 4 x 16 bits span two 256-bit rows


def test_hold_region_is_the_next_layers_input() -> None:
    """a -> b on rtl_hold: a's output goes into the hold memory (no DRAM
    store), b reads its input there, beside which b's own held output is
    placed. A row of the hold memory inverted between the layers changes b's
    output: the map really crosses the hold region."""
    spec = load_design(ROOT / "designs" / "rtl_hold.yaml")
    a = Layer("a", "conv2d", ("input",), (16, 8, 8), (16, 8, 8), kernel=(3, 3), padding=(1, 1))
    b = Layer("b", "conv2d", ("a",), (16, 8, 8), (8, 8, 8), kernel=(3, 3), padding=(1, 1))
    c = Layer("c", "conv2d", ("b",), (8, 8, 8), (8, 8, 8), kernel=(1, 1))
    graph = WorkloadGraph("chain", (16, 8, 8), (a, b, c))
    plans = plan_layers(spec, graph)
    assert [p.held for p in plans] == [(False, True), (True, True), (True, False)]
    sa, sb = (map_layer(p.layer, spec, p.held) for p in plans[:2])
    arr, sys = system_array(spec, [sa, sb]), build_system(spec)
    rng = np.random.default_rng(4)
    ta = layer_tensors(a, rng)
    ra = run_layer_system(arr, sys, a, sa, ta, plans[0].held)
    assert ra.dram_write_bits == 0 and ra.hold_out is not None
    assert np.array_equal(ra.out, ta.golden()[1].transpose(0, 2, 1))
    img = ra.hold_out
    assert img.base == 0 and img.n_rows == 16 * 64 // sys.pack.row_bits
    fmap = ra.out.reshape(16, 8, 8)
    tb = layer_tensors(b, rng, fmap)
    want = tb.golden()[1].transpose(0, 2, 1)
    rb = run_layer_system(arr, sys, b, sb, tb, plans[1].held, fmap, held_image=img,
                          hold_live=[img])
    assert rb.hold_out is not None and rb.hold_out.base >= img.base + img.n_rows
    assert np.array_equal(rb.out, want) and rb.dram_read_bits == sum(
        x.load_w_bits for x in sb.tiles)
    inverted = {0: img.rows.get(0, 0) ^ ((1 << img.row_bits) - 1)}
    bad = type(img)(img.base, img.rows | inverted, img.order, img.shape, img.row_bits)
    rb2 = run_layer_system(arr, sys, b, sb, tb, plans[1].held, fmap, held_image=bad,
                           hold_live=[bad])
    assert not np.array_equal(rb2.out, want)


def test_staging_buffers_follow_banks_and_port_width() -> None:
    """A staging row is the buffer's port (whole DMA beats), split into its
    banks; the narrow DRAM of rtl_dram_bound fills a 512-bit row in 32 beats."""
    sys = build_system(load_design(ROOT / "designs" / "rtl_dram_bound.yaml"))
    assert (sys.bw_bits, sys.in_row_bits, sys.out_row_bits) == (16, 512, 512)
    assert [m.bitwidth for m in sys.instage] == [64] * 8
    assert [m.bitwidth for m in sys.outstage] == [64] * 8
    rep = sys.staging_report()
    assert rep["in"]["banks"] == 8 and rep["hold"] is None
    hold = build_system(load_design(ROOT / "designs" / "rtl_hold.yaml"))
    assert hold.hold_rows * hold.pack.row_bits == 32 * 8192  # hold_kib: 32
    assert len(hold.hold) == 8


def test_dram_wider_than_a_buffer_port_is_refused_by_the_generator() -> None:
    """simulate takes the DRAM channel's rate as given; the system RTL, which
    writes one beat into a buffer row per cycle, refuses to build it."""
    d = load_design(ROOT / "designs" / "rtl_small.yaml").model_dump()
    d["buffers"]["outputs"]["port_bits"] = 64  # DRAM: 128 bits per cycle
    spec = design_from_dict(d)  # a valid design
    with pytest.raises(RtlError) as ei:
        build_system(spec)
    assert str(ei.value) == (
        "buffers.outputs.port_bits: 64 bits/cycle is narrower than the DRAM channel (128 "
        "bits/cycle = dram.bandwidth_gbps * 8000 / clock_mhz): the system RTL writes one DMA "
        "beat into the buffer per cycle")
