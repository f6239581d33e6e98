"""Quantized conv / linear layers whose bit-widths switch at run time, and
batch-norm folding into integer thresholds for export.

A layer's ``w_bits``/``a_bits`` are plain attributes (1, 2, 4, 8 or 32 = full
precision) read at every forward, so a precision map can be applied to a
trained model without rebuilding it (``set_precision``). At 1 bit the layer
uses its binarization ``method``; at 2-8 bits DoReFa quantizers
(Zhou et al. 2016); at 32 bits none. These layers are fx *leaf* modules in
workload extraction.

Methods (weights / activations at 1 bit):
  ``bnn``      sign, clipped STE / sign, clipped STE          (Hubara et al. 2016)
  ``xnor``     sign x mean|W| per channel / sign, clipped STE, output x K
               (the per-window activation scale; Rastegari et al. 2016)
  ``bireal``   sign x mean|W| / ApproxSign                    (Liu et al. 2018)
  ``irnet``    balanced sign, 2^k scale, EDE / EDE            (Qin et al. 2020)
  ``reactnet`` sign x mean|W| / RSign (learnable shift + ApproxSign) (Liu et al. 2020)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bnnarch.errors import ModelError
from bnnarch.nn import quant as Q

FP = 32
BITS = (1, 2, 4, 8, FP)
METHODS = ("bnn", "xnor", "bireal", "irnet", "reactnet")


def _check_bits(name: str, b: int) -> int:
    if b not in BITS:
        raise ModelError(f"{name} must be one of {', '.join(map(str, BITS))}, got {b!r}")
    return int(b)


class QuantMixin:
    """Shared quantization logic of QConv2d / QLinear."""

    w_bits: int
    a_bits: int
    method: str
    weight: Tensor  # of the nn.Conv2d / nn.Linear it is mixed into

    def _init_quant(self, w_bits: int, a_bits: int, method: str, in_channels: int) -> None:
        if method not in METHODS:
            raise ModelError(f"unknown binarization method {method!r} (known: {', '.join(METHODS)})")
        self.w_bits = _check_bits("w_bits", w_bits)
        self.a_bits = _check_bits("a_bits", a_bits)
        self.method = method
        self.fp_act = False  # ReLU instead of the quantizer (full-precision twins only)
        wq: Q.Quantizer
        aq: Q.Quantizer
        if method == "bnn":
            wq, aq = Q.ScaledSign(scale=False), Q.SignSTE()
        elif method == "xnor":
            wq, aq = Q.ScaledSign(), Q.SignSTE()
        elif method == "bireal":
            wq, aq = Q.ScaledSign(), Q.ApproxSign()
        elif method == "irnet":
            wq, aq = Q.ErrorDecaySign(balance=True), Q.ErrorDecaySign()
        else:
            wq, aq = Q.ScaledSign(), Q.ApproxSign()
        self.wq1, self.aq1 = wq, aq
        self.shift = Q.LearnableBias(in_channels) if method == "reactnet" else None

    def quantized_weight(self) -> Tensor:
        w = self.weight
        if self.w_bits >= FP:
            return w
        if self.w_bits == 1:
            return self.wq1(w)
        q = Q.DoReFaWeight(self.w_bits)(w)
        alpha = w.abs().flatten(1).mean(1).detach()
        return Q._scale_rows(q, alpha)

    def quantized_input(self, x: Tensor) -> Tensor:
        if self.a_bits >= FP:
            return F.relu(x) if self.fp_act else x
        if self.shift is not None:
            x = self.shift(x if x.dim() == 4 else x[:, :, None, None]).view_as(x)
        if self.a_bits == 1:
            return self.aq1(x)
        return Q.SymmetricActivation(self.a_bits)(x)

    def uses_xnor_k(self) -> bool:
        """XNOR-Net's activation scale K applies (1-bit activations, xnor method)."""
        return self.method == "xnor" and self.a_bits == 1 and self.w_bits < FP


class QConv2d(QuantMixin, nn.Conv2d):
    """Conv2d with switchable weight/activation bit-widths (see module doc)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None,
                 *, w_bits: int = 1, a_bits: int = 1, method: str = "bireal", groups: int = 1,
                 bias: bool = False) -> None:
        nn.Conv2d.__init__(self, cin, cout, k, stride, k // 2 if padding is None else padding,
                           groups=groups, bias=bias)
        self._init_quant(w_bits, a_bits, method, cin)

    def forward(self, x: Tensor) -> Tensor:
        if not self.uses_xnor_k():
            return self._conv_forward(self.quantized_input(x), self.quantized_weight(), self.bias)
        # XNOR-Net (Rastegari et al. 2016, sec. 3.2): sign(I) * sign(W) scaled by
        # K alpha, K = mean_c |I| averaged over each kh x kw window (zero padding
        # counted, as the paper's box-filter convolution k = 1/(kh kw)).
        padding = cast(tuple[int, int], self.padding)  # __init__ passes an int: never a string
        k = F.avg_pool2d(x.abs().mean(1, keepdim=True), self.kernel_size, self.stride, padding)
        y = self._conv_forward(self.quantized_input(x), self.quantized_weight(), None) * k
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class QLinear(QuantMixin, nn.Linear):
    """Linear layer with switchable bit-widths; flattens its input."""

    def __init__(self, cin: int, cout: int, *, w_bits: int = 1, a_bits: int = 1,
                 method: str = "bireal", bias: bool = True) -> None:
        nn.Linear.__init__(self, cin, cout, bias=bias)
        self.shift_channels = cin
        self._init_quant(w_bits, a_bits, method, cin)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(x, 1)
        if not self.uses_xnor_k():
            return F.linear(self.quantized_input(x), self.quantized_weight(), self.bias)
        k = x.abs().mean(1, keepdim=True)  # XNOR-Net K over the whole input vector
        y = F.linear(self.quantized_input(x), self.quantized_weight(), None) * k
        return y if self.bias is None else y + self.bias


QLAYERS = (QConv2d, QLinear)


def quant_layers(model: nn.Module) -> dict[str, QConv2d | QLinear]:
    """Qualified name -> quantized layer, in definition order. These names are
    the layer names of the extracted workload (bnnarch.nn.extract)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QLAYERS)}


