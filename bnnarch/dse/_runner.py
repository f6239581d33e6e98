"""Run a study to its trial budget: durable, resumable, parallel.

Every worker loops: under the study's creation lock, fail the trials of dead
workers, count the trials (every state uses budget), stop at the budget or
create the next trial and stamp it with its owner; then, with a heartbeat
running, evaluate the candidate and record the result. So the study ends with
exactly ``trials`` trials however many workers (here or on other machines)
run and however often the command is killed and rerun; a kill loses only the
trials in flight (they end FAIL with a reason on the next run).

Grid/random on SQLite or PostgreSQL (the trial's params follow from its
number) take the fast path, ``CoreTrials``: one transaction creates trial
``n`` RUNNING with its params, owner and first heartbeat, one finishes it
(attrs, values, state) and refuses to overwrite a trial that is no longer
RUNNING (another worker failed it as dead: the result is dropped with a
warning). TPE/NSGA-II (which read the study to sample) use ``study.ask`` /
``study.tell``; grid/random on other storages create the trial with its
params through Optuna's API.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study._constrained_optimization import _CONSTRAINTS_KEY
from optuna.trial import TrialState

from bnnarch.dse._space import (
    PointSampler,
    param_distributions,
    suggest_hardware,
    suggest_precision,
)
from bnnarch.dse._spec import OBJECTIVES, StudySpec, load_study
from bnnarch.dse._storage import (
    FAIL_REASON_ATTR,
    OWNER_ATTR,
    CoreTrials,
    Heartbeat,
    core_trials,
    count_trials,
    creation_lock,
    fail_dead_trials,
    get_storage,
    owner_id,
    set_user_attrs,
)
from bnnarch.dse._trial import Context, Outcome, build_context, evaluate_candidate
from bnnarch.errors import BnnarchError, StudyError

log = logging.getLogger(__name__)
SPEC_ATTR = "bnnarch:spec"
INVALID_ATTR = "invalid_reason"


def spec_fingerprint(spec: StudySpec) -> dict[str, Any]:
    """What must not change between runs of one study (the budget may)."""
    d = spec.model_dump(mode="json", exclude={"trials", "description", "storage", "source"})
    here = Path(spec.source).resolve().parent
    for key in ("design", "workload", "checkpoint"):  # relative: the repo may move
        if d.get(key):
            d[key] = os.path.relpath(d[key], here)
    if d["precision"].get("map"):
        d["precision"]["map"] = os.path.relpath(d["precision"]["map"], here)
    return {"sha": hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16],
            "objectives": [o.name for o in spec.objectives]}


def make_sampler(spec: StudySpec, *, seed: int) -> optuna.samplers.BaseSampler:
    """grid/random: ``PointSampler`` (trial-number indexed); tpe/nsga2: Optuna's."""
    s = spec.sampler
    if s.name in ("grid", "random"):
        return PointSampler(domains=spec.hardware, kind=s.name, trials=spec.trials, seed=spec.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True)
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=s.population_size or 50)


