"""ONNX graph walk: an OnnxView -> WorkloadGraph layers with their bits.

Mapping (ONNX node -> workload layer), the same ops and names the torch
extractor (bnnarch.nn.extract) produces:

  Conv -> conv2d; ConvTranspose -> conv_transpose2d; Gemm / MatMul (constant
  weight) -> linear; BatchNormalization, MultiThreshold -> threshold;
  MaxPool / AveragePool / GlobalMax/AveragePool -> maxpool / avgpool; Add / Sum
  of two tensors -> add; Concat on channels -> concat; Resize / Upsample
  (integer factor) -> upsample. Folded into their producer (no layer):
  activations (Relu, Sign, Clip, Tanh, Sigmoid, PRelu, ...), the Mul / Div /
  Add / Sub scaling nodes with a constant exporters put around the graph,
  Reshape / Flatten / Squeeze / Unsqueeze, Transposes that only reshape, and
  the QONNX quantizers and ONNX QuantizeLinear / DequantizeLinear, which give
  the bits.

Bits: a compute layer's ``w_bits`` is the bit width of the ``Quant`` /
``BipolarQuant`` (1 bit) on its weight; ``a_bits`` that of the nearest
quantizer (``Quant``, ``BipolarQuant``, ``Trunc``, ``MultiThreshold``)
upstream of its input through nodes that keep values on the quantizer's grid
(reshapes, max-pooling, nearest upsampling, concat, constant scaling). No
quantizer means full precision (``FP_BITS``); more than 8 bits too. A
plain float ONNX model needs a precision map.

Names: the torch module path recorded by the exporter
(``pkg.torch.onnx.name_scopes`` metadata of torch.onnx's dynamo exporter, or
the ``/a/a.b/conv/Conv`` node names of the TorchScript exporter), so a
precision map written for the torch model applies; otherwise the node name.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bnnarch.errors import WorkloadError
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, QUANT_BITS, Layer, Op, conv_out
from bnnarch.workload.onnx_graph import OnnxView, attrs, int_bits, is_qonnx, where

# element-wise nodes folded into their producer; True = values keep the
# quantizer grid (bits pass through), False = they leave it (full precision after)
_FOLD: dict[str, bool] = {
    "Identity": True, "Dropout": True, "Cast": True, "Reshape": True, "Flatten": True,
    "Squeeze": True, "Unsqueeze": True, "Transpose": True,
    "Relu": False, "LeakyRelu": False, "PRelu": False, "Clip": False, "Sigmoid": False,
    "Tanh": False, "HardSigmoid": False, "HardSwish": False, "Sign": False, "Round": False,
    "Floor": False, "Ceil": False, "Neg": False, "Abs": False, "Softmax": False,
    "LogSoftmax": False, "Elu": False, "Selu": False, "Softplus": False, "Erf": False,
    "Gelu": False,
}
_SCALE = ("Mul", "Div")  # with a constant: bits pass through
_SHIFT = ("Add", "Sub")  # with a constant: folded, values leave the grid
SUPPORTED = ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "MultiThreshold",
             "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
             "ReduceMax", "Add", "Sum",
             "Concat", "Resize", "Upsample", "Quant", "BipolarQuant", "Trunc",
             "QuantizeLinear", "DequantizeLinear",
             *_SCALE, "Sub", *sorted(_FOLD))


@dataclass
class Act:
    """What the workload knows about one run-time tensor."""

    producer: str  # workload layer (or INPUT) whose output this is
    origin: tuple[int, ...]  # full shape at that producer (before folded reshapes)
    bits: int | None = None  # quantizer bits, None = off any grid (full precision)
    scale: float | None = None  # 1-bit values are +-scale (scalar), if known
    quant: tuple[float, float, int, int, int] | None = None  # the Quant that made it, if any


@dataclass
class Compute:
    """A compute layer's ONNX node and constant operands (for weights/thresholds)."""

    node: onnx.NodeProto
    weight: np.ndarray  # as the op uses it; conv: (cout, cin_g, kh, kw); linear: (N, K)
    bias: np.ndarray | None
    in_scale: float | None  # +-scale of a 1-bit input
    w_quant: str | None  # op type of the weight quantizer
    in_quant: tuple[float, float, int, int, int] | None = None  # Quant on the input