def get_precision(model: nn.Module) -> dict[str, tuple[int, int]]:
    return {n: (m.w_bits, m.a_bits) for n, m in quant_layers(model).items()}


def set_precision(model: nn.Module, pmap: dict[str, tuple[int, int]]) -> None:
    """Apply ``{layer name: (w_bits, a_bits)}``; unknown names raise ModelError."""
    layers = quant_layers(model)
    for name, (w, a) in pmap.items():
        if name not in layers:
            known = ", ".join(layers) or "none"
            raise ModelError(f"precision map names layer {name!r}, which is not a quantized layer "
                             f"of the model (quantized layers: {known})")
        layers[name].w_bits = _check_bits(f"{name}.w_bits", int(w))
        layers[name].a_bits = _check_bits(f"{name}.a_bits", int(a))


def random_precision(model: nn.Module, base: dict[str, tuple[int, int]], rng: random.Random,
                     choices: Iterable[int] = (1, 2, 4, 8)) -> dict[str, tuple[int, int]]:
    """Random per-layer bits for the layers that are quantized in ``base``
    (full-precision layers stay full precision). Used to train switchable models."""
    ch = tuple(choices)
    return {n: (rng.choice(ch), rng.choice(ch)) if max(b) < FP else b for n, b in base.items()}


def make_fp_twin(model: nn.Module) -> nn.Module:
    """Turn a freshly built BNN into its full-precision twin (in place): every
    quantized layer at 32 bits, and the layers that binarize activations get a
    ReLU in place of the sign (otherwise the twin would be a linear network),
    as the full-precision baselines of Bi-Real / ReActNet."""
    for m in quant_layers(model).values():
        if m.a_bits < FP:
            m.fp_act = True
        m.w_bits = m.a_bits = FP
    return model


def set_progress(model: nn.Module, p: float) -> None:
    """Training progress in [0, 1] for progressive quantizers (IR-Net EDE)."""
    for m in model.modules():
        if isinstance(m, Q.ErrorDecaySign):
            m.set_progress(p)


def fold_bn_threshold(layer: QConv2d | QLinear, bn: nn.BatchNorm2d | nn.BatchNorm1d
                      ) -> tuple[list[int], list[bool]]:
    """Fold conv/linear (+bias) -> BN -> sign into integer thresholds.

    For a 1-bit x 1-bit layer let ``y`` be the integer dot product of +-1
    activations and +-1 weights (= 2 * popcount(xnor) - K without padding).
    The layer output is ``alpha_c * y + b_c`` and the next binary layer sees
    sign(BN(.)). Returns (T, flip): output bit of channel c is 1 iff
    ``y' >= T_c`` where ``y' = -y`` for channels with ``flip[c]`` (BN gamma < 0;
    ``packed_weights`` holds those channels' weights negated so hardware always
    compares ``>=``). Source: FINN (Umuroglu et al. 2017, sec. 4.2) thresholding.
    """
    if (layer.w_bits, layer.a_bits) != (1, 1):
        raise ModelError("thresholds exist only for 1-bit x 1-bit layers")
    if layer.uses_xnor_k():
        raise ModelError("no integer thresholds: XNOR-Net's activation scale K multiplies the "
                         "output by a function of the real-valued input")
    qw = layer.quantized_weight().detach()
    alpha = qw.abs().flatten(1).mean(1)
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros_like(alpha)
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ModelError("thresholds need a batch-norm with running statistics "
                         "(track_running_stats=True)")
    sigma = torch.sqrt(var + bn.eps)
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(sigma)
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(sigma)
    k = int(qw[0].numel())
    thr: list[int] = []
    flip: list[bool] = []
    for c in range(qw.shape[0]):
        g, bt, mu, sg, al, b = (float(v[c]) for v in (gamma, beta, mean, sigma, alpha, bias))
        if g == 0.0 or al == 0.0:
            thr.append(-(k + 1) if bt >= 0 else k + 1)
            flip.append(False)
            continue
        t = (mu - bt * sg / g - b) / al  # condition on y: y >= t (g > 0) or y <= t (g < 0)
        if g > 0:
            thr.append(math.ceil(t - 1e-9))
            flip.append(False)
        else:
            thr.append(math.ceil(-t - 1e-9))
            flip.append(True)
    return thr, flip


def pack_sign_bits(w: Tensor, flip: list[bool] | None = None) -> str:
    """Pack binary weights as hex: rows = output channels (cout), each row the
    flattened (cin, kh, kw) kernel in torch memory order, rows concatenated
    (cout x K row-major bit string); bit 1 = +1, 0 = -1; the bit string is
    cut into bytes MSB-first (first weight = bit 7 of byte 0) and zero-padded
    at the end to a whole byte. ``flip[c]`` negates row c (see fold_bn_threshold)."""
    s = (w.detach().flatten(1) >= 0).to(torch.uint8)
    if flip is not None:
        f = torch.tensor(flip, dtype=torch.bool).unsqueeze(1)
        s = torch.where(f, 1 - s, s)
    return np.packbits(s.flatten().numpy(), bitorder="big").tobytes().hex()
