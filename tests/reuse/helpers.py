"""Shared builders for the reuse tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bnnarch.array.spec import ArraySpec
from bnnarch.template import load_design
from bnnarch.workload.layer import Layer, LayerStats, conv_out

ROOT = Path(__file__).resolve().parents[2]


def conv(cin: int, cout: int, hw: int, k: int = 3, s: int = 1, p: int | None = None,
         groups: int = 1, name: str = "l") -> Layer:
    p = k // 2 if p is None else p
    ho = conv_out(hw, k, s, p)
    return Layer(name, "conv2d", ("input",), (cin, hw, hw), (cout, ho, ho), (k, k), (s, s),
                 (p, p), (1, 1), groups)


def random_bits(rng: np.random.Generator, shape: tuple[int, ...], p: float = 0.5) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.uint8)


def spec_with(**reuse: Any) -> ArraySpec:
    """designs/xnor32_reuse.yaml with reuse sub-fields overridden, e.g.
    ``spec_with(kernel_pattern={"enabled": False})``."""
    base = load_design(ROOT / "designs" / "xnor32_reuse.yaml")
    r = base.reuse
    upd = {k: getattr(r, k).model_copy(update=v) for k, v in reuse.items()}
    return base.model_copy(update={"reuse": r.model_copy(update=upd)})


def with_stats(layer: Layer, st: Any) -> Layer:
    return replace(layer, stats=replace(layer.stats or LayerStats(), reuse=st))
