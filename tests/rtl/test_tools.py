"""Icarus replay, Verilator simulation and lint, Yosys synthesis + area
cache, and the ``bnnarch rtl`` command end to end (needs iverilog /
verilator / yosys)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnnarch.array.timing import tile_compute_cycles
from bnnarch.cli import main
from bnnarch.errors import RtlError
from bnnarch.rtl import export
from bnnarch.rtl.array import build_array
from bnnarch.rtl.golden import program, random_data
from bnnarch.rtl.run import run_program
from bnnarch.rtl.synth import area_for, cache_key, cell_ge, parse_stat, synthesized_area_mm2
from tests.conftest import need_tools

from .helpers import small_spec

pytestmark = pytest.mark.tools
ROOT = Path(__file__).resolve().parents[2]


def _need(*tools: str) -> None:
    need_tools(*tools)


def _exported(tmp_path: Path, spec):  # type: ignore[no-untyped-def]
    """A small random layer on ``spec``'s array: the array, the layer's data and
    PyRTL's run, with design.v and the testbench tb.v written to ``tmp_path``."""
    arr = build_array(spec)
    data = random_data("t", 1, 5, 4, 20, 2, 2, np.random.default_rng(2))
    prog = program(arr, data)
    run = run_program(arr, prog, "FastSimulation")
    (tmp_path / "design.v").write_text(export.verilog_text(arr))
    export.write_testbench(tmp_path, "tb", arr, [(prog, run)], "design.v")
    return arr, data, run


@pytest.mark.parametrize("interconnect,dataflow", [
    ("broadcast", None), ("systolic", "os"), ("systolic", "ws"), ("systolic", "is")])
def test_icarus_matches_pyrtl_cycle_by_cycle(tmp_path: Path, interconnect: str,
                                             dataflow: str | None) -> None:
    _need("iverilog", "vvp")
    spec = small_spec(interconnect=interconnect, dataflow=dataflow)
    arr, _data, run = _exported(tmp_path, spec)
    lines = export.run_icarus(tmp_path, "tb.v")
    assert len(lines) == len(run.trace["done"])
    assert export.compare_trace(arr, run, lines) is None
    # a corrupted trace is reported with its cycle and output
    t = run.rtl_cycles - 1
    run.trace["done"][t] ^= 1
    assert export.compare_trace(arr, run, lines) == (
        f"cycle {t}, output done: Icarus 0x{run.trace['done'][t] ^ 1:x}, "
        f"PyRTL 0x{run.trace['done'][t]:x}")


@pytest.mark.slow
def test_verilator_simulation_matches_pyrtl_icarus_and_timing(tmp_path: Path) -> None:
    """The smallest design (2x3 PEs x 8 bits), built by Verilator from the
    Icarus testbench (~6 s build): same outputs as PyRTL's trace and as
    Icarus on every cycle, ``done`` at the timing model's cycle count."""
    _need("iverilog", "vvp", "verilator")
    spec = small_spec()
    arr, data, run = _exported(tmp_path, spec)
    icarus = export.run_icarus(tmp_path, "tb.v")
    verilator = export.run_verilator(tmp_path, "tb.v")
    assert len(verilator) == len(run.trace["done"])
    assert export.compare_trace(arr, run, verilator, tool="Verilator") is None
    assert export.compare_lines(arr, verilator, icarus) is None
    a = spec.array
    formula = tile_compute_cycles(data.tile(), a.rows, a.cols, a.simd_bits, a.interconnect,
                                  a.effective_dataflow)
    assert export.done_cycle(arr, verilator) == run.rtl_cycles == formula == 51
    # a differing value is reported with the simulator, cycle, output and both values
    t = formula - 1
    run.trace["done"][t] ^= 1
    assert export.compare_trace(arr, run, verilator, tool="Verilator") == (
        f"cycle {t}, output done: Verilator 0x0, PyRTL 0x1")
    bad = [ln[:-1] + ("0" if ln[-1] != "0" else "1") if ln.startswith(f"0 {t} ") else ln
           for ln in verilator]
    assert export.compare_lines(arr, bad, icarus) == (
        f"cycle {t}, output {arr.output_names[-1]}: Verilator {bad[t].split()[-1]}, "
        f"Icarus {icarus[t].split()[-1]}")


def test_verilator_sim_errors_name_the_tool(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _need("verilator")
    (tmp_path / "bad.v").write_text("module tb(); initial begin oops end endmodule\n")
    with pytest.raises(RtlError, match=r"verilator --binary failed on bad.v \(exit 1\):\n%Error"):
        export.run_verilator(tmp_path, "bad.v")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "verilator").write_text("#!/bin/sh\necho 'Verilator 4.038 2020-07-11 rev v4.036'\n")
    (fake / "verilator").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(RtlError, match="verilator 4.038 is too old for the Verilator simulation: "
                       "--binary and --timing need Verilator 5"):
        export.verilator_version()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RtlError, match="verilator is not installed"):
        export.run_verilator(tmp_path, "bad.v")


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


def test_cli_verilator_sim_report_and_missing_tool(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--verilator-sim`` wiring with the Verilator run stubbed (the real run
    is tested above): printed and reported per layer like Icarus, a
    difference fails the run; without verilator a clear error, exit 2."""
    _need("iverilog", "vvp")
    design = str(ROOT / "designs" / "rtl_small.yaml")
    args = ["rtl", design, "--verify", "--no-synth", "--no-lint", "--verilator-sim"]
    monkeypatch.setattr(export, "verilator_version", lambda: "5.x")
    monkeypatch.setattr(export, "run_verilator", export.run_icarus)  # same lines as Icarus
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "icarus=match verilator=match" in printed
    assert "verilator 5.x: built and ran 1 testbench(es) in" in printed
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["ok"] and rep["tools"]["verilator_sim"]["testbenches"] == 1
    assert all(lay["verilator"] == "match" for lay in rep["layers"])

    def never_done(workdir: Path, tb: str) -> list[str]:  # run 0's done stuck at 0
        lines = [ln.split() for ln in export.run_icarus(workdir, tb)]
        return [" ".join(f[:2] + ["0"] + f[3:]) if f[0] == "0" else " ".join(f) for f in lines]

    monkeypatch.setattr(export, "run_verilator", never_done)
    assert main([*args, "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert "layer 'conv1x1': Verilator simulation differs at cycle 14, output done: Verilator " \
           "0x0, PyRTL 0x1 (testbench tb_0.v, run 0)" in " ".join(err.split())
    assert json.loads((tmp_path / "b" / "report.json").read_text())["ok"] is False
    monkeypatch.undo()
    which = shutil.which
    monkeypatch.setattr(export.shutil, "which",
                        lambda tool: None if tool == "verilator" else which(tool))
    assert main([*args, "--out", str(tmp_path / "c")]) == 2
    assert "error: verilator is not installed" in capsys.readouterr().err
    assert not (tmp_path / "c" / "report.json").exists()


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
