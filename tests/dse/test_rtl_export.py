"""Export that verifies: ``bnnarch rtl --precision`` checks layers at a
precision map's bits; ``--export-rtl`` verifies a Pareto point's own layers at
its precision, and ``ok`` holds only if something was verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bnnarch.dse._rtl_export import choose_points, export_verified
from bnnarch.errors import StudyError
from bnnarch.rtl import flow
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import save_precision_map, save_workload
from bnnarch.workload.layer import Layer
from tests.dse.conftest import REPO, cli

SMALL = Layer("small", "conv2d", ("input",), (8, 4, 4), (4, 4, 4), kernel=(3, 3), padding=(1, 1))
FC = Layer("fc", "linear", ("small",), (64, 1, 1), (8, 1, 1))


def _workload(tmp: Path) -> Path:
    return save_workload(WorkloadGraph("tiny", (8, 4, 4), (SMALL, FC)), tmp / "tiny.json")


def test_rtl_precision_checks_the_layers_at_the_maps_bits(tmp_path: Path) -> None:
    wl = _workload(tmp_path)
    pmap = save_precision_map({"small": (2, 2), "fc": (1, 4)}, tmp_path / "p.yaml")
    out = tmp_path / "rtl"
    cli("rtl", str(REPO / "designs" / "rtl_small.yaml"), "--out", str(out), "--verify",
        "--workload", str(wl), "--precision", str(pmap), "--no-icarus", "--no-lint", "--no-synth")
    rep = json.loads((out / "report.json").read_text())
    assert rep["ok"] and [x["name"] for x in rep["layers"]] == ["small", "fc"]
    passes = {x["name"]: x["tiles"][0]["tile"][-1] for x in rep["layers"]}
    assert passes == {"small": 4, "fc": 4}  # w_bits x a_bits bit-serial passes
    assert all(x["bit_exact"] and x["cycle_match"] for x in rep["layers"])
    p = cli("rtl", str(REPO / "designs" / "rtl_small.yaml"), "--out", str(out), "--precision",
            str(pmap), check=False)
    assert p.returncode == 2 and "--precision needs --workload" in p.stderr


def _point(tmp: Path, design: str, pmap: dict[str, tuple[int, int]]) -> Path:
    d = tmp / "pt"
    d.mkdir()
    (d / "design.yaml").write_text((REPO / "designs" / design).read_text())
    save_precision_map(pmap, d / "precision.yaml")
    return d


def test_export_verifies_the_points_layers_at_its_precision(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = flow.run_flow

    def spy(spec: Any, out: Path, layers: Any, opts: Any, **k: Any) -> Any:
        seen.append(([(x.name, x.w_bits, x.a_bits) for x in layers], opts))
        return real(spec, out, layers, opts, **k)

    monkeypatch.setattr(flow, "run_flow", spy)
    wl = _workload(tmp_path)
    pt = _point(tmp_path, "rtl_small.yaml", {"small": (1, 2), "fc": (1, 1)})
    no_tools = {"icarus": False, "lint": False, "synth": False}
    r = export_verified(pt, wl, tmp_path / "out", trial=3, tools=no_tools)
    assert (r.ok, r.verified, r.skipped, r.failures) == (True, 2, 0, ())
    layers, opts = seen[0]
    assert layers == [("small", 1, 2), ("fc", 1, 1)]
    assert opts.verify and opts.skip_unsupported
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["ok"] and len(rep["layers"]) == 2


def test_nothing_verified_is_not_ok(tmp_path: Path) -> None:
    wl = save_workload(WorkloadGraph("fp", (8, 4, 4), (SMALL.with_bits(32, 32),)),
                       tmp_path / "fp.json")
    pt = _point(tmp_path, "rtl_small.yaml", {})
    r = export_verified(pt, wl, tmp_path / "out", trial=1,
                        tools={"icarus": False, "lint": False, "synth": False})
    assert not r.ok and r.verified == 0
    assert r.failures == ("no layer could be verified: no layer to check",)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is False


def test_a_dataflow_point_is_a_named_skip(tmp_path: Path) -> None:
    pt = _point(tmp_path, "finn_sfc.yaml", {})
    r = export_verified(pt, REPO / "workloads" / "sfc.json", tmp_path / "out", trial=7)
    assert not r.ok
    assert r.failures == (("trial 7: a 'dataflow' design; the RTL generator builds 'array' "
                          "designs only"),)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is False


def test_choose_points() -> None:
    pts = {2: Path("a"), 5: Path("b")}
    assert choose_points(pts, "all") == [2, 5] and choose_points(pts, "5") == [5]
    with pytest.raises(StudyError, match=r"trial\(s\) \[3\] are not on the Pareto front"):
        choose_points(pts, "3,5")
    with pytest.raises(StudyError, match="expected trial numbers or 'all', got 'x'"):
        choose_points(pts, "x")