def open_study(spec: StudySpec, *, storage: None | str | BaseStorage, seed: int = 0,
               create: bool = True) -> optuna.Study:
    """Create the study (first run) or load it, checking it was made from the
    same spec (apart from its trial budget)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not create and storage is None and spec.storage is None \
            and not spec.default_storage_path.exists():
        raise StudyError(f"no study {spec.name!r} yet ({spec.default_storage_path} does not "
                         "exist): run it first")
    st = get_storage(storage if storage is not None else spec.storage,
                     default_path=spec.default_storage_path)
    directions = [o.direction for o in spec.objectives]
    fp = spec_fingerprint(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            study = optuna.load_study(study_name=spec.name, storage=st,
                                      sampler=make_sampler(spec, seed=seed))
        except KeyError:
            if not create:
                raise StudyError(f"no study {spec.name!r} in this storage; run it first") from None
            with creation_lock(st, spec.name):
                study = optuna.create_study(study_name=spec.name, storage=st,
                                            directions=directions, load_if_exists=True,
                                            sampler=make_sampler(spec, seed=seed))
                if SPEC_ATTR not in study.user_attrs:
                    study.set_user_attr(SPEC_ATTR, fp)
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is not None and stored != fp:
        raise StudyError(
            f"study {spec.name!r} in this storage was created from a different spec "
            f"({stored.get('sha')} != {fp['sha']}): give the study a new name, pass another "
            "--storage, or delete the old study's database to start over")
    if [d.name.lower() for d in study.directions] != directions:
        raise StudyError(f"study {spec.name!r} has directions {study.directions}, the spec asks "
                         f"for {directions}")
    return study


@dataclass
class WorkerStats:
    trials: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    seconds: float = 0.0


def _user_attrs(out: Outcome) -> dict[str, Any]:
    attrs: dict[str, Any] = {"design": out.design, "precision": out.precision}
    if out.invalid_reason is not None:
        attrs[INVALID_ATTR] = out.invalid_reason
    else:
        attrs.update(sim=out.sim, metrics=out.metrics)
        if out.constraints:
            attrs["constraints"] = list(out.constraints)
    return attrs


def _record(study: optuna.Study, trial: optuna.Trial, out: Outcome) -> None:
    set_user_attrs(study._storage, trial._trial_id, _user_attrs(out))
    for c, v in zip(out.constraint_names, out.constraints, strict=True):
        trial.set_constraint(c, v)  # Optuna 5: samplers read feasibility from here


def _constraint_attrs(out: Outcome) -> dict[str, float]:
    """The system attrs ``Trial.set_constraint`` writes (with its NaN check)."""
    attrs = {}
    for c, v in zip(out.constraint_names, out.constraints, strict=True):
        if math.isnan(float(v)):
            raise ValueError(f"Attempted to set a constraint for {c!r}, but NaN is not allowed.")
        attrs[f"{_CONSTRAINTS_KEY}:{c}"] = float(v)
    return attrs


def _result(out: Outcome) -> tuple[TrialState, list[float] | None]:
    if out.invalid_reason is not None:
        return TrialState.PRUNED, None
    return TrialState.COMPLETE, list(out.values)


class _Known:
    """A trial whose parameters are already stored: suggest_* just return them
    (no read of the trial per parameter)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._params = params

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._params[name]

    def suggest_int(self, name: str, *a: Any, **k: Any) -> int:
        return int(self._params[name])

    def suggest_float(self, name: str, *a: Any, **k: Any) -> float:
        return float(self._params[name])


def _evaluate(ctx: Context, trial: optuna.Trial | _Known, number: int) -> Outcome:
    """The candidate of trial ``number``: its parameters from ``trial``'s suggest_*."""
    spec = ctx.spec
    hw = suggest_hardware(trial, spec.hardware)  # type: ignore[arg-type]
    searched = (suggest_precision(trial, spec.precision, ctx.units)  # type: ignore[arg-type]
                if spec.precision.search else {})
    return evaluate_candidate(ctx, hw, searched, name=f"{spec.name}_t{number}")


def _fail_reason(e: Exception, number: int) -> str:
    """What a failed trial records: a bnnarch error's message, else the
    exception's type and message (the traceback goes to the debug log)."""
    log.debug("trial %d failed:\n%s", number, traceback.format_exc())
    return str(e) if isinstance(e, BnnarchError) else f"{type(e).__name__}: {e}"


def run_one(study: optuna.Study, trial: optuna.Trial, ctx: Context,
            params: dict[str, Any] | None = None) -> TrialState:
    """Evaluate one created trial and tell its result; returns its state.
    ``params``: the trial's parameters when it was created with them."""
    try:
        out = _evaluate(ctx, trial if params is None else _Known(params), trial.number)
        _record(study, trial, out)
    except (KeyboardInterrupt, SystemExit):
        with contextlib.suppress(Exception):
            study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, "interrupted")
            study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as e:
        reason = _fail_reason(e, trial.number)
        study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, reason)
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(e, BnnarchError):
            raise  # e.g. the evaluator cannot run at all: stop rather than burn the budget
        return TrialState.FAIL
    state, values = _result(out)
    if isinstance(study.sampler, PointSampler):
        # grid/random need no after-trial hook: one write instead of tell's reads + write
        study._storage.set_trial_state_values(trial._trial_id, state=state, values=values)
    else:
        study.tell(trial, values, state=state)
    return state


