"""The shipped detection and segmentation studies run end to end through the
CLI (a 2-3 trial version of each): the task metric is recorded in [0, 1] for
every completed trial and the report writes its Pareto front."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from tests.dse.conftest import REPO, cli

EXPLORE = REPO / "explore"


def _tiny_copy(study: str, tmp: Path, trials: int) -> Path:
    """The shipped study with its trial budget cut, paths made absolute."""
    body = yaml.safe_load((EXPLORE / f"{study}.yaml").read_text())
    for key in ("design", "workload", "checkpoint"):
        body[key] = str((EXPLORE / body[key]).resolve())
    body["trials"] = trials
    path = tmp / f"{study}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.mark.parametrize(("study", "metric", "trials"), [("digits_det_joint", "map", 3),
                                                         ("digits_seg_joint", "miou", 2)])
def test_dense_study_runs_and_reports(study: str, metric: str, trials: int, tmp_path: Path) -> None:
    spec = _tiny_copy(study, tmp_path, trials=trials)
    out = tmp_path / "report"
    p = cli("explore", str(spec), "--report", "--out", str(out), "--no-progress")
    assert f"{study}: {trials}/{trials} trials" in p.stdout
    rows = list(csv.DictReader((out / "trials.csv").read_text().splitlines()))
    assert len(rows) == trials
    done = [r for r in rows if r["state"] == "COMPLETE"]
    assert done, "no trial completed"
    for r in done:
        assert 0.0 <= float(r[metric]) <= 1.0
        assert abs(float(r["accuracy_drop"])) < 1.0
    front = list(csv.DictReader((out / "pareto.csv").read_text().splitlines()))
    assert front and {"trial", metric, "latency [ms]", "energy [uJ/frame]"} <= set(front[0])
    assert (out / f"front_{metric}_latency.png").stat().st_size > 1000
    assert (out / "pareto" / f"{study}_t{front[0]['trial']}" / "precision.yaml").exists()