@dataclass
class Imported:
    """Layers plus what later passes need."""

    layers: list[Layer] = field(default_factory=list)
    compute: dict[str, Compute] = field(default_factory=dict)
    out_tensor: dict[str, str] = field(default_factory=dict)  # layer -> ONNX output tensor
    in_tensor: dict[str, str] = field(default_factory=dict)  # compute layer -> ONNX data input
    bad_bits: dict[str, str] = field(default_factory=dict)  # layer -> problem
    batchnorm: dict[str, onnx.NodeProto] = field(default_factory=dict)  # threshold layer -> BN
    notes: dict[str, str] = field(default_factory=dict)  # meta notes


def chw(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    """Full (batch 1) shape -> (C, H, W)."""
    if not shape or shape[0] != 1:
        raise WorkloadError(f"{what}: tensor shape {list(shape)} is not batch 1")
    s = shape[1:]
    if len(s) == 3:
        return (s[0], s[1], s[2])
    if len(s) == 1:
        return (s[0], 1, 1)
    if len(s) == 2:
        return (s[0], 1, s[1])
    raise WorkloadError(f"{what}: tensor rank {len(shape)} has no cost model (NCHW, NCL, NC)")


def module_path(node: onnx.NodeProto) -> tuple[str | None, bool]:
    """(enclosing torch module path or None, whether that module *is* the op's
    module — a torch.nn / Brevitas leaf — rather than a container)."""
    meta = {p.key: p.value for p in node.metadata_props}
    if "pkg.torch.onnx.name_scopes" in meta:
        try:
            scopes = ast.literal_eval(meta["pkg.torch.onnx.name_scopes"])
            classes = ast.literal_eval(meta.get("pkg.torch.onnx.class_hierarchy", "[]"))
        except (ValueError, SyntaxError):
            scopes, classes = [], []
        if len(scopes) >= 2:
            cls = str(classes[-2]) if len(classes) >= 2 else ""
            leaf = cls.startswith(("torch.nn.modules.", "brevitas.nn."))
            return str(scopes[-2]), leaf
    if node.name.startswith("/"):
        parts = node.name.strip("/").split("/")[:-1]
        if not parts:
            return "", False
        mod = parts[-1]
        if len(parts) >= 2 and not mod.startswith(parts[-2] + "."):
            mod = f"{parts[-2]}.{mod}"
        return mod, True
    return None, False


class _Namer:
    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, node: onnx.NodeProto, kind: str, functional: bool) -> str:
        mod, leaf = module_path(node)
        if mod is None:
            base = node.name or f"{kind}_{node.output[0]}"
        elif functional or not leaf:
            base = f"{mod}.{kind}" if mod else kind
        else:
            base = mod
        k = self.used.get(base, 0)
        self.used[base] = k + 1
        return base if k == 0 else f"{base}_{k}"


def _bits_of(view: OnnxView, node: onnx.NodeProto) -> int:
    """Bits a quantizer node outputs (> 8 -> FP_BITS)."""
    if node.op_type == "BipolarQuant":
        return 1
    if node.op_type == "QuantizeLinear":  # the zero point's type (default uint8)
        zp = view.const(node.input[2]) if len(node.input) > 2 else None
        return int_bits(zp.dtype) if zp is not None else 8
    if node.op_type == "DequantizeLinear":  # a constant integer tensor (a weight)
        q = view.const(node.input[0])
        return int_bits(q.dtype) if q is not None else FP_BITS
    if node.op_type == "MultiThreshold":
        thr = view.const(node.input[1])
        n = int(thr.shape[-1]) if thr is not None and thr.ndim else 1
        return max(1, math.ceil(math.log2(n + 1)))
    # Quant: bit width is input 3; Trunc: output bit width is its last input
    # (input 4 in Trunc v1, input 5 in v2, which adds the output scale)
    idx = 3 if node.op_type == "Quant" else len(node.input) - 1
    bw = view.const(node.input[idx]) if len(node.input) > idx else None
    if bw is None or bw.size != 1:
        raise WorkloadError(f"{view.path}: {where(node)}: its bit width is not a constant scalar")
    b = round(float(bw.reshape(-1)[0]))
    return FP_BITS if b > 8 else b