def _finish(core: CoreTrials, trial_id: int, **kw: Any) -> bool:
    """``core.finish``; False (with a warning) if the trial is no longer RUNNING."""
    try:
        core.finish(trial_id, **kw)
    except optuna.exceptions.UpdateFinishedTrialError as e:
        log.warning("%s (another worker took this one for dead); its result is dropped", e)
        return False
    return True


def run_stored(core: CoreTrials, trial_id: int, number: int, ctx: Context,
               params: dict[str, Any]) -> TrialState:
    """Evaluate trial ``number`` created by ``core.create`` with ``params`` and
    record its result in one write; returns its state (FAIL if another worker
    finished it meanwhile: that trial is left as it is)."""
    try:
        out = _evaluate(ctx, _Known(params), number)
        state, values = _result(out)
        if not _finish(core, trial_id, state=state, values=values,
                       user_attrs=_user_attrs(out), system_attrs=_constraint_attrs(out)):
            return TrialState.FAIL
    except (KeyboardInterrupt, SystemExit):
        with contextlib.suppress(Exception):
            core.finish(trial_id, state=TrialState.FAIL,
                        user_attrs={FAIL_REASON_ATTR: "interrupted"})
        raise
    except Exception as e:
        _finish(core, trial_id, state=TrialState.FAIL,
                user_attrs={FAIL_REASON_ATTR: _fail_reason(e, number)})
        if isinstance(e, BnnarchError):
            raise  # e.g. the evaluator cannot run at all: stop rather than burn the budget
        return TrialState.FAIL
    return state


def _create_trial(study: optuna.Study, core: CoreTrials | None,
                  dists: dict[str, Any] | None, n: int, *, owner: str,
                  ) -> tuple[int, optuna.Trial | None, dict[str, Any] | None]:
    """Create trial ``n`` owned by ``owner``; call under the creation lock.
    Returns its id, its Optuna ``Trial`` (None on the fast path) and its params
    (None when the sampler picks them as the trial runs)."""
    if dists is None:  # TPE/NSGA-II: the sampler reads the study
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, OWNER_ATTR, owner)
        return trial._trial_id, trial, None
    params = study.sampler.params_for(n, dists)  # type: ignore[attr-defined]
    if core is not None:  # grid/random on SQLite/PostgreSQL: one Core transaction
        return core.create(n, params, dists, owner=owner), None, params
    # grid/random on other storages: trial n with its params in one API call
    template = optuna.trial.create_trial(state=TrialState.RUNNING, params=params,
                                         distributions=dists, system_attrs={OWNER_ATTR: owner})
    trial = optuna.Trial(study, study._storage.create_new_trial(study._study_id,
                                                               template_trial=template))
    return trial._trial_id, trial, params


