"""Reuse statistics of binary layers from real weights and activations (numpy only).

- ``kernel_stats``: binary 2-D kernels (kh x kw sign patterns) counted per
  input channel across output filters — the unit a kernel-pattern reuse
  scheme shares (identical kernels, or sign-inverted ones whose result is the
  negation). docs/reuse.md lists the values seen on the trained digit nets.
- ``window_diff_counts`` / ``window_stats``: for each channel, the kh x kw
  binary window at output position (i, j) against its horizontal neighbour
  (i, j + 1) (input-similarity reuse: a popcount derived from the
  neighbour's plus a correction over the differing bits). Zero padding is
  counted as 0 bits (the -1 value).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnarch.errors import WorkloadError
from bnnarch.workload.layer import KernelStats, WindowStats


def kernel_stats(bits: np.ndarray) -> KernelStats:
    """``bits``: boolean (cout, cin_per_group, kh, kw) sign bits (True = +1)."""
    if bits.ndim != 4:
        raise WorkloadError(f"kernel_stats needs (cout, cin, kh, kw) bits, got shape {bits.shape}")
    cout, cin, kh, kw = bits.shape
    nb = kh * kw
    if nb > 62:
        raise WorkloadError(f"kernel {kh}x{kw} too large for pattern counting")
    flat = bits.reshape(cout, cin, nb).astype(np.int64)
    codes = (flat << np.arange(nb - 1, -1, -1, dtype=np.int64)).sum(-1)  # (cout, cin)
    inv = codes ^ ((1 << nb) - 1)
    folded = np.minimum(codes, inv)
    distinct = sum(len(np.unique(codes[:, c])) for c in range(cin))
    distinct_f = sum(len(np.unique(folded[:, c])) for c in range(cin))
    return KernelStats(kernels=cout * cin, distinct=int(distinct), distinct_signfolded=int(distinct_f))


def window_diff_counts(bits: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int]) -> np.ndarray:
    """Histogram (length kh*kw + 1) of differing bits between horizontally
    adjacent windows, over all images and channels of ``bits`` (N, C, H, W) bool."""
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    x = np.pad(bits.astype(np.uint8), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # N C Ho Wo kh kw
    if win.shape[3] < 2:
        return np.zeros(kh * kw + 1, np.int64)
    diff = (win[:, :, :, 1:] != win[:, :, :, :-1]).sum(axis=(-1, -2))
    return np.bincount(diff.ravel(), minlength=kh * kw + 1).astype(np.int64)


def window_stats(counts: np.ndarray) -> WindowStats:
    """WindowStats from accumulated ``window_diff_counts``."""
    pairs = int(counts.sum())
    if pairs == 0:
        return WindowStats(len(counts) - 1, 0, 0.0, tuple(0.0 for _ in counts))
    hist = counts / pairs
    return WindowStats(window_bits=len(counts) - 1, pairs=pairs,
                       identical_fraction=round(float(hist[0]), 6),
                       diff_hist=tuple(round(float(h), 6) for h in hist))
