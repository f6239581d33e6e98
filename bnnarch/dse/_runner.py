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
from optuna.trial import TrialState

from bnnarch.dse._signals import (
    SearchInterrupted,
    check_stop,
    evaluating,
    kill_quietly,
    stop_requested,
    stop_signals,
)
from bnnarch.dse._space import (
    PointSampler,
    param_distributions,
    suggest_hardware,
    suggest_precision,
)
from bnnarch.dse._spec import OBJECTIVES, StudySpec
from bnnarch.dse._storage import (
    FAIL_REASON_ATTR,
    OWNER_ATTR,
    CoreTrials,
    Heartbeat,
    TrialNumberTaken,
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
"""Study user attr: {sha, objectives, fields} of the spec that made the study."""
STUDY_YAML_ATTR = "bnnarch:study_yaml"
"""Study user attr: the study file's text as first run."""
BUDGET_ATTR = "bnnarch:trials"
"""Study user attr: the trial budget of the latest run."""
INVALID_ATTR = "invalid_reason"
REAP_INTERVAL_S = 15.0
"""How often a worker fails the trials of dead workers (and at its start)."""
CONSTRAINTS_SYSTEM_ATTR = "constraints"
"""Trial system attr holding the constraint values as a list: the format
Optuna's own samplers write (``constraints_func``), which Optuna 5 reads as
``trial.constraints`` ({"0": ...}) and optuna-dashboard reads for its
feasible/infeasible split; the names are the trial's ``constraint_names``
user attr."""


def _fingerprint_fields(spec: StudySpec) -> dict[str, Any]:
    d = spec.model_dump(mode="json", exclude={"trials", "description", "storage", "source"})
    if not d["metrics"]:
        del d["metrics"]  # studies made before metric hooks existed keep their hash
    here = Path(spec.source).resolve().parent
    for key in ("design", "workload", "checkpoint"):  # relative: the repo may move
        if d.get(key):
            d[key] = os.path.relpath(d[key], here)
    if d["precision"].get("map"):
        d["precision"]["map"] = os.path.relpath(d["precision"]["map"], here)
    return d


def spec_fingerprint(spec: StudySpec) -> dict[str, Any]:
    """What must not change between runs of one study (the budget may): a
    hash, the objectives and the fields themselves (to name what changed)."""
    d = _fingerprint_fields(spec)
    return {"sha": hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16],
            "objectives": [o.name for o in spec.objectives], "fields": d}


def changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths (with old -> new values) where two spec dumps differ
    (hardware domains keyed by their path, other lists by index)."""
    old, new = _keyed(old), _keyed(new)
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        old, new = dict(enumerate(old)), dict(enumerate(new))
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in old:
                out.append(f"{path} (added: {_short(new[k])})")
            elif k not in new:
                out.append(f"{path} (removed: {_short(old[k])})")
            else:
                out += changed_fields(old[k], new[k], path)
        return out
    return [] if old == new else [f"{prefix or '<spec>'} ({_short(old)} -> {_short(new)})"]


def _keyed(v: Any) -> Any:
    if isinstance(v, list) and v and all(isinstance(x, dict) and "path" in x for x in v):
        return {x["path"]: {k: y for k, y in x.items() if k != "path"} for x in v}
    return v


def _short(v: Any) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


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
                    _stamp(study, spec, fp)
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is not None and stored.get("sha") != fp["sha"]:
        what = ("; changed: " + "; ".join(changed_fields(stored["fields"], fp["fields"])[:8])
                if isinstance(stored.get("fields"), dict) else
                f" ({stored.get('sha')} != {fp['sha']})")
        raise StudyError(
            f"study {spec.name!r} in this storage was created from a different spec{what}. "
            "Fork it under a new name (--name NEW, or name: in the spec), pass another "
            "--storage, or delete the old study to start over")
    if [d.name.lower() for d in study.directions] != directions:
        raise StudyError(f"study {spec.name!r} has directions {study.directions}, the spec asks "
                         f"for {directions}")
    if create and study.metric_names is None:  # studies made before names were stored
        _set_metric_names(study, spec)
    return study


def _set_metric_names(study: optuna.Study, spec: StudySpec) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in spec.objectives])


def _stamp(study: optuna.Study, spec: StudySpec, fp: dict[str, Any]) -> None:
    """What a new study records about itself: metric names (read by Optuna's
    dataframes and plots and by optuna-dashboard), the spec's fingerprint and
    fields, and the study file's text."""
    _set_metric_names(study, spec)
    study.set_user_attr(SPEC_ATTR, fp)
    with contextlib.suppress(OSError):
        study.set_user_attr(STUDY_YAML_ATTR, Path(spec.source).read_text())


@dataclass
class WorkerStats:
    trials: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    seconds: float = 0.0
    timed_out: bool = False


def _user_attrs(out: Outcome) -> dict[str, Any]:
    attrs: dict[str, Any] = {"design": out.design, "precision": out.precision}
    if out.invalid_reason is not None:
        attrs[INVALID_ATTR] = out.invalid_reason
    else:
        attrs.update(sim=out.sim, metrics=out.metrics)
        if out.constraints:
            attrs["constraints"] = list(out.constraints)
            attrs["constraint_names"] = list(out.constraint_names)
    return attrs


