"""A whole workload in RTL from one input image (``bnnarch rtl DESIGN
--network --workload W --image N``).

The workload's layers run in graph (topological) order on test image N of
the digits split the models were trained on (``bnnarch.nn.data.digits``,
scaled to [0, 1] and resized to the workload's input, as for training and
extraction; the CLI loads it, as this package does not import torch):

* every conv2d / linear layer the generated design runs (1-bit, and
  multi-bit with a zero-point-0 integer input grid, unsigned or signed
  (``workload.golden.activation_signed``), and integer weights, +-1
  activations included; dot products within ``acc_bits``) runs in the system RTL (DMA, DRAM model,
  staging buffers, array; ``bnnarch.rtl.syscheck``) on the real input map;
  its cycles, stalls and DRAM bits are checked against ``simulate`` on the
  whole workload (hold region included), its outputs against the RTL's
  golden model of the layer;
* every other layer — adds, pools, batch-norms that do not fold into integer
  thresholds, full-precision layers (the MAC unit is not generated), and the
  quantizers between layers — is computed by the host side of the testbench
  with the workload's golden per-layer function
  (``bnnarch.workload.golden.layer_forward``) on the RTL's outputs. A
  threshold layer after a folded layer takes the array's threshold-unit bits.

The value a layer passes on is rebuilt from the RTL's integers as the golden
forward does (``golden.output_value``): a 1-bit layer's dot products (rows
of ``params.flip`` negated back) times its weight scale; a multi-bit layer's
dot product times its input and weight scales (per-tensor integer grids,
``integer_weights``). Each RTL layer's outputs must equal, on the whole map
(borders included: the array pads with 0 like the models, through its
valid-tap mask), ``golden_forward`` of the whole workload on the same image
(``golden_match``) and the golden layer on the RTL's own input
(``local_match``: tells a wrong layer from a wrong input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bnnarch.array.mapper import stores_dot_products
from bnnarch.array.simulate import simulate
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError, WorkloadError
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.sim_schedule import held_maps
from bnnarch.rtl.syscheck import LayerPlan, SystemCheck, array_reason, check_layer_system
from bnnarch.rtl.system import RtlSystem
from bnnarch.workload.golden import golden_forward, layer_forward, output_value, quantize_input
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import Layer

DIGIT_SIZES = (8, 16, 28, 32)  # the sizes bnnarch.nn.data.digits resizes to


def image_input(graph: WorkloadGraph) -> bool:
    """Whether the workload takes a digits image (1 x S x S, S a size
    ``bnnarch.nn.data.digits`` resizes to): ``--network`` then runs from one."""
    c, h, w = graph.input_shape
    return c == 1 and h == w and h in DIGIT_SIZES


def check_image(images: int, index: int) -> None:
    """Refuse an ``--image`` index outside the split (RtlError: exit 2)."""
    if not 0 <= index < images:
        raise RtlError(f"--image {index}: the digits test split has {images} images "
                       f"(0 .. {images - 1})")


def integer_weights(layer: Layer) -> tuple[np.ndarray, float] | str:
    """A multi-bit layer's weights as (G, N, K) integers on one per-tensor
    grid w = q * scale (|q| <= 2^(w_bits-1) - 1, as Brevitas' per-tensor
    Int8 weights), or why they are not."""
    p = layer.params
    if p is None or p.weight is None:
        return "no real weights in the workload"
    w = np.asarray(p.weight, dtype=np.float32).astype(np.float64)
    top = (1 << (layer.w_bits - 1)) - 1
    scale = float(np.abs(w).max()) / top if w.size and np.abs(w).max() > 0 else 1.0
    q = np.round(w / scale)
    if np.abs(w / scale - q).max() > 1e-3:  # float32 storage of q * scale: ~1e-5 here
        return f"weights are not on one {layer.w_bits}-bit per-tensor grid"
    g, _m, n, k = layer.gemm()
    return q.astype(np.int64).reshape(g, n, k), scale


def input_codes(layer: Layer, x: np.ndarray) -> tuple[np.ndarray, float] | str:
    """The layer's input (one image, batch first) as the integers the array
    multiplies with (bit codes of +-1 activations; two's-complement values
    when ``activation_signed``), and their scale; or why it is not such a grid."""
    a = quantize_input(layer, x)[0]
    q = layer.params.input_quant if layer.params is not None else None
    if layer.a_bits == 1:
        return (a > 0).astype(np.int64), (float(q[0]) if q is not None else 1.0)
    if q is None or q[1] != 0 or q[2] != layer.a_bits:
        return "activations are not a zero-point-0 integer grid of a_bits bits"
    codes = np.round(a / q[0])
    return codes.astype(np.int64), float(q[0])


@dataclass
class NetLayer:
    """One layer of the network run."""

    layer: Layer
    source: str  # "rtl" | "host"
    reason: str = ""
    check: SystemCheck | None = None
    golden_match: bool | None = None
    local_match: bool | None = None
    note: str = ""

    def failures(self) -> list[str]:
        if self.check is None:
            return []
        out = list(self.check.failures())
        name = self.layer.name
        if self.local_match is False:
            out.append(f"layer {name!r} (network): outputs differ from the golden layer on the "
                       "RTL's input")
        if self.golden_match is False:
            out.append(f"layer {name!r} (network): {self.note}")
        return out

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any] = (self.check.to_json() if self.check is not None
                                else {"name": self.layer.name})
        base["failures"] = self.failures()
        return base | {"op": self.layer.op, "source": self.source, "reason": self.reason,
                       "golden_match": self.golden_match, "local_match": self.local_match,
                       "golden_note": self.note}


def _flip(layer: Layer) -> np.ndarray:
    f = np.ones(layer.out_shape[0], dtype=np.int64)
    if layer.params is not None and layer.params.flip:
        f[list(layer.params.flip)] = -1
    return f[:, None, None]


class _Net:
    """State of one network run: values flowing between layers (batch first,
    as ``golden_forward``), threshold-unit bits of folded RTL layers."""

    def __init__(self, arr: RtlArray, sys: RtlSystem, graph: WorkloadGraph, x: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.arr, self.sys, self.graph, self.rng = arr, sys, graph, rng
        spec: ArraySpec = arr.spec
        self.spec = spec
        self.gold = golden_forward(graph, x)
        res = simulate(spec, graph)
        self.sim = {r.name: r for r in res.layers}
        self.held = held_maps(graph, spec)
        self.vals: dict[str, np.ndarray] = {INPUT: x[None]}
        self.folded: dict[str, np.ndarray] = {}
        self.rows: list[NetLayer] = []

    def value(self, consumer: Layer, name: str) -> np.ndarray:
        if name not in self.vals:
            raise RtlError(f"layer {consumer.name!r} reads the pre-activation of {name!r}, "
                           "which leaves the array only as threshold bits")
        return self.vals[name]

    def step(self, layer: Layer) -> None:
        if layer.is_compute:
            self._compute(layer)
            return
        src = layer.inputs[0] if len(layer.inputs) == 1 else None
        if layer.op == "threshold" and src in self.folded:
            self.vals[layer.name] = self.folded[src].astype(np.float64)
        else:
            ins = [self.value(layer, s) for s in layer.inputs]
            self.vals[layer.name] = layer_forward(layer, *ins)
        self.rows.append(NetLayer(layer, "host"))

    def _compute(self, layer: Layer) -> None:
        x = self.value(layer, layer.inputs[0])
        why = array_reason(layer, self.spec)
        codes = weights = None
        if why is None:
            got = input_codes(layer, x)
            why = got if isinstance(got, str) else None
            codes = None if isinstance(got, str) else got
        if why is None and layer.w_bits > 1:
            gw = integer_weights(layer)
            why = gw if isinstance(gw, str) else None
            weights = None if isinstance(gw, str) else gw
        elif why is None and layer.a_bits > 1:
            why = "+-1 weights with multi-bit activations: not run from an image"
        if why is not None or codes is None:
            self._host_compute(layer, x, why or "")
            return
        self._rtl(layer, x, codes, weights)

    def _host_compute(self, layer: Layer, x: np.ndarray, why: str) -> None:
        y = layer_forward(layer, x)
        if layer.is_binary and layer.op != "conv_transpose2d":
            if layer.thresholds is not None:
                thr = np.asarray(layer.thresholds, dtype=np.int64).reshape(1, -1, 1, 1)
                self.folded[layer.name] = np.where(y * _flip(layer)[None] >= thr, 1, -1)
            y = output_value(layer, x, y)
        self.vals[layer.name] = y
        self.rows.append(NetLayer(layer, "host", why))

    def _rtl(self, layer: Layer, x: np.ndarray, codes: tuple[np.ndarray, float],
             weights: tuple[np.ndarray, float] | None) -> None:
        fmap, s_a = codes
        plan = LayerPlan(layer, self.held[layer.name], self.sim[layer.name])
        w = weights[0] if weights is not None else None
        c = check_layer_system(self.arr, self.sys, plan, self.rng, fmap=fmap, held_fmap=fmap,
                               weights=w)
        out = c.out.reshape(layer.out_shape) if c.out.size == int(np.prod(layer.out_shape)) \
            else np.zeros(layer.out_shape, dtype=np.int64)
        row = NetLayer(layer, "rtl", check=c)
        gold = self.gold[layer.name][0]
        local = layer_forward(layer, x)[0]
        if layer.w_bits > 1:  # integer dot products on the input x weight grids
            assert weights is not None
            step = s_a * weights[1]
            self.vals[layer.name] = output_value(layer, x, (out * step)[None])
            bias = output_value(layer, x, np.zeros((1,) + layer.out_shape))[0]
            row.golden_match = _on_grid(out, gold - bias, step)
            row.local_match = _on_grid(out, local - bias, step)
            row.note = ("dot products = golden_forward's outputs / (input scale x weight "
                        "scale), rounded; within 1e-6 of the largest" if row.golden_match
                        else "outputs differ from golden_forward on the image")
        else:
            if stores_dot_products(layer):
                self.vals[layer.name] = output_value(
                    layer, x, (out * _flip(layer))[None].astype(np.float64))
            else:  # threshold-unit bits on the stored rows
                self.folded[layer.name] = np.where(out > 0, 1, -1)[None]
            bad = _differs(out, layer, gold)
            row.golden_match = not bad.any()
            row.local_match = not _differs(out, layer, local).any()
            row.note = ("equal to golden_forward on the whole map" if row.golden_match else
                        f"{int(bad.sum())} outputs differ from golden_forward on the image")
        self.rows.append(row)


def _on_grid(dots: np.ndarray, real: np.ndarray, step: float) -> bool:
    """Integer dot products equal real-valued outputs on a grid of ``step``:
    rounded exactly, and within 1e-6 of the largest (float32 weights)."""
    tol = 1e-6 * float(np.abs(real).max() or 1.0)
    return bool(np.array_equal(np.round(real / step), dots)
                and np.abs(dots * step - real).max() <= tol)


def _differs(out: np.ndarray, layer: Layer, gold: np.ndarray) -> np.ndarray:
    """Where a 1-bit layer's RTL outputs (dot products or threshold bits, on
    the stored rows) differ from a golden pre-activation (model convention)."""
    if stores_dot_products(layer):
        return out * _flip(layer) != gold
    thr = np.asarray(layer.thresholds, dtype=np.int64).reshape(-1, 1, 1)
    return out != (gold * _flip(layer) >= thr)


def run_image_network(arr: RtlArray, sys: RtlSystem, graph: WorkloadGraph, x: np.ndarray,
                      image: int, rng: np.random.Generator
                      ) -> tuple[list[NetLayer], dict[str, Any]]:
    """The whole workload on ``x``, digits test image ``image`` (the caller
    loads it with ``bnnarch.nn.data.digits``: this package does not import
    torch), as the workload's input shape (module doc)."""
    x = np.asarray(x, dtype=np.float64).reshape(graph.input_shape)
    try:
        net = _Net(arr, sys, graph, x, rng)
        for layer in graph:
            net.step(layer)
    except WorkloadError as e:
        raise RtlError(f"workload {graph.name!r}: --network needs its weights: {e}") from None
    rtl = [r for r in net.rows if r.source == "rtl"]
    if not rtl:
        raise RtlError(f"workload {graph.name!r}: no layer runs in the RTL on {arr.spec.name!r} "
                       + "; ".join(f"{r.layer.name}: {r.reason}" for r in net.rows if r.reason))
    checks = [r.check for r in rtl if r.check is not None]
    rtl_total = sum(c.rtl.cycles or 0 for c in checks)
    sim_total = sum(c.sim.cycles for c in checks)
    last = [r for r in rtl if r.layer.is_binary]
    final = net.vals[graph.layers[-1].name].reshape(-1)
    gold_final = np.asarray(net.gold[graph.layers[-1].name], dtype=np.float64).reshape(-1)
    summary = {
        "image": image, "input": "digits test image",
        "layers_run": len(rtl), "host_layers": len(net.rows) - len(rtl),
        "fed_by_rtl": sum(1 for r in rtl if _fed_by_rtl(graph, r.layer, net)),
        "rtl_cycles": rtl_total, "sim_cycles": sim_total,
        "cycle_match": rtl_total == sim_total and all(c.rtl.cycles is not None for c in checks),
        "bit_exact": all(c.bit_exact for c in checks),
        "local_match": all(r.local_match for r in rtl),
        "golden_match": all(r.golden_match for r in rtl),
        "last_binary_layer": last[-1].layer.name if last else None,
        "last_binary_golden_match": last[-1].golden_match if last else None,
        "predicted": int(np.argmax(final)), "golden_predicted": int(np.argmax(gold_final)),
    }
    return net.rows, summary


def _fed_by_rtl(graph: WorkloadGraph, layer: Layer, net: _Net) -> bool:
    """Whether the layer's input derives (through any host layers) from an RTL layer."""
    rtl = {r.layer.name for r in net.rows if r.source == "rtl"}
    seen, todo = set(), list(layer.inputs)
    while todo:
        n = todo.pop()
        if n in rtl:
            return True
        if n in seen or n == INPUT:
            continue
        seen.add(n)
        todo += list(graph[n].inputs)
    return False


__all__ = ["NetLayer", "check_image", "image_input", "input_codes",
           "integer_weights", "run_image_network"]
