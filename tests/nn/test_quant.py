"""Quantizers: forward values and gradients (the survey's definitions)."""

from __future__ import annotations

import math

import pytest
import torch

from bnnarch.errors import ModelError
from bnnarch.nn import quant as Q
from bnnarch.nn.layers import QConv2d, QLinear, fold_bn_threshold, pack_sign_bits, set_precision

X = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5])


def _grad(q: torch.nn.Module, x: torch.Tensor = X) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = q(x)
    y.sum().backward()
    assert x.grad is not None
    return y.detach(), x.grad


def test_sign_clipped_ste() -> None:
    y, g = _grad(Q.SignSTE())
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]  # sign(0) = +1
    assert g.tolist() == [0, 1, 1, 1, 1, 1, 1, 0]


def test_sign_identity_ste() -> None:
    y, g = _grad(Q.SignSTE(clip=False))
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]
    assert g.tolist() == [1.0] * 8


def test_identity() -> None:
    y, g = _grad(Q.Identity())
    assert torch.equal(y, X) and g.tolist() == [1.0] * 8


def test_approx_sign_bireal() -> None:
    y, g = _grad(Q.ApproxSign())
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]
    expect = [0, 0, 2 + 2 * -0.5, 2, 2 - 0.5, 2 - 1.0, 0, 0]
    assert g.tolist() == pytest.approx(expect)


def test_xnor_scaled_sign_per_channel() -> None:
    w = torch.tensor([[0.5, -1.5, 1.0], [-0.2, 0.2, -0.2]], requires_grad=True)
    q = Q.ScaledSign()(w)
    assert q.flatten().tolist() == pytest.approx([1.0, -1.0, 1.0, -0.2, 0.2, -0.2])
    q.sum().backward()
    # clipped STE times the (detached) scale alpha = mean|w| of the row
    assert w.grad.flatten().tolist() == pytest.approx([1.0, 0.0, 1.0, 0.2, 0.2, 0.2])


def test_irnet_error_decay_schedule_and_gradient() -> None:
    q = Q.ErrorDecaySign()
    q.set_progress(0.0)
    assert float(q.t) == pytest.approx(0.1)
    _, g0 = _grad(q, torch.tensor([0.0]))
    assert float(g0) == pytest.approx(1.0)  # k = 1/t = 10, d/dx 10 tanh(0.1x) at 0 = 1
    q.set_progress(1.0)
    assert float(q.t) == pytest.approx(10.0)
    y, g1 = _grad(q, torch.tensor([0.0, 0.5]))
    assert y.tolist() == [1, 1]
    # k = max(1/t, 1) = 1: k t (1 - tanh^2(t x))
    assert g1.tolist() == pytest.approx([10.0, 10 * (1 - math.tanh(5.0) ** 2)], rel=1e-3)


def test_irnet_balanced_weights() -> None:
    w = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    q = Q.ErrorDecaySign(balance=True)(w)
    # standardized (w - 3) / std: signs [-, -, +(0 -> +1), +]; scale 2^round(log2 mean|std|)
    assert (q.sign()).tolist() == [[-1.0, -1.0, 1.0, 1.0]]
    assert float(q.abs()[0, 0]) in (0.5, 1.0, 2.0)


