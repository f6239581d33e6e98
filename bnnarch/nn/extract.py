"""torch.fx extraction: a torch model -> WorkloadGraph of ``Layer`` values.

Pipeline: ``symbolic_trace`` with quantized conv/linear layers (and every
``torch.nn`` module) as leaf modules -> ``ShapeProp`` on one zero image ->
a networkx view of the fx graph -> one ``Layer`` per cost-bearing node.

Mapping (fx node -> workload op):
  QConv2d / Conv2d -> conv2d; ConvTranspose2d -> conv_transpose2d;
  QLinear / Linear -> linear; BatchNorm -> threshold (BN folded into
  per-channel integer thresholds / affine); Max/Avg/AdaptiveAvg pooling ->
  maxpool / avgpool; Upsample / interpolate -> upsample; tensor + tensor ->
  add; cat -> concat. Element-wise activations and quantizers (ReLU, PReLU,
  RPReLU, sign, clamp, scalar arithmetic, flatten/view) are folded into
  their producer: they add no layer. A straight-through estimator written
  ``x + (q - x).detach()`` is a quantizer, not a residual add.

Names: a module's layer is named by its qualified module name (``layer1.0.conv1``),
the same names ``bnnarch.nn.layers.quant_layers`` gives, so one precision map
applies to both a workload and a model. Functional ops are named
``<enclosing module>.<op>`` (``layer1.0.add``, ``layer1.0.add_1``).

Imported lazily (needs torch); bnnarch.workload.{layer,graph,io} never import torch.
"""

from __future__ import annotations

import operator
from typing import Any

import networkx as nx
import torch
from torch import fx, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

from bnnarch.errors import ModelError, WorkloadError
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, Layer

_ADD = {operator.add, operator.iadd, torch.add}
_ARITH2 = {operator.sub, operator.isub, torch.sub, operator.mul, operator.imul, torch.mul,
           operator.truediv, torch.div}
_ELEMENTWISE_FN = {
    torch.sign, torch.clamp, torch.clip, torch.tanh, torch.sigmoid, torch.relu, torch.where,
    torch.round, torch.abs, torch.ones_like, torch.zeros_like, torch.detach, torch.flatten,
    torch.reshape, torch.squeeze, torch.unsqueeze, operator.neg, operator.getitem,
    F.relu, F.hardtanh, F.prelu, F.leaky_relu, F.sigmoid, F.tanh, F.dropout, torch.pow,
}
_ELEMENTWISE_METHOD = {
    "sign", "clamp", "clip", "tanh", "sigmoid", "relu", "abs", "round", "detach", "flatten",
    "view", "reshape", "squeeze", "unsqueeze", "contiguous", "float", "view_as", "reshape_as",
    "clone", "to", "pow",
}
_ELEMENTWISE_MOD = (
    nn.ReLU, nn.ReLU6, nn.PReLU, nn.LeakyReLU, nn.Hardtanh, nn.Tanh, nn.Sigmoid, nn.Identity,
    nn.Dropout, nn.Flatten, nn.Unflatten, nn.Softmax, nn.Hardswish, nn.SiLU, nn.GELU,
)


def _is_qlayer(m: nn.Module) -> bool:
    from bnnarch.nn.layers import QLAYERS

    return isinstance(m, QLAYERS)


def _is_fold_module(m: nn.Module) -> bool:
    from bnnarch.nn.quant import LearnableBias, Quantizer, RPReLU

    return isinstance(m, _ELEMENTWISE_MOD + (Quantizer, RPReLU, LearnableBias))


