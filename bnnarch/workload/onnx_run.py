"""Run an imported ONNX / QONNX model on real images with onnxruntime and
measure the activation statistics the reuse schemes need.

onnxruntime has no QONNX ops, so ``lower`` rewrites each into standard ONNX
nodes with qonnx 1.0's semantics (``Quant``: Div, Add, Clip, Round/Floor/Ceil,
Sub, Mul; 1-bit signed ``Quant`` and ``BipolarQuant``: a >= 0 test and Where;
``Trunc`` v1 / v2: round, power-of-two shift, clip, floor; ``MultiThreshold``: a
count of passed thresholds). Images run one at a time
(the exported graph has batch 1), 1 thread, no graph optimisation (the
arithmetic is the graph's own, node by node).

Statistics (binary conv2d layers, their +-1 input as bits, x >= 0 -> 1):
``stats.window`` (bnnarch.workload.stats) over all images and ``stats.reuse``
(bnnarch.nn.reuse_stats) over the first ``REUSE_FRAMES``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import ArrayLike
from onnx import TensorProto, helper, numpy_helper

from bnnarch.errors import WorkloadError
from bnnarch.fsio import MAX_CHECKPOINT_BYTES, prefixed, read_bytes
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import LayerStats
from bnnarch.workload.onnx_build import Imported
from bnnarch.workload.onnx_graph import OnnxView, attrs, is_qonnx, where
from bnnarch.workload.reuse_stats import reuse_stats
from bnnarch.workload.stats import window_diff_counts, window_stats

# Frames of reuse statistics: the count bnnarch.nn.reuse_stats uses for the
# digits classifiers (FRAMES["classify"]); windows of small maps are cheap.
REUSE_FRAMES = 64


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


class _Lowering:
    """Builds the standard-ONNX replacement nodes of QONNX nodes."""

    def __init__(self, view: OnnxView) -> None:
        self.view = view
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.k = 0
        self.opset = _opset(view.model)

    def const(self, value: ArrayLike) -> str:
        self.k += 1
        name = f"__bnnarch_c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, ins: list[str], out: str | None = None, **kw: Any) -> str:
        self.k += 1
        o = out or f"__bnnarch_t{self.k}"
        self.nodes.append(helper.make_node(op, ins, [o], name=f"__bnnarch_n{self.k}", **kw))
        return o

    def axes_op(self, op: str, x: str, axes: list[int], **kw: Any) -> str:
        if self.opset >= 13:
            return self.node(op, [x, self.const(np.asarray(axes, np.int64))], **kw)
        return self.node(op, [x], axes=axes, **kw)

    def _trunc(self, n: onnx.NodeProto, a: dict[str, Any]) -> None:
        """QONNX Trunc (qonnx 1.0 trunc_v1: 5 inputs; trunc_v2: 6, with the output scale)."""
        v = self.view
        maybe = [v.const(i) for i in n.input[1:]]
        consts = [c for c in maybe if c is not None]
        if len(consts) != len(maybe):
            raise WorkloadError(f"{v.path}: {where(n)}: Trunc parameters must be constants")
        f32 = np.float32
        scale, zp = consts[0], consts[1]
        rnd = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}
        mode = str(a.get("rounding_mode", "FLOOR")).upper()
        if mode not in rnd:
            raise WorkloadError(f"{v.path}: {where(n)}: rounding mode {mode!r} unsupported")
        y = self.node("Round", [self.node("Add", [self.node("Div", [n.input[0], n.input[1]]),
                                                  n.input[2]])])
        if len(n.input) == 5:  # v1: shift by in - out bits, rescale by the input scale
            ts = f32(2.0) ** (consts[2].astype(f32) - consts[3].astype(f32))
            y = self.node(rnd[mode], [self.node("Div", [y, self.const(ts)])])
            self.node("Mul", [self.node("Sub", [y, n.input[2]]), n.input[1]], n.output[0])
            return
        out_scale, bits = consts[3], int(consts[4].reshape(-1)[0])
        ts = (2.0 ** np.round(np.log2(out_scale / scale))).astype(f32)
        signed, narrow = int(a.get("signed", 1)), int(a.get("narrow", 0))
        lo = -(2 ** (bits - 1)) + narrow if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - narrow
        y = self.node("Clip", [self.node("Div", [y, self.const(ts)]),
                               self.const(np.asarray(lo, f32)), self.const(np.asarray(hi, f32))])
        y = self.node(rnd[mode], [y])
        y = self.node("Sub", [y, self.const((zp / ts).astype(f32))])
        self.node("Mul", [y, n.input[4]], n.output[0])

    def lower(self, n: onnx.NodeProto) -> None:
        a = attrs(n)
        v = self.view
        x, out = n.input[0], n.output[0]
        f32 = np.float32
        if n.op_type == "BipolarQuant":
            q = self.node("Div", [x, n.input[1]])
            ge = self.node("GreaterOrEqual", [q, self.const(np.zeros((), f32))])
            pm = self.node("Where", [ge, self.const(np.ones((), f32)),
                                     self.const(-np.ones((), f32))])
            self.node("Mul", [pm, n.input[1]], out)
        elif n.op_type == "Quant":
            bw = v.const(n.input[3])
            if bw is None or bw.size != 1:
                raise WorkloadError(f"{v.path}: {where(n)}: bit width is not a constant scalar")
            b = int(bw.reshape(-1)[0])
            signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
            q = self.node("Add", [self.node("Div", [x, n.input[1]]), n.input[2]])
            if b == 1 and signed:
                ge = self.node("GreaterOrEqual", [q, self.const(np.zeros((), f32))])
                q = self.node("Where", [ge, self.const(np.ones((), f32)),
                                        self.const(-np.ones((), f32))])
            else:
                lo = -(2 ** (b - 1)) + int(narrow) if signed else 0
                hi = 2 ** (b - 1) - 1 if signed else 2 ** b - 1 - int(narrow)
                q = self.node("Clip", [q, self.const(np.asarray(lo, f32)),
                                       self.const(np.asarray(hi, f32))])
                mode = str(a.get("rounding_mode", "ROUND")).upper()
                rnd = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}
                if mode not in rnd:
                    raise WorkloadError(f"{v.path}: {where(n)}: rounding mode {mode!r} unsupported")
                q = self.node(rnd[mode], [q])
            self.node("Mul", [self.node("Sub", [q, n.input[2]]), n.input[1]], out)
        elif n.op_type == "Trunc":
            self._trunc(n, a)
        elif n.op_type == "MultiThreshold":
            thr = v.const(n.input[1])
            shape = v.shapes.get(x)
            if thr is None or shape is None or a.get("data_layout", "NCHW") != "NCHW":
                raise WorkloadError(f"{v.path}: {where(n)}: only NCHW MultiThreshold with "
                                    "constant thresholds can run")
            c = shape[1]
            t = np.broadcast_to(thr, (c, thr.shape[-1])).astype(f32)
            t = t.reshape((1, c) + (1,) * (len(shape) - 2) + (thr.shape[-1],))
            ge = self.node("GreaterOrEqual", [self.axes_op("Unsqueeze", x, [-1]), self.const(t)])
            cnt = self.axes_op("ReduceSum", self.node("Cast", [ge], to=TensorProto.FLOAT), [-1],
                               keepdims=0)
            sc = self.node("Mul", [cnt, self.const(np.asarray(a.get("out_scale", 1.0), f32))])
            self.node("Add", [sc, self.const(np.asarray(a.get("out_bias", 0.0), f32))], out)
        else:
            raise WorkloadError(f"{v.path}: {where(n)}: {n.op_type} cannot run in onnxruntime "
                                "yet; import without --images (statistics need a runnable model)")


def lower(view: OnnxView, outputs: Sequence[str] = ()) -> onnx.ModelProto:
    """The model with QONNX nodes replaced by standard ONNX ones and the
    tensors ``outputs`` added as graph outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(view.model)
    low = _Lowering(view)
    new: list[onnx.NodeProto] = []
    for n in m.graph.node:
        if is_qonnx(n):
            low.nodes = []
            low.lower(n)
            new.extend(low.nodes)
        else:
            new.append(n)
    del m.graph.node[:]
    m.graph.node.extend(new)
    m.graph.initializer.extend(low.inits)
    init = {t.name for t in m.graph.initializer}
    real = [i for i in m.graph.input if i.name not in init]
    del m.graph.input[:]
    m.graph.input.extend(real)
    keep = [o for o in m.opset_import if o.domain in ("", "ai.onnx")]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    for i in m.graph.input:
        if i.name == view.input_name:
            d0 = i.type.tensor_type.shape.dim[0]
            d0.Clear()
            d0.dim_value = 1
    names = [o.name for o in m.graph.output]
    names += [t for t in outputs if t not in names]
    del m.graph.output[:]
    for t in names:
        m.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT,
                                                            view.shapes.get(t)))
    return m


