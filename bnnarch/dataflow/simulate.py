"""simulate_dataflow(spec, graph, precision) -> SimResult for the dataflow template.

Folding pass -> stages -> pipeline run (``max(batch, 3)`` frames back to
back, by the compiled engine ``bnnarch.dataflow.fast`` or the SimPy one,
equal results; per-stage counters from the second-to-last frame, the steady
state) -> per-layer results + energy ledger + area. What comes out of the
simulation, not a formula:

* ``first_frame_latency_cycles`` (= ``total_cycles``, so ``latency_s`` keeps
  the array template's meaning: one frame, input to output);
* ``ii_cycles``: the interval between the last two frames leaving the
  pipeline (steady state), ``ii_mean_cycles`` its mean over the second half
  of the frames; ``fps`` = clock / mean II, what FINN reports;
* ``batch_cycles``: when frame ``batch`` left (~ L + (batch-1) x II);
* per stage: busy cycles per frame (its own II; equals FINN's formula when
  nothing stalls), waits on empty input / full output FIFOs, FIFO occupancy
  peaks, and the bottleneck stage. ``ii_limited_by`` says ``fifo`` when the
  pipeline's II exceeds the slowest stage's (under-sized FIFOs); with
  ``fifo.sizing: auto``, ``line_buffer`` when unbounded FIFOs give that II
  too (an SWU's frame-boundary refill; ``ii_unbounded_cycles``).

Energy is per frame (the ledger of bnnarch.dataflow.cost) plus leakage over
one II; ``energy_pj`` / ``tops_per_w`` are per frame in steady state.

Residual / concatenating networks: the FIFO in front of each input of a join
(the bypass FIFO of a short branch) must hold what the long branch delays.
Its minimum depth is derived from the branches' timing by a first run of the
same pipeline with every join FIFO unbounded: the peak occupancy of each
join FIFO in that run is the depth at which nothing stalls on it (the run
with that depth is the same event for event). Each join FIFO then gets
``fifo.depths.<join>`` if given, else ``max(default_depth, minimum)``.
``bypass_fifos`` reports, per join FIFO, the branch's lag (cycles between
the first item reaching the join on this input and on its latest input),
the derived minimum and the depth used. A shallower explicit depth stalls
the pipeline or, when the fork blocks on the full bypass FIFO while the long
branch still needs input, deadlocks: a SimError names the full FIFO, the
stage waiting on an empty one, and the derived minimum depth.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bnnarch.dataflow.cost import (
    leakage_pj,
    stage_area_um2,
    stage_energy_pj,
    threshold_depth,
    weight_depth,
)
from bnnarch.dataflow.engine import PipelineDeadlock, PipelineRun, run_pipeline
from bnnarch.dataflow.fast import run_pipeline_fast
from bnnarch.dataflow.fifo_sizing import FifoSize, size_fifos
from bnnarch.dataflow.fold import FoldResult, fold
from bnnarch.dataflow.plan import JOINS, Stage, build_stages
from bnnarch.dataflow.spec import DataflowSpec
from bnnarch.errors import SimError
from bnnarch.result import LayerResult, SimResult, counter_add
from bnnarch.tech import tech_for
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap, apply_precision

Runner = Callable[[list[Stage], int], PipelineRun]
# reuse the unbounded join-FIFO run when every join FIFO is at least as deep as
# its peak there (the run is then the same); off only to test that claim
REUSE_PROBE = True
# reuse the compiled run that showed the auto-sized depths keep the II (the
# sized pipeline repeats it event for event); off only to test that claim
REUSE_SIZING_RUN = True
_RUNNERS: dict[str, Runner] = {"fast": run_pipeline_fast, "simpy": run_pipeline}


@dataclass(frozen=True)
class DataflowResult(SimResult):
    """A SimResult whose throughput is set by the pipeline's II, not by the
    latency of one frame."""

    latency_cycles: int = 0
    ii_cycles: int = 0
    ii_mean_cycles: float = 0.0

    @property
    def total_cycles(self) -> int:
        return self.latency_cycles

    @property
    def fps(self) -> float:
        ii = self.ii_mean_cycles or self.ii_cycles
        return self.clock_mhz * 1e6 / ii if ii else float("inf")


@dataclass(frozen=True)
class StageReport:
    stage: Stage
    busy_cycles: int  # per frame, steady state (max of read/write for SWU/pool)
    period_cycles: int  # interval between its last two frames
    wait_in_cycles: int
    wait_out_cycles: int
    fifo_peak: int
    first_out_cycle: int  # when it finished frame 0
    fork_peaks: tuple[int, ...] = ()  # peaks of the further FIFOs of a forked stream

    def to_dict(self) -> dict[str, Any]:
        s = self.stage
        d: dict[str, Any] = {
            "stage": s.name, "kind": s.kind, "layer": s.layer, "ii_cycles": self.busy_cycles,
            "period_cycles": self.period_cycles, "wait_in_cycles": self.wait_in_cycles,
            "wait_out_cycles": self.wait_out_cycles, "out_fifo": s.out_fifo,
            "fifo_depth": s.out_depth, "fifo_peak": self.fifo_peak,
            "frame0_done_cycle": self.first_out_cycle,
        }
        if s.kind == "mvtu":
            d |= {"pe": s.pe, "simd": s.simd, "mw": s.mw, "mh": s.mh,
                  "weight_depth": weight_depth(s), "threshold_depth": threshold_depth(s)}
        if s.more_outs:
            d["fork"] = [{"fifo": n, "fifo_depth": depth, "fifo_peak": p}
                         for (n, depth), p in zip(s.more_outs, self.fork_peaks, strict=True)]
        if s.kind in JOINS:
            d["in_fifos"] = list(s.in_fifos)
        return d


def _reports(stages: list[Stage], run: PipelineRun) -> list[StageReport]:
    # Stage counters come from the second-to-last frame: when the last frame
    # leaves the pipeline, stages may still be busy on parts of it the output
    # does not depend on (e.g. rows a pool or SWU never reads).
    n = run.frames
    out = []
    for s in stages:
        st = run.stats[s.name]
        f = max(0, n - 2)
        windowed = s.kind in ("swu", "pool", "upsample")
        busy = max(st.busy[f], st.read_busy[f]) if windowed else st.busy[f]
        period = st.done[f] - st.done[f - 1] if f > 0 else st.done[0]
        out.append(StageReport(s, busy, period, st.wait_in[f], st.wait_out[f],
                               run.fifo_peaks[s.out_fifo], st.done[0],
                               tuple(run.fifo_peaks[n] for n, _ in s.more_outs)))
    return out


def _layer_results(graph: WorkloadGraph, reports: list[StageReport], spec: DataflowSpec,
                   ii: int, area_um2: dict[str, float]) -> list[LayerResult]:
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    by_layer: dict[str, list[StageReport]] = {}
    for r in reports:
        by_layer.setdefault(r.stage.layer, []).append(r)
    results = []
    for layer in graph:
        rs = by_layer.get(layer.name, [])
        if not rs:  # fused threshold or reshape
            fused = layer.op == "threshold"
            prev_compute = layer.inputs[0]
            results.append(LayerResult(
                name=layer.name, op=layer.op, w_bits=layer.w_bits, a_bits=layer.a_bits,
                engine="fused" if fused else "none", cycles=0, compute_cycles=0, stall_cycles=0,
                utilization=0.0, energy_pj=0.0, energy_breakdown_pj=(), macs=0, ops=0,
                dram_read_bits=0, dram_write_bits=0,
                mapping=f"thresholds fused into {prev_compute}" if fused else "stream reshape"))
            continue
        e: Counter[str] = Counter()
        for r in rs:
            e += stage_energy_pj(r.stage, spec, t)
        area = sum(area_um2[r.stage.name] for r in rs)
        counter_add(e, "leakage", leakage_pj(area, ii, spec, t))
        # the MVTU of a conv (after its SWU, before its pipeline registers), else the only stage
        main = next((r for r in rs if r.stage.kind == "mvtu"), rs[-1])
        busy = max(r.busy_cycles for r in rs)
        period = main.period_cycles
        s = main.stage
        if s.kind == "mvtu":
            engine = "mvtu"
            lanes = s.pe * s.simd * s.passes
            util = layer.macs * s.passes / (lanes * period) if period else 0.0
            mapping = (f"PE={s.pe} SIMD={s.simd} wmem={weight_depth(s)}x{s.pe * s.simd * s.w_bits}b"
                       f" tmem={threshold_depth(s)}")
        elif s.kind in JOINS:
            engine, util = s.kind, 0.0
            mapping = f"{s.kind} of {len(s.in_fifos)} streams, {s.item_cycles} cycle(s)/pixel"
        else:
            engine, util, mapping = s.kind, 0.0, f"line buffer {s.line_rows} rows"
        extra: list[tuple[str, Any]] = [("stages", [r.to_dict() for r in rs]),
                                        ("stage_ii_cycles", busy),
                                        ("fifo_peak", main.fifo_peak),
                                        ("area_um2", area)]
        results.append(LayerResult(
            name=layer.name, op=layer.op, w_bits=layer.w_bits, a_bits=layer.a_bits,
            engine=engine, cycles=period, compute_cycles=busy, stall_cycles=max(0, period - busy),
            utilization=util, energy_pj=sum(e.values()),
            energy_breakdown_pj=tuple(sorted(e.items())), macs=layer.macs, ops=layer.ops,
            dram_read_bits=0, dram_write_bits=0, mapping=mapping, extra=tuple(extra)))
    return results


def simulate_dataflow(spec: DataflowSpec, graph: WorkloadGraph,
                      precision: PrecisionMap | None = None, *,
                      frames: int | None = None, engine: str = "fast") -> DataflowResult:
    """Simulate a workload (with an optional precision map) on a dataflow design.

    ``engine``: ``fast`` (the compiled event loop, the default) or ``simpy``
    (the SimPy processes); both give the same result."""
    runner = _RUNNERS.get(engine)
    if runner is None:
        raise SimError(f"engine must be one of {', '.join(_RUNNERS)} (got {engine!r})")
    g = apply_precision(graph, precision or {})
    folding = fold(spec, g)
    n = max(frames or spec.batch, 3)
    stages = build_stages(spec, g, folding.folds())
    bypass: list[dict[str, Any]] = []
    sizes: list[FifoSize] = []
    joins = {s.layer: s for s in stages if s.kind in JOINS}
    probe: PipelineRun | None = None
    unbounded_ii: int | None = None
    runs: int | None = None
    sized_run: PipelineRun | None = None
    if spec.fifo_sizing != "fixed" or folding.fifo_target_cycles is not None:
        sizing = size_fifos(spec, stages, n, folding.fifo_target_cycles)
        stages, sizes, unbounded_ii = sizing.stages, sizing.fifos, sizing.unbounded_ii_cycles
        runs = sizing.runs
        if REUSE_SIZING_RUN and runner is run_pipeline_fast:
            sized_run = sizing.run
    elif joins:
        stages, bypass, probe = _size_join_fifos(spec, g, folding, stages, n, runner)
    try:
        if sized_run is not None:
            run = sized_run
        elif probe is not None and REUSE_PROBE and all(
                b["fifo_depth"] >= probe.fifo_peaks[b["fifo"]] for b in bypass):
            # every join FIFO holds its peak with unbounded join FIFOs: no put
            # finds one full, so this run is the probe's, event for event
            run = replace(probe, fifo_depths={m: d for s in stages for m, d in s.out_fifos})
        else:
            run = runner(stages, n)
    except PipelineDeadlock as e:
        hints = [f"bypass FIFO {b['fifo']!r} has depth {b['fifo_depth']}, below the derived "
                 f"minimum {b['min_depth']} (branch lag {b['lag_cycles']:,} cycles): raise "
                 f"fifo.depths.{b['join']} or leave it unset"
                 for b in bypass if b["fifo"] in e.full and b["fifo_depth"] < b["min_depth"]]
        raise SimError(f"design {spec.name!r} on workload {g.name!r}: {e}"
                       + ("; " + "; ".join(hints) if hints else "")) from None
    return assemble(spec, g, folding, stages, run, bypass, sizes, unbounded_ii, runs)


def _size_join_fifos(spec: DataflowSpec, g: WorkloadGraph, folding: FoldResult,
                     stages: list[Stage], frames: int,
                     runner: Runner = run_pipeline
                     ) -> tuple[list[Stage], list[dict[str, Any]], PipelineRun]:
    """Derive each join FIFO's minimum depth (peak occupancy with unbounded
    join FIFOs) and build the stages with ``fifo.depths`` or the derived
    depth; also returns that unbounded run."""
    join_fifos = {n: s for s in stages if s.kind in JOINS for n in s.in_fifos}
    free = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"depths": {
        k: v for k, v in spec.fifo.depths.items()
        if k not in {s.layer for s in join_fifos.values()}}})})
    unbounded = build_stages(free, g, folding.folds(), dict.fromkeys(join_fifos, math.inf))
    probe = runner(unbounded, frames)
    minimum = {n: max(1, probe.fifo_peaks[n]) for n in join_fifos}
    derived = {n: max(spec.fifo.default_depth, m) for n, m in minimum.items()}
    sized = build_stages(spec, g, folding.folds(), derived)  # type: ignore[arg-type]
    writer = {n: s.name for s in sized for n, _ in s.out_fifos}
    depth = {n: d for s in sized for n, d in s.out_fifos}
    report = []
    for n, j in join_fifos.items():
        latest = max(probe.fifo_first_put[m] for m in j.in_fifos)
        report.append({"fifo": n, "join": j.layer, "from": writer[n], "fifo_depth": depth[n],
                       "min_depth": minimum[n],
                       "depth_from": "fifo.depths" if j.layer in spec.fifo.depths else "derived",
                       "lag_cycles": latest - probe.fifo_first_put[n]})
    return sized, report, probe


def _limited_by(ii: int, busy_cycles: int, unbounded_ii: int | None) -> str:
    """``stage`` at the slowest stage's busy time; above it ``line_buffer``
    when unbounded FIFOs are no faster (a line-buffered stage refills at
    frame boundaries: no FIFO depth helps), else ``fifo``."""
    if ii <= busy_cycles:
        return "stage"
    return "line_buffer" if unbounded_ii is not None and ii <= unbounded_ii else "fifo"


def assemble(spec: DataflowSpec, g: WorkloadGraph, folding: FoldResult, stages: list[Stage],
             run: PipelineRun, bypass: list[dict[str, Any]] | None = None,
             sizes: list[FifoSize] | None = None,
             unbounded_ii_cycles: int | None = None,
             sizing_runs: int | None = None) -> DataflowResult:
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    reports = _reports(stages, run)
    c = run.completion
    ii = c[-1] - c[-2] if len(c) > 1 else c[0]
    # mean over the second half of the frames: some pipelines repeat with a
    # period of several frames (e.g. 784 input bits on a 64-bit stream: 12, 13, 12, 13 ...)
    k = (len(c) - 1) // 2
    ii_mean = (c[-1] - c[k]) / (len(c) - 1 - k) if len(c) > 1 else float(c[0])
    latency = c[0]
    area_um2: dict[str, float] = {s.name: sum(stage_area_um2(s, spec, t).values())
                                  for s in stages}
    area_by: Counter[str] = Counter()
    for s in stages:
        area_by += stage_area_um2(s, spec, t)
    layers = _layer_results(g, reports, spec, ii, area_um2)
    # the host input stage's energy (its FIFO) and leakage go to the first layer
    src = reports[0]
    e_src = stage_energy_pj(src.stage, spec, t)
    counter_add(e_src, "leakage", leakage_pj(area_um2[src.stage.name], ii, spec, t))
    first = layers[0]
    eb = Counter(dict(first.energy_breakdown_pj)) + e_src
    layers[0] = replace(first, energy_pj=sum(eb.values()),
                        energy_breakdown_pj=tuple(sorted(eb.items())))
    bound = max(reports, key=lambda r: r.busy_cycles)
    energy_frame_pj = sum(lr.energy_pj for lr in layers)
    power_mw = energy_frame_pj * 1e-12 * spec.clock_mhz * 1e6 / ii_mean * 1e3 if ii_mean else 0.0
    batch = spec.batch
    extra: list[tuple[str, Any]] = [
        ("batch", batch),
        ("ii_cycles", ii),
        ("ii_mean_cycles", ii_mean),
        ("steady_state_power_mw", power_mw),
        ("first_frame_latency_cycles", latency),
        ("batch_cycles", c[batch - 1] if batch <= len(c) else c[-1]),
        ("bottleneck_stage", bound.stage.name),
        ("ii_bound_cycles", bound.busy_cycles),
        ("ii_limited_by", _limited_by(ii, bound.busy_cycles, unbounded_ii_cycles)),
        ("folding_mode", folding.mode),
        ("folding_target_met", folding.met),
        ("lanes", folding.lanes),
    ]
    for r in reports:
        s = r.stage
        fold_txt = f" PE={s.pe} SIMD={s.simd}" if s.kind == "mvtu" else ""
        line = (f"II {r.busy_cycles:,} busy{fold_txt}; waits in {r.wait_in_cycles:,} / out "
                f"{r.wait_out_cycles:,}; FIFO {s.out_fifo} peak {r.fifo_peak}/{s.out_depth}")
        extra.append((f"stage {s.name}", line))
    for b in bypass or []:
        line = (f"depth {b['fifo_depth']} ({b['depth_from']}), derived minimum "
                f"{b['min_depth']}, branch lag {b['lag_cycles']:,} cycles")
        extra.append((f"bypass {b['fifo']}", line))
    if bypass:
        extra.append(("bypass_fifos", bypass))
    extra.append(("fifo_sizing", spec.fifo_sizing))
    if unbounded_ii_cycles is not None:
        extra.append(("ii_unbounded_cycles", unbounded_ii_cycles))
    if sizing_runs is not None:
        extra.append(("fifo_sizing_runs", sizing_runs))
    for z in sizes or []:
        line = (f"depth {z.depth} ({z.origin}; peak {z.reference_peak:,} with unbounded "
                f"FIFOs), {z.bits:,} bits, {z.area_um2:,.0f} um2, {z.energy_pj:,.1f} pJ/frame")
        extra.append((f"fifo {z.fifo}", line))
    if sizes:
        extra.append(("fifos", [z.to_dict() for z in sizes]))
    extra.append(("stages", [r.to_dict() for r in reports]))
    extra.append(("folding", folding.to_dict()))
    extra.append(("frame_completion_cycles", list(c)))
    return DataflowResult(spec.name, g.name, "dataflow", spec.clock_mhz, tuple(layers),
                          sum(area_um2.values()) / 1e6,
                          tuple(sorted((k, v / 1e6) for k, v in area_by.items())),
                          tuple(extra), latency_cycles=latency, ii_cycles=ii,
                          ii_mean_cycles=ii_mean)
