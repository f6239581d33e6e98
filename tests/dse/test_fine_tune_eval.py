"""evaluation.fine_tune_steps in studies: the checkpoint evaluator fine-tunes,
and the accuracy cache tells step counts (and fine-tune recipes) apart."""

from __future__ import annotations

from pathlib import Path

import pytest

import bnnarch.nn.train
from bnnarch.dse import CachedEvaluator, load_study_spec
from bnnarch.dse._accuracy import CheckpointEvaluator
from bnnarch.errors import SpecError, StudyError
from tests.dse.conftest import REPO, write_spec

CKPT = REPO / "checkpoints" / "digits_bnn.pt"
DOWN_1 = {f"layer{i}.0.down.conv": (1, 1) for i in (1, 2, 3)}


def _cached(steps: int, cache: Path) -> CachedEvaluator:
    return CachedEvaluator(CheckpointEvaluator(checkpoint=CKPT, task="classify", metric="accuracy",
                                               recalibration_images=256, fine_tune_steps=steps),
                           cache_dir=cache)


def test_cache_is_keyed_by_fine_tune_steps(tmp_path: Path) -> None:
    e0, e3, e3b, e4 = (_cached(s, tmp_path) for s in (0, 3, 3, 4))
    assert len({e0.key, e3.key, e4.key}) == 3 and e3.key == e3b.key
    v0 = e0.evaluate(DOWN_1)
    v3 = e3.evaluate(DOWN_1)
    assert (e0.misses, e3.misses, e3.hits) == (1, 1, 0)  # 3 steps do not reuse 0 steps' entry
    assert e3b.evaluate(DOWN_1) == v3 and (e3b.hits, e3b.misses) == (1, 0)
    assert len(list(tmp_path.rglob("*.json"))) == 2
    e4.evaluate(DOWN_1)
    assert e4.misses == 1 and len(list(tmp_path.rglob("*.json"))) == 3
    assert e0.evaluate(DOWN_1) == v0 and e0.hits == 1


def test_cache_key_follows_the_fine_tune_recipe(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    key = _cached(3, tmp_path).key
    assert "steps=3" in key and "seed=0" in key
    monkeypatch.setattr(bnnarch.nn.train, "FINE_TUNE_LR", 1e-3)
    assert _cached(3, tmp_path).key != key
    # no fine-tune: the key of studies cached before fine-tuning existed
    assert _cached(0, tmp_path).key.endswith(":classify:calib=256")


def test_negative_steps(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="evaluation.fine_tune_steps must be >= 0, got -1"):
        CheckpointEvaluator(checkpoint=CKPT, task="classify", metric="accuracy",
                            recalibration_images=256, fine_tune_steps=-1)
    path = write_spec(tmp_path, checkpoint=str(CKPT), workload=str(REPO / "workloads" / "digits_bnn.json"),
                      objectives=["accuracy", "latency"], trials=2,
                      evaluation={"fine_tune_steps": -1})
    with pytest.raises(SpecError, match="evaluation.fine_tune_steps"):
        load_study_spec(path)


def test_a_study_with_fine_tune_steps_runs(tmp_path: Path) -> None:
    from bnnarch.dse._trial import build_context, evaluate_candidate

    path = write_spec(tmp_path, checkpoint=str(CKPT), workload=str(REPO / "workloads" / "digits_bnn.json"),
                      objectives=["accuracy", "latency"], trials=2,
                      constraints=[{"metric": "accuracy_drop", "max": 0.05}],
                      evaluation={"fine_tune_steps": 3, "cache": False})
    ctx = build_context(load_study_spec(path))
    assert ctx.baseline is not None and 0.9 < ctx.baseline <= 1.0
    out = evaluate_candidate(ctx, {"array.rows": 16, "array.cols": 16}, DOWN_1, name="t0")
    assert out.invalid_reason is None
    assert 0.0 <= out.metrics["accuracy"] <= 1.0
    assert out.metrics["accuracy_drop"] == pytest.approx(ctx.baseline - out.metrics["accuracy"])
