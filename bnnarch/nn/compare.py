"""The torch side of the golden-forward check: a model's outputs and the
integer pre-activations of its 1-bit x 1-bit layers, to compare with
``bnnarch.workload.golden.golden_forward`` on the model's workload.

The pre-activation of a binary layer is the +-1 dot product of its
binarized input and the signs of its weights (zero padding contributes 0),
taken from the very tensors the model computes with (forward pre-hooks), so
it is the model's own integer, not a recomputation from a workload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bnnarch.nn.layers import QConv2d, QLinear, quant_layers


@dataclass(frozen=True)
class TorchRun:
    """Model output (float32 as numpy) and per binary layer its int64
    pre-activations (N, C, H, W), over all evaluated inputs."""

    output: np.ndarray
    preact: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]  # real-valued input of each binary layer (if captured)


def _preact(m: QConv2d | QLinear, x: Tensor) -> Tensor:
    a = m.quantized_input(x)
    w = torch.where(m.quantized_weight() >= 0, 1.0, -1.0).to(a.dtype)
    if isinstance(m, nn.Linear):
        return F.linear(torch.flatten(a, 1), w)[:, :, None, None]
    return F.conv2d(a, w, None, m.stride, m.padding, m.dilation, m.groups)


@torch.no_grad()
def torch_run(model: nn.Module, images: Tensor, *, batch: int = 64, double: bool = False,
              capture_inputs: bool = False) -> TorchRun:
    """Run ``model`` (eval mode) on ``images``; ``double=True`` evaluates a
    float64 copy (the same model without float32 rounding);
    ``capture_inputs`` keeps each binary layer's real-valued input."""
    orig, was = model, model.training
    model.eval()
    if double:
        import copy

        model = copy.deepcopy(model).double()
        images = images.double()
    acc: dict[str, list[np.ndarray]] = {}
    ins: dict[str, list[np.ndarray]] = {}
    hooks = []
    for name, m in quant_layers(model).items():
        if (m.w_bits, m.a_bits) == (1, 1):
            def hook(mod: nn.Module, args: tuple[Tensor, ...], name: str = name,
                     layer: QConv2d | QLinear = m) -> None:  # mod is layer
                y = _preact(layer, args[0])
                acc.setdefault(name, []).append(torch.round(y).to(torch.int64).numpy())
                if capture_inputs:
                    ins.setdefault(name, []).append(args[0].numpy().copy())
            hooks.append(m.register_forward_pre_hook(hook))
    outs = []
    try:
        for i in range(0, len(images), batch):
            outs.append(model(images[i:i + batch]).numpy())
    finally:
        for h in hooks:
            h.remove()
        orig.train(was)
    return TorchRun(np.concatenate(outs), {k: np.concatenate(v) for k, v in acc.items()},
                    {k: np.concatenate(v) for k, v in ins.items()})
