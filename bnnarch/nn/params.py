"""Torch modules -> the real-valued parameters a workload carries for its
golden forward (``bnnarch.workload.layer.LayerParams``).

Values are float32 (what the model computes with); the workload JSON stores
them exactly (hex of their bytes, bnnarch.workload.io).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bnnarch.nn.layers import FP, QuantMixin
from bnnarch.workload.layer import LayerParams


def f32_values(t: Tensor | np.ndarray) -> tuple[float, ...]:
    """Flattened values as exact float32 numbers (Python floats)."""
    a = t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)
    return tuple(float(v) for v in a.astype(np.float32).reshape(-1))


def binary_weight_scale(mod: QuantMixin) -> tuple[float, ...]:
    """Per-output-channel scale of 1-bit weights ``w_q = scale_c * (+-1)``,
    computed in float64 (it is derived from the weights, e.g. mean|W|, so
    its exact value is not a float32; the float32 model rounds it)."""
    import copy

    with torch.no_grad():
        qw = copy.deepcopy(mod).double().quantized_weight()  # type: ignore[attr-defined]  # an nn.Module
    return tuple(float(v) for v in qw.abs().flatten(1).mean(1))


def quant_layer_params(mod: QuantMixin) -> LayerParams:
    """Parameters of one of our quantized conv/linear layers at its current bits."""
    with torch.no_grad():
        qw = mod.quantized_weight().detach()
    bias = getattr(mod, "bias", None)
    shift = None
    if mod.shift is not None and mod.a_bits < FP:
        shift = f32_values(mod.shift.bias)
    act = "xnor_k" if mod.uses_xnor_k() else None
    return LayerParams(
        weight=f32_values(qw) if mod.w_bits > 1 else None,
        weight_scale=binary_weight_scale(mod) if mod.w_bits == 1 else None,
        bias=f32_values(bias) if bias is not None else None,
        input_shift=shift, act_scale=act)


def plain_layer_params(mod: nn.Conv2d | nn.ConvTranspose2d | nn.Linear) -> LayerParams:
    """A full-precision torch layer: its weights and bias as they are."""
    return LayerParams(weight=f32_values(mod.weight),
                       bias=f32_values(mod.bias) if mod.bias is not None else None)


def batchnorm_params(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> LayerParams:
    """Running statistics and affine parameters of an eval-mode batch norm."""
    if bn.running_mean is None or bn.running_var is None:
        from bnnarch.errors import ModelError

        raise ModelError(f"batch norm {bn!r} keeps no running statistics "
                         "(track_running_stats=False): it has no inference form")
    n = bn.num_features
    gamma = bn.weight if bn.weight is not None else torch.ones(n)
    beta = bn.bias if bn.bias is not None else torch.zeros(n)
    return LayerParams(mean=f32_values(bn.running_mean), var=f32_values(bn.running_var),
                       gamma=f32_values(gamma), beta=f32_values(beta), eps=float(bn.eps))


def module_params(mod: nn.Module) -> LayerParams | None:
    """Golden-forward parameters of a workload layer's module (None if it has none)."""
    if isinstance(mod, QuantMixin):
        return quant_layer_params(mod)
    if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        return plain_layer_params(mod)
    if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
        return batchnorm_params(mod)
    return None
