"""Shipped checkpoints: their metrics recomputed from the weights at the one
documented BN calibration size (``BN_CALIB_IMAGES``) meet the README's targets
and are the numbers the README and the manifest state; their extracted
workloads stay consistent with them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from bnnarch.dse._spec import EvaluationSpec
from bnnarch.nn.checkpoint import load_checkpoint
from bnnarch.nn.evaluate import evaluate_under_precision, precision_layers
from bnnarch.nn.train import BN_CALIB_IMAGES
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]
# name -> (model, metric, the README's target)
SHIPPED = {"digits_bnn": ("bireal18", "accuracy", 0.97), "digits_det": ("centernet", "mAP@0.5", 0.90),
           "digits_seg": ("unet", "mIoU", 0.80)}
TOL = 0.003
"""Recomputed vs stated: one digit test image is 1/360 = 0.0028 of accuracy;
float summation order may differ on another CPU."""


def _readme_row(name: str) -> list[str]:
    """Cells of the README's shipped-checkpoint table row for ``name``."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(f"| `{name}.pt` |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"README has no table row for {name}.pt")


def _manifest_row(name: str) -> dict:
    rows = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())
    return next(r for r in rows if r["file"] == f"{name}.pt")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_metric_recomputed_meets_target(name: str) -> None:
    _, metric, target = SHIPPED[name]
    path = ROOT / "checkpoints" / f"{name}.pt"
    value = evaluate_under_precision(path, {})  # BN re-estimated on BN_CALIB_IMAGES images
    assert value >= target
    row = _manifest_row(name)
    assert row["calib_images"] == BN_CALIB_IMAGES and row["metric"] == metric
    assert row["binary"] == pytest.approx(value, abs=TOL)
    cells = _readme_row(name)
    assert cells[3] == metric and float(cells[4]) == pytest.approx(value, abs=TOL + 5e-4)
    assert cells[-1] == f">= {target:.2f}: met"


def test_one_calibration_size_everywhere() -> None:
    """The evaluation default, the search's default and the documents agree."""
    default = inspect.signature(evaluate_under_precision).parameters["calib_images"].default
    assert default == BN_CALIB_IMAGES == EvaluationSpec().recalibration_images
    readme = (ROOT / "README.md").read_text()
    assert f"first {BN_CALIB_IMAGES} training images" in readme
    assert f"first {BN_CALIB_IMAGES} training images" in (
        ROOT / "checkpoints" / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_and_workload(name: str) -> None:
    model, metric, _ = SHIPPED[name]
    path = ROOT / "checkpoints" / f"{name}.pt"
    assert path.stat().st_size < 2_000_000
    ck = load_checkpoint(path)
    assert ck.model_name == model and ck.train["command"].startswith(f"bnnarch train {model}")
    assert f"fp_twin_{metric}" in ck.metrics
    g = load_workload(ROOT / "workloads" / f"{name}.json")
    assert sorted(la.name for la in g.compute_layers()) == sorted(precision_layers(ck))
    binary = [la for la in g.compute_layers() if la.is_binary]
    assert binary and all(la.packed_weights for la in binary)
    assert any(la.stats is not None and la.stats.window is not None for la in binary)
