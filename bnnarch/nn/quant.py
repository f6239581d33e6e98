"""Pluggable quantizers for binary / low-bit networks.

Every quantizer is an ``nn.Module`` whose forward returns the quantized value
with a straight-through gradient written as ``q.detach() + (s - s.detach())``
where ``s`` is a *surrogate* whose derivative is the wanted backward (no
custom ``autograd.Function``: torch.fx traces into such a Function and
silently drops its backward, while ``x + (q - x).detach()`` traces correctly).
No shape-dependent Python in forward (fx-safe).

Sources:
- BNN sign + clipped STE: Hubara, Courbariaux et al., "Binarized Neural
  Networks", NeurIPS 2016 (gradient 1_{|x|<=1}); identity STE: Bengio et al. 2013.
- XNOR-Net / BWN per-channel scaling alpha = mean|W|: Rastegari et al., ECCV 2016.
- ApproxSign (piecewise quadratic surrogate): Liu et al., "Bi-Real Net", ECCV 2018.
- Error-decay estimator (progressive tanh) + balanced weights: Qin et al., "IR-Net", CVPR 2020.
- RSign / RPReLU (learnable channel shifts): Liu et al., "ReActNet", ECCV 2020.
- k-bit weights and activations: Zhou et al., "DoReFa-Net", arXiv:1606.06160.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _sign(x: Tensor) -> Tensor:
    """sign with sign(0) = +1 (a bit has two values)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _ste(q: Tensor, surrogate: Tensor) -> Tensor:
    """Forward ``q``, backward d(surrogate)/dx."""
    return q.detach() + (surrogate - surrogate.detach())


def _forward_only() -> bool:
    """No gradient is being recorded (evaluation, BN re-estimation): a
    straight-through quantizer may return its forward value without building
    the surrogate, whose contribution ``s - s`` is exactly 0 in the forward.
    (Tracing runs with gradients enabled, so graphs keep the STE form.)"""
    return not torch.is_grad_enabled()


def _round_ste(x: Tensor) -> Tensor:
    return x + (torch.round(x) - x).detach()


class Quantizer(nn.Module):
    """Base class: ``forward(x) -> quantized x``; ``bits`` is informative."""

    bits: int = 1


class Identity(Quantizer):
    """Full precision (no quantization)."""

    bits = 32

    def forward(self, x: Tensor) -> Tensor:
        return x


class SignSTE(Quantizer):
    """sign(x); backward 1 where |x| <= 1 (clipped STE, Hubara et al. 2016),
    or 1 everywhere with ``clip=False`` (identity STE, Bengio et al. 2013)."""

    def __init__(self, clip: bool = True) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, x: Tensor) -> Tensor:
        if _forward_only():
            return _sign(x)
        s = torch.clamp(x, -1.0, 1.0) if self.clip else x
        return _ste(_sign(x), s)


class ScaledSign(Quantizer):
    """Weight binarization with per-output-channel scale alpha = mean|W|
    (BWN / XNOR-Net, Rastegari et al. 2016); clipped STE on the sign.
    Weights are (out, ...): alpha is taken over all dims but the first."""

    def __init__(self, scale: bool = True) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, w: Tensor) -> Tensor:
        q = _sign(w) if _forward_only() else _ste(_sign(w), torch.clamp(w, -1.0, 1.0))
        if not self.scale:
            return q
        alpha = w.abs().flatten(1).mean(1).detach()
        return _scale_rows(q, alpha)


def _scale_rows(q: Tensor, alpha: Tensor) -> Tensor:
    """Multiply row i of q (dim 0) by alpha[i] without shape-dependent Python."""
    return (q.flatten(1) * alpha.unsqueeze(1)).view_as(q)


class ApproxSign(Quantizer):
    """Bi-Real Net ApproxSign (Liu et al. 2018, eq. 4): forward sign(x);
    backward 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 outside."""

    def forward(self, x: Tensor) -> Tensor:
        if _forward_only():
            return _sign(x)
        xc = torch.clamp(x, -1.0, 1.0)
        surrogate = 2 * xc - xc * xc.abs()  # derivative 2 - 2|x| inside [-1, 1]
        return _ste(_sign(x), surrogate)


