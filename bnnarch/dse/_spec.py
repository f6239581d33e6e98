"""Study specs: YAML -> typed, frozen ``StudySpec``, every error at once with its
dotted path and YAML line (the same helpers the design specs use).

A study names a base design, a workload, optionally a trained checkpoint and
its task, a hardware space over design-spec fields (dotted paths), a precision
space over the workload's compute layers, objectives, constraints, a sampler,
a trial budget and a seed. Paths in the file are relative to the file.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bnnarch.errors import BnnarchError, FieldError, SpecError
from bnnarch.spec.load import pydantic_errors
from bnnarch.spec.yamlsrc import line_of, load_yaml_with_lines, parse_yaml_with_lines

TASK_METRIC = {"classify": "accuracy", "detect": "map", "segment": "miou"}
METRICS = ("accuracy", "map", "miou")
OBJECTIVES: dict[str, tuple[str, str]] = {
    # name -> (default direction, unit shown in reports)
    "accuracy": ("maximize", ""), "map": ("maximize", ""), "miou": ("maximize", ""),
    "latency": ("minimize", "ms"), "energy": ("minimize", "uJ/frame"),
    "area": ("minimize", "mm2"), "fps": ("maximize", "frames/s"),
    "tops_per_w": ("maximize", "TOPS/W"),
}
CONSTRAINT_METRICS = (*OBJECTIVES, "accuracy_drop")
SAMPLERS = ("nsga2", "tpe", "random", "grid")
ALLOWED_BITS = (1, 2, 4, 8)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A grid sweep runs one simulation per point (~0.01-1 s each): a grid above a
# million points is a typo (a step of 1 over a huge range), not a study.
MAX_GRID_POINTS = 1_000_000


class Domain(_Strict):
    """One hardware parameter: ``choices`` or a ``low``..``high`` range
    (``step`` for a stepped range, ``log`` for a log-uniform one)."""

    path: str
    kind: Literal["int", "float", "choices"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def grid_size(self) -> int:
        """Points of ``grid_values()`` without building them; anything above
        MAX_GRID_POINTS is reported as MAX_GRID_POINTS + 1."""
        if self.kind == "choices":
            return len(self.choices)
        assert self.low is not None and self.high is not None
        if self.log:
            n = math.log2(self.high / self.low) + 1e-9 if self.high / self.low < math.inf else math.inf
        else:
            n = (self.high - self.low) / (self.step if self.step is not None else 1) + 1e-9
        return MAX_GRID_POINTS + 1 if not n < MAX_GRID_POINTS else math.floor(n) + 1

    def grid_values(self) -> list[Any]:
        """Finite values of this domain for a grid sweep (log ranges double)."""
        if self.kind == "choices":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.log:
            out, v = [], self.low
            while v <= self.high * (1 + 1e-9):
                out.append(int(v) if self.kind == "int" else float(v))
                v *= 2
            return out
        step = self.step if self.step is not None else 1
        n = math.floor((self.high - self.low) / step + 1e-9) + 1
        vals = [self.low + i * step for i in range(n)]
        return [int(v) for v in vals] if self.kind == "int" else [float(v) for v in vals]


class Objective(_Strict):
    name: str
    direction: Literal["minimize", "maximize"]


class Constraint(_Strict):
    metric: str
    max: float | None = None
    min: float | None = None


class SamplerSpec(_Strict):
    name: Literal["nsga2", "tpe", "random", "grid"]
    population_size: int | None = Field(default=None, ge=2, le=10000)


class PrecisionSpec(_Strict):
    map: str | None = None
    """A precision map YAML: the fixed bits of every layer not searched."""
    search: bool = False
    bits: tuple[int, ...] = ALLOWED_BITS
    first: Literal["fixed", "search"] = "fixed"
    last: Literal["fixed", "search"] = "fixed"
    tie_wa: bool = False
    """One parameter per unit: w_bits == a_bits."""
    layers: tuple[str, ...] = ("*",)
    """Glob patterns of the layers searched (compute layers only)."""
    groups: dict[str, tuple[str, ...]] = {}
    """Layer groups tied together: group name -> glob patterns."""

    @field_validator("layers", mode="before")
    @classmethod
    def _one_pattern(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("groups", mode="before")
    @classmethod
    def _group_patterns(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: [p] if isinstance(p, str) else p for k, p in v.items()}
        return v


class EvaluationSpec(_Strict):
    evaluator: str = Field(default="checkpoint",
                           pattern=r"^(checkpoint|proxy|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    """checkpoint | proxy | ``module:function`` (a Python hook, ``bnnarch.dse._hooks``)."""
    # default = bnnarch.nn.train.BN_CALIB_IMAGES (no torch import here; a test keeps them equal)
    recalibration_images: int = Field(default=256, ge=0, le=100000)
    fine_tune_steps: int = Field(default=0, ge=0, le=100000)
    """Optimizer steps of straight-through fine-tuning at each precision map
    before BN re-estimation (``bnnarch.nn.train.fine_tune``; 0: none)."""
    cache: bool = True
    sim_engine: Literal["simpy", "recurrence"] = "recurrence"
    """bnnarch.array engine for trials: ``recurrence`` computes the SimPy model's
    result directly (equal results, tested in tests/sim), faster."""


class CustomMetric(_Strict):
    """A metric computed by a Python hook (``module:function``) per candidate."""

    name: str
    function: str
    direction: Literal["minimize", "maximize"] = "minimize"


class _RawStudy(_Strict):
    """The YAML as written (before cross-field checks)."""

    name: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    design: str
    workload: str
    checkpoint: str | None = None
    task: Literal["classify", "detect", "segment"] | None = None
    hardware: dict[str, Any] = {}
    precision: PrecisionSpec = PrecisionSpec()
    objectives: list[Any] = Field(min_length=1)
    constraints: list[Any] = []
    sampler: Any = None
    trials: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0)
    evaluation: EvaluationSpec = EvaluationSpec()
    metrics: dict[str, Any] = {}
    storage: str | None = None


class StudySpec(_Strict):
    """A validated study; paths are absolute."""

    name: str
    description: str
    source: str
    design: Path
    workload: Path
    checkpoint: Path | None
    task: str
    hardware: tuple[Domain, ...]
    precision: PrecisionSpec
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    sampler: SamplerSpec
    trials: int
    seed: int
    evaluation: EvaluationSpec
    storage: str | None
    metrics: tuple[CustomMetric, ...] = ()

    @property
    def needs_accuracy(self) -> bool:
        return (any(o.name in METRICS for o in self.objectives)
                or any(c.metric in (*METRICS, "accuracy_drop") for c in self.constraints))

    @property
    def metric(self) -> str:
        return TASK_METRIC[self.task]

    @property
    def default_storage_path(self) -> Path:
        return Path(self.source).resolve().parent / "runs" / f"{self.name}.db"


def _finite(raw: dict[str, Any], where: str, errs: list[FieldError]) -> bool:
    """low/high/step are finite (a NaN or infinite range never ends a grid)."""
    for k in ("low", "high", "step"):
        if raw.get(k) is not None and not math.isfinite(raw[k]):
            errs.append(FieldError(f"{where}.{k}", f"must be a finite number, got {raw[k]!r}"))
            return False
    return True


def _domain(path: str, raw: Any, where: str, errs: list[FieldError]) -> Domain | None:
    if isinstance(raw, list):
        raw = {"choices": raw}
    if not isinstance(raw, dict):
        errs.append(FieldError(where, "expected {choices: [...]} or {low, high[, step][, log]} "
                                      f"or a list of choices, got {raw!r}"))
        return None
    unknown = sorted(set(raw) - {"choices", "low", "high", "step", "log"})
    for k in unknown:
        errs.append(FieldError(f"{where}.{k}", "unknown key (expected choices or low/high/step/log)"))
    if "choices" in raw:
        return _choices_domain(path, raw, where, errs)
    return _range_domain(path, raw, where, errs)


def _choices_domain(path: str, raw: dict[str, Any], where: str,
                    errs: list[FieldError]) -> Domain | None:
    ch = raw["choices"]
    extra = sorted(set(raw) & {"low", "high", "step", "log"})
    if extra:
        errs.append(FieldError(where, f"give either choices or a range, not both ({extra[0]})"))
    if not isinstance(ch, list) or not ch:
        errs.append(FieldError(f"{where}.choices", "must be a non-empty list"))
        return None
    if len({repr(c) for c in ch}) != len(ch):
        errs.append(FieldError(f"{where}.choices", "has duplicate values"))
    if not all(c is None or isinstance(c, str | int | float | bool) for c in ch):
        errs.append(FieldError(f"{where}.choices", "values must be numbers, strings or booleans"))
        return None
    return Domain(path=path, kind="choices", choices=tuple(ch))


def _range_fields_ok(raw: dict[str, Any], where: str, errs: list[FieldError]) -> bool:
    ok = True
    for k in ("low", "high"):
        if k not in raw:
            errs.append(FieldError(f"{where}.{k}", "required field is missing (or give choices)"))
            ok = False
        elif isinstance(raw[k], bool) or not isinstance(raw[k], int | float):
            errs.append(FieldError(f"{where}.{k}", f"must be a number, got {raw[k]!r}"))
            ok = False
    step, log = raw.get("step"), raw.get("log", False)
    if not isinstance(log, bool):
        errs.append(FieldError(f"{where}.log", f"must be true or false, got {log!r}"))
        ok = False
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0):
        errs.append(FieldError(f"{where}.step", f"must be a number > 0, got {step!r}"))
        ok = False
    return ok


def _range_domain(path: str, raw: dict[str, Any], where: str,
                  errs: list[FieldError]) -> Domain | None:
    if not _range_fields_ok(raw, where, errs) or not _finite(raw, where, errs):
        return None
    step, log = raw.get("step"), raw.get("log", False)
    low, high = raw["low"], raw["high"]
    if low > high:
        errs.append(FieldError(where, f"low ({low}) is greater than high ({high})"))
        return None
    if log and step is not None:
        errs.append(FieldError(f"{where}.step", "a log range cannot have a step"))
        return None
    if log and low <= 0:
        errs.append(FieldError(f"{where}.low", "a log range needs low > 0"))
        return None
    is_int = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    return Domain(path=path, kind="int" if is_int else "float", low=low, high=high,
                  step=step, log=bool(log))


def _field_values(domain: Domain) -> list[Any]:
    if domain.kind == "choices":
        return list(domain.choices)
    return [domain.low, domain.high]


def _check_domain_against_design(domain: Domain, where: str, base: dict[str, Any],
                                 errs: list[FieldError]) -> None:
    """Every value of the domain must be a legal value of the design field."""
    from bnnarch.dse._space import set_path
    from bnnarch.template import template_named_by

    tmpl = template_named_by(base)
    if tmpl is None:
        return  # the base design's own validation reports an unknown template
    model = tmpl.spec_model
    if not _path_exists(model, domain.path):
        errs.append(FieldError(where, f"{domain.path!r} is not a field of the "
                                      f"{tmpl.name} design spec"))
        return
    vals = _field_values(domain)
    for i, v in enumerate(vals):
        try:
            model.model_validate(set_path(base, domain.path, v))
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                if loc == domain.path or loc.startswith(domain.path + "."):
                    sub = f"choices.{i}" if domain.kind == "choices" else ("low", "high")[i]
                    errs.append(FieldError(f"{where}.{sub}", f"{err['msg']} (got {v!r})"))
                    break


def _path_exists(model: type[BaseModel], path: str) -> bool:
    """Whether a dotted path names a leaf field; a mapping field (e.g. the
    dataflow template's ``folding.layers`` or ``swu.mmv``) takes one key
    (a layer name) as the next part, an optional model its model."""
    cur: Any = model
    parts = path.split(".")
    i = 0
    while i < len(parts):
        fields = getattr(cur, "model_fields", None)
        if fields is None or parts[i] not in fields:
            return False
        ann = fields[parts[i]].annotation
        models = [a for a in (typing.get_args(ann) or (ann,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if typing.get_origin(ann) is dict:
            i += 1  # the key
            if i >= len(parts):
                return False
            value = typing.get_args(ann)[1]
            models = [value] if isinstance(value, type) and issubclass(value, BaseModel) else []
        cur = models[0] if models else None
        i += 1
    return cur is None


def _custom_metrics(raw: dict[str, Any], here: Path, lines: dict[str, int],
                    errs: list[FieldError]) -> list[CustomMetric]:
    """``metrics: {name: module:function | {function, direction}}``, each hook imported."""
    from bnnarch.dse._hooks import load_hook

    out: list[CustomMetric] = []
    for name, v in raw.items():
        where = f"metrics.{name}"
        ln = line_of(lines, where)
        if name in CONSTRAINT_METRICS or name == "cycles":
            errs.append(FieldError(where, f"{name!r} is a built-in metric; give yours another "
                                   "name", ln))
            continue
        if isinstance(v, str):
            v = {"function": v}
        if not isinstance(v, dict) or not isinstance(v.get("function"), str):
            errs.append(FieldError(where, "expected module:function or {function: "
                                   f"module:function, direction: minimize|maximize}}, got {v!r}",
                                   ln))
            continue
        for k in sorted(set(v) - {"function", "direction"}):
            errs.append(FieldError(f"{where}.{k}", "unknown key (expected function, direction)",
                                   ln))
        d = v.get("direction", "minimize")
        if d not in ("minimize", "maximize"):
            errs.append(FieldError(f"{where}.direction", f"must be minimize or maximize, got {d!r}",
                                   ln))
            continue
        try:
            load_hook(v["function"], base_dir=here)
        except BnnarchError as e:
            errs.append(FieldError(f"{where}.function", str(e), ln))
            continue
        out.append(CustomMetric(name=str(name), function=v["function"], direction=d))
    return out


def _objectives(raw: list[Any], lines: dict[str, int], errs: list[FieldError],
                custom: dict[str, str] | None = None) -> list[Objective]:
    custom = custom or {}
    out: list[Objective] = []
    for i, o in enumerate(raw):
        where = f"objectives.{i}"
        if isinstance(o, str):
            o = {"name": o}
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            errs.append(FieldError(where, f"expected a name or {{name, direction}}, got {o!r}",
                                   line_of(lines, where)))
            continue
        name = o["name"]
        if name not in OBJECTIVES and name not in custom:
            errs.append(FieldError(f"{where}.name", f"unknown objective {name!r} (known: "
                                   f"{', '.join([*OBJECTIVES, *custom])}; or define it under "
                                   "metrics:)", line_of(lines, where)))
            continue
        unknown = sorted(set(o) - {"name", "direction"})
        for k in unknown:
            errs.append(FieldError(f"{where}.{k}", "unknown key (expected name, direction)",
                                   line_of(lines, f"{where}.{k}")))
        d = o.get("direction", OBJECTIVES[name][0] if name in OBJECTIVES else custom[name])
        if d not in ("minimize", "maximize"):
            errs.append(FieldError(f"{where}.direction", f"must be minimize or maximize, got {d!r}",
                                   line_of(lines, f"{where}.direction")))
            continue
        if any(p.name == name for p in out):
            errs.append(FieldError(where, f"objective {name!r} is listed twice", line_of(lines, where)))
            continue
        out.append(Objective(name=name, direction=d))
    return out


def _constraints(raw: list[Any], lines: dict[str, int], errs: list[FieldError],
                 custom: tuple[str, ...] = ()) -> list[Constraint]:
    out: list[Constraint] = []
    for i, c in enumerate(raw):
        where = f"constraints.{i}"
        ln = line_of(lines, where)
        if not isinstance(c, dict):
            errs.append(FieldError(where, f"expected {{metric, max}} or {{metric, min}}, got {c!r}", ln))
            continue
        for k in sorted(set(c) - {"metric", "max", "min"}):
            errs.append(FieldError(f"{where}.{k}", "unknown key (expected metric, max, min)", ln))
        m = c.get("metric")
        if m not in CONSTRAINT_METRICS and m not in custom:
            errs.append(FieldError(f"{where}.metric", f"unknown metric {m!r} (known: "
                                   f"{', '.join([*CONSTRAINT_METRICS, *custom])})", ln))
            continue
        bounds = {k: c.get(k) for k in ("max", "min") if c.get(k) is not None}
        if not bounds:
            errs.append(FieldError(where, "give max or min", ln))
            continue
        bad = [k for k, v in bounds.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        for k in bad:
            errs.append(FieldError(f"{where}.{k}", f"must be a number, got {bounds[k]!r}", ln))
        if not bad:
            out.append(Constraint(metric=m, **{k: float(v) for k, v in bounds.items()
                                               if v is not None}))
    return out


def _sampler(raw: Any, lines: dict[str, int], errs: list[FieldError], *, sweep: bool,
             n_obj: int) -> SamplerSpec | None:
    if raw is None:
        raw = "grid" if sweep else ("nsga2" if n_obj > 1 else "tpe")
    if isinstance(raw, str):
        raw = {"name": raw}
    try:
        s = SamplerSpec.model_validate(raw)
    except ValidationError as e:
        errs.extend(FieldError(f"sampler.{fe.path}".rstrip("."), fe.message, fe.line)
                    for fe in pydantic_errors(e, {k.removeprefix("sampler."): v
                                                  for k, v in lines.items()}))
        return None
    if sweep and s.name not in ("grid", "random"):
        errs.append(FieldError("sampler.name", f"a sweep runs grid or random, not {s.name!r} "
                               "(use `bnnarch explore` for an Optuna search)",
                               line_of(lines, "sampler")))
    return s


def _grid_points(domains: list[Domain], lines: dict[str, int], errs: list[FieldError]) -> int:
    """Points of the grid over ``domains`` (0: none, or too many: an error)."""
    size = 1
    for d in domains:
        size = min(size * d.grid_size(), MAX_GRID_POINTS + 1)
    if size > MAX_GRID_POINTS:
        errs.append(FieldError("hardware", f"the grid has more than {MAX_GRID_POINTS:,} "
                               "points (check the ranges and steps)", line_of(lines, "hardware")))
        return 0
    return size if domains else 0


def _reject_non_study(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise SpecError(source, [FieldError("", "a study spec must be a YAML mapping")])
    if not {"design", "workload", "objectives"} & set(data) and (
            {"template", "array", "buffers", "dram", "stages"} & set(data)):
        raise SpecError(source, [FieldError("", "this looks like a design, not a study (a "
                                            "study names a design:, a workload: and "
                                            "objectives:; see explore/README.md). To simulate "
                                            "a design: bnnarch simulate DESIGN -w WORKLOAD")])


@dataclass(frozen=True)
class _Inputs:
    """The files a study names, resolved next to it, and what loading them gave."""

    design: Path | None
    workload: Path | None
    checkpoint: Path | None
    pmap_path: Path | None
    base: dict[str, Any] | None  # the base design as a dict
    graph: Any  # WorkloadGraph | None


def _inputs(raw: _RawStudy, here: Path, lines: dict[str, int], errs: list[FieldError]) -> _Inputs:
    def _file(key: str, value: str | None) -> Path | None:
        if value is None:
            return None
        p = (here / value).resolve()
        if not p.is_file():
            why = "is a directory, not a file" if p.is_dir() else "no such file"
            errs.append(FieldError(key, f"{why}: {p}", line_of(lines, key)))
        return p

    from bnnarch.template import load_design
    from bnnarch.workload.io import load_precision_map, load_workload

    design, workload = _file("design", raw.design), _file("workload", raw.workload)
    checkpoint = _file("checkpoint", raw.checkpoint)
    pmap_path = _file("precision.map", raw.precision.map)
    base: dict[str, Any] | None = None
    if design is not None and design.exists():
        try:
            base = load_design(design).model_dump(mode="json", exclude_none=True)
        except BnnarchError as e:
            errs.append(FieldError("design", f"the base design is invalid: {e}",
                                   line_of(lines, "design")))
    graph = None
    if workload is not None and workload.exists():
        try:
            graph = load_workload(workload)
        except BnnarchError as e:
            errs.append(FieldError("workload", str(e), line_of(lines, "workload")))
    if graph is not None and pmap_path is not None and pmap_path.exists():
        try:
            load_precision_map(pmap_path, graph)
        except BnnarchError as e:
            errs.append(FieldError("precision.map", str(e), line_of(lines, "precision.map")))
    return _Inputs(design, workload, checkpoint, pmap_path, base, graph)


def _hardware_domains(raw: _RawStudy, base: dict[str, Any] | None, lines: dict[str, int],
                      errs: list[FieldError]) -> list[Domain]:
    domains: list[Domain] = []
    for path, spec in raw.hardware.items():
        where = f"hardware.{path}"
        sub: list[FieldError] = []
        d = _domain(str(path), spec, where, sub)
        if d is not None and base is not None:
            _check_domain_against_design(d, where, base, sub)
        errs.extend(FieldError(fe.path, fe.message, line_of(lines, fe.path)) for fe in sub)
        if d is not None:
            domains.append(d)
    return domains


def _task_metric(task: str, objectives: list[Objective], constraints: list[Constraint],
                 lines: dict[str, int], errs: list[FieldError]
                 ) -> tuple[list[Objective], list[Constraint]]:
    """Objectives/constraints with the task's metric under its own name
    ('accuracy' is its alias); another task's metric is an error."""
    metric = TASK_METRIC[task]
    for i, o in enumerate(objectives):
        if o.name in METRICS and o.name != metric and o.name != "accuracy":
            errs.append(FieldError(f"objectives.{i}.name", f"task {task!r} reports {metric!r}, "
                                   f"not {o.name!r}", line_of(lines, f"objectives.{i}")))
    objectives = [Objective(name=metric, direction=o.direction) if o.name in METRICS else o
                  for o in objectives]
    constraints = [Constraint(metric=metric, max=c.max, min=c.min) if c.metric in METRICS else c
                   for c in constraints]
    return objectives, constraints


def _check_evaluation(raw: _RawStudy, here: Path, metric: str, needs_acc: bool,
                      lines: dict[str, int], errs: list[FieldError]) -> None:
    if ":" in raw.evaluation.evaluator:
        from bnnarch.dse._hooks import load_hook

        try:
            load_hook(raw.evaluation.evaluator, base_dir=here)
        except BnnarchError as e:
            errs.append(FieldError("evaluation.evaluator", str(e),
                                   line_of(lines, "evaluation.evaluator")))
    if needs_acc and raw.evaluation.evaluator == "checkpoint" and raw.checkpoint is None:
        errs.append(FieldError("checkpoint", f"objective/constraint {metric!r} needs a trained "
                               "checkpoint (or evaluation.evaluator: proxy)",
                               line_of(lines, "objectives")))


def _check_precision(prec: PrecisionSpec, graph: Any, *, sweep: bool,
                     lines: dict[str, int], errs: list[FieldError]) -> None:
    for key, vals in (("bits", prec.bits), ("layers", prec.layers)):
        if not vals:
            errs.append(FieldError(f"precision.{key}", "must be a non-empty list",
                                   line_of(lines, f"precision.{key}")))
    for g, pats in prec.groups.items():
        if not pats:
            errs.append(FieldError(f"precision.groups.{g}", "must name at least one layer "
                                   "pattern", line_of(lines, f"precision.groups.{g}")))
    if len(set(prec.bits)) != len(prec.bits):
        errs.append(FieldError("precision.bits", "has duplicate values",
                               line_of(lines, "precision.bits")))
    for i, b in enumerate(prec.bits):
        if b not in ALLOWED_BITS:
            errs.append(FieldError(f"precision.bits.{i}", f"must be one of 1, 2, 4, 8; got {b}",
                                   line_of(lines, f"precision.bits.{i}")))
    if sweep and prec.search:
        errs.append(FieldError("precision.search", "a sweep runs at a fixed precision (give "
                               "precision.map); search precision with `bnnarch explore`",
                               line_of(lines, "precision.search")))
    if graph is not None and prec.search:
        from bnnarch.dse._space import precision_units

        try:
            units = precision_units(prec, graph)
        except SpecError as e:
            errs.extend(FieldError(fe.path, fe.message, line_of(lines, fe.path)) for fe in e.errors)
        else:
            if not units:
                errs.append(FieldError("precision.layers", "no compute layer is searched",
                                       line_of(lines, "precision.layers")))


def _trials(trials: int | None, sampler: SamplerSpec | None, domains: list[Domain],
            prec: PrecisionSpec, lines: dict[str, int], errs: list[FieldError]) -> int | None:
    """The trial budget (a grid defaults to its size)."""
    if not domains and not prec.search:
        errs.append(FieldError("hardware", "nothing to search: give hardware parameters "
                               "and/or precision.search: true", line_of(lines, "hardware")))
    if sampler is not None and sampler.name == "grid":
        if prec.search:
            errs.append(FieldError("sampler.name", "a grid cannot search precision; use "
                                   "nsga2, tpe or random", line_of(lines, "sampler")))
        for d in domains:
            if d.kind == "float" and d.step is None and not d.log:
                errs.append(FieldError(f"hardware.{d.path}", "a grid needs choices, a step or "
                                       "log: true for a float range",
                                       line_of(lines, f"hardware.{d.path}")))
        size = _grid_points(domains, lines, errs)
        if trials is None:
            trials = size
        elif size and trials > size:
            errs.append(FieldError("trials", f"{trials} exceeds the grid size ({size})",
                                   line_of(lines, "trials")))
    if trials is None:
        errs.append(FieldError("trials", "required field is missing (only a grid defaults "
                               "to its size)", line_of(lines, "trials")))
    return trials


def validate_study(data: Any, lines: dict[str, int], source: str, *, sweep: bool) -> StudySpec:
    """Raw YAML data -> StudySpec, or SpecError listing every problem."""
    _reject_non_study(data, source)
    try:
        raw = _RawStudy.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, pydantic_errors(e, lines)) from None
    errs: list[FieldError] = []
    here = Path(source).resolve().parent
    inp = _inputs(raw, here, lines, errs)
    domains = _hardware_domains(raw, inp.base, lines, errs)
    custom = _custom_metrics(raw.metrics, here, lines, errs)
    objectives = _objectives(raw.objectives, lines, errs, {m.name: m.direction for m in custom})
    constraints = _constraints(raw.constraints, lines, errs, tuple(m.name for m in custom))
    sampler = _sampler(raw.sampler, lines, errs, sweep=sweep, n_obj=len(objectives))
    task = raw.task or "classify"
    objectives, constraints = _task_metric(task, objectives, constraints, lines, errs)
    needs_acc = (any(o.name in METRICS for o in objectives)
                 or any(c.metric in (*METRICS, "accuracy_drop") for c in constraints))
    _check_evaluation(raw, here, TASK_METRIC[task], needs_acc, lines, errs)
    prec = raw.precision
    _check_precision(prec, inp.graph, sweep=sweep, lines=lines, errs=errs)
    trials = _trials(raw.trials, sampler, domains, prec, lines, errs)
    if errs:
        raise SpecError(source, errs)
    assert sampler is not None and inp.design is not None and inp.workload is not None and trials
    prec_abs = prec.model_copy(update={"map": str(inp.pmap_path) if inp.pmap_path else None})
    return StudySpec(
        name=raw.name or Path(source).stem, description=raw.description, source=str(source),
        design=inp.design, workload=inp.workload, checkpoint=inp.checkpoint, task=task,
        hardware=tuple(domains), precision=prec_abs, objectives=tuple(objectives),
        constraints=tuple(constraints), sampler=sampler, trials=trials, seed=raw.seed,
        evaluation=raw.evaluation, storage=raw.storage, metrics=tuple(custom),
    )


def load_study_spec(path: str | Path, *, sweep: bool = False) -> StudySpec:
    """Read and validate a study YAML (``sweep``: checks for ``bnnarch sweep``)."""
    data, lines = load_yaml_with_lines(path, "study spec")
    return validate_study(data, lines, str(path), sweep=sweep)


def parse_study(text: str, source: str, *, sweep: bool = False) -> StudySpec:
    data, lines = parse_yaml_with_lines(text, source)
    return validate_study(data, lines, source, sweep=sweep)
