"""An ONNX / QONNX file as a typed, static view: the model (checked to be
one), every tensor's shape (ONNX shape inference, batch fixed to 1), every
constant tensor as a numpy array (initialisers and the nodes computable from
them, QONNX ``Quant`` / ``BipolarQuant`` on weights included) and each
tensor's consumers.

QONNX ops (``Quant``, ``BipolarQuant``, ``Trunc``, ``MultiThreshold``; the
qonnx / FINN / Brevitas domains) are unknown to ONNX shape inference; they are
element-wise, so shapes are inferred on a copy where each is an ``Identity``.
Semantics of the QONNX ops follow qonnx 1.0's reference implementation
(``qonnx.custom_op.general.{intquant,bipolar_quant}``): ``Quant`` =
``(clip(round(x / scale + zp), min, max) - zp) * scale``; ``BipolarQuant`` =
``where(x / scale >= 0, 1, -1) * scale``.

No torch here: onnx and numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.external_data_helper
from onnx import numpy_helper, shape_inference

from bnnarch.errors import WorkloadError
from bnnarch.fsio import MAX_CHECKPOINT_BYTES, prefixed, read_bytes

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas",
                 "finn", "qonnx")
QONNX_OPS = ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")  # standard ONNX integer quantization


def is_qonnx(node: onnx.NodeProto) -> bool:
    """A QONNX quantizer node (by op type; the domain must be a QONNX/FINN one)."""
    return node.op_type in QONNX_OPS and (node.domain in QONNX_DOMAINS or node.domain == "")


def where(node: onnx.NodeProto) -> str:
    """``node 'NAME' (OpType)`` for messages."""
    return f"node {node.name or node.output[0]!r} ({node.op_type})"


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


@dataclass(frozen=True)
class OnnxView:
    """Static view of one model. ``shapes``: tensor -> full shape (batch 1);
    ``consts``: tensor -> numpy value; ``consumers``: tensor -> nodes reading
    it (in graph order); ``input_name``: the single non-constant graph input."""

    model: onnx.ModelProto
    path: str
    input_name: str
    shapes: dict[str, tuple[int, ...]]
    consts: dict[str, np.ndarray]
    consumers: dict[str, list[onnx.NodeProto]]
    has_qonnx: bool
    has_qdq: bool = False

    @property
    def has_quant(self) -> bool:
        """Bits are in the file (QONNX quantizers or QuantizeLinear/DequantizeLinear)."""
        return self.has_qonnx or self.has_qdq

    @property
    def nodes(self) -> list[onnx.NodeProto]:
        return list(self.model.graph.node)

    @property
    def outputs(self) -> list[str]:
        return [o.name for o in self.model.graph.output]

    def shape(self, tensor: str, node: onnx.NodeProto) -> tuple[int, ...]:
        s = self.shapes.get(tensor)
        if s is None:
            raise WorkloadError(f"{self.path}: {where(node)}: the shape of tensor {tensor!r} is "
                                "unknown after ONNX shape inference (dynamic shapes?); export "
                                "the model with a fixed input shape")
        return s

    def const(self, tensor: str) -> np.ndarray | None:
        return self.consts.get(tensor) if tensor else None


def load_model(path: str | Path) -> onnx.ModelProto:
    """Read and check an ONNX file; any problem is a WorkloadError naming the file."""
    p = Path(path)
    data = read_bytes(p, "ONNX", limit_bytes=MAX_CHECKPOINT_BYTES, error=prefixed(WorkloadError))
    try:
        model = onnx.load_model_from_string(data)
        # what onnx.load does for weights stored beside the file
        onnx.external_data_helper.load_external_data_for_model(model, str(p.parent))
    except Exception as e:  # protobuf decode / external data: a bad file  # noqa: BLE001
        raise WorkloadError(f"{p}: not a readable ONNX model ({type(e).__name__}: {e}); "
                            "is the file complete and an .onnx export?") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise WorkloadError(f"{p}: not an ONNX model (no graph nodes or IR version); "
                            "is the file complete and an .onnx export?")
    return model


def _static_input(model: onnx.ModelProto, path: str) -> tuple[str, list[int]]:
    init = {t.name for t in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in init]
    if len(real) != 1:
        names = ", ".join(repr(i.name) for i in real) or "none"
        raise WorkloadError(f"{path}: the model must have exactly one input tensor, found {names}")
    inp = real[0]
    dims = list(inp.type.tensor_type.shape.dim)
    if not dims:
        raise WorkloadError(f"{path}: input {inp.name!r} has no shape; export with a fixed "
                            "input shape")
    shape: list[int] = []
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(int(d.dim_value))
        elif i == 0:
            shape.append(1)  # a symbolic batch dimension is fixed to 1 (one image)
        else:
            sym = d.dim_param or "?"
            raise WorkloadError(
                f"{path}: input {inp.name!r} has a dynamic dimension {i} ({sym!r}); bnnarch "
                "needs static shapes: re-export with a fixed input shape (no dynamic_axes / "
                "dynamic_shapes except the batch) or fix it with `python -m "
                "onnxruntime.tools.make_dynamic_shape_fixed`")
    if shape[0] != 1:
        raise WorkloadError(f"{path}: input {inp.name!r} has batch {shape[0]}; export with "
                            "batch 1 (or a dynamic batch)")
    return inp.name, shape


def _infer_shapes(model: onnx.ModelProto, input_name: str, input_shape: list[int],
                  path: str) -> dict[str, tuple[int, ...]]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i in m.graph.input:
        if i.name == input_name:
            for d, v in zip(i.type.tensor_type.shape.dim, input_shape, strict=True):
                d.Clear()
                d.dim_value = v
    for n in m.graph.node:
        if is_qonnx(n):  # element-wise: shape of the first input
            keep = n.input[0]
            n.ClearField("input")
            n.input.append(keep)
            n.ClearField("attribute")
            n.op_type, n.domain = "Identity", ""
    del m.graph.value_info[:]
    try:
        m = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception as e:  # onnx's inference rejects an inconsistent model  # noqa: BLE001
        raise WorkloadError(f"{path}: ONNX shape inference failed ({type(e).__name__}: {e})"
                            ) from None
    shapes: dict[str, tuple[int, ...]] = {}
    vis = list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)
    for vi in vis:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
    for t in m.graph.initializer:
        shapes[t.name] = tuple(int(v) for v in t.dims)
    return shapes


# ---- constant folding (numpy) ---------------------------------------------

def quant(x: np.ndarray, scale: np.ndarray, zp: np.ndarray, bits: float, signed: bool,
          narrow: bool, rounding: str) -> np.ndarray:
    """QONNX ``Quant`` (qonnx 1.0 ``int_quant``), in the dtype of ``x``."""
    y = x / scale + zp
    b = int(bits)
    if b == 1 and signed:
        y = np.where(y >= 0, 1.0, -1.0).astype(x.dtype)
    else:
        lo = -(2 ** (b - 1)) + int(narrow) if signed else 0
        hi = 2 ** (b - 1) - 1 if signed else 2 ** b - 1 - int(narrow)
        y = np.clip(y, lo, hi)
        rounders: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor}
        y = rounders[rounding.upper()](y)
    return ((y - zp) * scale).astype(x.dtype)


def bipolar(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """QONNX ``BipolarQuant``: +-scale, +1 where x / scale >= 0."""
    return (np.where(x / scale >= 0, 1.0, -1.0) * scale).astype(x.dtype)


def int_bits(dtype: np.dtype) -> int:
    """Bits of an integer tensor type (4, 8; wider counts as full precision, 32)."""
    name = np.dtype(dtype).name
    if name in ("int8", "uint8"):
        return 8
    if name in ("int4", "uint4"):
        return 4
    return 32


def _axis_shape(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-axis (1-D) scale / zero point shaped to broadcast along ``axis``."""
    if v.ndim != 1 or v.size == 1:
        return v
    shape = [1] * ndim
    shape[axis % ndim] = v.size
    return v.reshape(shape)


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None,
                      axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear: (x - zero_point) * scale, float32."""
    s = _axis_shape(np.asarray(scale, np.float32), x.ndim, axis)
    z = np.zeros((), np.float32) if zp is None else _axis_shape(
        np.asarray(zp).astype(np.float32), x.ndim, axis)
    return ((x.astype(np.float32) - z) * s).astype(np.float32)


def quantize_linear(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None,
                    axis: int = 1) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point)."""
    dt = np.dtype(np.uint8) if zp is None else np.asarray(zp).dtype
    s = _axis_shape(np.asarray(scale, np.float32), x.ndim, axis)
    z = 0 if zp is None else _axis_shape(np.asarray(zp).astype(np.int64), x.ndim, axis)
    info = np.iinfo(dt)
    return np.clip(np.round(x / s) + z, info.min, info.max).astype(dt)