class ErrorDecaySign(Quantizer):
    """IR-Net error-decay estimator (Qin et al. 2020, eq. 9-10): backward of
    k * tanh(t x), with t = T_min * 10^(p * log10(T_max/T_min)), k = max(1/t, 1),
    where p in [0, 1] is training progress (``set_progress``); T_min = 0.1,
    T_max = 10 as in the paper. ``balance=True`` applies the IR-Net Libra
    weight standardization (zero mean, unit std per filter) and the 2^round(log2 mean|w|) scale."""

    t: Tensor  # the buffer registered in __init__

    def __init__(self, balance: bool = False) -> None:
        super().__init__()
        self.balance = balance
        self.register_buffer("t", torch.tensor(0.1))

    def set_progress(self, p: float) -> None:
        p = min(max(p, 0.0), 1.0)
        self.t.fill_(0.1 * 10 ** (p * math.log10(10 / 0.1)))

    def forward(self, x: Tensor) -> Tensor:
        if self.balance:
            flat = x.flatten(1)
            flat = (flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-5)
            x = flat.view_as(x)
        if _forward_only():
            q = _sign(x)
        else:
            t = self.t
            q = _ste(_sign(x), torch.clamp(1.0 / t, min=1.0) * torch.tanh(t * x))
        if self.balance:
            s = torch.pow(2.0, torch.round(torch.log2(x.abs().flatten(1).mean(1)))).detach()
            q = _scale_rows(q, s)
        return q


class LearnableBias(nn.Module):
    """Channel-wise learnable shift (ReActNet's ``move`` layers)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class RSign(Quantizer):
    """ReActNet RSign (Liu et al. 2020, eq. 3): sign(x - alpha_c) with a
    learnable per-channel threshold; backward ApproxSign (as in the paper's code)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shift = LearnableBias(channels)
        self.sign = ApproxSign()

    def forward(self, x: Tensor) -> Tensor:
        return self.sign(self.shift(x))


class RPReLU(nn.Module):
    """ReActNet RPReLU (Liu et al. 2020, eq. 4): PReLU(x - gamma_c) + zeta_c."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.move_in = LearnableBias(channels)
        self.prelu = nn.PReLU(channels, init=0.25)
        self.move_out = LearnableBias(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.move_out(self.prelu(self.move_in(x)))


def quantize_k(x: Tensor, bits: int) -> Tensor:
    """DoReFa quantize_k on [0, 1]: round((2^k - 1) x) / (2^k - 1), STE."""
    n = float(2**bits - 1)
    return _round_ste(x * n) / n


class DoReFaWeight(Quantizer):
    """DoReFa k-bit weights (Zhou et al. 2016, eq. 9):
    w_q = 2 quantize_k(tanh(w) / (2 max|tanh w|) + 1/2) - 1 (values in [-1, 1])."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, w: Tensor) -> Tensor:
        t = torch.tanh(w)
        t = t / (2 * t.abs().max().detach() + 1e-8) + 0.5
        return 2 * quantize_k(t, self.bits) - 1


class DoReFaActivation(Quantizer):
    """DoReFa k-bit activations (Zhou et al. 2016, eq. 11): quantize_k(clip(x, 0, 1))."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, x: Tensor) -> Tensor:
        return quantize_k(torch.clamp(x, 0.0, 1.0), self.bits)


class SymmetricActivation(Quantizer):
    """Signed k-bit activation for BNN residual streams: DoReFa quantize_k
    applied to (clip(x, -1, 1) + 1) / 2 and mapped back to [-1, 1]
    (2^k uniform levels). At k = 1 it equals sign(x) with the clipped STE,
    so a layer can switch between 1 and k bits without changing its range."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, x: Tensor) -> Tensor:
        u = (torch.clamp(x, -1.0, 1.0) + 1.0) / 2.0
        return 2 * quantize_k(u, self.bits) - 1
