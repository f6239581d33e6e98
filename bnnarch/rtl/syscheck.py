"""System-level RTL checks (``bnnarch rtl DESIGN --verify --system`` and
``--network``): each layer runs through the memory system and the array
(``bnnarch.rtl.sysrun``) on the mapper's schedule, and what the RTL measured
is compared with what ``simulate`` reports for that layer in its workload:

* ``cycles`` (first DMA request to the last store), ``compute_cycles``
  (sum over tiles of the array's start-to-done) and ``stall_cycles``;
* ``dram_read_bits`` / ``dram_write_bits`` (counted by the DRAM model);
* the output map the DRAM (or the hold region) received, bit-exact against
  the numpy golden model of the whole layer on the same input map, weights
  (the workload's packed weights when present) and thresholds (reductions
  split over tiles included: partial sums stay in the output buffer, or cross
  DRAM when the schedule spills them).

The network run (``--network``) takes the workload's 1-bit compute layers
in graph order; a layer whose input is produced (directly or through
threshold layers, which the array's threshold unit performs) by a layer run
before it reads that layer's RTL output, otherwise a random map (the layers
in between — full-precision convolutions, adds, pools — are not generated in
RTL). Its total is the sum of the layers' cycles, as ``simulate`` sums them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bnnarch.array.mapper import stores_dot_products
from bnnarch.array.simulate import simulate
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.result import LayerResult
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.golden import dot_bound, layer_data, values_from_planes
from bnnarch.rtl.sim_schedule import held_maps, simulated_schedule
from bnnarch.rtl.syspack import HoldImage
from bnnarch.rtl.sysrun import LayerTensors, SystemRun, run_layer_system
from bnnarch.rtl.system import RtlSystem
from bnnarch.workload.golden import activation_signed
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer


@dataclass
class SystemCheck:
    """One layer's system run against the simulator."""

    name: str
    rtl: SystemRun
    sim: LayerResult
    bit_exact: bool
    note: str
    held: tuple[bool, bool]
    mapping: str
    seconds: float
    out: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def stall_cycles(self) -> int | None:
        c = self.rtl.cycles
        return None if c is None else c - self.rtl.compute_cycles

    def diffs(self) -> list[tuple[str, Any, Any]]:
        """(quantity, RTL, simulator) for every quantity that differs."""
        pairs = [("cycles", self.rtl.cycles, self.sim.cycles),
                 ("compute_cycles", self.rtl.compute_cycles, self.sim.compute_cycles),
                 ("stall_cycles", self.stall_cycles, self.sim.stall_cycles),
                 ("dram_read_bits", self.rtl.dram_read_bits, self.sim.dram_read_bits),
                 ("dram_write_bits", self.rtl.dram_write_bits, self.sim.dram_write_bits)]
        return [p for p in pairs if p[1] != p[2]]

    def failures(self) -> list[str]:
        out = [f"layer {self.name!r} (system): RTL {q} {a}, simulator {b}"
               for q, a, b in self.diffs()]
        if self.rtl.cycles is None:
            out.append(f"layer {self.name!r} (system): done never rose")
        if not self.bit_exact:
            out.append(f"layer {self.name!r} (system): {self.note}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "rtl_cycles": self.rtl.cycles, "sim_cycles": self.sim.cycles,
            "rtl_compute_cycles": self.rtl.compute_cycles,
            "sim_compute_cycles": self.sim.compute_cycles,
            "rtl_stall_cycles": self.stall_cycles, "sim_stall_cycles": self.sim.stall_cycles,
            "rtl_dram_read_bits": self.rtl.dram_read_bits,
            "sim_dram_read_bits": self.sim.dram_read_bits,
            "rtl_dram_write_bits": self.rtl.dram_write_bits,
            "sim_dram_write_bits": self.sim.dram_write_bits,
            "cycle_match": not self.diffs() and self.rtl.cycles is not None,
            "bit_exact": self.bit_exact, "note": self.note,
            "held_in": self.held[0], "held_out": self.held[1], "mapping": self.mapping,
            "dma_chain_full": self.rtl.chain_full, "seconds": self.seconds,
            "failures": self.failures(),
        }