def _quant_params(view: OnnxView, node: onnx.NodeProto, bits: int
                  ) -> tuple[float, float, int, int, int] | None:
    """(scale, zero_point, bits, signed, narrow) of a ``Quant`` (or a
    ``QuantizeLinear``, followed by its DequantizeLinear) with scalar scale and
    zero point (what a golden forward needs), else None."""
    if node.op_type == "QuantizeLinear" and bits <= 8:
        sc = view.const(node.input[1])
        zp = view.const(node.input[2]) if len(node.input) > 2 else None
        if sc is None or sc.size != 1 or (zp is not None and zp.size != 1):
            return None
        signed = zp is not None and np.issubdtype(zp.dtype, np.signedinteger)
        return (float(sc.reshape(-1)[0]), float(zp.reshape(-1)[0]) if zp is not None else 0.0,
                bits, int(signed), 0)
    if node.op_type != "Quant" or bits > 8:
        return None
    sc, zp = view.const(node.input[1]), view.const(node.input[2])
    if sc is None or zp is None or sc.size != 1 or zp.size != 1:
        return None
    a = attrs(node)
    if str(a.get("rounding_mode", "ROUND")).upper() not in ("ROUND", "HALF_EVEN"):
        return None
    return (float(sc.reshape(-1)[0]), float(zp.reshape(-1)[0]), bits,
            int(a.get("signed", 1)), int(a.get("narrow", 0)))


def _scalar(v: np.ndarray | None) -> float | None:
    if v is None or v.size != 1:
        return None
    return float(abs(v.reshape(-1)[0]))


def _weight_quant(view: OnnxView, producers: dict[str, onnx.NodeProto], tensor: str
                  ) -> onnx.NodeProto | None:
    """The Quant / BipolarQuant node behind a constant weight (through
    Identity / Transpose / Reshape / Cast), or None (float weight)."""
    seen = 0
    while tensor in producers and seen < 16:
        n = producers[tensor]
        if (n.op_type in ("Quant", "BipolarQuant") and is_qonnx(n)) or \
                n.op_type == "DequantizeLinear":
            return n
        if n.op_type not in ("Identity", "Transpose", "Reshape", "Cast", "Flatten", "Squeeze",
                             "Unsqueeze"):
            return None
        tensor = n.input[0]
        seen += 1
    return None


def _pads(view: OnnxView, node: onnx.NodeProto, a: dict[str, Any], in_hw: tuple[int, int],
          out_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
          d: tuple[int, int], notes: dict[str, str], lname: str) -> tuple[int, int]:
    """Symmetric (ph, pw) giving the node's output size; asymmetric / auto_pad
    padding is noted (same output size and MACs; border values differ)."""
    pads = list(a.get("pads", [0, 0, 0, 0]))
    auto = a.get("auto_pad", "NOTSET")
    out: list[int] = []
    for ax in range(2):
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max(0, (out_hw[ax] - 1) * s[ax] + (k[ax] - 1) * d[ax] + 1 - in_hw[ax])
            lo, hi = total // 2, total - total // 2
        elif auto == "VALID":
            lo = hi = 0
        else:
            lo, hi = int(pads[ax]), int(pads[ax + 2])
        if lo == hi:
            out.append(lo)
            continue
        for p in (lo, hi, (lo + hi) // 2, (lo + hi + 1) // 2):
            if conv_out(in_hw[ax], k[ax], s[ax], p, d[ax]) == out_hw[ax]:
                out.append(p)
                notes[f"padding.{lname}"] = (f"asymmetric padding {pads} stored as symmetric "
                                             f"{p} on axis {ax} (same output size and MACs)")
                break
        else:
            raise WorkloadError(f"{view.path}: {where(node)}: asymmetric padding {pads} has no "
                                "symmetric equivalent with the same output size")
    return (out[0], out[1])


def _pair(v: Any, default: int) -> tuple[int, int]:
    v = list(v) if v is not None else [default, default]
    return (int(v[0]), int(v[-1])) if v else (default, default)


_POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
          "ReduceMax")