def run(view: OnnxView, images: np.ndarray, outputs: list[str] | None = None
        ) -> dict[str, np.ndarray]:
    """{tensor: stacked values over the images (N, ...)} of ``outputs``
    (default: the graph's outputs), one image per onnxruntime call."""
    names = list(outputs) if outputs else view.outputs
    model = lower(view, names)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime rejects the graph: a model problem  # noqa: BLE001
        raise WorkloadError(f"{view.path}: onnxruntime cannot run the model "
                            f"({type(e).__name__}: {str(e)[:300]})") from None
    shape = view.shapes[view.input_name]
    acc: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for img in images:
        res = sess.run(names, {view.input_name: img.reshape(shape).astype(np.float32)})
        for n, r in zip(names, res, strict=True):
            acc[n].append(np.asarray(r)[0])
    return {n: np.stack(v) for n, v in acc.items()}


def load_images(images: np.ndarray | str | Path, graph: WorkloadGraph) -> np.ndarray:
    """Images as float32 (N, C, H, W) matching the model input ((N, C*H*W) accepted)."""
    if isinstance(images, str | Path):
        p = Path(images)
        data = read_bytes(p, "image array (.npy)", limit_bytes=MAX_CHECKPOINT_BYTES,
                          error=prefixed(WorkloadError))
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError) as e:
            raise WorkloadError(f"{p}: not a readable .npy array of images ({e})") from None
        src = str(p)
    else:
        arr, src = np.asarray(images), "images"
    c, h, w = graph.input_shape
    if arr.ndim < 2 or arr.shape[0] == 0 or int(np.prod(arr.shape[1:])) != c * h * w:
        raise WorkloadError(f"{src}: shape {list(arr.shape)} is not N images of the model input "
                            f"{[c, h, w]} (an N x {c} x {h} x {w} array)")
    if not np.issubdtype(arr.dtype, np.number):
        raise WorkloadError(f"{src}: dtype {arr.dtype} is not numeric")
    return arr.reshape(arr.shape[0], c, h, w).astype(np.float32)


