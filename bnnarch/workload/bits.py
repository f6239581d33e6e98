"""Binary tensors of one conv layer as numpy arrays (no torch).

Conventions (shared by bnnarch.nn.reuse_stats and bnnarch.array.reuse.reference):

* weight bits ``w``: uint8 array (cout, cin/groups, kh, kw), 1 = +1, 0 = -1
  (the sign bits of ``packed_weights``: ``w >= 0`` is +1);
* input bits ``x``: uint8 array (frames, cin, H, W), 1 = +1, 0 = -1;
* a *window* is one output pixel's receptive field: ``bits`` and ``valid``
  arrays (frames, Ho, Wo, cin, kh*kw); ``valid`` = 0 at zero-padding
  positions (which contribute 0 to the integer dot product, as in torch);
* a *slice* is one input channel's kh*kw part of a window or of a filter;
* the XNOR-popcount of a window with a filter counts positions that are
  valid and equal: ``pc = sum(valid & ~(x ^ w))``; the integer dot product of
  the +-1 values is ``2 * pc - sum(valid)``.
"""

from __future__ import annotations

import numpy as np

from bnnarch.errors import WorkloadError
from bnnarch.workload.layer import Layer


def check_conv(layer: Layer) -> None:
    if layer.op != "conv2d":
        raise WorkloadError(f"layer {layer.name!r}: reuse analysis needs a conv2d, got {layer.op}")


def taps(layer: Layer) -> int:
    return layer.kernel[0] * layer.kernel[1]


def windows(x: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(bits, valid) of every output window: (frames, Ho, Wo, cin, kh*kw) uint8."""
    check_conv(layer)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(layer.in_shape):
        raise WorkloadError(f"layer {layer.name!r}: input bits of shape {tuple(x.shape)} do not "
                            f"match (frames, {', '.join(map(str, layer.in_shape))})")
    f, c, h, w = x.shape
    ph, pw = layer.padding
    sh, sw = layer.stride
    dh, dw = layer.dilation
    kh, kw = layer.kernel
    _, ho, wo = layer.out_shape
    xp = np.zeros((f, c, h + 2 * ph, w + 2 * pw), np.uint8)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    vp = np.zeros((h + 2 * ph, w + 2 * pw), np.uint8)
    vp[ph:ph + h, pw:pw + w] = 1
    iy = (np.arange(ho)[:, None] * sh + np.arange(kh)[None, :] * dh)[:, None, :, None]
    ix = (np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw)[None, :, None, :]
    bits = xp[:, :, iy, ix]  # (f, c, ho, wo, kh, kw)
    bits = bits.transpose(0, 2, 3, 1, 4, 5).reshape(f, ho, wo, c, kh * kw)
    valid = np.broadcast_to(vp[iy, ix].reshape(1, ho, wo, 1, kh * kw), bits.shape)
    return np.ascontiguousarray(bits), np.ascontiguousarray(valid)


def kernel_keys(w: np.ndarray, signfold: bool) -> np.ndarray:
    """Integer pattern key of every 2-D kernel, (cout, cin_g) int64; with
    ``signfold`` a pattern and its complement share a key (the smaller of the
    two) and ``key_sign`` tells which one a kernel is."""
    co, ci, kh, kw = w.shape
    t = kh * kw
    if t > 62:
        raise WorkloadError(f"kernel {kh}x{kw} has more than 62 taps; pattern keys need <= 62")
    pw2 = (1 << np.arange(t - 1, -1, -1, dtype=np.int64))
    keys = w.reshape(co, ci, t).astype(np.int64) @ pw2
    if signfold:
        comp = keys ^ ((1 << t) - 1)
        keys = np.minimum(keys, comp)
    return keys


def key_inverted(w: np.ndarray) -> np.ndarray:
    """(cout, cin_g) bool: the kernel is the complement of its sign-folded key."""
    co, ci, kh, kw = w.shape
    t = kh * kw
    pw2 = (1 << np.arange(t - 1, -1, -1, dtype=np.int64))
    keys = w.reshape(co, ci, t).astype(np.int64) @ pw2
    comp = keys ^ ((1 << t) - 1)
    return comp < keys


def weight_bits_from_packed(layer: Layer) -> np.ndarray:
    """Sign bits of ``layer.packed_weights`` as (cout, cin/groups, kh, kw).
    Note: packed weights of BN-flipped channels are negated (bnnarch.nn.layers
    .fold_bn_threshold); negating a whole filter keeps its sharing structure
    only up to sign, so use the model's own weights for exact reuse analysis."""
    check_conv(layer)
    if layer.packed_weights is None:
        raise WorkloadError(f"layer {layer.name!r} has no packed_weights")
    cout = layer.out_shape[0]
    cin_g = layer.in_shape[0] // layer.groups
    kh, kw = layer.kernel
    n = cout * cin_g * kh * kw
    raw = np.unpackbits(np.frombuffer(bytes.fromhex(layer.packed_weights), np.uint8))
    if raw.size < n:
        raise WorkloadError(f"layer {layer.name!r}: packed_weights hold {raw.size} bits, need {n}")
    return raw[:n].reshape(cout, cin_g, kh, kw)