class _Walk:
    """The state of one graph walk: what is known about each run-time tensor."""

    def __init__(self, view: OnnxView) -> None:
        self.view = view
        self.path = view.path
        self.imp = Imported()
        self.in_shape = view.shapes[view.input_name]
        self.acts: dict[str, Act] = {view.input_name: Act(INPUT, self.in_shape)}
        self.producers = {o: n for n in view.nodes for o in n.output}
        self.namer = _Namer()

    def emit(self, node: onnx.NodeProto, lname: str, op: Op, srcs: list[str],
             bits: int | None = None, scale: float | None = None, origin_in: bool = False,
             quant: tuple[float, float, int, int, int] | None = None, **kw: Any) -> Layer:
        w = f"{self.path}: {where(node)}"
        out = self.view.shape(node.output[0], node)
        first = self.acts[srcs[0]]
        ishape = first.origin if origin_in else self.view.shape(srcs[0], node)
        layer = Layer(name=lname, op=op, inputs=tuple(self.acts[s].producer for s in srcs),
                      in_shape=chw(ishape, w), out_shape=chw(out, w), **kw)
        self.imp.layers.append(layer)
        self.imp.out_tensor[lname] = node.output[0]
        self.acts[node.output[0]] = Act(lname, out, bits, scale, quant)
        return layer

    def visit(self, node: onnx.NodeProto) -> None:
        view = self.view
        if all(o in view.consts for o in node.output if o):
            return
        data = [i for i in node.input if i and i not in view.consts]
        if not data:
            return
        w = f"{self.path}: {where(node)}"
        for i in data:
            if i not in self.acts:
                raise WorkloadError(f"{w}: input {i!r} is not computed from the model input "
                                    "by a supported node")
        a = attrs(node)
        if not self._layer_node(node, a, data, w):
            self._folded_node(node, a, data, w)

    # -- nodes that make a workload layer ------------------------------------------------------

    def _layer_node(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str],
                    w: str) -> bool:
        """Emit the layer of a cost-bearing node; False if the node is not one."""
        op = node.op_type
        if op in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            _compute(self.view, node, a, data, self.acts, self.producers, self.imp, self.namer,
                     self.emit)
        elif op in ("BatchNormalization", "MultiThreshold"):
            self._threshold(node, a, data, w)
        elif op in _POOLS:
            self._pool(node, a, data, w)
        elif op in ("Add", "Sum") and len(data) >= 2:
            self.emit(node, self.namer(node, "add", True), "add", data)
        elif op == "Concat":
            self._concat(node, a, data, w)
        elif op in ("Resize", "Upsample"):
            self._upsample(node, a, data, w)
        else:
            return False
        return True

    def _threshold(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str], w: str) -> None:
        op = node.op_type
        if op == "MultiThreshold" and not is_qonnx(node):
            raise WorkloadError(f"{w}: unknown domain {node.domain!r}")
        if len(data) != 1 or data[0] != node.input[0]:
            raise WorkloadError(f"{w}: its parameters must be constants")
        bits = _bits_of(self.view, node) if op == "MultiThreshold" else None
        scale = None
        if op == "MultiThreshold" and bits == 1:
            sc, bias = a.get("out_scale", 1.0), a.get("out_bias", 0.0)
            scale = 1.0 if (sc, bias) == (2.0, -1.0) else None
        lname = self.namer(node, "bn", False)
        self.emit(node, lname, "threshold", data, bits=bits, scale=scale)
        if op == "BatchNormalization":
            self.imp.batchnorm[lname] = node

    def _pool(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str], w: str) -> None:
        op, view, x = node.op_type, self.view, self.acts[data[0]]
        kind: Op = "maxpool" if "Max" in op else "avgpool"
        lname = self.namer(node, kind, False)
        _, _, h, wd = view.shape(data[0], node)
        if op.startswith("Reduce"):
            _global_reduce(view, node, a)
        if op.startswith(("Global", "Reduce")):
            k = s = (h, wd)
            p = (0, 0)
        else:
            k = _pair(a.get("kernel_shape"), 1)
            s = _pair(a.get("strides"), 1)
            if a.get("dilations") and any(v != 1 for v in a["dilations"]):
                raise WorkloadError(f"{w}: dilated pooling has no cost model")
            _, _, ho, wo = view.shape(node.output[0], node)
            p = _pads(view, node, a, (h, wd), (ho, wo), k, s, (1, 1), self.imp.notes, lname)
        keep = kind == "maxpool"
        self.emit(node, lname, kind, data, bits=x.bits if keep else None,
                  scale=x.scale if keep else None, quant=x.quant if keep else None,
                  kernel=k, stride=s, padding=p)

    def _concat(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str], w: str) -> None:
        if len(data) != len([i for i in node.input if i]):
            raise WorkloadError(f"{w}: concat of a constant with a tensor has no cost model")
        rank = len(self.view.shape(node.output[0], node))
        ax = a.get("axis", 1)
        if ax not in (1, 1 - rank):
            raise WorkloadError(f"{w}: concat along axis {ax} has no cost model "
                                "(only channels, axis 1)")
        ins = [self.acts[i] for i in data]
        known = [v.bits for v in ins if v.bits is not None]
        bits = max(known) if len(known) == len(ins) else None
        scales = {v.scale for v in ins}
        quants = {v.quant for v in ins}
        self.emit(node, self.namer(node, "cat", True), "concat", data, bits=bits,
                  scale=scales.pop() if len(scales) == 1 else None,
                  quant=quants.pop() if len(quants) == 1 else None)

    def _upsample(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str], w: str) -> None:
        x = self.acts[data[0]]
        _, _, h, wd = self.view.shape(data[0], node)
        _, _, ho, wo = self.view.shape(node.output[0], node)
        if ho % h or wo % wd:
            raise WorkloadError(f"{w}: non-integer upsampling {h}x{wd} -> {ho}x{wo} has no "
                                "cost model")
        nearest = a.get("mode", "nearest") == "nearest"
        self.emit(node, self.namer(node, "upsample", False), "upsample", data,
                  bits=x.bits if nearest else None, scale=x.scale if nearest else None,
                  quant=x.quant if nearest else None, stride=(ho // h, wo // wd))

    # -- nodes folded into their producer ------------------------------------------------------

    def _folded_node(self, node: onnx.NodeProto, a: dict[str, Any], data: list[str],
                     w: str) -> None:
        """Quantizers, constant scaling and element-wise nodes: the output is the
        producer's, with the bits / scale / quantizer they leave on it."""
        op, view, x = node.op_type, self.view, self.acts[data[0]]
        out = node.output[0]
        if op == "QuantizeLinear":
            bits = _bits_of(view, node)
            self.acts[out] = Act(x.producer, x.origin, bits, None, _quant_params(view, node, bits))
        elif op == "DequantizeLinear":
            self.acts[out] = Act(x.producer, x.origin, x.bits, None, x.quant)
        elif op in ("Quant", "BipolarQuant", "Trunc") and is_qonnx(node):
            bits = _bits_of(view, node)
            scale = None
            if bits == 1:
                sc = view.const(node.input[1])
                scale = _scalar(sc)
            self.acts[out] = Act(x.producer, x.origin, bits, scale, _quant_params(view, node, bits))
        elif op in _SCALE or op in _SHIFT:
            self._scale_or_shift(node, data, w)
        elif op in _FOLD:
            if op == "Transpose":
                _check_transpose(view, node, a)
            keep = _FOLD[op]
            self.acts[out] = Act(x.producer, x.origin, x.bits if keep else None,
                                 x.scale if keep else None, x.quant if keep else None)
        else:
            raise WorkloadError(
                f"{w}: op {op!r} (domain {node.domain or 'ai.onnx'!r}) is not supported. "
                f"Supported: {', '.join(SUPPORTED)}. If it only computes constants or is a "
                "QONNX/FINN helper, fold it first with qonnx's cleanup (`qonnx-cleanup "
                "MODEL.onnx`); otherwise replace it in the model before export")

    def _scale_or_shift(self, node: onnx.NodeProto, data: list[str], w: str) -> None:
        op, x = node.op_type, self.acts[data[0]]
        if len(data) != 1:
            raise WorkloadError(f"{w}: element-wise {op} of two tensors has no cost model")
        c = self.view.const(next(i for i in node.input if i != data[0]))
        if op in _SCALE and data[0] == node.input[0]:
            cs = _scalar(c)
            sc = x.scale * (cs if op == "Mul" else 1 / cs) if x.scale and cs else None
            self.acts[node.output[0]] = Act(x.producer, x.origin, x.bits, sc)
        else:
            self.acts[node.output[0]] = Act(x.producer, x.origin)


def build(view: OnnxView, name: str) -> tuple[WorkloadGraph, Imported]:
    """Walk the ONNX graph; layers with bits from the quantizers (invalid bit
    widths recorded in ``bad_bits`` and stored as full precision)."""
    walk = _Walk(view)
    for node in view.nodes:
        walk.visit(node)
    imp, path = walk.imp, view.path
    for o in view.outputs:
        if o not in walk.acts and o not in view.consts:
            raise WorkloadError(f"{path}: graph output {o!r} is not computed from the input")
    if not imp.compute:
        raise WorkloadError(f"{path}: no Conv / ConvTranspose / Gemm / MatMul layer found")
    meta = {"importer": "onnx", "source_file": Path(path).name,
            "format": "qonnx" if view.has_qonnx else "onnx-qdq" if view.has_qdq else "onnx",
            "producer": f"{view.model.producer_name} {view.model.producer_version}".strip(),
            **imp.notes}
    graph = WorkloadGraph(name, chw(walk.in_shape, path), tuple(imp.layers),
                          tuple(sorted(meta.items())))
    return graph, imp


def _global_reduce(view: OnnxView, node: onnx.NodeProto, a: dict[str, Any]) -> None:
    """ReduceMean / ReduceMax is a global pooling when it reduces H and W of NCHW."""
    axes = view.const(node.input[1]) if len(node.input) > 1 else None
    ax = sorted(int(v) % 4 for v in (axes if axes is not None else a.get("axes", [])))
    if len(view.shape(node.input[0], node)) != 4 or ax != [2, 3] or not a.get("keepdims", 1):
        raise WorkloadError(f"{view.path}: {where(node)}: only a reduction over H and W of an "
                            "NCHW tensor with keepdims=1 (a global pooling) has a cost model")


def _check_transpose(view: OnnxView, node: onnx.NodeProto, a: dict[str, Any]) -> None:
    shape = view.shape(node.input[0], node)
    perm = list(a.get("perm", list(range(len(shape)))[::-1]))
    moved = [p for p in perm if shape[p] != 1]
    if moved != sorted(moved):
        raise WorkloadError(f"{view.path}: {where(node)}: Transpose {perm} of shape "
                            f"{list(shape)} moves data, not only its shape; bnnarch reads NCHW "
                            "tensors: export the model in NCHW without this transpose")


def _compute(view: OnnxView, node: onnx.NodeProto, a: dict[str, Any], data: list[str],
             acts: dict[str, Act], producers: dict[str, onnx.NodeProto], imp: Imported,
             namer: _Namer, emit: Callable[..., Layer]) -> None:
    op = node.op_type
    w = f"{view.path}: {where(node)}"
    if len(data) != 1 or data[0] != node.input[0]:
        raise WorkloadError(f"{w}: its weight {node.input[1]!r} is not a constant (computed at "
                            "run time); fold constants first, e.g. with qonnx's cleanup "
                            "(`qonnx-cleanup MODEL.onnx`)")
    wt = view.consts[node.input[1]]
    bias = view.const(node.input[2]) if len(node.input) > 2 else None
    wq = _weight_quant(view, producers, node.input[1])
    w_bits = _bits_of(view, wq) if wq is not None else FP_BITS
    x = acts[data[0]]
    a_bits = x.bits if x.bits is not None else FP_BITS
    if op == "Gemm":
        if a.get("transA", 0):
            raise WorkloadError(f"{w}: Gemm with transA=1 has no cost model")
        weight = wt if a.get("transB", 0) else wt.T
        if bias is not None and bias.ndim == 2:
            bias = bias.reshape(-1)
    elif op == "MatMul":
        if wt.ndim != 2 or len(view.shape(data[0], node)) != 2:
            raise WorkloadError(f"{w}: MatMul must be (1, K) x (K, N) to be a linear layer")
        weight = wt.T
    else:
        weight = wt
    lname = namer(node, "linear" if op in ("Gemm", "MatMul") else "conv", False)
    bad = [f"{k}={b}" for k, b in (("w_bits", w_bits), ("a_bits", a_bits))
           if b not in QUANT_BITS and b != FP_BITS]
    if bad:
        imp.bad_bits[lname] = (f"{w}: {', '.join(bad)}: bnnarch models 1, 2, 4 or 8 bits or "
                               "full precision; pass --precision to set this layer's bits")
        w_bits = w_bits if w_bits in QUANT_BITS else FP_BITS
        a_bits = a_bits if a_bits in QUANT_BITS else FP_BITS
    if op in ("Gemm", "MatMul"):
        emit(node, lname, "linear", data, origin_in=True, w_bits=w_bits, a_bits=a_bits)
    else:
        k = tuple(a.get("kernel_shape", wt.shape[2:]))
        if len(k) != 2:
            raise WorkloadError(f"{w}: only 2-D convolutions have a cost model, kernel {list(k)}")
        s, d = _pair(a.get("strides"), 1), _pair(a.get("dilations"), 1)
        g = int(a.get("group", 1))
        _, _, h, wd = view.shape(data[0], node)
        _, _, ho, wo = view.shape(node.output[0], node)
        if op == "Conv":
            p = _pads(view, node, a, (h, wd), (ho, wo), (k[0], k[1]), s, d, imp.notes, lname)
        else:
            pads = list(a.get("pads", [0, 0, 0, 0]))
            p = (int(pads[0]), int(pads[1])) if pads else (0, 0)
        emit(node, lname, "conv2d" if op == "Conv" else "conv_transpose2d", data,
             w_bits=w_bits, a_bits=a_bits, kernel=(int(k[0]), int(k[1])), stride=s, padding=p,
             dilation=d, groups=g)
    imp.in_tensor[lname] = data[0]
    imp.compute[lname] = Compute(node, weight, bias, x.scale if x.bits == 1 else None,
                                 wq.op_type if wq is not None else None, x.quant)


__all__ = ["SUPPORTED", "Act", "Compute", "Imported", "build", "chw", "module_path"]
