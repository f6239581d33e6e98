"""Icarus replay, Verilator lint, Yosys synthesis + area cache, and the
``bnnarch rtl`` command end to end (needs iverilog / verilator / yosys)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnnarch.cli import main
from bnnarch.rtl import export
from bnnarch.rtl.array import build_array
from bnnarch.rtl.golden import program, random_data
from bnnarch.rtl.run import run_program
from bnnarch.rtl.synth import area_for, cache_key, cell_ge, parse_stat, synthesized_area_mm2

from .helpers import small_spec

pytestmark = pytest.mark.tools
ROOT = Path(__file__).resolve().parents[2]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (setup.sh installs them)")


@pytest.mark.parametrize("interconnect,dataflow", [
    ("broadcast", None), ("systolic", "os"), ("systolic", "ws"), ("systolic", "is")])
def test_icarus_matches_pyrtl_cycle_by_cycle(tmp_path: Path, interconnect: str,
                                             dataflow: str | None) -> None:
    _need("iverilog", "vvp")
    spec = small_spec(interconnect=interconnect, dataflow=dataflow)
    arr = build_array(spec)
    data = random_data("t", 1, 5, 4, 20, 2, 2, np.random.default_rng(2))
    prog = program(arr, data)
    run = run_program(arr, prog, "FastSimulation")
    (tmp_path / "design.v").write_text(export.verilog_text(arr))
    export.write_testbench(tmp_path, "tb", arr, [(prog, run)], "design.v")
    lines = export.run_icarus(tmp_path, "tb.v")
    assert len(lines) == len(run.trace["done"])
    assert export.compare_icarus(arr, run, lines) is None
    # a corrupted trace is reported with its cycle and output
    t = run.rtl_cycles - 1
    run.trace["done"][t] ^= 1
    assert export.compare_icarus(arr, run, lines) == (
        f"cycle {t}, output done: Icarus 0x{run.trace['done'][t] ^ 1:x}, "
        f"PyRTL 0x{run.trace['done'][t]:x}")


def test_verilator_lint_clean(tmp_path: Path) -> None:
    _need("verilator")
    for spec in [small_spec()] + [small_spec(interconnect="systolic", dataflow=df)
                                  for df in ("os", "ws", "is")]:
        (tmp_path / "design.v").write_text(export.verilog_text(build_array(spec)))
        res = export.verilator_lint(tmp_path / "design.v")
        assert res.ok, res.message


def test_yosys_small_pe_and_cache(tmp_path: Path) -> None:
    _need("yosys")
    spec = small_spec(rows=4, cols=4, simd_bits=16)
    cache = tmp_path / "area.json"
    assert synthesized_area_mm2(spec, cache) is None
    res, log = area_for(spec, cache)
    assert log is not None and "Number of cells" in log
    assert res.cells_per_pe > 50 and res.cells == res.cells_per_pe * 16
    assert res.area_mm2 == pytest.approx(synthesized_area_mm2(spec, cache))
    again, log2 = area_for(spec, cache)  # cached: no Yosys run
    assert log2 is None and again.ge_per_pe == res.ge_per_pe
    assert cache_key(spec) in json.loads(cache.read_text())
    bigger = small_spec(rows=8, cols=8, simd_bits=16)  # same PE, scaled
    assert synthesized_area_mm2(bigger, cache) == pytest.approx(4 * res.area_mm2)
    assert synthesized_area_mm2(small_spec(rows=4, cols=4, simd_bits=16, technology={
        "node_nm": 65}), cache) is None


def test_cell_weights_and_stat_parser() -> None:
    assert cell_ge("$_NAND_") == 1.0 and cell_ge("$_DFFE_PP_") == pytest.approx(8.0)
    text = "Number of cells: 3\n     $_AND_   2\n     $_DFF_P_  1\n"
    assert parse_stat(text) == {"$_AND_": 2, "$_DFF_P_": 1}


@pytest.mark.slow
def test_cli_rtl_verify_writes_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need("iverilog", "vvp", "verilator", "yosys")
    monkeypatch.chdir(tmp_path)  # a relative --out, as the README writes it
    out = tmp_path / "build" / "rtl" / "out"
    rc = main(["rtl", str(ROOT / "designs" / "rtl_systolic.yaml"), "--out", "build/rtl/out",
               "--verify", "--area-cache", str(tmp_path / "cache.json")])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["ok"] and rep["tools"]["verilator_lint"] == "clean"
    assert {"design.v", "yosys_report.txt", "tb_0.v"} <= {p.name for p in out.iterdir()}
    for lay in rep["layers"]:
        assert lay["bit_exact"] and lay["cycle_match"] and lay["icarus"] == "match"
        assert lay["rtl_cycles"] == lay["sim_cycles"] and lay["cells"] > 0
        assert lay["area_mm2"] > 0


def test_cli_failed_check_exits_nonzero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A cycle mismatch fails the run, names the layer, and report.json says so."""
    import bnnarch.rtl.golden as golden_mod

    real = golden_mod.tile_compute_cycles
    monkeypatch.setattr(golden_mod, "tile_compute_cycles", lambda *a: real(*a) + 1)
    out = tmp_path / "out"
    rc = main(["rtl", str(ROOT / "designs" / "rtl_small.yaml"), "--out", str(out), "--verify",
               "--no-synth", "--no-icarus", "--no-lint"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "check failed" in err and "layer 'conv1x1'" in err and "timing model" in err
    rep = json.loads((out / "report.json").read_text())
    assert rep["ok"] is False and not rep["layers"][0]["cycle_match"]


def test_cli_unsupported_design(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A design the generator cannot build: a clear message, exit 2, no report."""
    d = tmp_path / "huge.yaml"
    d.write_text((ROOT / "designs" / "rtl_systolic.yaml").read_text().replace(
        "rows: 4", "rows: 128").replace("cols: 4", "cols: 64").replace(
        "capacity_kib: 8", "capacity_kib: 512").replace("capacity_kib: 16", "capacity_kib: 64"))
    rc = main(["rtl", str(d), "--out", str(tmp_path / "o"), "--verify"])
    assert rc == 2
    assert "128x64 = 8192 PEs is too large for the RTL generator" in capsys.readouterr().err
    assert not (tmp_path / "o" / "report.json").exists()
