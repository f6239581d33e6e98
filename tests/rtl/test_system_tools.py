"""``bnnarch rtl --system / --network`` end to end: the system runs replayed
in Icarus (and a Verilator-built simulation), the DMA/control area from
Yosys, report.json's system fields (needs iverilog / verilator / yosys)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnnarch.array.mapper import map_layer
from bnnarch.cli import main
from bnnarch.rtl import sysexport
from bnnarch.rtl.syscheck import check_layer_system, plan_layers
from bnnarch.rtl.sysrun import system_array
from bnnarch.rtl.system import build_system
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload
from tests.conftest import need_tools

pytestmark = pytest.mark.tools
ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(ROOT / "workloads" / "digits_bnn.json")


def _need(*tools: str) -> None:
    need_tools(*tools)


def test_cli_system_and_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per-layer system checks and the whole of digits_bnn from image 0 on
    rtl_small: every quantity equal to simulate's, Icarus replays match."""
    _need("iverilog", "vvp")
    out = tmp_path / "o"
    rc = main(["rtl", str(ROOT / "designs" / "rtl_small.yaml"), "--out", str(out), "--system",
               "--network", "--workload", DIGITS, "--layers", "layer2.0.conv1,layer3.0.conv2",
               "--no-lint", "--no-synth"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    sysrep = rep["system"]
    assert sysrep["params"]["dram_bits_per_cycle"] == 128
    assert sysrep["params"]["dram_latency_cycles"] == 50
    assert [x["name"] for x in sysrep["layers"]] == ["layer2.0.conv1", "layer3.0.conv2"]
    for lay in sysrep["layers"]:
        assert lay["cycle_match"] and lay["bit_exact"] and lay["icarus"] == "match"
        assert lay["rtl_cycles"] == lay["sim_cycles"]
        assert lay["rtl_stall_cycles"] == lay["sim_stall_cycles"] > 0
        assert lay["rtl_dram_read_bits"] == lay["sim_dram_read_bits"] > 0
    net = sysrep["network"]
    assert net["layers_run"] == 6 and net["cycle_match"] and net["bit_exact"]
    assert net["icarus"] == "match" and net["rtl_cycles"] == net["sim_cycles"]
    printed = capsys.readouterr().out
    assert "ok   system layer2.0.conv1" in printed
    assert (f"network digits_bnn from image 0: 6 layers in RTL, 25 on the host, rtl "
            f"{net['rtl_cycles']} cycles") in printed
    assert net["golden_match"] and net["local_match"] and net["image"] == 0


def test_cli_network_needs_workload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["rtl", str(ROOT / "designs" / "rtl_small.yaml"), "--out", str(tmp_path),
               "--network", "--no-lint", "--no-synth"])
    assert rc == 2
    assert "error: --network needs --workload" in capsys.readouterr().err


def test_replay_catches_a_wrong_trace_and_verilator_agrees(tmp_path: Path) -> None:
    """The replay compares every output of every cycle: the Verilator-built
    simulation matches PyRTL, and a trace changed in one cycle is reported."""
    _need("iverilog", "vvp", "verilator")
    spec = load_design(ROOT / "designs" / "rtl_systolic_ws.yaml")
    p = plan_layers(spec, load_workload(DIGITS), ["layer2.0.conv2"])[0]
    arr = system_array(spec, [map_layer(p.layer, spec, p.held)])
    sys = build_system(spec)
    c = check_layer_system(arr, sys, p, np.random.default_rng(0))
    (tmp_path / "system.v").write_text(sysexport.system_verilog(sys))
    ri, rv, secs = sysexport.replay(sys, tmp_path, [c.rtl], "tb_ok", True, True)
    assert ri == ["match"] and rv == ["match"] and secs > 0
    t = c.rtl.cycles
    c.rtl.trace["done"][t] = 0
    ri, _rv, _ = sysexport.replay(sys, tmp_path, [c.rtl], "tb_bad", True, False)
    assert ri[0].startswith(f"cycle {t}, output done: Icarus 0x1, PyRTL 0x0")


def test_testbench_dram_model_checks_the_dma(tmp_path: Path) -> None:
    """The Verilog testbench's DRAM answers the DMA's own requests: a store
    beat that differs, or a DMA whose beats come one cycle off the DRAM's
    latency, is reported with its cycle."""
    _need("iverilog", "vvp")
    spec = load_design(ROOT / "designs" / "rtl_small.yaml")
    p = plan_layers(spec, load_workload(DIGITS), ["layer2.0.conv1"])[0]
    arr = system_array(spec, [map_layer(p.layer, spec, p.held)])
    sys = build_system(spec)
    c = check_layer_system(arr, sys, p, np.random.default_rng(0))
    (tmp_path / "system.v").write_text(sysexport.system_verilog(sys))
    assert sysexport.replay(sys, tmp_path, [c.rtl], "tb_ok", True, False)[0] == ["match"]
    c.rtl.dram_words[1][0] ^= 1
    ri = sysexport.replay(sys, tmp_path, [c.rtl], "tb_w", True, False)[0]
    assert ri[0].startswith("Icarus's DRAM model: cycle ") and ": write beat 0 " in ri[0]
    c.rtl.dram_words[1][0] ^= 1
    sys.lat_cycles += 1  # the testbench's DRAM now answers one cycle later than the DMA
    ri = sysexport.replay(sys, tmp_path, [c.rtl], "tb_l", True, False)[0]
    assert ri[0].startswith(f"Icarus's DRAM model: cycle {sys.lat_cycles - 1}: DMA beat 1, "
                            "DRAM beat 0")


def test_system_area_counts_dma_logic_not_memories(tmp_path: Path) -> None:
    _need("yosys")
    sys = build_system(load_design(ROOT / "designs" / "rtl_small.yaml"))
    area = sysexport.system_area(sys, tmp_path)
    flops = sum(n for c, n in area["cell_types"].items() if "DFF" in c)
    assert flops >= 100  # tile counters, transfer state, bits left (>= 4 x 16 + 32)
    assert not any(c.startswith("$mem") for c in area["cell_types"])
    assert area["area_mm2"] > 0 and area["ge"] > 1000
    assert {m["name"] for m in area["sram_macros"]} == {"ldesc", "sdesc", "instage", "outstage"}
