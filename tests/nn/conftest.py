"""Shared fixtures: one tiny trained checkpoint for the whole nn suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bnnarch.nn.checkpoint import Checkpoint, save_checkpoint
from bnnarch.nn.train import fit, task_data
from bnnarch.nn.zoo import build_model


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """bireal18 (small, width 4) trained 4 epochs on digits, switchable bits."""
    kwargs = {"small": True, "width": 4}
    model = build_model("bireal18", **kwargs)
    acc = fit(model, task_data("classify", 16), epochs=4, seed=0, lr=5e-3, switch_frac=0.5)
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_checkpoint(Checkpoint("bireal18", kwargs, "classify", model.state_dict(),
                               {"accuracy": acc}), path)
    return path, acc
