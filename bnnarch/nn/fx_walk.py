"""The fx graph walk behind ``bnnarch.nn.extract_any``: which nodes are
layers, which are quantizers (and of how many bits), and what the golden
forward can replay. One run of the traced module on an example input gives
every shape and the tensors each conv / linear multiplies with (``Values``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import _extract_tensor_metadata
from torch.nn import functional as F

from bnnarch.errors import ModelError, WorkloadError
from bnnarch.nn import extract as fxx
from bnnarch.nn.layers import QuantMixin, pack_sign_bits
from bnnarch.nn.params import batchnorm_params, f32_values, quant_layer_params
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, QUANT_BITS, Layer, LayerParams, Op

_BINARIZERS: dict[type, int] = {}

_CONV_FN: dict[Any, Op] = {F.conv2d: "conv2d", torch.conv2d: "conv2d", F.conv_transpose2d: "conv_transpose2d",
            torch.conv_transpose2d: "conv_transpose2d", F.linear: "linear"}
_SIGN_FN = {torch.sign}
# ops that keep a quantized value quantized (layout, selection, nearest resampling)
_KEEP_FN = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, operator.getitem,
            torch.detach, F.max_pool2d, F.interpolate, F.dropout}
_KEEP_METHOD = {"flatten", "view", "reshape", "squeeze", "unsqueeze", "contiguous", "detach",
                "clone", "to", "float", "view_as", "reshape_as"}
_KEEP_MOD = (nn.Identity, nn.Dropout, nn.Flatten, nn.Unflatten, nn.MaxPool2d, nn.Upsample,
             nn.AdaptiveMaxPool2d)
# sign-preserving ops: harmless right before a 1-bit quantizer
_SIGN_SAFE_FN = {F.hardtanh, torch.tanh, F.tanh, torch.clamp, torch.clip}
_SIGN_SAFE_MOD = (nn.Hardtanh, nn.Tanh)


def _is_brevitas(m: nn.Module) -> bool:
    return type(m).__module__.startswith("brevitas.")


def _proxy_bits(proxy: Any) -> int:
    """Bits of a Brevitas quant proxy (FP_BITS when disabled)."""
    if proxy is None or not getattr(proxy, "is_quant_enabled", False):
        return FP_BITS
    return round(float(proxy.bit_width()))


QParams = tuple[float, float, int, int, int]  # scale, zero point, bits, signed, narrow


def _qparams(proxy: Any) -> QParams | None:
    """A Brevitas integer quantizer as LayerParams.input_quant (QONNX ``Quant``
    semantics); None if it is disabled or not per-tensor."""
    if proxy is None or not getattr(proxy, "is_quant_enabled", False):
        return None
    with torch.no_grad():
        scale, zp = proxy.scale(), proxy.zero_point()
    if scale is None or scale.numel() != 1 or zp.numel() != 1:
        return None
    return (float(scale), float(zp), round(float(proxy.bit_width())), int(bool(proxy.is_signed)),
            int(bool(proxy.is_narrow_range)))


def _quantizer_bits(m: nn.Module) -> int | None:
    """Bits of an activation-quantizer module; None if ``m`` is not one."""
    for cls, b in _BINARIZERS.items():
        if isinstance(m, cls):
            return b
    from bnnarch.nn.quant import Quantizer

    if isinstance(m, Quantizer):
        return int(m.bits)
    if _is_brevitas(m) and hasattr(m, "act_quant") and not hasattr(m, "weight_quant"):
        return _proxy_bits(m.act_quant)
    return None


def _is_compute_module(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)


class AnyTracer(fxx._Tracer):
    """Leaves: the zoo's leaves, Brevitas layers, registered binarizers."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        # types only: reading a quantizer's bits while tracing would record it in the graph
        if _is_brevitas(m) or isinstance(m, tuple(_BINARIZERS)):
            return True
        if type(m) in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear):
            return True
        return super().is_leaf_module(m, qualname)


