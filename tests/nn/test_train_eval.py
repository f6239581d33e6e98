"""Training beats chance; checkpoints rebuild; evaluation under a precision map
re-estimates BN and uses the workload's layer names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from bnnarch.errors import ModelError
from bnnarch.nn.checkpoint import load_checkpoint
from bnnarch.nn.evaluate import evaluate_under_precision
from bnnarch.nn.extract import extract
from bnnarch.nn.layers import get_precision
from bnnarch.nn.train import evaluate, task_data
from bnnarch.nn.zoo import input_shape


def test_tiny_training_beats_chance(tiny_ckpt: tuple[Path, float]) -> None:
    _, acc = tiny_ckpt
    assert acc > 0.6  # chance is 0.1


def test_checkpoint_rebuilds_same_metric(tiny_ckpt: tuple[Path, float]) -> None:
    path, acc = tiny_ckpt
    ck = load_checkpoint(path)
    assert ck.model_name == "bireal18" and ck.task == "classify" and ck.kwargs["width"] == 4
    assert evaluate(ck.build(), task_data("classify", 16)) == pytest.approx(acc)


def test_precision_map_names_are_workload_names(tiny_ckpt: tuple[Path, float]) -> None:
    ck = load_checkpoint(tiny_ckpt[0])
    model = ck.build()
    g = extract(model, input_shape("bireal18", small=True), name="tiny")
    names = [ly.name for ly in g.compute_layers()]
    assert sorted(names) == sorted(get_precision(model))
    pmap = {ly.name: (8, 8) if ly.w_bits < 32 else (32, 32) for ly in g.compute_layers()}
    t = time.perf_counter()
    acc8 = evaluate_under_precision(ck, pmap)
    assert time.perf_counter() - t < 10  # ~1 s on an idle core
    assert acc8 > 0.5


def test_evaluate_recalibrates_bn(tiny_ckpt: tuple[Path, float]) -> None:
    path, acc = tiny_ckpt
    ck = load_checkpoint(path)
    # same precision: fit() states its metric at the calibration evaluation uses
    # (BN_CALIB_IMAGES), so re-evaluating the checkpoint gives the same number
    assert evaluate_under_precision(path, {}) == pytest.approx(acc, abs=1e-9)
    # 4-bit everywhere the model was binary: without recalibration BN stats are
    # those of 1-bit activations; with it the model still works
    model = ck.build()
    pmap = {n: (4, 4) for n, b in get_precision(model).items() if max(b) < 32}
    before = [m.running_var.clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    recal = evaluate_under_precision(model, pmap, task="classify")
    after = [m.running_var for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # caller's model untouched
    assert recal > 0.5


def test_evaluate_unknown_layer_named(tiny_ckpt: tuple[Path, float]) -> None:
    with pytest.raises(ModelError, match=r"names layer 'layer1.0.add'.*not a quantized layer"):
        evaluate_under_precision(tiny_ckpt[0], {"layer1.0.add": (2, 2)})
