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
from collections.abc import Sequence
from typing import Any

import networkx as nx
import torch
from torch import fx, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

from bnnarch.errors import ModelError, WorkloadError
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, Layer, Op

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
        return s
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


def to_networkx(gm: fx.GraphModule) -> nx.DiGraph[str]:
    """The fx graph as a networkx DiGraph (node attribute ``node`` = fx.Node)."""
    g: nx.DiGraph[str] = nx.DiGraph()
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


def _scoped(scope: str, base: str) -> str:
    """``<scope>.<base>`` for a functional op inside a module, ``<base>`` at the top."""
    return f"{scope}.{base}" if scope else base


class _Extraction:
    """The state of one extraction: which workload layer produces each fx node."""

    def __init__(self, gm: fx.GraphModule, name: str) -> None:
        self.name = name
        self.ste = _ste_internal(gm)
        self.modules = dict(gm.named_modules())
        self.producer: dict[str, str] = {}  # fx node name -> workload layer name (or INPUT)
        self.layers: list[Layer] = []
        self.used: dict[str, int] = {}
        self.quantizers = 0

    def uniq(self, base: str) -> str:
        k = self.used.get(base, 0)
        self.used[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def node(self, n: object, where: str) -> fx.Node:
        """``n`` as an fx node already computed from the model input."""
        if not isinstance(n, fx.Node) or n.name not in self.producer:
            raise WorkloadError(f"{where}: input {n!r} is not a tensor computed from the model input")
        return n

    def src(self, n: object, where: str) -> str:
        return self.producer[self.node(n, where).name]

    def emit(self, node: fx.Node, layer_name: str, op: Op, ins: Sequence[object],
             **kw: Any) -> None:
        where = f"model {self.name!r}, node {layer_name!r}"
        nodes = [self.node(i, where) for i in ins]
        layer = Layer(name=layer_name, op=op, inputs=tuple(self.producer[n.name] for n in nodes),
                      in_shape=_shape(nodes[0]), out_shape=_shape(node), **kw)
        self.layers.append(layer)
        self.producer[node.name] = layer_name

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.producer[node.name] = INPUT
        elif node.op in ("output", "get_attr") or node.name in self.ste:
            return
        elif node.op == "call_module":
            self._module(node)
        elif node.op in ("call_function", "call_method"):
            self._function(node)

    # -- leaf modules --------------------------------------------------------------------------

    def _input(self, node: fx.Node, lname: str) -> fx.Node:
        return self.node(node.args[0], f"model {self.name!r}, node {lname!r}")

    def _module(self, node: fx.Node) -> None:
        mod = self.modules[str(node.target)]
        lname = self.uniq(str(node.target))
        if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d):
            bits = (mod.w_bits, mod.a_bits) if _is_qlayer(mod) else (FP_BITS, FP_BITS)
            op: Op = "conv_transpose2d" if isinstance(mod, nn.ConvTranspose2d) else "conv2d"
            self.emit(node, lname, op, [self._input(node, lname)], kernel=_pair(mod.kernel_size),
                      stride=_pair(mod.stride), padding=_pair(mod.padding),
                      dilation=_pair(mod.dilation), groups=mod.groups, w_bits=bits[0], a_bits=bits[1])
        elif isinstance(mod, nn.Linear):
            bits = (mod.w_bits, mod.a_bits) if _is_qlayer(mod) else (FP_BITS, FP_BITS)
            self.emit(node, lname, "linear", [self._input(node, lname)], w_bits=bits[0], a_bits=bits[1])
        elif isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
            self.emit(node, lname, "threshold", [self._input(node, lname)])
        elif isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
            self.emit(node, lname, "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool",
                      [self._input(node, lname)], kernel=_pair(mod.kernel_size),
                      stride=_pair(mod.stride or mod.kernel_size), padding=_pair(mod.padding))
        elif isinstance(mod, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            self._adaptive_pool(node, lname, isinstance(mod, nn.AdaptiveAvgPool2d))
        elif isinstance(mod, nn.Upsample):
            x = self._input(node, lname)
            self.emit(node, lname, "upsample", [x], stride=_factor(x, node))
        elif _is_fold_module(mod):
            from bnnarch.nn.quant import Quantizer

            self.quantizers += isinstance(mod, Quantizer)
            self.used[str(node.target)] -= 1
            self.producer[node.name] = self.src(node.args[0], f"module {lname!r}")
        else:
            raise WorkloadError(f"module {lname!r} ({type(mod).__name__}) has no cost model "
                                "(supported: conv, linear, batch-norm, pooling, upsample, "
                                "element-wise activations and quantizers)")

    def _adaptive_pool(self, node: fx.Node, lname: str, average: bool) -> None:
        x = self._input(node, lname)
        _, h, w = _shape(x)
        _, oh, ow = _shape(node)
        if h % oh or w % ow:
            raise WorkloadError(f"module {lname!r}: adaptive pooling {h}x{w} -> {oh}x{ow} "
                                "is not a whole-window pooling (no cost model)")
        self.emit(node, lname, "avgpool" if average else "maxpool",
                  [x], kernel=(h // oh, w // ow), stride=(h // oh, w // ow))

    # -- functions and tensor methods ----------------------------------------------------------

    def _function(self, node: fx.Node) -> None:
        fn = node.target
        scope = _scope(node)
        label = fn if isinstance(fn, str) else getattr(fn, "__name__", str(fn))
        where = f"op {label!r} in module {scope or '<top>'!r} (node {node.name!r})"
        tensor_args = [a for a in node.args if isinstance(a, fx.Node)]
        if fn in _ADD or fn in ("add", "add_"):
            self._add(node, tensor_args, scope, where)
        elif fn in (torch.cat, torch.concat, "cat"):
            self._concat(node, scope, where)
        elif fn in (F.interpolate, torch.nn.functional.upsample):
            self.emit(node, self.uniq(_scoped(scope, "upsample")), "upsample",
                      [tensor_args[0]], stride=_factor(tensor_args[0], node))
        elif fn in (F.max_pool2d, F.avg_pool2d):
            k = _pair(node.args[1] if len(node.args) > 1 else node.kwargs["kernel_size"])
            s = node.args[2] if len(node.args) > 2 else node.kwargs.get("stride")
            p = node.args[3] if len(node.args) > 3 else node.kwargs.get("padding", 0)
            kind: Op = "maxpool" if fn is F.max_pool2d else "avgpool"
            self.emit(node, self.uniq(_scoped(scope, kind)), kind, [tensor_args[0]],
                      kernel=k, stride=_pair(s) if s else k, padding=_pair(p))
        elif fn in _ARITH2 or fn in ("sub", "mul", "div", "sub_", "mul_"):
            live = [a for a in tensor_args
                    if a.name not in self.ste and self.producer.get(a.name) is not None]
            if len(live) > 1:
                raise WorkloadError(f"{where}: element-wise product/difference of two tensors "
                                    "has no cost model")
            self.producer[node.name] = self.src(tensor_args[0], where)
        elif fn in _ELEMENTWISE_FN or fn in _ELEMENTWISE_METHOD:
            self.producer[node.name] = self.src(tensor_args[0], where)
        else:
            raise WorkloadError(f"{where}: no cost model for this operation")

    def _add(self, node: fx.Node, tensor_args: list[fx.Node], scope: str, where: str) -> None:
        """``a + b`` is a residual add; an STE's ``x + (q - x).detach()`` or
        ``tensor + scalar`` folds into its producer."""
        ste_add = any(a.name in self.ste for a in tensor_args)
        if ste_add or len(tensor_args) < 2:
            self.quantizers += ste_add
            self.producer[node.name] = self.src(
                tensor_args[0] if not ste_add else
                next(a for a in tensor_args if a.name not in self.ste), where)
        else:
            self.emit(node, self.uniq(_scoped(scope, "add")), "add", tensor_args)

    def _concat(self, node: fx.Node, scope: str, where: str) -> None:
        tensors = node.args[0] if node.args else node.kwargs["tensors"]
        if not isinstance(tensors, list | tuple):
            raise WorkloadError(f"{where}: concat of {tensors!r}, not of a list of tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if dim not in (1, -3):
            raise WorkloadError(f"{where}: concat along dim {dim} has no cost model (only channels)")
        self.emit(node, self.uniq(_scoped(scope, "cat")), "concat", list(tensors))


def _shape_prop(gm: fx.GraphModule, model: nn.Module, input_shape: tuple[int, int, int],
                name: str) -> None:
    """Annotate ``gm``'s nodes with their output shapes (fake tensors: no arithmetic)."""
    was_training = model.training
    gm.eval()
    try:
        with torch.no_grad():
            fake = FakeTensorMode(allow_non_fake_inputs=True)
            ShapeProp(gm, fake_mode=fake).propagate(torch.zeros(1, *input_shape))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"model {name!r}: shape propagation failed ({type(e).__name__}: {e})") from None
    finally:
        model.train(was_training)


def extract(model: nn.Module, input_shape: tuple[int, int, int], *, name: str,
            meta: dict[str, str] | None = None) -> WorkloadGraph:
    """Trace ``model`` on one ``input_shape`` image and return its WorkloadGraph."""
    gm = trace(model)
    _shape_prop(gm, model, input_shape, name)
    graph = to_networkx(gm)
    state = _Extraction(gm, name)
    for nname in nx.topological_sort(graph):
        state.visit(graph.nodes[nname]["node"])
    m = {"extractor": "torch.fx", "quantizers_folded": str(state.quantizers), **(meta or {})}
    return WorkloadGraph(name, input_shape, tuple(state.layers), tuple(sorted(m.items())))


def _factor(x: fx.Node, y: fx.Node) -> tuple[int, int]:
    _, h, w = _shape(x)
    _, ho, wo = _shape(y)
    if ho % h or wo % w:
        raise WorkloadError(f"node {y.name!r}: non-integer upsampling {h}x{w} -> {ho}x{wo}")
    return (ho // h, wo // w)