@dataclass(frozen=True)
class LayerPlan:
    """A layer as ``simulate`` ran it in its workload."""

    layer: Layer
    held: tuple[bool, bool]
    sim: LayerResult


def plan_layers(spec: ArraySpec, graph: WorkloadGraph,
                names: list[str] | None = None) -> list[LayerPlan]:
    """``simulate``'s result and hold flags for the graph's 1-bit compute
    layers (or the named ones)."""
    if spec.reuse.any_enabled:
        raise RtlError(f"design {spec.name!r}: the system RTL has no computation-reuse "
                       "hardware; disable reuse to check it")
    res = simulate(spec, graph)
    by_name = {r.name: r for r in res.layers}
    held = held_maps(graph, spec)  # the feature maps simulate keeps on chip
    plans = []
    for layer in graph:
        if names is not None and layer.name not in names:
            continue
        if not layer.is_compute:
            continue
        why = array_reason(layer, spec)
        if why is not None:
            if names is not None:
                raise RtlError(f"layer {layer.name!r} ({layer.op}, {layer.w_bits}/"
                               f"{layer.a_bits} bits): {why}")
            continue
        plans.append(LayerPlan(layer, held[layer.name], by_name[layer.name]))
    return plans


def array_reason(layer: Layer, spec: ArraySpec) -> str | None:
    """Why the system RTL does not run this compute layer (None: it does):
    conv2d / linear layers of at most 8 bits whose dot products fit the
    accumulator (the bound ``golden.max_abs_dot`` states)."""
    if layer.op not in ("conv2d", "linear") or layer.is_full_precision:
        return ("the system check runs conv2d and linear layers of at most 8 bits (the MAC "
                "unit and other ops are not generated)")
    acc = spec.array.acc_bits
    bound = dot_bound(layer.gemm()[3], layer.w_bits, layer.a_bits, activation_signed(layer))
    if bound > (1 << (acc - 1)) - 1:
        return f"dot products up to {bound} overflow acc_bits={acc}"
    return None


def single_layer_graph(layer: Layer) -> WorkloadGraph:
    c, h, w = layer.in_shape
    return WorkloadGraph(layer.name, (c, h, w), (replace(layer, inputs=("input",)),))


def layer_tensors(layer: Layer, rng: np.random.Generator,
                  fmap: np.ndarray | None = None,
                  weights: np.ndarray | None = None) -> LayerTensors:
    """The layer's data: packed weights and thresholds from the workload when
    present (the given integer ``weights``, else random), the given input map
    (a_bits-bit values, two's complement when the layer's activations are
    signed) or a random one. Outputs leave as dot
    products when ``simulate`` stores them so (``mapper.stores_dot_products``)."""
    data = layer_data(layer, rng)
    shape = layer.in_shape if layer.op == "conv2d" else (int(np.prod(layer.in_shape)), 1, 1)
    signed = activation_signed(layer)
    if fmap is None:
        lo = -(1 << (layer.a_bits - 1)) if signed else 0
        fmap = rng.integers(lo, lo + (1 << layer.a_bits), size=shape, dtype=np.int64)
    if weights is None:
        weights = (data.w_planes[:, :, 0, :] if layer.w_bits == 1
                   else values_from_planes(data.w_planes, signed=True))
    return LayerTensors(layer, fmap.reshape(shape), weights.reshape(data.w_planes[:, :, 0].shape),
                        data.thresholds, layer.w_bits, layer.a_bits, stores_dot_products(layer),
                        signed)


