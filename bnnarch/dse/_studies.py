"""What the CLI says about studies: command-line overrides of a spec (budget,
seed, name), the machine-readable summary of one study (``--json``) and the
list of every study in a storage (``bnnarch studies``)."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from bnnarch.dse._pareto import front, pareto_trials
from bnnarch.dse._progress import state_counts
from bnnarch.dse._spec import StudySpec
from bnnarch.errors import StudyError


def override_spec(spec: StudySpec, *, trials: int | None = None, seed: int | None = None,
                  name: str | None = None) -> StudySpec:
    """The spec with command-line overrides. A new ``name`` forks the study;
    with the default storage the fork lives in the same database file as the
    original, so ``bnnarch studies`` lists them side by side."""
    update: dict[str, Any] = {}
    if trials is not None:
        if trials < 1:
            raise StudyError(f"--trials must be >= 1, got {trials}")
        update["trials"] = trials
    if seed is not None:
        if seed < 0:
            raise StudyError(f"--seed must be >= 0, got {seed}")
        update["seed"] = seed
    if name is not None and name != spec.name:
        if not name or not all(c.isalnum() or c in "_.-" for c in name):
            raise StudyError(f"--name {name!r}: use letters, digits, '_', '.', '-'")
        update["name"] = name
        if spec.storage is None:
            update["storage"] = str(spec.default_storage_path)
    return spec.model_copy(update=update) if update else spec


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else repr(v)


def _point(t: FrozenTrial, names: list[str]) -> dict[str, Any]:
    return {"trial": t.number, "values": dict(zip(names, map(_json_float, t.values), strict=True)),
            "params": t.params}


def study_summary(study: optuna.Study, spec: StudySpec, *, storage: str,
                  **extra: Any) -> dict[str, Any]:
    """The ``--json`` summary: budget, counts per state, the Pareto front."""
    counts = state_counts(study)
    names = [o.name for o in spec.objectives]
    pareto = pareto_trials(study, spec)
    total = sum(counts.values())
    return {
        "study": spec.name, "storage": storage, "trials": total, "budget": spec.trials,
        "done": total >= spec.trials and counts["RUNNING"] == 0,
        "states": {k.lower(): v for k, v in counts.items()},
        "objectives": [{"name": o.name, "direction": o.direction} for o in spec.objectives],
        "pareto_front": [_point(t, names) for t in pareto],
        **extra,
    }


def list_studies(storage: BaseStorage) -> list[dict[str, Any]]:
    """Every study in ``storage``: name, trial counts per state, budget (if a
    bnnarch run stored one), directions, metric names and front size (feasible
    complete trials, constraints as Optuna reads them)."""
    from bnnarch.dse._runner import BUDGET_ATTR

    out = []
    for fs in storage.get_all_studies():
        study = optuna.load_study(study_name=fs.study_name, storage=storage)
        counts = state_counts(study)
        dirs = [d.name.lower() for d in study.directions]
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values is not None and all(c <= 0 for c in t.constraints.values())]
        on_front = [done[i] for i in front([t.values for t in done], dirs)] if len(dirs) > 1 \
            else done[:1]
        # one point per parameter set, as pareto_trials counts it
        n_front = len({tuple(sorted((k, repr(v)) for k, v in t.params.items()))
                       for t in on_front})
        out.append({"study": fs.study_name, "trials": sum(counts.values()),
                    "budget": study.user_attrs.get(BUDGET_ATTR),
                    "states": {k.lower(): v for k, v in counts.items()},
                    "directions": dirs, "metric_names": study.metric_names,
                    "front": n_front})
    return out


def studies_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no studies in this storage"
    head = f"{'study':<28} {'trials':>11} {'complete':>8} {'pruned':>6} {'failed':>6} " \
           f"{'running':>7} {'front':>5}  objectives"
    lines = [head]
    for r in rows:
        s = r["states"]
        budget = f"{r['trials']}/{r['budget']}" if r["budget"] else str(r["trials"])
        objs = ", ".join(f"{n} ({d[:3]})" for n, d in
                         zip(r["metric_names"] or [f"values_{i}" for i in range(len(r["directions"]))],
                             r["directions"], strict=True))
        lines.append(f"{r['study']:<28} {budget:>11} {s['complete']:>8} {s['pruned']:>6} "
                     f"{s['fail']:>6} {s['running']:>7} {r['front']:>5}  {objs}")
    return "\n".join(lines)