class Values(fx.Interpreter):
    """Runs the traced module on real inputs, keeping every node's value and
    its ``tensor_meta`` (as ShapeProp), also for Brevitas QuantTensors
    (``return_quant_tensor=True``): their ``.value``."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[str, Any] = {}

    def propagate(self, *args: Any) -> Any:
        return self.run(*args)

    def run_node(self, n: fx.Node) -> Any:
        r = super().run_node(n)
        v = r.value if not isinstance(r, Tensor) and isinstance(getattr(r, "value", None),
                                                                Tensor) else r
        if isinstance(v, Tensor):
            n.meta["tensor_meta"] = _extract_tensor_metadata(v)
            self.values[n.name] = v.detach()
        else:
            self.values[n.name] = v
        return r


def _arg(node: fx.Node, i: int, key: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def _first_input(node: fx.Node, where: str) -> fx.Node:
    """The node's first argument, the tensor an op reads."""
    x = node.args[0] if node.args else None
    if not isinstance(x, fx.Node):
        raise WorkloadError(f"{where}: input {x!r} is not a tensor computed from the model input")
    return x


def _bits_or_fail(bits: int, what: str, where: str) -> int:
    if bits not in QUANT_BITS and bits != FP_BITS:
        raise ModelError(f"{where}: {bits}-bit {what} (the workload supports "
                         f"{', '.join(map(str, QUANT_BITS))} or full precision)")
    return bits


_RTOL = 1e-5  # an STE ``w + (sign(w) - w).detach()`` is +-1 only up to float32 rounding


def _binary_scale(w: Tensor, where: str) -> np.ndarray:
    """Per-row scale of 1-bit weights, checking they are +-scale_c."""
    a = w.detach().abs().flatten(1).to(torch.float64)
    scale = a.amax(1)
    if not bool(((scale[:, None] - a) <= _RTOL * scale[:, None]).all()) \
            or not bool((scale > 0).all()):
        raise ModelError(f"{where}: weights quantized to 1 bit are not +-scale per output "
                         "channel (a zero from torch.sign(0), or a scale per weight?)")
    return scale.numpy()


def _input_scale(x: Any, where: str) -> float:
    """The s of a 1-bit input +-s (one value over the example input)."""
    if not isinstance(x, Tensor):
        return 1.0
    a = x.detach().abs().to(torch.float64)
    s = float(a.max())
    if s <= 0 or not bool((s - a <= _RTOL * s).all()):
        raise ModelError(f"{where}: its input is quantized to 1 bit but is not +-s "
                         "(a zero from torch.sign(0)?): only sign quantizers with ties "
                         "to +1 have a golden forward")
    return s


