"""Pareto fronts over stored trials: feasible (every constraint <= 0)
complete trials that no other feasible complete trial dominates."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from bnnarch.dse._spec import StudySpec


def feasible(trial: FrozenTrial) -> bool:
    cons = trial.user_attrs.get("constraints") or []
    return all(c <= 0 for c in cons)


def feasible_complete(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if feasible(t) and t.values is not None]


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one."""
    better = False
    for x, y, d in zip(a, b, directions, strict=True):
        if d == "maximize":
            x, y = -x, -y
        if x > y:
            return False
        if x < y:
            better = True
    return better


def front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points (duplicates all kept)."""
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p, directions) for j, q in enumerate(points) if j != i)]


def pareto_trials(study: optuna.Study, spec: StudySpec) -> list[FrozenTrial]:
    """The front's trials by number; a candidate the sampler proposed twice
    (same parameters) appears once, as its first trial."""
    trials = feasible_complete(study)
    dirs = [o.direction for o in spec.objectives]
    out: dict[tuple, FrozenTrial] = {}
    for t in sorted((trials[i] for i in front([t.values for t in trials], dirs)),
                    key=lambda t: t.number):
        out.setdefault(tuple(sorted((k, repr(v)) for k, v in t.params.items())), t)
    return list(out.values())