def _reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    s = [int(v) for v in shape]
    if not allowzero:
        s = [x.shape[i] if v == 0 else v for i, v in enumerate(s)]
    return x.reshape(s)


# value of a node from its constant inputs (all present) and its attributes
_Fold = Callable[[np.ndarray, list[np.ndarray], dict[str, Any]], np.ndarray]
_FOLDERS: dict[str, _Fold] = {
    "Identity": lambda x, ins, a: x,
    "Cast": lambda x, ins, a: x.astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"])),
    "Neg": lambda x, ins, a: -x,
    "Abs": lambda x, ins, a: np.abs(x),
    "Sign": lambda x, ins, a: np.sign(x),
    "Sqrt": lambda x, ins, a: np.sqrt(x),
    "Add": lambda x, ins, a: x + ins[1],
    "Sub": lambda x, ins, a: x - ins[1],
    "Mul": lambda x, ins, a: x * ins[1],
    "Div": lambda x, ins, a: x / ins[1],
    "Transpose": lambda x, ins, a: np.transpose(x, a.get("perm")),
    "Reshape": lambda x, ins, a: _reshape(x, ins[1], a.get("allowzero", 0)),
    "Flatten": lambda x, ins, a: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1),
    "Squeeze": lambda x, ins, a: np.squeeze(x, tuple(int(v) for v in ins[1]) if len(ins) > 1
                                            else None),
    "Unsqueeze": lambda x, ins, a: np.expand_dims(x, tuple(int(v) for v in ins[1])),
    "Concat": lambda x, ins, a: np.concatenate(ins, axis=a["axis"]),
    "Gather": lambda x, ins, a: np.take(x, ins[1], axis=a.get("axis", 0)),
    "BipolarQuant": lambda x, ins, a: bipolar(x, ins[1]),
    "DequantizeLinear": lambda x, ins, a: dequantize_linear(
        x, ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1)),
    "QuantizeLinear": lambda x, ins, a: quantize_linear(
        x, ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1)),
    "Quant": lambda x, ins, a: quant(x, ins[1], ins[2], float(ins[3]), bool(a.get("signed", 1)),
                                     bool(a.get("narrow", 0)), a.get("rounding_mode", "ROUND")),
}


