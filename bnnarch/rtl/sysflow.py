"""The ``--system`` / ``--network`` part of the ``bnnarch rtl`` flow: build
the memory system beside the array, run the system checks
(``bnnarch.rtl.syscheck``), replay the runs in Icarus / Verilator
(``bnnarch.rtl.sysexport``), synthesise the DMA and control with Yosys, and
return the ``system`` section of ``report.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.fsio import atomic_write_text
from bnnarch.rtl import sysexport
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.network import NetLayer, image_input, run_image_network
from bnnarch.rtl.sim_schedule import simulated_schedule
from bnnarch.rtl.syscheck import (
    LayerPlan,
    SystemCheck,
    array_reason,
    check_layer_system,
    plan_layers,
    run_network,
    single_layer_graph,
)
from bnnarch.rtl.sysrun import system_array
from bnnarch.rtl.system import CHAIN, RtlSystem, build_system
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer

ICARUS_MAX_CYCLES = 50_000
"""Longer replays run only in the Verilator-built simulation."""


def _replay(out: Path, sys, checks: Sequence[SystemCheck], name: str, icarus: bool,
            verilator: bool, tools: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    runs = [c.rtl for c in checks if c.rtl.cycles is not None]
    cycles = sum(len(r.trace["done"]) for r in runs)
    use_icarus = icarus and cycles <= ICARUS_MAX_CYCLES
    if not runs or not (use_icarus or verilator):
        return [("skipped" if icarus else None, None)] * len(checks)
    res_i, res_v, secs = sysexport.replay(sys, out, runs, name, use_icarus, verilator)
    if verilator:
        tools.setdefault("verilator_sim_seconds", {})[name] = round(secs, 2)
    it = iter(zip(res_i, res_v, strict=True))
    skipped = "skipped" if icarus else None
    return [next(it) if c.rtl.cycles is not None else (skipped, None) for c in checks]


@dataclass(frozen=True)
class _Ctx:
    """What every part of the system flow shares."""

    arr: RtlArray
    sys: RtlSystem
    out: Path
    icarus: bool
    verilator: bool
    tools: dict[str, Any]


def _plans(spec: ArraySpec, graph: WorkloadGraph | None, names: Sequence[str] | None,
           builtin: Sequence[Layer]) -> list[LayerPlan]:
    if graph is not None:
        return plan_layers(spec, graph, list(names) if names else None)
    plans: list[LayerPlan] = []
    for layer in builtin:
        if layer.is_compute and array_reason(layer, spec) is None:
            plans += plan_layers(spec, single_layer_graph(layer))
    return plans


def _layers(ctx: _Ctx, plans: list[LayerPlan], rng: np.random.Generator,
            progress: Callable[[str], None] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Per-layer system checks, replayed: (report rows, failures)."""
    checks = []
    for p in plans:
        if progress:
            progress(f"system {p.layer.name}")
        checks.append(check_layer_system(ctx.arr, ctx.sys, p, rng))
    replays = _replay(ctx.out, ctx.sys, checks, "tb_system", ctx.icarus, ctx.verilator,
                      ctx.tools)
    rows, failures = [], []
    for c, (ri, rv) in zip(checks, replays, strict=True):
        j = c.to_json() | {"icarus": ri, "verilator": rv}
        for tool, r in (("Icarus", ri), ("Verilator", rv)):
            if r not in (None, "match", "skipped"):
                j["failures"].append(f"layer {c.name!r} (system): {tool} differs from "
                                     f"PyRTL at {r}")
        failures += j["failures"]
        rows.append(j)
    return rows, failures


