"""One candidate: hardware overrides + precision map -> DesignSpec, simulation,
accuracy, objective and constraint values, and the artefacts a trial keeps.

A candidate that fails the design's cross checks or cannot be mapped is
*invalid*: it carries the reason and no values (the runner records it as a
pruned trial), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnnarch.dse._accuracy import AccuracyEvaluator, make_evaluator
from bnnarch.dse._hooks import call_metric, load_hook
from bnnarch.dse._space import PrecisionUnit, apply_overrides, full_precision_map, precision_units
from bnnarch.dse._spec import StudySpec
from bnnarch.errors import MappingError, SimError, SpecError, WorkloadError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap


@dataclass(frozen=True)
class Context:
    """What every trial of a study shares (built once per worker)."""

    spec: StudySpec
    base_design: dict[str, Any]
    graph: WorkloadGraph
    base_pmap: PrecisionMap
    units: tuple[PrecisionUnit, ...]
    evaluator: AccuracyEvaluator | None
    baseline: float | None
    hooks: tuple[tuple[str, Callable[..., Any]], ...] = ()
    """(metric name, function) of the study's Python metric hooks."""


@dataclass(frozen=True)
class Outcome:
    metrics: dict[str, float] = field(default_factory=dict)
    values: tuple[float, ...] = ()
    constraints: tuple[float, ...] = ()
    """One value per bound, <= 0 when met (Optuna's convention)."""
    constraint_names: tuple[str, ...] = ()
    design: dict[str, Any] = field(default_factory=dict)
    precision: dict[str, list[int]] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)
    invalid_reason: str | None = None

    @property
    def feasible(self) -> bool:
        return self.invalid_reason is None and all(c <= 0 for c in self.constraints)


def accuracy_cache_dir(spec: StudySpec) -> Path:
    return Path(spec.source).resolve().parent / "runs" / "cache" / "accuracy"


def build_context(spec: StudySpec) -> Context:
    from bnnarch.template import load_design
    from bnnarch.workload.io import load_precision_map, load_workload

    base = load_design(spec.design).model_dump(mode="json", exclude_none=True)
    graph = load_workload(spec.workload)
    base_pmap = load_precision_map(spec.precision.map, graph) if spec.precision.map else {}
    units = tuple(precision_units(spec.precision, graph)) if spec.precision.search else ()
    evaluator = None
    baseline = None
    if spec.needs_accuracy:
        ev = spec.evaluation
        evaluator = make_evaluator(
            kind=ev.evaluator, graph=graph, metric=spec.metric, task=spec.task,
            checkpoint=spec.checkpoint, recalibration_images=ev.recalibration_images,
            fine_tune_steps=ev.fine_tune_steps,
            cache_dir=accuracy_cache_dir(spec) if ev.cache else None,
            base_dir=Path(spec.source).resolve().parent)
        if any(c.metric == "accuracy_drop" for c in spec.constraints):
            baseline = evaluator.evaluate(None)
    hooks = tuple((m.name, load_hook(m.function, base_dir=Path(spec.source).resolve().parent))
                  for m in spec.metrics)
    return Context(spec, base, graph, base_pmap, units, evaluator, baseline, hooks)


def evaluate_candidate(ctx: Context, hardware: dict[str, Any], searched: PrecisionMap, *,
                       name: str) -> Outcome:
    """Build, simulate and score one candidate (see module doc)."""
    from bnnarch.api import simulate
    from bnnarch.result import result_summary
    from bnnarch.template import design_from_dict

    design = apply_overrides(ctx.base_design, hardware)
    design["name"] = name
    pmap = full_precision_map(ctx.graph, ctx.base_pmap, searched)
    prec = {k: list(v) for k, v in pmap.items()}
    try:
        dspec = design_from_dict(design, source=name)
    except SpecError as e:
        return Outcome(design=design, precision=prec,
                       invalid_reason="design invalid: " + "; ".join(str(fe) for fe in e.errors))
    try:
        result = simulate(dspec, ctx.graph, pmap, engine=ctx.spec.evaluation.sim_engine)
    except (MappingError, SimError, WorkloadError) as e:
        return Outcome(design=design, precision=prec, invalid_reason=f"cannot run: {e}")
    metrics: dict[str, float] = {
        "latency": result.latency_s * 1e3,
        "energy": result.energy_pj * 1e-6,
        "area": result.area_mm2,
        "fps": result.fps,
        "tops_per_w": result.tops_per_w,
        "cycles": float(result.total_cycles),
    }
    if ctx.evaluator is not None:
        metrics[ctx.spec.metric] = ctx.evaluator.evaluate(pmap)
        if ctx.baseline is not None:
            metrics["accuracy_drop"] = ctx.baseline - metrics[ctx.spec.metric]
    summary = result_summary(result)
    summary.pop("energy_breakdown_pj", None)
    summary["energy_breakdown_pj"] = {k: round(v, 3) for k, v in
                                      result.energy_breakdown_pj.items()}
    dumped = dspec.model_dump(mode="json", exclude_none=True)
    for mname, fn in ctx.hooks:  # after the built-ins: a hook sees them all
        metrics[mname] = call_metric(mname, fn, {"design": dumped, "precision": prec,
                                                 "sim": summary, "metrics": dict(metrics)})
    cons, names = [], []
    for c in ctx.spec.constraints:
        v = metrics[c.metric]
        if c.max is not None:
            cons.append(v - c.max)
            names.append(f"{c.metric}<={c.max:g}")
        if c.min is not None:
            cons.append(c.min - v)
            names.append(f"{c.metric}>={c.min:g}")
    return Outcome(metrics=metrics,
                   values=tuple(metrics[o.name] for o in ctx.spec.objectives),
                   constraints=tuple(cons), constraint_names=tuple(names), design=dumped,
                   precision=prec, sim=summary)
