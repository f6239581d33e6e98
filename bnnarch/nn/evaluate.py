"""Evaluate a trained model under a precision map (used by the precision search).

Layer names in the map are the names of the extracted workload's compute
layers (bnnarch.nn.extract names a module's layer by its qualified
module name), which are the keys of ``bnnarch.nn.layers.quant_layers``: one
map applies to both the simulator workload and the model.

Changing bit-widths without re-estimating batch-norm statistics collapses
accuracy (measured on our digit detector: mAP@0.5 0.98 -> 0.001-0.40;
re-estimating on ~256 images restores 0.97-0.98); we always re-estimate
them on ``calib_images`` training images before evaluating on the test split
(default ``bnnarch.nn.train.BN_CALIB_IMAGES``, the size every shipped metric is
stated at).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from bnnarch.errors import ModelError
from bnnarch.nn.checkpoint import Checkpoint, load_checkpoint
from bnnarch.nn.layers import get_precision, set_precision
from bnnarch.nn.train import BN_CALIB_IMAGES, evaluate, fine_tune, recalibrate_bn, task_data
from bnnarch.nn.zoo import input_shape


def load_model(checkpoint_or_model: str | Path | Checkpoint | nn.Module, task: str | None = None,
               model_name: str | None = None) -> tuple[nn.Module, str, int]:
    """(model, task, input size) from a checkpoint path/object or a model (then ``task`` is needed)."""
    if isinstance(checkpoint_or_model, str | Path):
        checkpoint_or_model = load_checkpoint(checkpoint_or_model)
    if isinstance(checkpoint_or_model, Checkpoint):
        ck = checkpoint_or_model
        return ck.build(), ck.task, input_shape(ck.model_name, small=True)[-1]
    if task is None:
        raise ModelError("evaluating a bare model needs task= (classify, detect or segment)")
    size = input_shape(model_name, small=True)[-1] if model_name else 16
    return checkpoint_or_model, task, size


def evaluate_under_precision(checkpoint_or_model: str | Path | Checkpoint | nn.Module,
                             pmap: dict[str, tuple[int, int]], *, calib_images: int = BN_CALIB_IMAGES,
                             task: str | None = None, size: int | None = None,
                             fine_tune_steps: int = 0, fine_tune_seed: int = 0,
                             threads: int | None = 1) -> float:
    """Test metric (accuracy / mAP@0.5 / mIoU) of the model with ``pmap``
    applied over its default precision, after re-estimating BN statistics on
    the first ``calib_images`` training images.

    With ``fine_tune_steps`` > 0 the model is first fine-tuned for that many
    steps at ``pmap`` (``bnnarch.nn.train.fine_tune``: the training recipe of
    ``bnnarch train``, seeded by ``fine_tune_seed``), then BN statistics are
    re-estimated. (Re-estimating them before the fine-tune as well would change
    nothing: training normalizes with batch statistics and the running ones
    are reset afterwards.) The caller's model is never modified: all of this
    happens on a copy."""
    if threads:
        torch.set_num_threads(threads)
    model, task, default_size = load_model(checkpoint_or_model, task)
    if calib_images <= 0:
        raise ModelError(f"calib_images must be > 0, got {calib_images}")
    if fine_tune_steps < 0:
        raise ModelError(f"fine_tune_steps must be >= 0, got {fine_tune_steps}")
    model = copy.deepcopy(model)
    set_precision(model, pmap)
    data = task_data(task, size or default_size)
    if fine_tune_steps:
        fine_tune(model, data, steps=fine_tune_steps, seed=fine_tune_seed)
    recalibrate_bn(model, data.x_train[:calib_images])
    return evaluate(model, data)


def precision_layers(checkpoint_or_model: str | Path | Checkpoint | nn.Module) -> dict[str, tuple[int, int]]:
    """Default (w_bits, a_bits) of every layer a precision map may name."""
    model, _, _ = load_model(checkpoint_or_model, task="classify")
    return get_precision(model)