def _constant(a: dict[str, Any]) -> np.ndarray | None:
    """Value of an ONNX ``Constant`` node from its attributes."""
    if "value" in a:
        return numpy_helper.to_array(a["value"])
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32),
                    ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dtype=dt)
    return None


def _slice(ins: list[np.ndarray | None]) -> np.ndarray | None:
    """ONNX ``Slice`` of constant data (None if data, starts or ends is missing)."""
    x, starts, ends = ins[0], ins[1], ins[2]
    if x is None or starts is None or ends is None:
        return None
    opt_axes = ins[3] if len(ins) > 3 else None
    opt_steps = ins[4] if len(ins) > 4 else None
    axes = opt_axes if opt_axes is not None else range(len(starts))
    steps = opt_steps if opt_steps is not None else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
        sl[int(ax)] = slice(int(s), int(e), int(st))
    return x[tuple(sl)]


def _fold_one(node: onnx.NodeProto, ins: list[np.ndarray | None], a: dict[str, Any]
              ) -> np.ndarray | None:
    """Value of a node whose inputs are all constant, or None if not foldable here."""
    op = node.op_type
    if op == "Constant":
        return _constant(a)
    if op == "Slice":
        return _slice(ins)
    fn = _FOLDERS.get(op)
    if op in ("DequantizeLinear", "QuantizeLinear") and len(ins) > 2 and ins[2] is None:
        ins = ins[:2]  # optional zero point left empty
    vals = [v for v in ins if v is not None]
    if fn is None or not ins or len(vals) != len(ins):
        return None
    return np.asarray(fn(vals[0], vals, a))


def fold_constants(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]
                   ) -> dict[str, np.ndarray]:
    """Initialisers plus every node output computable from constants (and
    ``Shape`` of a statically shaped tensor)."""
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t)
                                     for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Shape" and node.input[0] in shapes:
            consts[node.output[0]] = np.asarray(shapes[node.input[0]], dtype=np.int64)
            continue
        ins = [consts.get(i) if i else None for i in node.input]
        present = [v for i, v in zip(node.input, ins, strict=True) if i]
        if node.op_type != "Constant" and (not present or any(v is None for v in present)):
            continue
        try:
            val = _fold_one(node, ins, attrs(node))
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise WorkloadError(f"{where(node)}: cannot evaluate its constant inputs ({e})"
                                ) from None
        if val is not None:
            consts[node.output[0]] = val
    return consts


def read_view(path: str | Path, model: onnx.ModelProto | None = None) -> OnnxView:
    """Load, check and analyse ``path`` (or an already loaded ``model``)."""
    p = str(path)
    model = model if model is not None else load_model(path)
    for node in model.graph.node:
        if node.op_type in ("If", "Loop", "Scan"):
            raise WorkloadError(f"{p}: {where(node)}: control flow has no cost model; export "
                                "the model without data-dependent control flow")
    input_name, input_shape = _static_input(model, p)
    shapes = _infer_shapes(model, input_name, input_shape, p)
    consts = fold_constants(model, shapes)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for i in node.input:
            if i:
                consumers.setdefault(i, []).append(node)
    has_q = any(is_qonnx(n) for n in model.graph.node)
    has_qdq = any(n.op_type in QDQ_OPS and n.domain in ("", "ai.onnx") for n in model.graph.node)
    return OnnxView(model, p, input_name, shapes, consts, consumers, has_q, has_qdq)