def check_layer_system(arr: RtlArray, sys: RtlSystem, plan: LayerPlan,
                       rng: np.random.Generator, fmap: np.ndarray | None = None,
                       held_fmap: np.ndarray | None = None,
                       weights: np.ndarray | None = None, held_image: HoldImage | None = None,
                       hold_live: Sequence[HoldImage] = ()) -> SystemCheck:
    """Run one layer through the system RTL and compare with ``plan.sim``
    (``held_image`` / ``hold_live``: ``sysrun.run_layer_system``)."""
    t0 = time.monotonic()
    layer = plan.layer
    s = simulated_schedule(layer, arr.spec, plan.held)
    t = layer_tensors(layer, rng, held_fmap if plan.held[0] else fmap, weights)
    run = run_layer_system(arr, sys, layer, s, t, plan.held, t.fmap if plan.held[0] else None,
                           held_image=held_image if plan.held[0] else None, hold_live=hold_live)
    gd, gs = t.golden()
    want = (gd if t.dots_out else gs).transpose(0, 2, 1)
    gt, th, ci, co = s.tiling
    mapping = (f"order={s.order} tile(g={gt},rows={th},cin={ci},cout={co}) tiles={s.n_tiles}"
               + (" on-chip:" + "+".join(w for w, h in zip(("in", "out"), plan.held,
                                                              strict=True) if h)
                  if any(plan.held) else ""))
    bad = np.argwhere(run.out != want)
    exact = bad.size == 0
    if exact:
        note = "outputs equal the golden model"
    else:
        g, n, m = (int(v) for v in bad[0])
        note = (f"output (group {g}, filter {n}, pixel {m}): RTL {int(run.out[g, n, m])}, "
                f"golden {int(want[g, n, m])} ({len(bad)} outputs differ)")
    shape = (layer.out_shape if layer.op == "conv2d" else (layer.out_shape[0], 1, 1))
    out = run.out.reshape(shape) if run.out.size == int(np.prod(shape)) else run.out
    return SystemCheck(layer.name, run, plan.sim, exact, note, plan.held, mapping,
                       round(time.monotonic() - t0, 3), out)


def _source(graph: WorkloadGraph, name: str) -> str:
    """The layer producing ``name``'s data, looking through threshold layers
    (the array's threshold unit already applied them)."""
    by = {x.name: x for x in graph}
    cur = name
    while cur in by and by[cur].op == "threshold" and len(by[cur].inputs) == 1:
        cur = by[cur].inputs[0]
    return cur


def run_network(arr: RtlArray, sys: RtlSystem, graph: WorkloadGraph,
                rng: np.random.Generator) -> tuple[list[SystemCheck], dict[str, Any]]:
    """All 1-bit compute layers of the graph, back to back (module doc)."""
    plans = plan_layers(arr.spec, graph)
    if not plans:
        raise RtlError(f"workload {graph.name!r} has no 1-bit conv2d or linear layer")
    outs: dict[str, np.ndarray] = {}
    holds: dict[str, HoldImage] = {}  # held outputs, as the hold region holds them
    srcs = [_source(graph, p.layer.inputs[0]) if len(p.layer.inputs) == 1 else None
            for p in plans]
    checks = []
    fed = 0
    for j, p in enumerate(plans):
        src = srcs[j]
        fmap = outs.get(src) if src is not None else None
        fed += fmap is not None
        live = [holds[x] for x in dict.fromkeys(srcs[j:]) if x in holds]
        c = check_layer_system(arr, sys, p, rng, fmap=fmap, held_fmap=fmap,
                               held_image=holds.get(src) if src is not None else None,
                               hold_live=live)
        outs[p.layer.name] = c.out
        if c.rtl.hold_out is not None:
            holds[p.layer.name] = c.rtl.hold_out
        checks.append(c)
    rtl_total = sum(c.rtl.cycles or 0 for c in checks)
    sim_total = sum(c.sim.cycles for c in checks)
    summary = {"layers_run": len(checks), "fed_by_rtl": fed, "rtl_cycles": rtl_total,
               "sim_cycles": sim_total, "cycle_match": rtl_total == sim_total and all(
                   c.rtl.cycles is not None for c in checks),
               "bit_exact": all(c.bit_exact for c in checks)}
    return checks, summary