def test_rsign_shift_and_rprelu() -> None:
    rs = Q.RSign(2)
    with torch.no_grad():
        rs.shift.bias.copy_(torch.tensor([0.5, -0.5]).view(1, 2, 1, 1))
    x = torch.zeros(1, 2, 1, 1, requires_grad=True)
    y = rs(x)
    assert y.flatten().tolist() == [1.0, -1.0]
    y.sum().backward()
    assert rs.shift.bias.grad.flatten().tolist() == pytest.approx([1.0, 1.0])  # ApproxSign at +-0.5
    rp = Q.RPReLU(1)
    with torch.no_grad():
        rp.move_in.bias.fill_(-1.0)
        rp.move_out.bias.fill_(0.5)
    out = rp(torch.tensor([[[[0.0]]], [[[3.0]]]]))
    assert out.flatten().tolist() == pytest.approx([0.25 * -1 + 0.5, 2.0 + 0.5])


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dorefa_activation_levels_and_ste(bits: int) -> None:
    x = torch.linspace(-0.5, 1.5, 4001, requires_grad=True)
    y = Q.DoReFaActivation(bits)(x)
    n = 2**bits - 1
    assert torch.allclose(y * n, torch.round(y * n))
    assert len(torch.unique(y)) == n + 1
    y.sum().backward()
    inside = (x.detach() >= 0) & (x.detach() <= 1)
    assert torch.equal(x.grad, inside.float())


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dorefa_weight_levels(bits: int) -> None:
    w = torch.randn(16, 8, requires_grad=True)
    q = Q.DoReFaWeight(bits)(w)
    n = 2**bits - 1
    lv = (q.detach() + 1) / 2 * n
    assert torch.allclose(lv, torch.round(lv), atol=1e-5)
    assert q.abs().max() <= 1.0 + 1e-6
    q.sum().backward()
    assert w.grad is not None and torch.all(w.grad > 0)  # tanh' through the STE


def test_symmetric_activation_one_bit_is_sign() -> None:
    y, _g = _grad(Q.SymmetricActivation(1), X[X != 0])
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]


def test_switchable_layer_bits() -> None:
    conv = QConv2d(2, 3, 3, method="xnor")
    x = torch.randn(2, 2, 5, 5)
    assert torch.unique(conv.quantized_input(x)).tolist() == [-1.0, 1.0]
    conv.w_bits, conv.a_bits = 4, 4
    assert 2 < len(torch.unique(conv.quantized_input(x))) <= 16
    conv.w_bits = conv.a_bits = 32
    assert torch.equal(conv.quantized_input(x), x)
    assert torch.allclose(conv(x), torch.nn.functional.conv2d(x, conv.weight, padding=1))
    m = torch.nn.Sequential(conv)
    with pytest.raises(ModelError, match=r"not a quantized layer.*quantized layers: 0"):
        set_precision(m, {"conv": (1, 1)})
    with pytest.raises(ModelError, match=r"0.w_bits must be one of 1, 2, 4, 8, 32, got 3"):
        set_precision(m, {"0": (3, 1)})


def test_bn_fold_threshold_matches_float_model() -> None:
    torch.manual_seed(0)
    with pytest.raises(ModelError, match=r"XNOR-Net's activation scale K"):
        fold_bn_threshold(QLinear(16, 8, method="xnor"), torch.nn.BatchNorm1d(8))
    lin = QLinear(16, 8, method="bireal", bias=False)  # alpha = mean|W| scaling, no K
    bn = torch.nn.BatchNorm1d(8)
    with torch.no_grad():
        bn.running_mean.uniform_(-2, 2)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(-1, 1)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(64, 16)
    ref = (bn(lin(x)) >= 0)
    thr, flip = fold_bn_threshold(lin, bn)
    xb = torch.where(x >= 0, 1.0, -1.0)
    wb = torch.where(lin.quantized_weight() >= 0, 1.0, -1.0)
    wb = torch.where(torch.tensor(flip).unsqueeze(1), -wb, wb)
    y = xb @ wb.t()
    got = y >= torch.tensor(thr, dtype=torch.float32)
    assert torch.equal(got, ref)
    # packing: bit order MSB-first, 1 = +1, flipped rows negated
    hexs = pack_sign_bits(lin.quantized_weight(), flip)
    bits = bin(int(hexs, 16))[2:].zfill(len(hexs) * 4)
    assert [int(b) for b in bits[:16]] == [int(v > 0) for v in wb[0].tolist()]


def test_bn_fold_threshold_needs_running_statistics() -> None:
    lin = QLinear(16, 8, method="bireal", bias=False)
    with pytest.raises(ModelError, match=r"batch-norm with running statistics \(track_running_stats=True\)"):
        fold_bn_threshold(lin, torch.nn.BatchNorm1d(8, track_running_stats=False))
