"""Checkpoints: model name, constructor kwargs, task, metrics and state_dict,
enough to rebuild the model (``load_checkpoint``). Written atomically."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bnnarch.errors import ModelError
from bnnarch.fsio import MAX_CHECKPOINT_BYTES, atomic_write, prefixed, read_bytes
from bnnarch.nn.zoo import build_model, entry

FORMAT = "bnnarch-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    model_name: str
    kwargs: dict[str, Any]
    task: str
    state_dict: dict[str, torch.Tensor]
    metrics: dict[str, float] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        """Rebuild the model and load the weights (eval mode)."""
        model = build_model(self.model_name, **self.kwargs)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise ModelError(f"checkpoint weights do not fit model {self.model_name!r} "
                             f"{self.kwargs}: {first}") from None
        return model.eval()


def save_checkpoint(ck: Checkpoint, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "version": VERSION, "model": ck.model_name, "kwargs": ck.kwargs,
            "task": ck.task, "metrics": ck.metrics, "train": ck.train,
            "state_dict": {k: v.detach().clone() for k, v in ck.state_dict.items()}}
    return atomic_write(path, lambda tmp: torch.save(body, tmp))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint; every problem is a ModelError naming the file."""
    path = Path(path)
    data = read_bytes(path, "checkpoint", limit_bytes=MAX_CHECKPOINT_BYTES,
                      error=prefixed(ModelError))
    try:
        body = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file  # noqa: BLE001
        raise ModelError(f"{path}: not a readable checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'corrupt'})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ModelError(f"{path}: not a bnnarch checkpoint (missing format {FORMAT!r})")
    if body.get("version") != VERSION:
        raise ModelError(f"{path}: checkpoint version {body.get('version')!r} is not supported "
                         f"(this bnnarch reads {VERSION})")
    missing = [k for k in ("model", "kwargs", "task", "state_dict") if k not in body]
    if missing:
        raise ModelError(f"{path}: checkpoint lacks {', '.join(missing)}")
    try:
        entry(str(body["model"]))
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    ck = Checkpoint(str(body["model"]), dict(body["kwargs"]), str(body["task"]),
                    dict(body["state_dict"]), dict(body.get("metrics") or {}),
                    dict(body.get("train") or {}))
    try:
        ck.build()
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    return ck
