"""Any PyTorch module -> WorkloadGraph with its weights (``bnnarch.extract``).

``extract(module, example_input, *, name=None, stats_inputs=None)`` traces
the module with torch.fx (the tracer of bnnarch.nn.extract, with more
leaf modules; the walk itself is bnnarch.nn.fx_walk), runs the traced
graph once on ``example_input`` to get every shape and the tensors each
conv / linear really multiplies with, and writes one workload layer per
conv / linear / batch-norm / pooling / add / concat / upsample, as the zoo's
extractor does. Recognised quantizers:

* ours: ``bnnarch.nn.layers.QConv2d`` / ``QLinear`` (bits on the layer) and
  ``bnnarch.nn.quant.Quantizer`` modules;
* Brevitas: ``QuantConv2d`` / ``QuantConvTranspose2d`` / ``QuantLinear``
  (weight bits from their weight quantizer, input bits from their input
  quantizer if enabled) and ``QuantIdentity`` / ``QuantReLU`` /
  ``QuantHardTanh`` (activation bits from their act quantizer);
* plain PyTorch: ``torch.sign`` (also inside an ``autograd.Function``'s
  forward, or as an STE ``x + (torch.sign(x) - x).detach()``) on a conv's
  weight or input makes it 1-bit;
* user binarizers: ``register_binarizer(cls, bits=1)`` makes every instance
  of the ``nn.Module`` class ``cls`` a ``bits``-bit quantizer.

A conv / linear gets the activation bits of the quantizer that produced its
input (through max-pooling, nearest upsampling and reshapes) and the weight
bits of the quantizer on its weight; a Brevitas k-bit quantizer read only by
conv / linear layers becomes their ``params.input_quant``. A batch-norm
binarized before every use (BN -> binary quantizer -> residual add) folds
into integer thresholds like one read only by binary layers. 1-bit weights
must be ``+-scale_c`` per output channel and 1-bit inputs ``+-s``: the
scales go to ``params.weight_scale``, the signs to ``packed_weights``.

The golden forward (bnnarch.workload.golden) replays sign quantizers (ties
to +1), full-precision layers, our own k-bit layers and Brevitas k-bit input
quantizers. An operation the workload cannot record (a ReLU, a scalar
multiply, a k-bit quantizer read by an add, a 1-bit value summed without a
folded batch-norm before it, ...) is listed in ``meta["golden.unmodelled"]``
and the golden forward refuses that workload instead of computing something
else.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, fx, nn

from bnnarch.errors import ModelError
from bnnarch.nn import extract as fxx
from bnnarch.nn import fx_walk
from bnnarch.nn.fx_walk import AnyTracer, Values, Walk
from bnnarch.nn.layers import pack_sign_bits
from bnnarch.workload.foldable import consumers, flip_packed, fold_blocker, fold_thresholds
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import QUANT_BITS, LayerParams, LayerStats
from bnnarch.workload.stats import kernel_stats, window_diff_counts, window_stats


def register_binarizer(cls: type, bits: int = 1) -> None:
    """Treat every instance of the ``nn.Module`` class ``cls`` as a
    ``bits``-bit activation / weight quantizer in ``extract``."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelError(f"register_binarizer: {cls!r} is not an nn.Module subclass (wrap a "
                         "function or autograd.Function in a module and register that)")
    if bits not in QUANT_BITS or isinstance(bits, bool):
        raise ModelError(f"register_binarizer({cls.__name__}): bits must be one of "
                         f"{', '.join(map(str, QUANT_BITS))}, got {bits!r}")
    fx_walk._BINARIZERS[cls] = int(bits)


def _fold(graph: WorkloadGraph, walk: Walk) -> WorkloadGraph:
    """Integer thresholds where BN + sign fold exactly (bnnarch.workload.foldable,
    or the batch-norm is binarized before every use); else ``fold_reason``."""
    users = consumers(graph)
    out = []
    for layer in graph.layers:
        if layer.is_binary and layer.is_compute:
            reason = fold_blocker(graph, layer.name, users)
            outs = users.get(layer.name, [])
            if reason is not None and len(outs) == 1 and graph[outs[0]].op == "threshold" \
                    and not (layer.params and layer.params.act_scale) \
                    and walk.binarized(outs[0]):
                reason = None  # e.g. Brevitas: BN -> binary QuantIdentity -> residual add
            if reason is None:
                bn = graph[outs[0]].params
                thr, flip = fold_thresholds(layer, bn)  # type: ignore[arg-type]  # BN params set
                w = walk.weights[layer.name][0] if layer.name in walk.weights else None
                pw = pack_sign_bits(w, flip) if w is not None else flip_packed(layer, flip)
                params = replace(layer.params or LayerParams(),
                                 flip=tuple(c for c, f in enumerate(flip) if f))
                layer = replace(layer, thresholds=tuple(thr), packed_weights=pw, params=params)
            else:
                layer = replace(layer, fold_reason=reason)
        out.append(layer)
    return graph.with_layers(tuple(out))


