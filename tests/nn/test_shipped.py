"""Shipped checkpoints and their extracted workloads stay consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnnarch.nn.checkpoint import load_checkpoint
from bnnarch.nn.evaluate import evaluate_under_precision, precision_layers
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"digits_bnn": ("bireal18", "accuracy", 0.97), "digits_det": ("centernet", "mAP@0.5", 0.88),
           "digits_seg": ("unet", "mIoU", 0.80)}
PRESENT = [k for k in SHIPPED if (ROOT / "checkpoints" / f"{k}.pt").exists()]


def test_classifier_is_shipped() -> None:
    assert "digits_bnn" in PRESENT


@pytest.mark.parametrize("name", PRESENT)
def test_shipped_checkpoint(name: str) -> None:
    model, metric, target = SHIPPED[name]
    path = ROOT / "checkpoints" / f"{name}.pt"
    assert path.stat().st_size < 2_000_000
    ck = load_checkpoint(path)
    assert ck.model_name == model and ck.train["command"].startswith(f"bnnarch train {model}")
    assert f"fp_twin_{metric}" in ck.metrics
    if target is not None:
        assert ck.metrics[metric] >= target
    # evaluation at the default precision (BN re-estimated) reproduces the metric
    assert evaluate_under_precision(path, {}) == pytest.approx(ck.metrics[metric], abs=0.03)
    wl = ROOT / "workloads" / f"{name}.json"
    if wl.exists():
        g = load_workload(wl)
        assert sorted(l.name for l in g.compute_layers()) == sorted(precision_layers(ck))
        binary = [l for l in g.compute_layers() if l.is_binary]
        assert binary and all(l.packed_weights for l in binary)
        assert any(l.stats is not None and l.stats.window is not None for l in binary)