class Walk:
    """The fx graph -> workload layers (see module doc)."""

    def __init__(self, gm: fx.GraphModule, values: dict[str, Any], name: str) -> None:
        self.gm, self.values, self.name = gm, values, name
        self.modules = dict(gm.named_modules())
        self.ste = fxx._ste_internal(gm)
        self.producer: dict[str, str] = {}
        self.qbits: dict[str, int] = {}
        self.layers: list[Layer] = []
        self.weights: dict[str, tuple[Tensor, Any]] = {}  # layer -> (weight, input node value)
        self.nodes: dict[str, fx.Node] = {}  # layer -> fx node (compute layers)
        self.unmodelled: list[str] = []
        self.sign_safe: list[tuple[fx.Node, str]] = []  # sign-preserving ops (see finish)
        self.qparams: dict[str, QParams] = {}  # node -> the k-bit quantizer its value is on
        self.kbit: list[tuple[fx.Node, str]] = []  # k-bit quantizers replayed at their readers
        self.bn_nodes: dict[str, fx.Node] = {}  # batch-norm layer -> its fx node
        self.used: dict[str, int] = {}

    def uniq(self, base: str) -> str:
        k = self.used.get(base, 0)
        self.used[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def src(self, n: Any, where: str) -> str:
        if not isinstance(n, fx.Node) or n.name not in self.producer:
            raise WorkloadError(f"{where}: input {n!r} is not a tensor computed from the "
                                "model input")
        return self.producer[n.name]

    def emit(self, node: fx.Node, lname: str, op: Op, ins: Sequence[object], **kw: Any) -> None:
        where = f"model {self.name!r}, node {lname!r}"
        inputs = tuple(self.src(i, where) for i in ins)  # every input checked to be a node
        self.layers.append(Layer(name=lname, op=op, inputs=inputs,
                                 in_shape=fxx._shape(cast(fx.Node, ins[0])),
                                 out_shape=fxx._shape(node), **kw))
        self.producer[node.name] = lname

    def passthrough(self, node: fx.Node, x: fx.Node, where: str, bits: int | None = None,
                    changes_value: bool = False) -> None:
        self.producer[node.name] = self.src(x, where)
        self.qbits[node.name] = self.qbits.get(x.name, FP_BITS) if bits is None else bits
        if bits is None and not changes_value and x.name in self.qparams:
            self.qparams[node.name] = self.qparams[x.name]
        if changes_value:
            self.unmodelled.append(where)

    def run(self) -> list[Layer]:
        for node in self.gm.graph.nodes:
            self.node(node)
        return self.layers

    def node(self, node: fx.Node) -> None:
        tensors = [a for a in node.args if isinstance(a, fx.Node)]
        derived = any(a.name in self.producer for a in node.all_input_nodes)
        if node.op == "placeholder":
            self.producer[node.name] = INPUT
            self.qbits[node.name] = FP_BITS
        elif node.op == "output":
            return
        elif node.op == "get_attr" or not derived or node.name in self.ste:
            self.constant(node, tensors)
        elif node.op == "call_module":
            self.module(node)
        else:
            self.function(node, tensors)

    def constant(self, node: fx.Node, tensors: list[fx.Node]) -> None:
        """Weight-side chains: only their quantization matters."""
        fn = node.target
        if fn in _SIGN_FN or fn == "sign":
            self.qbits[node.name] = 1
        elif node.op == "call_module":
            b = _quantizer_bits(self.modules[str(fn)])
            self.qbits[node.name] = b if b is not None else FP_BITS
        elif tensors and (fn in (operator.mul, torch.mul, operator.truediv, torch.div, "mul",
                                 "div") or fn in _KEEP_FN or fn in _KEEP_METHOD):
            self.qbits[node.name] = min(self.qbits.get(a.name, FP_BITS) for a in tensors)
        elif fn in fxx._ADD and len(tensors) == 2 and any(a.name in self.ste for a in tensors):
            self.qbits[node.name] = self._ste_bits(node, tensors)
        else:
            self.qbits[node.name] = FP_BITS

    def _ste_bits(self, node: fx.Node, tensors: list[fx.Node]) -> int:
        """``x + (q - x).detach()``: the bits of ``q``."""
        det = next(a for a in tensors if a.name in self.ste)
        inner = det.args[0] if det.args else None
        if isinstance(inner, fx.Node) and inner.args and isinstance(inner.args[0], fx.Node):
            return self.qbits.get(inner.args[0].name, FP_BITS)
        return FP_BITS

    def module(self, node: fx.Node) -> None:
        mod = self.modules[str(node.target)]
        lname = self.uniq(str(node.target))
        where = f"module {lname!r} ({type(mod).__name__})"
        x = _first_input(node, where)
        bits = _quantizer_bits(mod)
        if _is_compute_module(mod):
            self.compute_module(node, mod, lname, x)
        elif bits is not None:
            self.used[str(node.target)] -= 1
            self.passthrough(node, x, where, bits=_bits_or_fail(bits, "activations", where))
            qp = _qparams(mod.act_quant) if _is_brevitas(mod) else None
            if 1 < bits < FP_BITS and qp is not None:
                self.qparams[node.name] = qp
                self.kbit.append((node, where))
            elif 1 < bits < FP_BITS:
                self.unmodelled.append(f"{where}: {bits}-bit activation quantizer")
        elif isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
            self.emit(node, lname, "threshold", [x], params=batchnorm_params(mod))
            self.bn_nodes[lname] = node
        elif isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
            self.emit(node, lname, "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool",
                      [x], kernel=fxx._pair(mod.kernel_size),
                      stride=fxx._pair(mod.stride or mod.kernel_size),
                      padding=fxx._pair(mod.padding))
            self.qbits[node.name] = self.qbits.get(x.name, FP_BITS) \
                if isinstance(mod, nn.MaxPool2d) else FP_BITS
            if isinstance(mod, nn.MaxPool2d) and x.name in self.qparams:
                self.qparams[node.name] = self.qparams[x.name]
        elif isinstance(mod, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            _, h, w = fxx._shape(x)
            _, oh, ow = fxx._shape(node)
            if h % oh or w % ow:
                raise WorkloadError(f"module {lname!r}: adaptive pooling {h}x{w} -> {oh}x{ow} "
                                    "is not a whole-window pooling (no cost model)")
            mx = isinstance(mod, nn.AdaptiveMaxPool2d)
            self.emit(node, lname, "maxpool" if mx else "avgpool", [x],
                      kernel=(h // oh, w // ow), stride=(h // oh, w // ow))
            self.qbits[node.name] = self.qbits.get(x.name, FP_BITS) if mx else FP_BITS
        elif isinstance(mod, nn.Upsample):
            if mod.mode != "nearest":
                self.unmodelled.append(f"{where}: {mod.mode} upsampling")
            self.emit(node, lname, "upsample", [x], stride=fxx._factor(x, node))
            self.qbits[node.name] = self.qbits.get(x.name, FP_BITS)
        elif fxx._is_fold_module(mod) or isinstance(mod, _SIGN_SAFE_MOD):
            self.used[str(node.target)] -= 1
            keep = isinstance(mod, _KEEP_MOD)
            self.passthrough(node, x, where, changes_value=not keep)
            if isinstance(mod, _SIGN_SAFE_MOD):
                self.unmodelled.pop()
                self.sign_safe.append((node, where))
        else:
            raise WorkloadError(f"module {lname!r} ({type(mod).__name__}) has no cost model "
                                "(supported: conv, linear, batch-norm, pooling, upsample, "
                                "element-wise activations and quantizers)")

    def compute_module(self, node: fx.Node, mod: nn.Module, lname: str, x: Any) -> None:
        where = f"layer {lname!r} ({type(mod).__name__})"
        if isinstance(mod, QuantMixin):
            wb, ab = mod.w_bits, mod.a_bits
        elif _is_brevitas(mod):
            wb = _proxy_bits(getattr(mod, "weight_quant", None))
            own = _proxy_bits(getattr(mod, "input_quant", None))
            ab = own if own < FP_BITS else self.qbits.get(x.name, FP_BITS)
            if own < FP_BITS:
                iq = _qparams(mod.input_quant)
                if iq is not None:
                    self.qparams[f"{node.name}.input"] = iq
            for proxy in ("output_quant", "bias_quant"):
                if _proxy_bits(getattr(mod, proxy, None)) < FP_BITS:
                    self.unmodelled.append(f"{where}: {proxy.replace('_', ' ')}")
        else:
            wb, ab = FP_BITS, self.qbits.get(x.name, FP_BITS)
        wb = _bits_or_fail(wb, "weights", where)
        ab = _bits_or_fail(ab, "activations", where)
        op: Op = ("conv_transpose2d" if isinstance(mod, nn.ConvTranspose2d)
              else "linear" if isinstance(mod, nn.Linear) else "conv2d")
        kw: dict[str, Any] = {}
        if op != "linear":
            kw = {"kernel": fxx._pair(mod.kernel_size), "stride": fxx._pair(mod.stride),
                  "padding": fxx._pair(mod.padding), "dilation": fxx._pair(mod.dilation),
                  "groups": mod.groups}
        self.emit(node, lname, op, [x], w_bits=wb, a_bits=ab, **kw)
        self.qbits[node.name] = FP_BITS
        self.nodes[lname] = node
        if isinstance(mod, QuantMixin):
            self.layers[-1] = replace(self.layers[-1], params=quant_layer_params(mod))
            pw = pack_sign_bits(mod.quantized_weight()) if wb == 1 else None
            self.layers[-1] = replace(self.layers[-1], packed_weights=pw)
            return
        if _is_brevitas(mod) and wb < FP_BITS:
            brevitas_mod: Any = mod  # brevitas ships no type information
            w = brevitas_mod.quant_weight().value.detach()
        else:
            w = cast(Tensor, mod.weight).detach()  # conv / linear: a Parameter
        xin = self.values.get(x.name) if isinstance(x, fx.Node) else None
        self.weights[lname] = (w, xin)
        iq = self.qparams.get(f"{node.name}.input", self.qparams.get(getattr(x, "name", "")))
        self.layers[-1] = self.with_params(self.layers[-1], w, mod.bias, xin, where, iq)

    def with_params(self, layer: Layer, w: Tensor, bias: Any, xin: Any, where: str,
                    iq: QParams | None = None) -> Layer:
        """Packed signs / real weights, scales and bias; ``iq``: the k-bit
        quantizer of the input, replayed by the golden forward."""
        b = f32_values(bias) if isinstance(bias, Tensor) else None
        iq = iq if 1 < layer.a_bits < FP_BITS else None
        if 1 < layer.a_bits < FP_BITS and iq is None:
            self.unmodelled.append(f"{where}: {layer.a_bits}-bit activations")
        if layer.w_bits == 1:
            scale = _binary_scale(w, where)
            if layer.a_bits == 1:
                scale = scale * _input_scale(xin, where)
            return replace(layer, packed_weights=pack_sign_bits(w), params=LayerParams(
                weight_scale=tuple(float(v) for v in scale), bias=b, input_quant=iq))
        if layer.a_bits == 1:
            s = _input_scale(xin, where)
            if s != 1.0:
                self.unmodelled.append(f"{where}: 1-bit input scaled by {s}")
        return replace(layer, params=LayerParams(weight=f32_values(w), bias=b, input_quant=iq))

    def function(self, node: fx.Node, tensors: list[fx.Node]) -> None:
        fn = node.target
        scope = fxx._scope(node)
        label = fn if isinstance(fn, str) else getattr(fn, "__name__", str(fn))
        where = f"op {label!r} in module {scope or '<top>'!r} (node {node.name!r})"
        if fn in _CONV_FN:
            self.functional_compute(node, _CONV_FN[fn], scope)
        elif fn in _SIGN_FN or fn == "sign":
            self.passthrough(node, tensors[0], where, bits=1)
        elif fn in fxx._ADD or fn in ("add", "add_"):
            ste = [a for a in tensors if a.name in self.ste]
            if ste or len(tensors) < 2:
                x = next((a for a in tensors if a.name not in self.ste), tensors[0])
                bits = self._ste_bits(node, tensors) if ste else None
                self.passthrough(node, x, where, bits=bits, changes_value=not ste)
            else:
                self.emit(node, self.uniq(f"{scope}.add" if scope else "add"), "add", tensors)
                self.qbits[node.name] = FP_BITS
        elif self.post_op(node, fn, tensors, scope, where):
            pass
        elif fn in fxx._ARITH2 or fn in ("sub", "mul", "div", "sub_", "mul_"):
            live = [a for a in tensors if a.name in self.producer]
            if len(live) > 1:
                raise WorkloadError(f"{where}: element-wise product/difference of two tensors "
                                    "has no cost model")
            keep = fn in (operator.mul, torch.mul, "mul", "mul_", operator.truediv, torch.div)
            b = self.qbits.get(live[0].name, FP_BITS)
            self.passthrough(node, live[0], where, bits=b if keep else FP_BITS,
                             changes_value=True)
            if keep and b < FP_BITS:  # a scaled quantized value: the scale is measured
                self.unmodelled.pop()
        elif fn in _KEEP_FN or fn in _KEEP_METHOD:
            self.passthrough(node, tensors[0], where)
        elif fn in fxx._ELEMENTWISE_FN or fn in fxx._ELEMENTWISE_METHOD:
            self.passthrough(node, tensors[0], where, bits=FP_BITS, changes_value=True)
            if fn in _SIGN_SAFE_FN:
                self.unmodelled.pop()
                self.sign_safe.append((node, where))
        else:
            raise WorkloadError(f"{where}: no cost model for this operation")

    def post_op(self, node: fx.Node, fn: Any, tensors: list[fx.Node], scope: str, where: str
                ) -> bool:
        """Concat, upsampling and functional pooling: a layer each; False if ``fn``
        is none of them."""
        if fn in (torch.cat, torch.concat, "cat"):
            ins = node.args[0] if node.args else node.kwargs["tensors"]
            if not isinstance(ins, list | tuple):
                raise WorkloadError(f"{where}: concat of {ins!r}, not of a list of tensors")
            dim = _arg(node, 1, "dim", 0)
            if dim not in (1, -3):
                raise WorkloadError(f"{where}: concat along dim {dim} has no cost model "
                                    "(only channels)")
            self.emit(node, self.uniq(f"{scope}.cat" if scope else "cat"), "concat", ins)
            bits = {self.qbits.get(a.name, FP_BITS) for a in ins if isinstance(a, fx.Node)}
            self.qbits[node.name] = bits.pop() if len(bits) == 1 else FP_BITS
        elif fn in (F.interpolate, torch.nn.functional.upsample):
            if _arg(node, 3, "mode", "nearest") != "nearest":
                self.unmodelled.append(f"{where}: non-nearest upsampling")
            self.emit(node, self.uniq(f"{scope}.upsample" if scope else "upsample"), "upsample",
                      [tensors[0]], stride=fxx._factor(tensors[0], node))
            self.qbits[node.name] = self.qbits.get(tensors[0].name, FP_BITS)
        elif fn in (F.max_pool2d, F.avg_pool2d):
            k = fxx._pair(_arg(node, 1, "kernel_size"))
            s = _arg(node, 2, "stride")
            p = _arg(node, 3, "padding", 0)
            kind: Op = "maxpool" if fn is F.max_pool2d else "avgpool"
            self.emit(node, self.uniq(f"{scope}.{kind}" if scope else kind), kind, [tensors[0]],
                      kernel=k, stride=fxx._pair(s) if s else k, padding=fxx._pair(p))
            self.qbits[node.name] = (self.qbits.get(tensors[0].name, FP_BITS)
                                     if kind == "maxpool" else FP_BITS)
        else:
            return False
        return True

    def functional_compute(self, node: fx.Node, op: Op, scope: str) -> None:
        lname = self.uniq(scope or op)
        where = f"layer {lname!r} ({getattr(node.target, '__name__', op)})"
        x, wn, bn = _first_input(node, where), _arg(node, 1, "weight"), _arg(node, 2, "bias")
        wb = _bits_or_fail(self.qbits.get(wn.name, FP_BITS), "weights", where)
        ab = _bits_or_fail(self.qbits.get(x.name, FP_BITS), "activations", where)
        w = self.values[wn.name]
        kw: dict[str, Any] = {}
        if op == "conv2d":
            pad = _arg(node, 4, "padding", 0)
            if isinstance(pad, str):
                if pad == "valid":
                    pad = 0
                elif tuple(w.shape[2:]) == tuple(s // 2 * 2 + 1 for s in w.shape[2:]):
                    pad = (w.shape[2] // 2, w.shape[3] // 2)  # 'same', odd kernel
                else:
                    raise WorkloadError(f"{where}: padding {pad!r} with an even kernel")
            kw = {"kernel": (int(w.shape[2]), int(w.shape[3])),
                  "stride": fxx._pair(_arg(node, 3, "stride", 1)), "padding": fxx._pair(pad),
                  "dilation": fxx._pair(_arg(node, 5, "dilation", 1)),
                  "groups": int(_arg(node, 6, "groups", 1))}
        elif op == "conv_transpose2d":
            kw = {"kernel": (int(w.shape[2]), int(w.shape[3])),
                  "stride": fxx._pair(_arg(node, 3, "stride", 1)),
                  "padding": fxx._pair(_arg(node, 4, "padding", 0)),
                  "groups": int(_arg(node, 6, "groups", 1)),
                  "dilation": fxx._pair(_arg(node, 7, "dilation", 1))}
        self.emit(node, lname, op, [x], w_bits=wb, a_bits=ab, **kw)
        self.qbits[node.name] = FP_BITS
        self.nodes[lname] = node
        bias = self.values.get(bn.name) if isinstance(bn, fx.Node) else bn
        xin = self.values.get(x.name)
        self.weights[lname] = (w, xin)
        iq = self.qparams.get(x.name)
        self.layers[-1] = self.with_params(self.layers[-1], w, bias, xin, where, iq)

    def _readers(self, layer: str) -> list[tuple[fx.Node, fx.Node]]:
        """(value node, reader) pairs where the value of workload layer ``layer``
        (or a quantized / reshaped view of it) is read by another layer or the
        output; STE internals are skipped."""
        out = []
        for n in self.gm.graph.nodes:
            if self.producer.get(n.name) != layer:
                continue
            for u in n.users:
                if u.name in self.ste or self.producer.get(u.name) == layer:
                    continue
                out.append((n, u))
        return out

    def binarized(self, bn_layer: str) -> bool:
        """Every reader of the batch-norm ``bn_layer`` sees it through a 1-bit
        quantizer with values +-1: sign(BN) is then the layer's output and
        integer thresholds are exact whatever follows (adds, pooling)."""
        readers = self._readers(bn_layer)
        for n, _ in readers:
            v = self.values.get(n.name)
            if self.qbits.get(n.name) != 1 or not isinstance(v, Tensor) \
                    or not bool((v.abs() == 1).all()):
                return False
        return bool(readers)

    def lost_signs(self, graph: WorkloadGraph) -> list[str]:
        """1-bit quantized values read by something other than a conv / linear
        (which re-binarizes its input in the golden forward), where the
        producing layer does not output the signs itself (a folded batch-norm)."""
        out = []
        for layer in graph.layers:
            src = layer.inputs[0] if layer.op == "threshold" and layer.inputs else None
            folded = src is not None and graph[src].thresholds is not None
            for n, u in self._readers(layer.name):
                if self.qbits.get(n.name) != 1 or folded or self._is_compute_read(u, n):
                    continue
                out.append(f"the 1-bit value of node {n.name!r} (on {layer.name!r}) read by "
                           f"{u.name!r}, not a conv / linear")
        return out

    def _is_compute_read(self, u: fx.Node, n: fx.Node) -> bool:
        mod = self.modules.get(str(u.target)) if u.op == "call_module" else None
        return ((mod is not None and _is_compute_module(mod)) or u.target in _CONV_FN) \
            and bool(u.args) and u.args[0] is n

    def _only_compute_reads(self, node: fx.Node) -> bool:
        """Every reader of ``node`` (through value-keeping ops) is a conv / linear
        input: the golden forward applies a quantizer at its readers only."""
        for u in node.users:
            mod = self.modules.get(str(u.target)) if u.op == "call_module" else None
            if (mod is not None and _is_compute_module(mod)) or u.target in _CONV_FN:
                if u.args[0] is not node:
                    return False
            elif (isinstance(mod, _KEEP_MOD) or u.target in _KEEP_FN
                  or u.target in _KEEP_METHOD):
                if not self._only_compute_reads(u):
                    return False
            else:
                return False
        return True

    def finish_unmodelled(self) -> list[str]:
        """Sign-preserving ops count as modelled when only 1-bit quantizers read
        them; k-bit quantizers when only conv / linear layers read them."""
        out = list(self.unmodelled)
        out += [f"{where}: read by a layer that is not a conv / linear"
                for node, where in self.kbit if not self._only_compute_reads(node)]
        for node, where in self.sign_safe:
            ok = all(self.qbits.get(u.name) == 1 or self._is_one_bit_compute_input(u, node)
                     for u in node.users)
            if not ok:
                out.append(where)
        return out

    def _is_one_bit_compute_input(self, user: fx.Node, node: fx.Node) -> bool:
        if user.op == "call_module":
            mod = self.modules[str(user.target)]
            return isinstance(mod, QuantMixin) and mod.a_bits == 1 and user.args[0] is node
        return False
