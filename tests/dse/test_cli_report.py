"""The CLI end to end on the CI-sized study: run, report, export RTL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import need_tools
from tests.dse.conftest import REPO, cli, write_spec


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    spec = write_spec(tmp, name="tiny", workload=str(REPO / "workloads" / "sfc.json"),
                      hardware={"array.rows": [8, 16], "array.cols": [8, 16]},
                      precision={"search": True, "bits": [1, 2]},
                      evaluation={"evaluator": "proxy"},
                      objectives=["accuracy", "latency"], sampler="random", trials=6)
    out = tmp / "report"
    p = cli("explore", str(spec), "--report", "--out", str(out))
    assert "tiny: 6/6 trials" in p.stdout
    return spec, out


def test_report_files(ran: tuple[Path, Path]) -> None:
    _, out = ran
    rows = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    assert rows and {"trial", "accuracy", "latency [ms]", "array.rows"} <= set(rows[0])
    assert (out / "front_accuracy_latency.png").stat().st_size > 1000
    assert (out / "html" / "pareto_front.html").exists()
    assert "proxy" in (out / "summary.txt").read_text()
    d = out / "pareto" / f"tiny_t{rows[0]['trial']}"
    p = cli("simulate", str(d / "design.yaml"), "-w", str(REPO / "workloads" / "sfc.json"),
            "-p", str(d / "precision.yaml"), "-q")
    assert "latency" in p.stdout


def test_export_rtl_rejects_a_trial_off_the_front(ran: tuple[Path, Path]) -> None:
    spec, out = ran
    p = cli("explore", str(spec), "--no-run", "--report", "--out", str(out),
            "--export-rtl", "999", check=False)
    assert p.returncode == 2
    assert "trial(s) [999] are not on the Pareto front" in p.stderr


@pytest.mark.tools
@pytest.mark.slow
def test_export_rtl(ran: tuple[Path, Path]) -> None:
    need_tools("yosys", "verilator")
    spec, out = ran
    rows = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    # the smallest array on the front: its PyRTL simulation is the quickest to verify
    first = min(rows, key=lambda r: int(r["array.rows"]) * int(r["array.cols"]))["trial"]
    cli("explore", str(spec), "--no-run", "--report", "--out", str(out), "--export-rtl", first)
    dest = out / "rtl" / f"tiny_t{first}"
    assert (dest / "design.v").exists()
    rep = json.loads((dest / "report.json").read_text())
    assert rep["ok"] and rep["layers"], rep["failures"]  # something was verified
    bits = yaml.safe_load((out / "pareto" / f"tiny_t{first}" / "precision.yaml").read_text())
    for lay in rep["layers"]:  # at the point's precision: w_bits x a_bits passes
        b = bits["layers"][lay["name"]]
        assert lay["bit_exact"] and lay["cycle_match"]
        assert lay["tiles"][0]["tile"][-1] == b["w_bits"] * b["a_bits"]
