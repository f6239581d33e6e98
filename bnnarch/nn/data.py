"""Data sets built from scikit-learn's handwritten digits (no downloads).

- ``digits(size)``: the 1797 8x8 digits of ``sklearn.datasets.load_digits``
  with a fixed stratified split (1437 train / 360 test, ``random_state=0``),
  scaled to [0, 1] and optionally upscaled (bilinear) to 16x16 or 32x32.
- ``canvases(split, n, seed)``: 64x64 canvases holding 2-5 digits of that
  split at random non-overlapping positions and sizes 12-24 px, plus Gaussian
  noise (sigma 0.05). Each canvas has boxes (x1, y1, x2, y2, input pixels,
  tight around the ink), labels 0-9, and a segmentation mask with 11 classes:
  0 = background, 1 + d = digit d (pixels whose ink > 0.3).
Everything is deterministic in (split, n, seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from bnnarch.errors import ModelError

CANVAS = 64
SEG_CLASSES = 11
INK = 0.3


@lru_cache(maxsize=4)
def _digits_raw() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=360, random_state=0, stratify=y)
    return xtr, ytr, xte, yte


def digits(split: str, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x 1 x size x size in [0, 1], labels N) of the fixed split."""
    if split not in ("train", "test"):
        raise ModelError(f"split must be 'train' or 'test', got {split!r}")
    if size not in (8, 16, 28, 32):
        raise ModelError(f"digit size must be 8, 16, 28 or 32, got {size}")
    xtr, ytr, xte, yte = _digits_raw()
    x, y = (xtr, ytr) if split == "train" else (xte, yte)
    t = torch.from_numpy(x).unsqueeze(1)
    if size != 8:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return t.contiguous(), torch.from_numpy(y)


@dataclass(frozen=True)
class Canvases:
    images: torch.Tensor  # N x 1 x 64 x 64 float
    masks: torch.Tensor  # N x 64 x 64 int64 (0 = background, 1 + digit)
    boxes: tuple[np.ndarray, ...]  # per image: k x 4 (x1, y1, x2, y2)
    labels: tuple[np.ndarray, ...]  # per image: k digits

    def __len__(self) -> int:
        return int(self.images.shape[0])


@lru_cache(maxsize=8)
def canvases(split: str, n: int, seed: int = 0) -> Canvases:
    """``n`` detection/segmentation canvases built from the digits of ``split``."""
    if split not in ("train", "test"):
        raise ModelError(f"split must be 'train' or 'test', got {split!r}")
    xtr, ytr, xte, yte = _digits_raw()
    src_x, src_y = (xtr, ytr) if split == "train" else (xte, yte)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    src = torch.from_numpy(src_x).unsqueeze(1)
    scaled = {s: F.interpolate(src, size=(s, s), mode="bilinear", align_corners=False)
              .clamp(0, 1).squeeze(1).numpy() for s in range(12, 25)}
    images = np.zeros((n, CANVAS, CANVAS), np.float32)
    masks = np.zeros((n, CANVAS, CANVAS), np.int64)
    boxes: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for i in range(n):
        k = int(rng.integers(2, 6))
        placed: list[tuple[int, int, int]] = []
        bx: list[list[float]] = []
        lb: list[int] = []
        for _ in range(k):
            for _try in range(50):
                s = int(rng.integers(12, 25))
                x0, y0 = int(rng.integers(0, CANVAS - s + 1)), int(rng.integers(0, CANVAS - s + 1))
                if all(x0 + s <= a or a + t <= x0 or y0 + s <= b or b + t <= y0 for a, b, t in placed):
                    break
            else:
                continue
            j = int(rng.integers(0, len(src_y)))
            glyph = scaled[s][j]
            images[i, y0:y0 + s, x0:x0 + s] = np.maximum(images[i, y0:y0 + s, x0:x0 + s], glyph)
            ink = glyph > INK
            masks[i, y0:y0 + s, x0:x0 + s][ink] = int(src_y[j]) + 1
            ys, xs = np.nonzero(glyph > 0.1)
            bx.append([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1])
            lb.append(int(src_y[j]))
            placed.append((x0, y0, s))
        boxes.append(np.asarray(bx, np.float32).reshape(-1, 4))
        labels.append(np.asarray(lb, np.int64))
    images += rng.normal(0.0, 0.05, images.shape).astype(np.float32)
    return Canvases(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(masks),
                    tuple(boxes), tuple(labels))
