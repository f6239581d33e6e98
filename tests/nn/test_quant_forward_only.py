"""Straight-through quantizers return, without gradients, exactly the value
they return with gradients (the surrogate is skipped only when no gradient is
recorded), and still pass gradients when one is."""

from __future__ import annotations

import pytest
import torch

from bnnarch.nn import quant


@pytest.mark.parametrize("make", [
    lambda: quant.SignSTE(), lambda: quant.SignSTE(clip=False), lambda: quant.ScaledSign(),
    lambda: quant.ScaledSign(scale=False), lambda: quant.ApproxSign(),
    lambda: quant.ErrorDecaySign(), lambda: quant.ErrorDecaySign(balance=True),
], ids=["sign", "sign-noclip", "scaled", "scaled-off", "approx", "irnet", "irnet-balance"])
def test_forward_only_equals_ste_forward(make):
    q = make()
    x = torch.randn(6, 5, 3, 3)
    x[0, 0, 0, 0] = 0.0  # sign(0) = +1 on both paths
    with torch.no_grad():
        fast = q(x)
    xg = x.clone().requires_grad_(True)
    slow = q(xg)
    assert torch.equal(fast, slow.detach())
    assert set(fast.unique().abs().tolist()) <= set(slow.detach().unique().abs().tolist())
    slow.sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
