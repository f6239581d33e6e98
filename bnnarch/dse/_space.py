"""Search spaces: hardware parameters over design-spec fields (dotted paths)
and per-layer precision (layer groups tied together), as Optuna parameters.

Parameter names: a hardware parameter is named by its dotted path
(``array.rows``); a precision unit ``u`` (a layer or a group) by
``w_bits:u`` and ``a_bits:u`` (or ``bits:u`` when ``tie_wa``).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from bnnarch.errors import FieldError, SpecError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap

if False:  # pragma: no cover - typing only, avoids an import cycle
    from bnnarch.dse._spec import Domain, PrecisionSpec


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` set to ``value`` (creating
    intermediate mappings)."""
    out = copy.deepcopy(data)
    cur = out
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return out


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = base
    for path, value in overrides.items():
        out = set_path(out, path, value)
    return out


# ---- hardware ----------------------------------------------------------------

def distribution(d: Domain) -> BaseDistribution:
    if d.kind == "choices":
        return CategoricalDistribution(list(d.choices))
    assert d.low is not None and d.high is not None
    if d.kind == "int":
        return IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
    return FloatDistribution(float(d.low), float(d.high), log=d.log, step=d.step)


def _suggest(trial: optuna.Trial, d: Domain) -> Any:
    if d.kind == "choices":
        return trial.suggest_categorical(d.path, list(d.choices))
    assert d.low is not None and d.high is not None
    if d.kind == "int":
        return trial.suggest_int(d.path, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
    return trial.suggest_float(d.path, float(d.low), float(d.high), step=d.step, log=d.log)


def suggest_hardware(trial: optuna.Trial, domains: Sequence[Domain]) -> dict[str, Any]:
    return {d.path: _suggest(trial, d) for d in domains}


def grid_points(domains: Sequence[Domain], *, trials: int, seed: int) -> list[dict[str, Any]]:
    """All grid points in a fixed order (shuffled by ``seed`` when the budget
    covers only part of the grid)."""
    names = [d.path for d in domains]
    points = [dict(zip(names, combo, strict=True))
              for combo in itertools.product(*(d.grid_values() for d in domains))]
    if trials < len(points):
        random.Random(seed).shuffle(points)
    return points


def draw(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    """One uniform (log-uniform for log ranges) value of an Optuna distribution."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            v = float(np.exp(rng.uniform(np.log(dist.low - 0.5 if dist.low > 1 else dist.low),
                                         np.log(dist.high + 0.5))))
            return min(dist.high, max(dist.low, round(v)))
        n = (dist.high - dist.low) // dist.step + 1
        return dist.low + dist.step * int(rng.integers(n))
    assert isinstance(dist, FloatDistribution)
    if dist.log:
        return float(np.exp(rng.uniform(np.log(dist.low), np.log(dist.high))))
    if dist.step is not None:
        n = round((dist.high - dist.low) / dist.step) + 1
        return min(dist.high, dist.low + dist.step * int(rng.integers(n)))
    return float(rng.uniform(dist.low, dist.high))


class PointSampler(optuna.samplers.BaseSampler):
    """Grid and random sampling where trial ``n`` gets point ``n`` of a
    deterministic sequence (grid order, or draws seeded by (seed, n, name)), so
    parallel workers and resumed runs neither repeat nor skip a point."""

    def __init__(self, *, domains: Sequence[Domain], kind: str, trials: int, seed: int) -> None:
        if kind not in ("grid", "random"):
            raise ValueError(f"kind must be 'grid' or 'random', got {kind!r}")
        self._domains = tuple(domains)
        self._kind = kind
        self._seed = seed
        self._grid = grid_points(domains, trials=trials, seed=seed) if kind == "grid" else []

    def point(self, number: int) -> dict[str, Any]:
        """Grid point of trial ``number``."""
        return self._grid[number % len(self._grid)]

    def params_for(self, number: int, dists: dict[str, BaseDistribution]) -> dict[str, Any]:
        """Every parameter of trial ``number`` at once (what sample_independent
        would return one by one), so a trial can be created with its params."""
        return {name: self._value(number, name, dist) for name, dist in dists.items()}

    def _value(self, number: int, name: str, dist: BaseDistribution) -> Any:
        if self._kind == "grid":
            return self.point(number)[name]
        return draw(dist, np.random.default_rng([self._seed, number, zlib.crc32(name.encode())]))

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._value(trial.number, param_name, param_distribution)


# ---- precision ---------------------------------------------------------------

@dataclass(frozen=True)
class PrecisionUnit:
    """Layers that share one (w_bits, a_bits) choice."""

    name: str
    layers: tuple[str, ...]


def precision_units(prec: PrecisionSpec, graph: WorkloadGraph) -> list[PrecisionUnit]:
    """The searched units, in layer order. Raises SpecError with dotted paths."""
    compute = [layer.name for layer in graph.compute_layers()]
    errs: list[FieldError] = []
    fixed: set[str] = set()
    if compute and prec.first == "fixed":
        fixed.add(compute[0])
    if compute and prec.last == "fixed":
        fixed.add(compute[-1])
    searched: list[str] = []
    for i, pat in enumerate(prec.layers):
        hits = [n for n in compute if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            errs.append(FieldError(f"precision.layers.{i}", f"{pat!r} matches no compute layer "
                                   f"of {graph.name!r}"))
        searched += [n for n in hits if n not in searched]
    searched = [n for n in compute if n in searched and n not in fixed]
    owner: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for gname, pats in prec.groups.items():
        members: list[str] = []
        for j, pat in enumerate(pats):
            hits = [n for n in compute if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                errs.append(FieldError(f"precision.groups.{gname}.{j}",
                                       f"{pat!r} matches no compute layer of {graph.name!r}"))
            members += [n for n in hits if n not in members]
        for n in members:
            if n in owner and owner[n] != gname:
                errs.append(FieldError(f"precision.groups.{gname}",
                                       f"layer {n!r} is also in group {owner[n]!r}"))
            owner.setdefault(n, gname)
        if gname in compute:
            errs.append(FieldError(f"precision.groups.{gname}", "a group cannot have the name "
                                   "of a layer"))
        groups[gname] = members
    if errs:
        raise SpecError("precision", errs)
    units: list[PrecisionUnit] = []
    done: set[str] = set()
    for n in searched:
        g = owner.get(n)
        if g is None:
            units.append(PrecisionUnit(n, (n,)))
        elif g not in done:
            done.add(g)
            units.append(PrecisionUnit(g, tuple(m for m in groups[g] if m in searched)))
    return units


def param_distributions(domains: Sequence[Domain], prec: PrecisionSpec,
                        units: Sequence[PrecisionUnit]) -> dict[str, BaseDistribution]:
    """Every parameter of a study, named as suggest_hardware/suggest_precision name them."""
    out = {d.path: distribution(d) for d in domains}
    bits = CategoricalDistribution(list(prec.bits))
    for u in units:
        names = [f"bits:{u.name}"] if prec.tie_wa else [f"w_bits:{u.name}", f"a_bits:{u.name}"]
        out.update({n: bits for n in names})
    return out


def suggest_precision(trial: optuna.Trial, prec: PrecisionSpec,
                      units: Sequence[PrecisionUnit]) -> PrecisionMap:
    out: PrecisionMap = {}
    bits = list(prec.bits)
    for u in units:
        if prec.tie_wa:
            w = a = trial.suggest_categorical(f"bits:{u.name}", bits)
        else:
            w = trial.suggest_categorical(f"w_bits:{u.name}", bits)
            a = trial.suggest_categorical(f"a_bits:{u.name}", bits)
        for layer in u.layers:
            out[layer] = (int(w), int(a))
    return out


def full_precision_map(graph: WorkloadGraph, base: PrecisionMap,
                       searched: PrecisionMap) -> PrecisionMap:
    """The bits of every compute layer: searched > base map > the workload's."""
    out: PrecisionMap = {}
    for layer in graph.compute_layers():
        out[layer.name] = searched.get(layer.name) or base.get(layer.name) or (layer.w_bits,
                                                                                 layer.a_bits)
    return out
