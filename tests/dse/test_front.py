"""A small joint study returns a non-dominated front; invalid designs are
pruned with their reason; the report's design YAMLs simulate as they are."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from optuna.trial import TrialState

from bnnarch.array.simulate import simulate
from bnnarch.dse import (
    dominates,
    load_study_spec,
    open_study,
    pareto_trials,
    run_study,
    write_report,
)
from bnnarch.template import load_design
from bnnarch.workload.io import load_precision_map, load_workload
from tests.dse.conftest import REPO, write_spec


def _joint_spec(tmp: Path) -> Path:
    ckpts = sorted(REPO.glob("checkpoints/digits*.pt"))
    wl = REPO / "workloads" / (ckpts[0].stem + ".json") if ckpts else None
    extra: dict[str, object]
    if ckpts and wl is not None and wl.exists():  # a shipped trained model: real accuracy
        extra = {"workload": str(wl), "checkpoint": str(ckpts[0]), "task": "classify",
                 "evaluation": {"recalibration_images": 128}}
    else:
        extra = {"evaluation": {"evaluator": "proxy"}}
    return write_spec(
        tmp, name="joint",
        hardware={"array.rows": [8, 16], "array.cols": [8, 16, 32],
                  "array.interconnect": ["systolic", "broadcast"]},
        precision={"search": True, "bits": [1, 2, 4]},
        objectives=["accuracy", "latency", "energy"],
        constraints=[{"metric": "area", "max": 1.0}],
        sampler={"name": "nsga2", "population_size": 4}, trials=14, seed=3, **extra)


def test_front_is_non_dominated_and_exports_simulate(tmp_path: Path) -> None:
    spec = load_study_spec(_joint_spec(tmp_path))
    study = run_study(spec, progress=False)
    trials = study.get_trials()
    assert len(trials) == spec.trials
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    # broadcast + the base design's ws dataflow fails the cross checks: pruned, with the reason
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    for t in pruned:
        assert t.params["array.interconnect"] == "broadcast"
        assert "array.dataflow" in t.user_attrs["invalid_reason"]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert done and all(t.params["array.interconnect"] == "systolic" for t in done)
    feas = [t for t in done if all(c <= 0 for c in t.user_attrs.get("constraints", []))]
    front = pareto_trials(study, spec)
    dirs = [o.direction for o in spec.objectives]
    assert front
    fnums = {t.number for t in front}
    for t in front:
        assert not any(dominates(o.values, t.values, dirs) for o in feas)
    for t in feas:
        if t.number not in fnums:
            assert any(dominates(f.values, t.values, dirs) for f in front)
    for t in done:
        m = t.user_attrs["metrics"]
        assert t.values == [m[o.name] for o in spec.objectives]
        assert set(t.user_attrs["precision"]) == {
            layer.name for layer in load_workload(spec.workload).compute_layers()}

    out = tmp_path / "report"
    write_report(study, spec, out=out)
    rows = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    assert [int(r["trial"]) for r in rows] == sorted(fnums)
    assert len(list(csv.DictReader((out / "trials.csv").read_text().splitlines()))) == spec.trials
    assert len(list(out.glob("front_*.png"))) == 3
    assert (out / "html" / "pareto_front.html").exists()
    graph = load_workload(spec.workload)
    for t in front[:2]:
        d = out / "pareto" / f"joint_t{t.number}"
        r = simulate(load_design(d / "design.yaml"), graph,
                     load_precision_map(d / "precision.yaml", graph))
        assert r.latency_s * 1e3 == pytest.approx(t.user_attrs["metrics"]["latency"])
        assert r.area_mm2 <= 1.0


def test_budget_already_met_runs_nothing(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path, name="grid6"), sweep=True)
    study = run_study(spec, progress=False, sweep=True)
    first = [(t.number, t.params, t.values) for t in study.get_trials()]
    assert len(first) == 6
    assert len({tuple(sorted(p.items())) for _, p, _ in first}) == 6  # every grid point once
    run_study(spec, progress=False, sweep=True)
    again = open_study(spec, storage=None, create=False).get_trials()
    assert [(t.number, t.params, t.values) for t in again] == first


def test_larger_budget_extends_and_changed_spec_is_refused(tmp_path: Path) -> None:
    from bnnarch.errors import StudyError

    path = write_spec(tmp_path, name="ext", sampler="random", trials=3)
    run_study(load_study_spec(path, sweep=True), progress=False, sweep=True)
    path = write_spec(tmp_path, name="ext", sampler="random", trials=5)
    study = run_study(load_study_spec(path, sweep=True), progress=False, sweep=True)
    assert [t.number for t in study.get_trials()] == [0, 1, 2, 3, 4]
    path = write_spec(tmp_path, name="ext", sampler="random", trials=5,
                      objectives=["latency", "area"])
    with pytest.raises(StudyError, match="created from a different spec"):
        run_study(load_study_spec(path, sweep=True), progress=False, sweep=True)
    with pytest.raises(StudyError, match="does not exist\\): run it first"):
        open_study(load_study_spec(write_spec(tmp_path, name="never"), sweep=True), storage=None,
                   create=False)