def _record(study: optuna.Study, trial: optuna.Trial, out: Outcome) -> None:
    set_user_attrs(study._storage, trial._trial_id, _user_attrs(out))
    for k, v in _constraint_attrs(out).items():
        study._storage.set_trial_system_attr(trial._trial_id, k, v)


def _constraint_attrs(out: Outcome) -> dict[str, list[float]]:
    """The constraint system attr (see ``CONSTRAINTS_SYSTEM_ATTR``), NaN refused."""
    vals = [float(v) for v in out.constraints]
    for c, v in zip(out.constraint_names, vals, strict=True):
        if math.isnan(v):
            raise ValueError(f"constraint {c!r} is NaN, which Optuna cannot store")
    return {CONSTRAINTS_SYSTEM_ATTR: vals} if vals else {}


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
    hw = suggest_hardware(trial, spec.hardware)  # type: ignore[arg-type]  # _Known duck-types Trial
    searched = (suggest_precision(trial, spec.precision, ctx.units)  # type: ignore[arg-type]  # same
                if spec.precision.search else {})
    return evaluate_candidate(ctx, hw, searched, name=f"{spec.name}_t{number}")


def _interrupt_reason(e: BaseException) -> str:
    if isinstance(e, SearchInterrupted):
        return f"interrupted by {e.name} (the search was stopped while this trial ran)"
    return "interrupted"


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
        with evaluating():
            out = _evaluate(ctx, trial if params is None else _Known(params), trial.number)
        _record(study, trial, out)
    except (KeyboardInterrupt, SystemExit, SearchInterrupted) as e:
        with contextlib.suppress(Exception):
            study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR,
                                               _interrupt_reason(e))
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
        with evaluating():
            out = _evaluate(ctx, _Known(params), number)
        state, values = _result(out)
        if not _finish(core, trial_id, state=state, values=values,
                       user_attrs=_user_attrs(out), system_attrs=_constraint_attrs(out)):
            return TrialState.FAIL
    except (KeyboardInterrupt, SystemExit, SearchInterrupted) as e:
        with contextlib.suppress(Exception):
            core.finish(trial_id, state=TrialState.FAIL,
                        user_attrs={FAIL_REASON_ATTR: _interrupt_reason(e)})
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
        # what study.ask() does, with the owner written by the same insert (so
        # a RUNNING trial without an owner is never ours: another client's)
        study._thread_local.cached_all_trials = None
        template = optuna.trial.create_trial(state=TrialState.RUNNING,
                                             system_attrs={OWNER_ATTR: owner})
        trial = optuna.Trial(study, study._storage.create_new_trial(study._study_id,
                                                                   template_trial=template))
        return trial._trial_id, trial, None
    params = study.sampler.params_for(n, dists)  # type: ignore[union-attr]  # dists: a PointSampler
    if core is not None:  # grid/random on SQLite/PostgreSQL: one Core transaction
        return core.create(n, params, dists, owner=owner), None, params
    # grid/random on other storages: trial n with its params in one API call
    template = optuna.trial.create_trial(state=TrialState.RUNNING, params=params,
                                         distributions=dists, system_attrs={OWNER_ATTR: owner})
    trial = optuna.Trial(study, study._storage.create_new_trial(study._study_id,
                                                               template_trial=template))
    return trial._trial_id, trial, params


def _pop_enqueued(study: optuna.Study, *, owner: str) -> optuna.Trial | None:
    """A trial someone queued with ``study.enqueue_trial`` (WAITING), now
    RUNNING and owned by ``owner``; None if there is none. Call under the
    creation lock. Enqueued trials count toward the budget like any other
    (they exist in the study), so they are run before new ones are created;
    their fixed params win over the sampler's (``Trial`` reads them), params
    they leave out are sampled."""
    trial_id = study._pop_waiting_trial_id()  # WAITING -> RUNNING, atomic in the storage
    if trial_id is None:
        return None
    study._storage.set_trial_system_attr(trial_id, OWNER_ATTR, owner)
    return optuna.Trial(study, trial_id)


