"""Pareto fronts over stored trials: feasible (every constraint <= 0)
complete trials that no other feasible complete trial dominates."""

from __future__ import annotations

import itertools
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


def staircase(points: Sequence[Sequence[float]],
              directions: Sequence[str]) -> list[tuple[float, float]]:
    """The corners of a 2-D front's attainment staircase: the boundary of the
    region its points dominate, for any mix of min/max objectives.

    With the front sorted by x, the step between neighbours leaves a point
    horizontally when x is minimised (the next point is worse in x, better in
    y: go right, then up or down) and vertically when x is maximised (go up
    or down to the next point's y, then right). ``points`` must be mutually
    non-dominated (``front``); duplicates are kept once."""
    if len(directions) != 2:
        raise ValueError(f"a staircase needs 2 objectives, got {len(directions)}")
    pts = sorted({(float(p[0]), float(p[1])) for p in points})
    out: list[tuple[float, float]] = pts[:1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        out.append((x1, y0) if directions[0] == "minimize" else (x0, y1))
        out.append((x1, y1))
    return out