def _stats(graph: WorkloadGraph, gm: fx.GraphModule, walk: Walk, images: Tensor,
           batch: int = 64) -> WorkloadGraph:
    """Kernel / window / reuse statistics of binary convs on real inputs."""
    from bnnarch.nn.reuse_stats import annotate

    wanted = {ly.name: walk.nodes[ly.name] for ly in graph.layers
              if ly.is_binary and ly.op == "conv2d" and ly.name in walk.nodes}
    in_node = {n: (nd.args[0].name if isinstance(nd.args[0], fx.Node) else "")
               for n, nd in wanted.items()}
    keep = set(in_node.values())
    xs: dict[str, list[np.ndarray]] = {n: [] for n in wanted}
    for i in range(0, len(images), batch):
        vals = Values(gm)
        with torch.no_grad():
            vals.run(images[i:i + batch])
        for n in wanted:
            v = vals.values.get(in_node[n])
            if isinstance(v, Tensor) and in_node[n] in keep:
                xs[n].append((v >= 0).numpy())
    captured = {}
    layers = []
    for layer in graph.layers:
        if layer.name in wanted and xs[layer.name]:
            x = np.concatenate(xs[layer.name])
            w = walk.weights.get(layer.name)
            wbits = (w[0] >= 0).numpy() if w is not None else None
            if wbits is None:
                mod = walk.modules[str(wanted[layer.name].target)]
                wbits = (mod.quantized_weight().detach() >= 0).numpy()
            kst = kernel_stats(wbits) if layer.kernel[0] * layer.kernel[1] > 1 else None
            wst = window_stats(window_diff_counts(x, layer.kernel, layer.stride, layer.padding))
            layer = replace(layer, stats=LayerStats(kernel=kst, window=wst))
            captured[layer.name] = (wbits.astype(np.uint8), x.astype(np.uint8))
        layers.append(layer)
    return annotate(graph.with_layers(tuple(layers)), captured)


def _walk(module: nn.Module, example_input: Tensor, name: str) -> tuple[fx.GraphModule, Walk]:
    """Trace ``module``, run it once on ``example_input`` and walk its graph."""
    if not isinstance(example_input, Tensor) or example_input.dim() not in (2, 4):
        raise ModelError(f"extract({name!r}): example_input must be a tensor (N, C, H, W) or "
                         f"(N, F), got {getattr(example_input, 'shape', type(example_input))}")
    gm = fxx.trace(module, AnyTracer())
    was = module.training
    module.eval()
    gm.eval()
    vals = Values(gm)
    try:
        with torch.no_grad():
            vals.propagate(example_input)
    except Exception as e:  # noqa: BLE001  # any failure is a model problem the user must see
        raise ModelError(f"model {name!r}: running the traced module failed "
                         f"({type(e).__name__}: {e})") from None
    finally:
        module.train(was)
    walk = Walk(gm, vals.values, name)
    walk.run()
    return gm, walk


def extract(module: nn.Module, example_input: Tensor, *, name: str | None = None,
            stats_inputs: Tensor | None = None) -> WorkloadGraph:
    """Workload of ``module`` on inputs shaped like ``example_input`` (a batch:
    (N, C, H, W) or (N, F)); ``stats_inputs`` (a batch of real inputs) adds
    the kernel / window / reuse statistics of its binary convs."""
    name = name or type(module).__name__
    gm, walk = _walk(module, example_input, name)
    shape = tuple(int(v) for v in example_input.shape[1:])
    in_shape = shape if len(shape) == 3 else (shape[0], 1, 1)
    meta = {"extractor": "torch.fx (bnnarch.nn.extract_any)", "source": type(module).__name__,
            "packed_weights": "rows=cout, row=(cin,kh,kw) flattened in torch order, bit1=+1, "
                              "MSB-first bytes, zero-padded to a byte; rows in params.flip negated",
            "thresholds": "out=1 iff sum(+-1 products) >= T (per output channel)"}
    graph = WorkloadGraph(name, in_shape, tuple(walk.layers), ())
    graph = _fold(graph, walk)
    unmodelled = walk.finish_unmodelled() + walk.lost_signs(graph)
    if unmodelled:
        meta["golden.unmodelled"] = "; ".join(unmodelled)
    graph = replace(graph, meta=tuple(sorted(meta.items())))
    if stats_inputs is not None:
        was = module.training
        module.eval()
        try:
            graph = _stats(graph, gm, walk, stats_inputs)
        finally:
            module.train(was)
    return graph


def unmodelled_ops(module: nn.Module, example_input: Tensor) -> list[str]:
    """What a workload of ``module`` cannot replay in the golden forward (the
    items of ``meta["golden.unmodelled"]`` of ``extract``), for other extractors."""
    meta = dict(extract(module, example_input).meta)
    return meta["golden.unmodelled"].split("; ") if "golden.unmodelled" in meta else []
