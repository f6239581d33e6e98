"""Workload extraction from a trained checkpoint: shapes (torch.fx) plus the
per-layer statistics, packed binary weights and integer thresholds measured
on the real weights and real activations of the checkpoint's data.

- ``stats.kernel``: binary 3x3 (any kh x kw > 1) kernel repetition of every
  1-bit-weight conv (bnnarch.workload.stats.kernel_stats).
- ``stats.window``: horizontally adjacent binary input windows, over the
  binarized inputs the layer actually sees on ``images`` test images
  (layers with 1-bit activations).
- ``packed_weights``: 1-bit-weight layers; rows = output channels, each row the
  (cin, kh, kw) kernel flattened in torch memory order (linear: the
  input-feature order), bit 1 = +1; the cout x K bit string is cut into bytes
  MSB-first and zero-padded to a byte (bnnarch.nn.layers.pack_sign_bits).
- ``stats.reuse``: exact counts for bnnarch.array.reuse (binary convs; the first
  ``bnnarch.nn.reuse_stats.frames_for(task)`` test images).
- ``thresholds``: 1-bit x 1-bit layers whose batch-norm + sign folds exactly
  (bnnarch.workload.foldable): output bit = 1 iff y >= T_c with y the +-1 dot
  product; channels whose BN gamma is negative have their packed weights
  negated (fold_bn_threshold) and are listed in ``params.flip``. Other binary
  layers carry ``foldable: false`` and the reason (e.g. a residual add between
  the batch-norm and the sign).
- ``params``: the real-valued parameters of every conv/linear and batch-norm
  (bnnarch.nn.params), so that bnnarch.workload.golden reproduces the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bnnarch.nn.checkpoint import Checkpoint, load_checkpoint
from bnnarch.nn.extract import extract
from bnnarch.nn.layers import QConv2d, QuantMixin, fold_bn_threshold, pack_sign_bits, quant_layers
from bnnarch.nn.params import module_params
from bnnarch.nn.train import task_data
from bnnarch.nn.zoo import entry, input_shape
from bnnarch.workload.foldable import consumers, fold_blocker
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import LayerStats
from bnnarch.workload.stats import kernel_stats, window_diff_counts, window_stats

PACKING = ("rows=cout, row=(cin,kh,kw) flattened in torch order, bit1=+1, MSB-first bytes, "
           "zero-padded to a byte; rows with negative BN gamma negated")
THRESHOLDS = "out=1 iff sum(+-1 products) >= T (per output channel)"


def extract_checkpoint(ck: Checkpoint | str | Path, *, name: str, images: int = 256,
                       packed: bool = True) -> WorkloadGraph:
    """Workload of a trained small model with statistics from ``images`` test images."""
    if not isinstance(ck, Checkpoint):
        ck = load_checkpoint(ck)
    model = ck.build()
    shape = input_shape(ck.model_name, small=True)
    meta = {"model": ck.model_name, "source": entry(ck.model_name).source, "task": ck.task,
            "checkpoint_kwargs": str(ck.kwargs), "stats_images": str(images),
            "packed_weights": PACKING, "thresholds": THRESHOLDS,
            **{f"metric.{k}": str(v) for k, v in ck.metrics.items()}}
    data = task_data(ck.task, shape[-1])
    if packed:  # ops the golden forward could not replay (e.g. FINN's 2x - 1 input scaling)
        from bnnarch.nn.extract_any import unmodelled_ops

        unmodelled = unmodelled_ops(model, data.x_test[:1])
        if unmodelled:
            meta["golden.unmodelled"] = "; ".join(unmodelled)
    graph = extract(model, shape, name=name, meta=meta)
    counts = _window_counts(model, data.x_test[:images])
    layers = quant_layers(model)
    modules = dict(model.named_modules())
    bns = {n: m for n, m in modules.items() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)}
    followers = {ly.inputs[0]: ly.name for ly in graph.layers if ly.op == "threshold" and ly.inputs}
    graph = graph.with_layers(tuple(
        replace(ly, params=module_params(modules[ly.name]) if ly.name in modules else None)
        for ly in graph.layers))
    users = consumers(graph)
    new = []
    for layer in graph.layers:
        mod = layers.get(layer.name)
        if mod is None:
            new.append(layer)
            continue
        kst = None
        if mod.w_bits == 1 and isinstance(mod, QConv2d) and layer.kernel[0] * layer.kernel[1] > 1:
            bits = (mod.quantized_weight().detach() >= 0).numpy()
            kst = kernel_stats(bits)
        wst = window_stats(counts[layer.name]) if layer.name in counts else None
        stats = LayerStats(kernel=kst, window=wst) if (kst or wst) else None
        thr = flip = reason = None
        bn_name = followers.get(layer.name)
        if layer.is_binary:
            reason = fold_blocker(graph, layer.name, users)
            if reason is None and bn_name in bns and packed:
                thr, flip = fold_bn_threshold(mod, bns[bn_name])
        pw = pack_sign_bits(mod.quantized_weight(), flip) if (packed and mod.w_bits == 1) else None
        params = layer.params
        if flip is not None and params is not None:
            params = replace(params, flip=tuple(c for c, f in enumerate(flip) if f))
        new.append(replace(layer, stats=stats, packed_weights=pw, fold_reason=reason,
                           params=params if packed else None,
                           thresholds=tuple(thr) if thr is not None else None))
    if not packed:
        new = [replace(ly, params=None) for ly in new]
    # stats.reuse: exact counts for the reuse schemes (bnnarch.nn.reuse_stats), same test images
    from bnnarch.nn.reuse_stats import annotate, capture, frames_for

    return annotate(graph.with_layers(tuple(new)),
                    capture(model, data.x_test[:frames_for(ck.task)]))


@torch.no_grad()
def _window_counts(model: nn.Module, images: Tensor, batch: int = 64) -> dict[str, np.ndarray]:
    """Per 1-bit-activation conv: histogram of adjacent-window bit differences
    of its binarized input, accumulated over ``images``."""
    counts: dict[str, np.ndarray] = {}
    hooks = []

    def make(name: str, m: QuantMixin) -> Callable[[nn.Module, tuple[Tensor, ...]], None]:
        def hook(mod: nn.Module, args: tuple[Tensor, ...]) -> None:
            x = m.quantized_input(args[0])
            geo = (mod.kernel_size, mod.stride, mod.padding)  # a QConv2d: three int pairs
            c = window_diff_counts((x >= 0).numpy(), *geo)  # type: ignore[arg-type]  # see geo
            counts[name] = counts.get(name, 0) + c
        return hook

    for name, m in quant_layers(model).items():
        if isinstance(m, QConv2d) and m.a_bits == 1:
            hooks.append(m.register_forward_pre_hook(make(name, m)))
    model.eval()
    try:
        for i in range(0, len(images), batch):
            model(images[i:i + batch])
    finally:
        for h in hooks:
            h.remove()
    return counts