def annotate_activations(view: OnnxView, graph: WorkloadGraph, imp: Imported,
                         images: np.ndarray) -> WorkloadGraph:
    """``stats.window`` and ``stats.reuse`` of binary conv2d layers, measured on ``images``."""
    targets = {la.name: imp.in_tensor[la.name] for la in graph.layers
               if la.op == "conv2d" and la.is_binary and la.name in imp.in_tensor}
    vals = run(view, images, sorted(set(targets.values()))) if targets else {}
    layers = []
    for la in graph.layers:
        if la.name in targets:
            x = (vals[targets[la.name]] >= 0).astype(np.uint8)
            wst = window_stats(window_diff_counts(x.astype(bool), la.kernel, la.stride,
                                                  la.padding))
            w = (imp.compute[la.name].weight >= 0).astype(np.uint8)
            st = la.stats or LayerStats()
            la = replace(la, stats=replace(st, window=wst,
                                           reuse=reuse_stats(la, w, x[:REUSE_FRAMES])))
        layers.append(la)
    meta = {**dict(graph.meta), "stats_images": str(len(images)),
            "stats_runtime": "onnxruntime (QONNX ops lowered to standard ONNX)"}
    return replace(graph.with_layers(tuple(layers)), meta=tuple(sorted(meta.items())))


__all__ = ["REUSE_FRAMES", "annotate_activations", "load_images", "lower", "run"]
