"""Training and evaluation on the digit tasks.

Recipe (Bi-Real / ReActNet practice): Adam, cosine learning-rate decay,
latent real weights, BN after every binary conv. For a precision search the
model is trained *switchable* (a model trained at 1 bit gains nothing when
raised to 8 bits): during the last ``switch_frac`` of
training, half of the steps draw random per-layer bit-widths in {1, 2, 4, 8}
for the quantized layers; BN statistics are re-estimated at the end for the
default (binary) precision.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bnnarch.errors import ModelError
from bnnarch.nn import tasks as T
from bnnarch.nn.data import SEG_CLASSES, canvases, digits
from bnnarch.nn.layers import (
    FP,
    get_precision,
    random_precision,
    set_precision,
    set_progress,
)

N_TRAIN_CANVASES = 2000
N_TEST_CANVASES = 200
BN_CALIB_IMAGES = 256
"""Training images on which batch-norm statistics are re-estimated before a test
metric is taken: at the end of ``fit``, in ``precision_metrics``, in
``bnnarch.nn.evaluate.evaluate_under_precision`` (the precision search) and for the
shipped checkpoints' metrics (checkpoints/README.md). One number everywhere, so a
reported metric is what re-evaluating the checkpoint gives. 256 images take ~0.8 s
on the detector (one thread); across disjoint 256-image subsets the shipped models'
metrics vary by a standard deviation of 0.004-0.007 (1024 images: 0.001-0.002, at
4x the time per precision map in a search)."""


@dataclass(frozen=True)
class TaskData:
    task: str
    x_train: Tensor
    x_test: Tensor
    y_train: tuple[Tensor, ...]  # classify: (labels,); detect: (hm, reg, mask); segment: (masks,)
    y_test: tuple[Tensor, ...]
    test_boxes: tuple = ()
    test_labels: tuple = ()
    classes: int = 10


@lru_cache(maxsize=4)
def task_data(task: str, size: int = 16) -> TaskData:
    """The fixed train/test data of ``task`` (canvases from seed 0)."""
    if task == "classify":
        xtr, ytr = digits("train", size)
        xte, yte = digits("test", size)
        return TaskData(task, xtr, xte, (ytr,), (yte,))
    if task in ("detect", "segment"):
        tr = canvases("train", N_TRAIN_CANVASES, 0)
        te = canvases("test", N_TEST_CANVASES, 0)
        if task == "segment":
            return TaskData(task, tr.images, te.images, (tr.masks,), (te.masks,), classes=SEG_CLASSES)
        det_tr = T.det_targets(tr.boxes, tr.labels, 10, tr.images.shape[-1])
        det_te = T.det_targets(te.boxes, te.labels, 10, te.images.shape[-1])
        return TaskData(task, tr.images, te.images, det_tr, det_te, te.boxes, te.labels)
    raise ModelError(f"unknown task {task!r} (known: {', '.join(T.TASKS)})")


def loss_fn(task: str, out: Tensor, ys: tuple[Tensor, ...]) -> Tensor:
    if task == "classify":
        return F.cross_entropy(out, ys[0])
    if task == "detect":
        return T.det_loss(out, *ys)
    return T.seg_loss(out, ys[0])


@torch.no_grad()
def evaluate(model: nn.Module, data: TaskData, batch: int = 32) -> float:
    """Test metric: accuracy (classify), mAP@0.5 (detect) or mIoU (segment).
    (Batches of 32 run ~30% faster than 200 on one CPU thread: cache locality.)"""
    model.eval()
    outs = [model(data.x_test[i:i + batch]) for i in range(0, len(data.x_test), batch)]
    out = torch.cat(outs)
    if data.task == "classify":
        return float((out.argmax(1) == data.y_test[0]).float().mean())
    if data.task == "detect":
        dets = T.det_decode(out, data.classes)
        return T.mean_ap(dets, data.test_boxes, data.test_labels, data.classes)
    return T.miou(T.confusion(out.argmax(1), data.y_test[0], data.classes))


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: Tensor, batch: int = 128) -> None:
    """Re-estimate every BatchNorm's running mean/var on ``images`` (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(0, len(images), batch):
        model(images[i:i + batch])
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()


def _augment(task: str, x: Tensor, gen: torch.Generator) -> Tensor:
    if task != "classify":
        return x
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _train_step(model: nn.Module, data: TaskData, opt: torch.optim.Optimizer, idx: Tensor,
                gen: torch.Generator) -> Tensor:
    """One straight-through-estimator step on training images ``idx`` (augmented
    with ``gen``) with the task's loss; returns the loss (before the step)."""
    x = _augment(data.task, data.x_train[idx], gen)
    loss = loss_fn(data.task, model(x), tuple(y[idx] for y in data.y_train))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def fit(model: nn.Module, data: TaskData, *, epochs: int, seed: int, lr: float = 2e-3,
        batch: int = 64, switch_frac: float = 0.0,
        progress: Callable[[int, int, float], None] | None = None) -> float:
    """Train in place; returns the test metric at the model's default precision
    after re-estimating BN statistics on the first ``BN_CALIB_IMAGES`` training
    images (so the metric equals ``evaluate_under_precision(model, {})``)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    base = get_precision(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.x_train)
    steps_per_epoch = math.ceil(n / batch)
    total = epochs * steps_per_epoch
    step = 0
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        switching = switch_frac > 0 and ep >= epochs * (1 - switch_frac)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            if len(idx) < 2:
                continue
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            set_progress(model, step / max(1, total - 1))
            if switching:
                set_precision(model, random_precision(model, base, rng) if rng.random() < 0.5 else base)
            loss = _train_step(model, data, opt, idx, gen)
            step += 1
            if progress is not None:
                progress(step, total, loss.item())
    set_precision(model, base)
    recalibrate_bn(model, data.x_train[:BN_CALIB_IMAGES])
    return evaluate(model, data)


FINE_TUNE_LR = 5e-4
FINE_TUNE_BATCH = 64


def fine_tune(model: nn.Module, data: TaskData, *, steps: int, seed: int = 0,
              lr: float = FINE_TUNE_LR, batch: int = FINE_TUNE_BATCH) -> None:
    """A short fine-tune in place at the model's current precision: ``steps``
    steps of ``fit``'s training (same data, augmentation, loss, Adam with
    straight-through gradients), learning rate decayed from ``lr`` to 0 by a
    cosine, batches from permutations of the training split drawn from ``seed``
    (deterministic for a given seed and thread count). Leaves the model in eval
    mode with the running BN statistics of training: re-estimate them
    (``recalibrate_bn``) before evaluating."""
    if steps < 0:
        raise ModelError(f"fine-tune steps must be >= 0, got {steps}")
    if batch < 2:
        raise ModelError(f"fine-tune batch must be >= 2, got {batch}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.x_train)
    model.train()
    step = 0
    while step < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - 1, batch):
            if step == steps:
                break
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            _train_step(model, data, opt, perm[i:i + batch], gen)
            step += 1
    model.eval()


def precision_metrics(model: nn.Module, data: TaskData) -> dict[str, float]:
    """Metric with every quantized layer at 2, 4 and 8 bits (BN re-estimated),
    showing how far the switchable model carries."""
    base = get_precision(model)
    out = {}
    for b in (2, 4, 8):
        m = copy.deepcopy(model)
        set_precision(m, {k: (b, b) if max(v) < FP else v for k, v in base.items()})
        recalibrate_bn(m, data.x_train[:BN_CALIB_IMAGES])
        out[f"metric_w{b}a{b}"] = round(evaluate(m, data), 4)
    return out
