"""Accuracy in the loop: evaluators of a trained model under a precision map,
and an on-disk cache keyed by the map so workers (and reruns) share results.

- ``checkpoint``: the trained model of ``bnnarch.nn`` evaluated under the map
  with batch-norm statistics re-estimated on ``recalibration_images`` training
  images (without recalibration accuracy collapses: bnnarch.nn.evaluate), optionally after
  a short fine-tune of ``fine_tune_steps`` steps at the map.
- ``proxy``: a closed-form stand-in for CI and hardware studies without a
  trained model: ``base - sum_l share_l * (c / w_bits + c / a_bits - 2c / 8)``
  over quantized layers (``share_l`` = the layer's fraction of MACs,
  ``c = 0.04``, ``base = 0.97``). It is *not* an accuracy; reports say so.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

from bnnarch.errors import StudyError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap

PROXY_BASE = 0.97
PROXY_COEFF = 0.04


class AccuracyEvaluator(Protocol):
    """Metric (accuracy / mAP / mIoU, in [0, 1]) of a model under a precision map."""

    metric: str
    key: str
    """Identifies the model and evaluation settings (part of the cache key)."""

    def evaluate(self, pmap: PrecisionMap | None) -> float:
        """``None``: the model at the precision it was trained at (the baseline)."""
        ...


class ProxyEvaluator:
    def __init__(self, *, graph: WorkloadGraph, metric: str) -> None:
        self.metric = metric
        self._graph = graph
        total = sum(layer.macs for layer in graph.compute_layers()) or 1
        self._share = {layer.name: layer.macs / total for layer in graph.compute_layers()}
        self.key = f"proxy:{graph.name}:{PROXY_BASE}:{PROXY_COEFF}"

    def evaluate(self, pmap: PrecisionMap | None) -> float:
        drop = 0.0
        for layer in self._graph.compute_layers():
            w, a = (pmap or {}).get(layer.name, (layer.w_bits, layer.a_bits))
            if w > 8 or a > 8:
                continue
            drop += self._share[layer.name] * PROXY_COEFF * (1 / w + 1 / a - 2 / 8)
        return PROXY_BASE - drop


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class CheckpointEvaluator:
    """``bnnarch.nn.evaluate.evaluate_under_precision`` on a trained checkpoint
    (loaded once per worker; torch imported lazily, one thread).

    ``fine_tune_steps`` > 0: every evaluation first fine-tunes a copy of the
    model for that many steps at the map (``bnnarch.nn.train.fine_tune``, seed
    ``FINE_TUNE_SEED``); the loaded checkpoint is never changed. The baseline
    (``pmap=None``) goes through the same procedure, so ``accuracy_drop``
    measures the precision map, not the fine-tune."""

    FINE_TUNE_SEED = 0
    FINE_TUNE_VERSION = 1
    """Bump when ``bnnarch.nn.train.fine_tune`` changes its results (cache key)."""

    def __init__(self, *, checkpoint: Path, task: str, metric: str,
                 recalibration_images: int, fine_tune_steps: int) -> None:
        if recalibration_images <= 0:
            raise StudyError("evaluation.recalibration_images must be > 0: without re-estimating "
                             "batch-norm statistics accuracy collapses under a new precision map")
        if fine_tune_steps < 0:
            raise StudyError(f"evaluation.fine_tune_steps must be >= 0, got {fine_tune_steps}")
        self.metric = metric
        self._checkpoint = checkpoint
        self._task = task
        self._calib = recalibration_images
        self._steps = fine_tune_steps
        self.key = f"ckpt:{_file_digest(checkpoint)}:{task}:calib={recalibration_images}"
        if fine_tune_steps:
            # everything the fine-tune's result depends on besides model and data
            train = _nn().train
            self.key += (f":ft=v{self.FINE_TUNE_VERSION},steps={fine_tune_steps},"
                         f"seed={self.FINE_TUNE_SEED},lr={train.FINE_TUNE_LR:g},"
                         f"batch={train.FINE_TUNE_BATCH}")
        self._ck: Any = None

    def evaluate(self, pmap: PrecisionMap | None) -> float:
        nn = _nn()
        if self._ck is None:
            self._ck = nn.checkpoint.load_checkpoint(self._checkpoint)
            if getattr(self._ck, "task", self._task) != self._task:
                raise StudyError(f"checkpoint {self._checkpoint} is a {self._ck.task!r} model, the "
                                 f"study says task: {self._task}")
        return float(nn.evaluate.evaluate_under_precision(
            self._ck, dict(pmap or {}), calib_images=self._calib,
            fine_tune_steps=self._steps, fine_tune_seed=self.FINE_TUNE_SEED))


def _nn() -> Any:
    """``bnnarch.nn`` with its evaluation modules, imported on first use (torch
    is slow to import and not needed by proxy studies)."""
    try:
        import bnnarch.nn.checkpoint
        import bnnarch.nn.evaluate
        import bnnarch.nn.train
    except ImportError as e:
        raise StudyError(f"accuracy evaluation needs bnnarch.nn ({e}); use "
                         "evaluation.evaluator: proxy meanwhile") from None
    return bnnarch.nn


class CachedEvaluator:
    """Wraps an evaluator with a directory of JSON files, one per (evaluator
    key, precision map); writes are atomic (temp file + rename)."""

    def __init__(self, inner: AccuracyEvaluator, *, cache_dir: Path) -> None:
        self.inner = inner
        self.metric = inner.metric
        self.key = inner.key
        self._dir = cache_dir
        self.hits = 0
        self.misses = 0

    def _path(self, pmap: PrecisionMap | None) -> Path:
        body = json.dumps({"key": self.key,
                           "pmap": sorted((k, list(v)) for k, v in (pmap or {}).items())
                           if pmap is not None else None})
        h = hashlib.sha256(body.encode()).hexdigest()
        return self._dir / h[:2] / f"{h}.json"

    def evaluate(self, pmap: PrecisionMap | None) -> float:
        path = self._path(pmap)
        try:
            value = float(json.loads(path.read_text())["value"])
            self.hits += 1
            return value
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self.misses += 1
        value = self.inner.evaluate(pmap)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"value": value, "key": self.key,
                                       "pmap": {k: list(v) for k, v in (pmap or {}).items()}}))
            tmp.replace(path)
        except OSError:
            pass  # a cache that cannot be written only costs time
        return value


def make_evaluator(*, kind: str, graph: WorkloadGraph, metric: str, task: str,
                   checkpoint: Path | None, recalibration_images: int, fine_tune_steps: int,
                   cache_dir: Path | None, base_dir: Path | None = None) -> AccuracyEvaluator:
    """``kind``: checkpoint | proxy | ``module:function`` (``bnnarch.dse._hooks``,
    imported from ``base_dir`` first)."""
    inner: AccuracyEvaluator
    if ":" in kind:
        from bnnarch.dse._hooks import HookEvaluator, load_hook

        inner = HookEvaluator(ref=kind, fn=load_hook(kind, base_dir=base_dir or Path.cwd()),
                              graph=graph, metric=metric)
    elif kind == "proxy":
        inner = ProxyEvaluator(graph=graph, metric=metric)
    elif kind == "checkpoint":
        if checkpoint is None:
            raise StudyError("evaluation.evaluator: checkpoint needs a checkpoint")
        inner = CheckpointEvaluator(checkpoint=checkpoint, task=task, metric=metric,
                                    recalibration_images=recalibration_images,
                                    fine_tune_steps=fine_tune_steps)
    else:
        raise StudyError(f"unknown evaluator {kind!r} (known: checkpoint, proxy, "
                         "module:function)")
    return CachedEvaluator(inner, cache_dir=cache_dir) if cache_dir is not None else inner
