"""The ``bnnarch rtl`` flow: build the array, verify layers, export Verilog
and testbenches, run Icarus / Verilator / Yosys, write ``report.json``.

The kept run of each layer is replayed by one testbench per batch of layers
in Icarus (default) and, with ``verilator_sim``, as a Verilator-built
simulation of the same testbench (one C++ build per batch, 5-10 s for
``rtl_small``, 10-17 s for ``rtl_8x8``, measured); each layer's ``icarus`` /
``verilator`` says "match" or the first difference (Verilator is compared
with PyRTL's trace and with Icarus's lines).

Side effects live here (files, tools); the checks themselves are in
``bnnarch.rtl.verify``. ``report.json`` is written last (temp file + rename)
and any earlier one is removed first, so a report never claims a success
that this run did not establish; its ``ok`` is false when a check failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.fsio import atomic_write_text
from bnnarch.rtl import export
from bnnarch.rtl.array import RtlArray, build_array
from bnnarch.rtl.golden import Program
from bnnarch.rtl.run import RunResult
from bnnarch.rtl.synth import SynthResult, area_for
from bnnarch.rtl.verify import LayerCheck, RunCheck, check_layer
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer

ICARUS_MAX_CYCLES = 50_000
"""Longer runs skip the Icarus / Verilator replay (the testbench grows with
the cycles)."""


@dataclass(frozen=True)
class FlowOptions:
    verify: bool = True
    simulator: str = "auto"
    seed: int = 0
    icarus: bool = True
    verilator_sim: bool = False  # Verilator --binary build + run of the testbenches
    lint: bool = True
    synth: bool = True
    area_cache: Path | None = None
    skip_unsupported: bool = False  # layers picked automatically: skip what cannot run
    system: bool = False  # per-layer checks of the memory system + array (bnnarch.rtl.sysflow)
    network: bool = False  # the whole workload on the system (bnnarch.rtl.network)
    image: tuple[int, np.ndarray] | None = None
    """(index, pixels) of the digits test image the network run starts from"""
    held: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    """Per layer, whether ``simulate`` holds its input / output on chip
    (``bnnarch.rtl.sim_schedule.held_maps`` of the workload; absent: neither)."""


@dataclass
class FlowResult:
    report: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _kept_run(lc: LayerCheck) -> RunCheck | None:
    rc = lc.whole if lc.whole and lc.whole.run else None
    if rc is None:
        rc = next((r for r, _ in lc.tiles if r.run is not None), None)
    return rc if rc is not None and rc.run is not None and rc.prog is not None else None


def _replay_batch(out: Path, arr: RtlArray, batch: list[tuple[LayerCheck, RunCheck]], index: int,
                  opts: FlowOptions, verilator_s: list[float]) -> None:
    """Replay the kept runs of several layers in one testbench (``tb_<index>.v``:
    one compile of the design) in Icarus and/or Verilator; sets each layer's
    ``icarus`` / ``verilator`` and appends the Verilator seconds."""
    runs: list[tuple[Program, RunResult]] = []
    for _, rc in batch:
        assert rc.prog is not None and rc.run is not None  # kept runs (_kept_run)
        runs.append((rc.prog, rc.run))
    tb = export.write_testbench(out, f"tb_{index}", arr, runs, "design.v").name
    icarus = export.run_icarus(out, tb) if opts.icarus else None
    verilator = None
    if opts.verilator_sim:
        t0 = time.monotonic()
        verilator = export.run_verilator(out, tb)
        verilator_s.append(time.monotonic() - t0)
    for i, (lc, rc) in enumerate(batch):
        assert rc.run is not None
        where = f" (testbench {tb}, run {i})"
        if icarus is not None:
            diff = export.compare_trace(arr, rc.run, icarus, i, "Icarus")
            lc.icarus = "match" if diff is None else diff + where
        if verilator is not None:
            diff = export.compare_trace(arr, rc.run, verilator, i, "Verilator")
            if diff is None and icarus is not None:
                diff = export.compare_lines(arr, verilator, icarus, i)
            lc.verilator = "match" if diff is None else diff + where


def _write(path: Path, text: str) -> None:
    """Atomic write (temp file + rename): never a half-written output."""
    atomic_write_text(path, text)


def _synth_summary(res: SynthResult) -> str:
    lines = [(f"Yosys synthesis of one PE, from the cache ({res.key}; the Yosys run took "
             f"{res.yosys_seconds} s)"), f"cells per PE: {res.cells_per_pe}",
             f"gate equivalents per PE: {res.ge_per_pe}",
             f"PE area: {res.pe_area_um2:.2f} um^2", f"PEs: {res.pes}",
             f"array datapath: {res.cells} cells, {res.area_mm2:.6f} mm^2", "cell types per PE:"]
    lines += [f"  {c:<12} {n}" for c, n in sorted(res.cell_types.items())]
    return "\n".join(lines) + "\n"


def _tool_checks(out: Path, opts: FlowOptions, failures: list[str]) -> dict[str, Any]:
    """Verilator version (fail before the PyRTL runs) and lint of ``design.v``;
    appends a lint failure to ``failures``."""
    tools: dict[str, Any] = {}
    if opts.verify and opts.verilator_sim:
        tools["verilator_version"] = export.verilator_version()  # fail before the PyRTL runs
    if opts.lint:
        lint = export.verilator_lint(out / "design.v")
        _write(out / "verilator.log", lint.message + "\n")
        tools["verilator_lint"] = "clean" if lint.ok else "failed"
        if not lint.ok:
            failures.append(f"verilator --lint-only failed (see {out / 'verilator.log'})")
    return tools


def _synth_area(spec: ArraySpec, out: Path, opts: FlowOptions) -> dict[str, Any]:
    """Yosys area of the design (cached), with ``yosys_report.txt``; {} without synth."""
    if not opts.synth:
        return {}
    res, log = area_for(spec, opts.area_cache, workdir=out / "yosys")
    _write(out / "yosys_report.txt", log if log is not None else _synth_summary(res))
    return {"cells": res.cells, "area_mm2": res.area_mm2, "cells_per_pe": res.cells_per_pe,
            "ge_per_pe": res.ge_per_pe, "pe_area_um2": res.pe_area_um2,
            "cache_key": res.key, "from_cache": log is None,
            "cell_types_per_pe": res.cell_types}


@dataclass
class _Replays:
    """Kept runs batched into testbenches of at most ``ICARUS_MAX_CYCLES``."""

    out: Path
    arr: RtlArray
    opts: FlowOptions
    batch: list[tuple[LayerCheck, RunCheck]] = field(default_factory=list)
    batches: int = 0
    verilator_s: list[float] = field(default_factory=list)

    def add(self, lc: LayerCheck, rc: RunCheck, cycles: int) -> None:
        used = sum(len(r.run.trace["done"]) for _, r in self.batch if r.run)
        if used + cycles > ICARUS_MAX_CYCLES:
            self.flush()
        self.batch.append((lc, rc))

    def flush(self) -> None:
        if self.batch:
            _replay_batch(self.out, self.arr, self.batch, self.batches, self.opts,
                          self.verilator_s)
            self.batches += 1
        for lc, _ in self.batch:
            for rc in ([lc.whole] if lc.whole else []) + [r for r, _ in lc.tiles]:
                rc.prog = rc.run = None  # release traces
        self.batch = []


def _verify_layers(arr: RtlArray, out: Path, layers: Sequence[Layer], opts: FlowOptions,
                   progress: Callable[[str], None] | None
                   ) -> tuple[list[LayerCheck], list[dict[str, str]], list[float]]:
    """Check each layer on the array and replay the kept runs; the checks, the
    skipped layers and the Verilator seconds per testbench."""
    skipped: list[dict[str, str]] = []
    done: list[LayerCheck] = []
    replay = opts.icarus or opts.verilator_sim
    replays = _Replays(out, arr, opts)
    rng = np.random.default_rng(opts.seed)
    for layer in layers if opts.verify else ():
        if progress:
            progress(layer.name)
        try:
            lc = check_layer(arr, layer, rng, opts.simulator, keep=replay,
                             held=opts.held.get(layer.name, (False, False)))
        except RtlError as e:
            if not opts.skip_unsupported:
                raise
            skipped.append({"name": layer.name, "reason": str(e)})
            continue
        done.append(lc)
        rc = _kept_run(lc) if replay else None
        if rc is None or rc.run is None or len(rc.run.trace["done"]) > ICARUS_MAX_CYCLES:
            lc.icarus = "skipped" if opts.icarus else None
            lc.verilator = "skipped" if opts.verilator_sim else None
            continue
        replays.add(lc, rc, len(rc.run.trace["done"]))
    replays.flush()
    return done, skipped, replays.verilator_s


def run_flow(spec: ArraySpec, out: Path, layers: Sequence[Layer], opts: FlowOptions,
             progress: Callable[[str], None] | None = None,
             graph: WorkloadGraph | None = None,
             names: Sequence[str] | None = None) -> FlowResult:
    """Generate, verify and report one design (see module docstring).
    ``graph`` / ``names``: the workload and requested layers, for the system
    checks (``opts.system`` / ``opts.network``)."""
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "report.json"
    report_path.unlink(missing_ok=True)
    t0 = time.monotonic()
    arr = build_array(spec)
    _write(out / "design.v", export.verilog_text(arr))
    failures: list[str] = []
    tools = _tool_checks(out, opts, failures)
    area = _synth_area(spec, out, opts)
    done, skipped, verilator_s = _verify_layers(arr, out, layers, opts, progress)
    if verilator_s:
        tools["verilator_sim"] = {"testbenches": len(verilator_s),
                                  "seconds": round(sum(verilator_s), 2)}
    checks: list[dict[str, Any]] = []
    for lc in done:
        lc.cells, lc.area_mm2 = area.get("cells"), area.get("area_mm2")
        failures += lc.failures()
        checks.append(lc.to_json())
    a = spec.array
    report = {
        "design": spec.name, "ok": not failures,
        "array": {"rows": a.rows, "cols": a.cols, "simd_bits": a.simd_bits,
                  "acc_bits": a.acc_bits, "interconnect": a.interconnect,
                  "dataflow": a.effective_dataflow, "popcount_tree": a.popcount_tree,
                  "node_nm": spec.technology.node_nm},
        "buffers_words_per_lane": vars(arr.depths).copy() if hasattr(arr.depths, "__dict__")
        else None,
        "tools": tools, "area": area, "layers": checks, "skipped_layers": skipped,
        "failures": failures,
        "seconds": round(time.monotonic() - t0, 2),
        "cycle_definition": "cycles from the edge sampling start=1 (cycle 0) to the first "
                            "cycle with done=1 (bnnarch.rtl.run)",
    }
    failures += _system(report, spec, out, graph, names, layers, opts, progress, t0)
    if opts.verify and not checks:  # ok means something was verified
        failures.append("no layer could be verified: " + ("; ".join(
            f"{s['name']}: {s['reason']}" for s in skipped[:3]) or "no layer to check"))
        report["ok"] = False
    _write(report_path, json.dumps(report, indent=1) + "\n")
    return FlowResult(report, failures)


def _system(report: dict[str, Any], spec: ArraySpec, out: Path, graph: WorkloadGraph | None,
            names: Sequence[str] | None, layers: Sequence[Layer], opts: FlowOptions,
            progress: Callable[[str], None] | None, t0: float) -> list[str]:
    """The system checks (bnnarch.rtl.sysflow), when asked, into ``report``;
    their failures."""
    if not (opts.system or opts.network):
        return []
    from bnnarch.rtl.sysflow import run_system_flow

    report["system"], failures = run_system_flow(
        spec, out, graph, names, layers, system=opts.system, network=opts.network,
        seed=opts.seed, icarus=opts.icarus, verilator=opts.verilator_sim, synth=opts.synth,
        progress=progress, image=opts.image)
    report["ok"] = report["ok"] and not failures
    report["seconds"] = round(time.monotonic() - t0, 2)
    return failures


def select_layers(layers: Sequence[Layer], names: Sequence[str] | None,
                  spec: ArraySpec | None = None) -> list[Layer]:
    """The requested layers (all array layers when ``names`` is None): compute
    layers at 1..8 bits, and full-precision ones when the design runs them
    bit-serially on the array; a named layer that cannot run is an error."""
    by_name = {lay.name: lay for lay in layers}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise RtlError(f"no layer named {', '.join(map(repr, missing))} in the workload "
                           f"(compute layers: {', '.join(x.name for x in layers if x.is_compute)})")
        return [by_name[n] for n in names]
    fp_on_array = spec is not None and spec.full_precision.mode == "bit_serial"
    return [lay for lay in layers
            if lay.is_compute and (fp_on_array or not lay.is_full_precision)]