def worker_loop(spec: StudySpec, *, storage: None | str | BaseStorage, worker: int = 0,
                max_trials: int | None = None, deadline: float | None = None,
                on_trial: Callable[[optuna.Study, int], None] | None = None) -> WorkerStats:
    """Create and run trials until the study's budget is met (or ``max_trials``
    trials of this worker, or the wall-clock ``deadline``, a ``time.time()``
    value: no trial starts after it). Returns what this worker did. Raises
    ``SearchInterrupted`` after a stop signal (see ``bnnarch.dse._signals``)."""
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
    if core is not None and dists is not None:
        core.check_distributions(dists)
    while max_trials is None or stats.trials < max_trials:
        check_stop()
        if deadline is not None and time.time() >= deadline:
            stats.timed_out = True
            break
        with creation_lock(study._storage, spec.name):
            # dead workers' RUNNING trials count toward the budget either way;
            # failing them (with a reason) at start and every 15 s is hygiene
            if time.monotonic() - checked > REAP_INTERVAL_S:
                fail_dead_trials(study)
                checked = time.monotonic()
            enqueued = _pop_enqueued(study, owner=me)
            while enqueued is None:
                n = count_trials(study)
                if n >= spec.trials:
                    break
                try:
                    trial_id, trial, params = _create_trial(study, core, dists, n, owner=me)
                except TrialNumberTaken:  # another Optuna client made a trial meanwhile
                    continue
                break
            if enqueued is not None:
                trial, params = enqueued, None
                trial_id, n = trial._trial_id, trial.number
            elif n >= spec.trials:
                break
        with Heartbeat(study._storage, trial_id, beat_now=trial is not None):
            if trial is None:  # the fast path
                state = run_stored(core, trial_id, n, ctx, params)  # type: ignore[arg-type]  # both set
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
    check_stop()
    stats.seconds = time.perf_counter() - t0
    return stats


def _child(spec: StudySpec, storage: str | None, worker: int, deadline: float | None) -> None:
    with stop_signals():
        try:
            worker_loop(spec, storage=storage, worker=worker, deadline=deadline)
        except SearchInterrupted as e:
            raise SystemExit(e.exit_code) from None  # the trial in flight is marked FAIL
        except KeyboardInterrupt:
            raise SystemExit(130) from None
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
        unit = OBJECTIVES.get(o.name, ("", ""))[1]
        parts.append(f"{o.name} {best:.4g}{(' ' + unit) if unit else ''}")
    if len(spec.objectives) > 1:
        parts.append(f"front {len(pareto_trials(study, spec))}")
    return " | ".join(parts)


STOP_GRACE_S = 15.0
"""After a stop signal, how long the parent waits for its workers to record
their in-flight trials as FAIL before it kills them (their trials are then
failed as "worker died" by the next run)."""


def run_study(spec: StudySpec, *, storage: None | str = None, workers: int = 1,
              sweep: bool = False, progress: bool | str = True,
              timeout_s: float | None = None, progress_interval_s: float = 10.0,
              echo: Callable[[str], None] | None = None) -> optuna.Study:
    """Run ``spec`` to its budget with ``workers`` processes on this machine
    (this one plus workers - 1 children). ``storage``: URL or path, default the
    spec's (or ``runs/<name>.db`` next to the spec). ``timeout_s``: no trial
    starts after that many seconds (the study stays resumable). ``progress``:
    True (a bar on a terminal, else plain lines every ``progress_interval_s``),
    "lines", or False. ``echo`` prints the "resuming" line and progress lines.

    SIGINT/SIGTERM stop every worker: in-flight trials end FAIL with the
    signal named, and ``SearchInterrupted`` is raised (exit code 128 + signal)."""
    from bnnarch.dse._progress import progress_reporter, resume_line

    del sweep  # kept for callers; the spec was validated for its command already
    if workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")
    say = echo or log.info
    study = open_study(spec, storage=storage)  # creates it once, before any child
    if study.user_attrs.get(BUDGET_ATTR, 0) < spec.trials:  # the largest budget run so far
        study.set_user_attr(BUDGET_ATTR, spec.trials)
    url = storage if storage is not None else spec.storage
    if url is None:
        url = str(spec.default_storage_path)
    line = resume_line(study, spec)
    if line:
        say(line)
    deadline = time.time() + timeout_s if timeout_s is not None else None
    procs: list[multiprocessing.process.BaseProcess] = []

    def forward(signum: int) -> None:
        for p in procs:
            if p.pid is not None:
                kill_quietly(p.pid, signum)

    interrupted: SearchInterrupted | None = None
    with stop_signals(forward):
        try:
            if workers > 1 and count_trials(study) < spec.trials:
                mp = multiprocessing.get_context("spawn")
                for w in range(1, workers):
                    p = mp.Process(target=_child, args=(spec, url, w, deadline), daemon=False)
                    p.start()
                    procs.append(p)
            with progress_reporter(spec, study, mode=progress, interval_s=progress_interval_s,
                                   echo=say) as on_trial:
                worker_loop(spec, storage=url, deadline=deadline, on_trial=on_trial)
        except SearchInterrupted as e:
            interrupted = e
        finally:
            _join(procs, grace_s=STOP_GRACE_S if interrupted else None)
        signum = stop_requested()  # also a signal that came while waiting for workers
    if interrupted is not None:
        raise interrupted
    if signum is not None:
        raise SearchInterrupted(signum)
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise StudyError(f"{len(bad)} worker process(es) failed (exit codes {bad})")
    return study


def _join(procs: list[multiprocessing.process.BaseProcess], *, grace_s: float | None) -> None:
    """Wait for the workers (at most ``grace_s`` each after a stop, then kill)."""
    end = None if grace_s is None else time.monotonic() + grace_s
    for p in procs:
        p.join(None if end is None else max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def storage_label(spec: StudySpec, storage: str | None) -> str:
    url = storage or spec.storage
    return url.split("@")[-1] if url else str(Path(spec.default_storage_path))
