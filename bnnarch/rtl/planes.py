"""Values <-> bit planes and the bit streams the DRAM model holds: a
layer's values are stored as their ``n`` bits, least significant first
(two's complement for signed weights); the array reads bit planes
(``bnnarch.rtl.golden``: plane p has weight 2^p)."""

from __future__ import annotations

import numpy as np

from bnnarch.rtl.golden import im2col
from bnnarch.workload.layer import Layer


def bit_planes(values: np.ndarray, n: int) -> np.ndarray:
    """(..., K) values -> (..., n, K) bit planes (two's complement, LSB plane first)."""
    v = np.asarray(values, dtype=np.int64) & ((1 << n) - 1)
    return ((v[..., None, :] >> np.arange(n)[:, None]) & 1).astype(np.uint8)


def act_planes(fmap: np.ndarray, layer: Layer, n: int) -> np.ndarray:
    """Input values -> the layer's activation planes (G, M, n, K) (im2col per
    plane for a conv; the padding is value 0: bit 0 in every plane)."""
    if layer.op != "conv2d":
        return bit_planes(np.asarray(fmap).reshape(1, 1, -1), n)
    f = np.asarray(fmap, dtype=np.int64)
    return np.stack([im2col(((f >> p) & 1).astype(np.uint8), layer) for p in range(n)], axis=2)


def value_bits(values: np.ndarray, n: int) -> np.ndarray:
    """Values -> their bits as stored: n per value, least significant first."""
    v = np.asarray(values, dtype=np.int64).reshape(-1) & ((1 << n) - 1)
    return ((v[:, None] >> np.arange(n)) & 1).astype(np.uint8).reshape(-1)


def bits_values(bits: np.ndarray, n: int, signed: bool = False) -> np.ndarray:
    """Inverse of ``value_bits``: n bits per value -> int64 values."""
    v = np.asarray(bits, dtype=np.int64).reshape(-1, n) @ (1 << np.arange(n, dtype=np.int64))
    return v - ((v >> (n - 1)) << n) if signed else v


__all__ = ["act_planes", "bit_planes", "bits_values", "value_bits"]