def _network(ctx: _Ctx, graph: WorkloadGraph, rng: np.random.Generator,
             image: tuple[int, np.ndarray] | None) -> tuple[dict[str, Any], list[str]]:
    """The network run, replayed: (report section, failures). A digits
    workload runs from ``image`` = (test index, pixels) (every layer: RTL or
    host); others run their array layers back to back on random maps."""
    net_rows: list[NetLayer] | None = None
    if image_input(graph):
        if image is None:
            raise RtlError(f"workload {graph.name!r}: --network runs it from a digits image; "
                           "none was given")
        net_rows, summary = run_image_network(ctx.arr, ctx.sys, graph, image[1], image[0], rng)
        checks = [r.check for r in net_rows if r.check is not None]
    else:
        checks, summary = run_network(ctx.arr, ctx.sys, graph, rng)
        summary |= {"image": None, "input": "random maps (not a digits workload)"}
    replays = _replay(ctx.out, ctx.sys, checks, "tb_network", ctx.icarus, ctx.verilator,
                      ctx.tools)
    summary["icarus"] = _all(r[0] for r in replays)
    summary["verilator"] = _all(r[1] for r in replays)
    by_check = dict(zip((c.name for c in checks), replays, strict=True))
    if net_rows is not None:
        rows = [r.to_json() | dict(zip(("icarus", "verilator"),
                                       by_check.get(r.layer.name, (None, None)), strict=True))
                for r in net_rows]
    else:
        rows = [c.to_json() | {"icarus": ri, "verilator": rv, "source": "rtl"}
                for c, (ri, rv) in zip(checks, replays, strict=True)]
    for row in rows:
        for tool in ("icarus", "verilator"):
            if row.get(tool) not in (None, "match", "skipped"):
                row["failures"].append(f"layer {row['name']!r} (network): {tool} differs from "
                                       f"PyRTL at {row[tool]}")
    failures = [f for row in rows for f in row["failures"]]
    if not summary["cycle_match"]:
        failures.append(f"network {graph.name!r}: RTL {summary['rtl_cycles']} cycles, "
                        f"simulator {summary['sim_cycles']}")
    for tool in ("icarus", "verilator"):
        if summary[tool] not in (None, "match", "skipped"):
            failures.append(f"network {graph.name!r}: {tool} replay: {summary[tool]}")
    return {"workload": graph.name, **summary, "layers": rows}, failures


def run_system_flow(spec: ArraySpec, out: Path, graph: WorkloadGraph | None,
                    names: Sequence[str] | None, builtin: Sequence[Layer], *, system: bool,
                    network: bool, seed: int, icarus: bool, verilator: bool, synth: bool,
                    progress: Callable[[str], None] | None = None,
                    image: tuple[int, np.ndarray] | None = None
                    ) -> tuple[dict[str, Any], list[str]]:
    """Run what was asked; returns (report section, failures). Layers: the
    named ones of ``graph`` (all its 1-bit conv2d / linear layers when
    ``names`` is None), or the 1-bit ones of ``builtin`` without a graph."""
    t0 = time.monotonic()
    if network and graph is None:
        raise RtlError("--network needs --workload")
    plans = _plans(spec, graph, names, builtin) if system else []
    net_plans = plan_layers(spec, graph) if network and graph is not None else []
    arr = system_array(spec, [simulated_schedule(p.layer, spec, p.held)
                              for p in plans + net_plans],
                       [(p.layer.w_bits, p.layer.a_bits) for p in plans + net_plans])
    sys = build_system(spec)
    atomic_write_text(out / "system.v", sysexport.system_verilog(sys))
    rng = np.random.default_rng(seed)
    ctx = _Ctx(arr, sys, out, icarus, verilator, {})
    failures: list[str] = []
    section: dict[str, Any] = {
        "array_lane_words": vars(arr.depths).copy(),
        "params": {"k_in": sys.k_in, "k_out": sys.k_out, "dram_latency_cycles": sys.lat_cycles,
                   "dram_bits_per_cycle": sys.bw_bits, "dma_chain": CHAIN,
                   "descriptor_tiles": sys.max_tiles,
                   "staging_words": {"in": sys.in_slot_words, "out": sys.out_slot_words}},
        "cycle_definition": "cycles from the edge sampling start=1 (cycle 0, the first DMA "
                            "request) to the first cycle with the system's done=1 (the last "
                            "store has completed) (bnnarch.rtl.sysrun)",
    }
    if system:
        section["layers"], f = _layers(ctx, plans, rng, progress)
        failures += f
        if graph is not None and not names:  # the compute layers it does not run, and why
            section["skipped"] = [{"name": x.name, "reason": why} for x in graph
                                  if x.is_compute and (why := array_reason(x, spec))]
    if network and graph is not None:
        if progress:
            progress("network")
        section["network"], f = _network(ctx, graph, rng, image)
        failures += f
    if synth:
        section["area"] = sysexport.system_area(sys, out / "yosys_system")
    section["tools"] = ctx.tools
    section["seconds"] = round(time.monotonic() - t0, 2)
    return section, failures


def _all(results) -> str | None:
    """One word for several replays: None (not run), "match", "skipped", or
    the first difference."""
    rs = list(results)
    diffs = [r for r in rs if r not in (None, "match", "skipped")]
    if diffs:
        return diffs[0]
    if any(r == "match" for r in rs):
        return "match"
    return "skipped" if any(r == "skipped" for r in rs) else None