def worker_loop(spec: StudySpec, *, storage: None | str | BaseStorage, worker: int = 0,
                max_trials: int | None = None,
                on_trial: Callable[[optuna.Study, int], None] | None = None) -> WorkerStats:
    """Create and run trials until the study's budget is met (or ``max_trials``
    trials of this worker). Returns what this worker did."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", message=".*[Hh]eartbeat.*")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    ppid = os.getppid()
    study = open_study(spec, storage=storage)
    # a seed per worker and per run: a resumed run must not replay its first run
    study.sampler = make_sampler(spec, seed=spec.seed + 7919 * worker + 104729 * count_trials(study))
    ctx = build_context(spec)
    stats = WorkerStats()
    me = owner_id()
    t0 = time.perf_counter()
    checked = -1e9
    dists = (param_distributions(spec.hardware, spec.precision, ctx.units)
             if isinstance(study.sampler, PointSampler) else None)
    core = core_trials(study._storage, study._study_id) if dists is not None else None
    if core is not None:
        core.check_distributions(dists)  # type: ignore[arg-type]
    while max_trials is None or stats.trials < max_trials:
        with creation_lock(study._storage, spec.name):
            # dead workers' RUNNING trials count toward the budget either way;
            # failing them (with a reason) at start and every 15 s is hygiene
            if time.monotonic() - checked > 15:
                fail_dead_trials(study)
                checked = time.monotonic()
            n = count_trials(study)
            if n >= spec.trials:
                break
            trial_id, trial, params = _create_trial(study, core, dists, n, owner=me)
        with Heartbeat(study._storage, trial_id, beat_now=trial is not None):
            if trial is None:  # the fast path
                state = run_stored(core, trial_id, n, ctx, params)  # type: ignore[arg-type]
            else:
                state = run_one(study, trial, ctx, params)
        stats.trials += 1
        stats.complete += state == TrialState.COMPLETE
        stats.pruned += state == TrialState.PRUNED
        stats.failed += state == TrialState.FAIL
        if on_trial is not None:
            on_trial(study, n + 1)
        if worker and os.getppid() != ppid:
            break  # our parent was killed: finish the trial in flight, then stop
    stats.seconds = time.perf_counter() - t0
    return stats


def _child(source: str, sweep: bool, storage: str | None, worker: int) -> None:
    spec = load_study(source, sweep=sweep)
    try:
        worker_loop(spec, storage=storage, worker=worker)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # the trial in flight is already marked FAIL
    except BnnarchError as e:
        print(f"error: worker {worker}: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def best_so_far(study: optuna.Study, spec: StudySpec) -> str:
    """Per objective, the best value among feasible complete trials; front size."""
    from bnnarch.dse._pareto import feasible_complete, pareto_trials

    trials = feasible_complete(study)
    if not trials:
        return "no feasible trial yet"
    parts = []
    for i, o in enumerate(spec.objectives):
        vals = [t.values[i] for t in trials]
        best = max(vals) if o.direction == "maximize" else min(vals)
        unit = OBJECTIVES[o.name][1]
        parts.append(f"{o.name} {best:.4g}{(' ' + unit) if unit else ''}")
    if len(spec.objectives) > 1:
        parts.append(f"front {len(pareto_trials(study, spec))}")
    return " | ".join(parts)


def run_study(spec: StudySpec, *, storage: None | str = None, workers: int = 1,
              sweep: bool = False, progress: bool = True) -> optuna.Study:
    """Run ``spec`` to its budget with ``workers`` processes on this machine
    (this one plus workers - 1 children). ``storage``: URL or path, default the
    spec's (or ``runs/<name>.db`` next to the spec)."""
    if workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")
    study = open_study(spec, storage=storage)  # creates it once, before any child
    url = storage if storage is not None else spec.storage
    if url is None:
        url = str(spec.default_storage_path)
    procs: list[multiprocessing.process.BaseProcess] = []
    if workers > 1 and count_trials(study) < spec.trials:
        mp = multiprocessing.get_context("spawn")
        for w in range(1, workers):
            p = mp.Process(target=_child, args=(spec.source, sweep, url, w), daemon=False)
            p.start()
            procs.append(p)
    try:
        if progress:
            _run_with_progress(spec, url, study)
        else:
            worker_loop(spec, storage=url)
    finally:
        for p in procs:
            p.join()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise StudyError(f"{len(bad)} worker process(es) failed (exit codes {bad})")
    return study


def _run_with_progress(spec: StudySpec, url: str, study: optuna.Study) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    done = count_trials(study)
    last = [0.0]
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
                  transient=False) as bar:
        task = bar.add_task(spec.name, total=spec.trials, completed=done,
                            best=best_so_far(study, spec) if done else "")

        def on_trial(st: optuna.Study, n: int) -> None:
            now = time.monotonic()
            fields: dict[str, Any] = {"completed": min(n, spec.trials)}
            if now - last[0] > 1.0 or n >= spec.trials:
                last[0] = now
                fields["best"] = best_so_far(st, spec)
            bar.update(task, **fields)

        worker_loop(spec, storage=url, on_trial=on_trial)
        final = open_study(spec, storage=url)
        bar.update(task, completed=min(count_trials(final), spec.trials),
                   best=best_so_far(final, spec))


def storage_label(spec: StudySpec, storage: str | None) -> str:
    url = storage or spec.storage
    return url.split("@")[-1] if url else str(Path(spec.default_storage_path))