class _Tracer(fx.Tracer):
    """Leaf = quantized layers, torch.nn modules and our quantizer modules;
    records the innermost module that failed to trace."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_at: str | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if _is_qlayer(m) or _is_fold_module(m):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_at is None:
                self.failed_at = self.path_of_module(m) or type(m).__name__
            raise


def trace(model: nn.Module, tracer: _Tracer | None = None) -> fx.GraphModule:
    """Symbolically trace ``model``; failures raise ModelError naming the module.
    Never train the result: symbolic tracing goes *into* custom autograd
    Functions and drops their backward; it is for analysis only."""
    tracer = tracer or _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as e:  # any tracing failure is a user-visible model problem  # noqa: BLE001
        where = tracer.failed_at or type(model).__name__
        raise ModelError(f"cannot trace module {where!r} ({type(e).__name__}: {e})") from None
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _shape(node: fx.Node) -> tuple[int, int, int]:
    tm = node.meta.get("tensor_meta")
    if tm is None or not hasattr(tm, "shape"):
        raise WorkloadError(f"node {node.name!r} produces no single tensor (cannot cost it)")
    s = tuple(int(v) for v in tm.shape[1:])
    if len(s) == 3:
        return s  # type: ignore[return-value]
    if len(s) == 1:
        return (s[0], 1, 1)
    if len(s) == 2:
        return (s[0], 1, s[1])
    raise WorkloadError(f"node {node.name!r}: unsupported tensor rank {len(s) + 1}")


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int | float):
        return (int(v), int(v))
    return (int(v[0]), int(v[1]))


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack), "") if stack else ""


def to_networkx(gm: fx.GraphModule) -> nx.DiGraph:
    """The fx graph as a networkx DiGraph (node attribute ``node`` = fx.Node)."""
    g = nx.DiGraph()
    for n in gm.graph.nodes:
        g.add_node(n.name, node=n)
        for a in n.all_input_nodes:
            g.add_edge(a.name, n.name)
    return g


def _ste_internal(gm: fx.GraphModule) -> set[str]:
    """Nodes inside ``x + (q - x).detach()`` STEs: the detach and its input
    chain when they only feed the detach (these carry no cost)."""
    out: set[str] = set()
    for n in gm.graph.nodes:
        is_detach = (n.op == "call_method" and n.target == "detach") or (
            n.op == "call_function" and n.target is torch.detach)
        if not is_detach:
            continue
        out.add(n.name)
        src = n.args[0]
        if isinstance(src, fx.Node) and all(u is n for u in src.users):
            out.add(src.name)
    return out


def extract(model: nn.Module, input_shape: tuple[int, int, int], *, name: str,
            meta: dict[str, str] | None = None) -> WorkloadGraph:
    """Trace ``model`` on one ``input_shape`` image and return its WorkloadGraph."""
    gm = trace(model)
    was_training = model.training
    gm.eval()
    try:
        with torch.no_grad():  # fake tensors: shapes only, no arithmetic
            fake = FakeTensorMode(allow_non_fake_inputs=True)
            ShapeProp(gm, fake_mode=fake).propagate(torch.zeros(1, *input_shape))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"model {name!r}: shape propagation failed ({type(e).__name__}: {e})") from None
    finally:
        model.train(was_training)
    graph = to_networkx(gm)
    ste = _ste_internal(gm)
    modules = dict(gm.named_modules())
    producer: dict[str, str] = {}  # fx node name -> workload layer name (or INPUT)
    layers: list[Layer] = []
    used: dict[str, int] = {}
    quantizers = 0

    def uniq(base: str) -> str:
        k = used.get(base, 0)
        used[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def src(n: Any, where: str) -> str:
        if not isinstance(n, fx.Node) or n.name not in producer:
            raise WorkloadError(f"{where}: input {n!r} is not a tensor computed from the model input")
        return producer[n.name]

    def emit(node: fx.Node, layer_name: str, op: str, ins: list[fx.Node], **kw: Any) -> None:
        where = f"model {name!r}, node {layer_name!r}"
        layer = Layer(name=layer_name, op=op, inputs=tuple(src(i, where) for i in ins),  # type: ignore[arg-type]
                      in_shape=_shape(ins[0]), out_shape=_shape(node), **kw)
        layers.append(layer)
        producer[node.name] = layer_name

    for nname in nx.topological_sort(graph):
        node: fx.Node = graph.nodes[nname]["node"]
        tensor_args = [a for a in node.args if isinstance(a, fx.Node)]
        if node.op == "placeholder":
            producer[node.name] = INPUT
        elif node.op in ("output", "get_attr") or node.name in ste:
            continue
        elif node.op == "call_module":
            mod = modules[str(node.target)]
            lname = uniq(str(node.target))
            x = node.args[0]
            if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d):
                bits = (mod.w_bits, mod.a_bits) if _is_qlayer(mod) else (FP_BITS, FP_BITS)
                emit(node, lname, "conv_transpose2d" if isinstance(mod, nn.ConvTranspose2d) else "conv2d",
                     [x], kernel=_pair(mod.kernel_size), stride=_pair(mod.stride),
                     padding=_pair(mod.padding), dilation=_pair(mod.dilation), groups=mod.groups,
                     w_bits=bits[0], a_bits=bits[1])
            elif isinstance(mod, nn.Linear):
                bits = (mod.w_bits, mod.a_bits) if _is_qlayer(mod) else (FP_BITS, FP_BITS)
                emit(node, lname, "linear", [x], w_bits=bits[0], a_bits=bits[1])
            elif isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
                emit(node, lname, "threshold", [x])
            elif isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
                emit(node, lname, "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool", [x],
                     kernel=_pair(mod.kernel_size), stride=_pair(mod.stride or mod.kernel_size),
                     padding=_pair(mod.padding))
            elif isinstance(mod, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
                _, h, w = _shape(x)
                _, oh, ow = _shape(node)
                if h % oh or w % ow:
                    raise WorkloadError(f"module {lname!r}: adaptive pooling {h}x{w} -> {oh}x{ow} "
                                        "is not a whole-window pooling (no cost model)")
                emit(node, lname, "avgpool" if isinstance(mod, nn.AdaptiveAvgPool2d) else "maxpool",
                     [x], kernel=(h // oh, w // ow), stride=(h // oh, w // ow))
            elif isinstance(mod, nn.Upsample):
                emit(node, lname, "upsample", [x], stride=_factor(x, node))
            elif _is_fold_module(mod):
                from bnnarch.nn.quant import Quantizer

                quantizers += isinstance(mod, Quantizer)
                used[str(node.target)] -= 1
                producer[node.name] = src(x, f"module {lname!r}")
            else:
                raise WorkloadError(f"module {lname!r} ({type(mod).__name__}) has no cost model "
                                    "(supported: conv, linear, batch-norm, pooling, upsample, "
                                    "element-wise activations and quantizers)")
        elif node.op in ("call_function", "call_method"):
            fn = node.target
            scope = _scope(node)
            label = fn if isinstance(fn, str) else getattr(fn, "__name__", str(fn))
            where = f"op {label!r} in module {scope or '<top>'!r} (node {node.name!r})"
            if fn in _ADD or fn in ("add", "add_"):
                ste_add = any(a.name in ste for a in tensor_args)
                if ste_add or len(tensor_args) < 2:
                    quantizers += ste_add
                    producer[node.name] = src(tensor_args[0] if not ste_add else
                                              next(a for a in tensor_args if a.name not in ste), where)
                else:
                    emit(node, uniq(f"{scope}.add" if scope else "add"), "add", tensor_args)
            elif fn in (torch.cat, torch.concat, "cat"):
                ins = list(node.args[0]) if node.args else list(node.kwargs["tensors"])
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
                if dim not in (1, -3):
                    raise WorkloadError(f"{where}: concat along dim {dim} has no cost model (only channels)")
                emit(node, uniq(f"{scope}.cat" if scope else "cat"), "concat", ins)
            elif fn in (F.interpolate, torch.nn.functional.upsample):
                emit(node, uniq(f"{scope}.upsample" if scope else "upsample"), "upsample",
                     [tensor_args[0]], stride=_factor(tensor_args[0], node))
            elif fn in (F.max_pool2d, F.avg_pool2d):
                k = _pair(node.args[1] if len(node.args) > 1 else node.kwargs["kernel_size"])
                s = node.args[2] if len(node.args) > 2 else node.kwargs.get("stride")
                p = node.args[3] if len(node.args) > 3 else node.kwargs.get("padding", 0)
                kind = "maxpool" if fn is F.max_pool2d else "avgpool"
                emit(node, uniq(f"{scope}.{kind}" if scope else kind), kind, [tensor_args[0]],
                     kernel=k, stride=_pair(s) if s else k, padding=_pair(p))
            elif fn in _ARITH2 or fn in ("sub", "mul", "div", "sub_", "mul_"):
                live = [a for a in tensor_args if a.name not in ste and producer.get(a.name) is not None]
                if len(live) > 1:
                    raise WorkloadError(f"{where}: element-wise product/difference of two tensors "
                                        "has no cost model")
                producer[node.name] = src(tensor_args[0], where)
            elif fn in _ELEMENTWISE_FN or fn in _ELEMENTWISE_METHOD:
                producer[node.name] = src(tensor_args[0], where)
            else:
                raise WorkloadError(f"{where}: no cost model for this operation")
    m = {"extractor": "torch.fx", "quantizers_folded": str(quantizers), **(meta or {})}
    return WorkloadGraph(name, input_shape, tuple(layers), tuple(sorted(m.items())))


def _factor(x: fx.Node, y: fx.Node) -> tuple[int, int]:
    _, h, w = _shape(x)
    _, ho, wo = _shape(y)
    if ho % h or wo % w:
        raise WorkloadError(f"node {y.name!r}: non-integer upsampling {h}x{w} -> {ho}x{wo}")
    return (ho // h, wo // w)


