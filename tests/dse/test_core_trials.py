"""The grid/random fast path (``CoreTrials``: SQLAlchemy Core on Optuna's
tables) writes trials that read back exactly as those Optuna's API writes,
and never overwrites a trial someone else finished meanwhile.

``check_*`` helpers take a storage URL so test_postgres runs them on a real
PostgreSQL server too."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

import bnnarch.dse._runner as runner
from bnnarch.dse import load_study_spec, open_study
from bnnarch.dse._storage import (
    FAIL_REASON_ATTR,
    OWNER_ATTR,
    CoreTrials,
    core_trials,
    get_storage,
    owner_id,
)
from bnnarch.dse._trial import Outcome
from bnnarch.errors import StudyError
from tests.dse.conftest import write_spec

HARDWARE = {"array.rows": {"low": 4, "high": 64, "log": True},
            "array.cols": [8, 16, 32],
            "dram.bandwidth_gbps": {"low": 6.4, "high": 51.2}}
FIELDS = ("number", "state", "params", "distributions", "values", "user_attrs", "system_attrs",
          "intermediate_values")


def _outcome(number: int) -> Outcome:
    """Every kind of result: feasible with a constraint, infinite values,
    invalid (PRUNED), a failing evaluation (FAIL)."""
    kind = number % 4
    if kind == 2:
        raise RuntimeError(f"boom {number}")
    common: dict[str, Any] = {"design": {"n": number}, "precision": {"l": [1, 1]}}
    if kind == 1:
        return Outcome(invalid_reason=f"no mapping for {number}", **common)
    if kind == 3:
        return Outcome(metrics={"latency": math.inf}, values=(math.inf, -math.inf), sim={}, **common)
    return Outcome(metrics={"latency": 1.5 * number}, values=(1.5 * number, 0.25),
                   constraints=(number - 4.0,), constraint_names=("area<=1",),
                   sim={"cycles": 10 * number}, **common)


def _fake_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "evaluate_candidate",
                        lambda ctx, hw, s, name: _outcome(int(name.rsplit("_t", 1)[1])))


def _spec(tmp: Path, name: str, trials: int = 8) -> Any:
    return load_study_spec(write_spec(tmp, name=name, hardware=HARDWARE, sampler="random",
                                 trials=trials, seed=4), sweep=True)


def _read(url: str, name: str) -> list[FrozenTrial]:
    """Trials as any other program reads them."""
    return optuna.load_study(study_name=name, storage=url).get_trials()


def check_fast_path_equals_optuna_api(tmp: Path, url: str, monkeypatch: pytest.MonkeyPatch,
                                      ) -> None:
    _fake_candidate(monkeypatch)
    made = []
    real_create = CoreTrials.create

    def spy(self: CoreTrials, *a: Any, **k: Any) -> int:
        made.append(a[0])
        return real_create(self, *a, **k)

    monkeypatch.setattr(CoreTrials, "create", spy)
    fast = runner.worker_loop(_spec(tmp, "fast"), storage=url)
    assert made == list(range(8))  # every trial went through the fast path
    monkeypatch.setattr(runner, "core_trials", lambda *a, **k: None)
    api = runner.worker_loop(_spec(tmp, "api"), storage=url)
    assert made == list(range(8))
    assert (fast.complete, fast.pruned, fast.failed) == (api.complete, api.pruned, api.failed) \
        == (4, 2, 2)

    got, want = _read(url, "fast"), _read(url, "api")
    assert len(got) == len(want) == 8
    for g, w in zip(got, want, strict=True):
        for f in FIELDS:
            assert getattr(g, f) == getattr(w, f), (g.number, f)
        for k, v in g.params.items():
            assert type(v) is type(w.params[k]), (g.number, k)
        assert g.datetime_start is not None and g.datetime_complete is not None
        assert g.datetime_start <= g.datetime_complete
        assert abs((g.datetime_start - w.datetime_start).total_seconds()) < 60
    states = [t.state for t in got]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                      TrialState.COMPLETE] * 2
    assert got[2].user_attrs == {FAIL_REASON_ATTR: "RuntimeError: boom 2"}
    assert got[3].values == [math.inf, -math.inf]
    # the list format Optuna's samplers write and optuna-dashboard reads; names in user attrs
    assert got[0].constraints == {"0": -4.0} and got[4].constraints == {"0": 0.0}
    assert got[0].system_attrs["constraints"] == [-4.0]
    assert got[0].user_attrs["constraint_names"] == ["area<=1"]
    assert got[0].system_attrs[OWNER_ATTR] == owner_id()


def test_fast_path_trials_equal_optuna_api_trials(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    check_fast_path_equals_optuna_api(tmp_path, f"sqlite:///{tmp_path / 's.db'}", monkeypatch)


def check_finished_trial_not_overwritten(tmp: Path, url: str) -> None:
    spec = _spec(tmp, "taken")
    study = open_study(spec, storage=url)
    core = core_trials(study._storage, study._study_id)
    assert core is not None
    dists = runner.param_distributions(spec.hardware, spec.precision, [])
    params = study.sampler.params_for(0, dists)  # type: ignore[attr-defined]
    tid = core.create(0, params, dists, owner="elsewhere:1:1")
    # a reader in this process (through Optuna's trial cache) sees it running ...
    (t,) = study.get_trials()
    assert (t.number, t.state, t.params) == (0, TrialState.RUNNING, params)
    # ... another party fails it (as fail_dead_trials does for a dead owner)
    other = get_storage(url)
    other.set_trial_user_attr(tid, FAIL_REASON_ATTR, "worker elsewhere:1:1 died")
    other.set_trial_state_values(tid, state=TrialState.FAIL)
    before = _read(url, "taken")
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError,
                       match=r"trial 0 \(id \d+\) is already FAIL: not overwritten with COMPLETE"):
        core.finish(tid, state=TrialState.COMPLETE, values=[1.0, 2.0],
                    user_attrs={"metrics": {"latency": 1.0}, FAIL_REASON_ATTR: "mine"},
                    system_attrs={"constraints:x": 0.0})
    after = _read(url, "taken")
    assert after == before  # FrozenTrial equality: every field, datetimes included
    assert after[0].state == TrialState.FAIL and after[0].values is None
    assert after[0].user_attrs == {FAIL_REASON_ATTR: "worker elsewhere:1:1 died"}
    assert study.get_trials()[0].state == TrialState.FAIL  # the cached reader too
    with pytest.raises(StudyError, match="study holds 1 trials where this worker expected 0: "
                       "another Optuna client created a trial meanwhile"):
        core.create(0, params, dists, owner="x:1:1")
    with pytest.raises(ValueError, match="objective 1 is NaN"):
        core.finish(tid, state=TrialState.COMPLETE, values=[1.0, math.nan])
    core.check_distributions(dists)  # what is stored
    changed = dict(dists, **{"array.cols": optuna.distributions.CategoricalDistribution([8, 64])})
    with pytest.raises(StudyError, match=r"parameter 'array.cols' is stored in this study with "
                       r"another distribution \(.*\): give the study a new name"):
        core.check_distributions(changed)


def test_finished_trial_not_overwritten(tmp_path: Path) -> None:
    check_finished_trial_not_overwritten(tmp_path, f"sqlite:///{tmp_path / 's.db'}")


def test_worker_drops_the_result_of_a_trial_failed_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = _spec(tmp_path, "meanwhile", trials=3)

    def evaluate(ctx: Any, hw: Any, s: Any, name: str) -> Outcome:
        n = int(name.rsplit("_t", 1)[1])
        if n == 1:  # while we evaluate, another worker takes trial 1 for dead
            st = get_storage(url)
            tid = st.get_trial_id_from_study_id_trial_number(
                st.get_study_id_from_name("meanwhile"), 1)
            st.set_trial_user_attr(tid, FAIL_REASON_ATTR, "taken for dead")
            st.set_trial_state_values(tid, state=TrialState.FAIL)
        return Outcome(metrics={}, values=(1.0, 2.0), design={"n": n})

    monkeypatch.setattr(runner, "evaluate_candidate", evaluate)
    with caplog.at_level(logging.WARNING, logger=runner.__name__):
        stats = runner.worker_loop(spec, storage=url)
    assert (stats.trials, stats.complete, stats.failed) == (3, 2, 1)
    trials = _read(url, "meanwhile")
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs == {FAIL_REASON_ATTR: "taken for dead"}
    assert trials[1].values is None
    assert "trial 1 (id 2) is already FAIL: not overwritten with COMPLETE" in caplog.text


def test_in_memory_storage_uses_optuna_api(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_candidate(monkeypatch)
    storage = optuna.storages.InMemoryStorage()
    assert core_trials(storage, 0) is None
    stats = runner.worker_loop(_spec(tmp_path, "mem"), storage=storage)
    assert (stats.complete, stats.pruned, stats.failed) == (4, 2, 2)
    trials = optuna.load_study(study_name="mem", storage=storage).get_trials()
    assert [t.number for t in trials] == list(range(8))
    assert all(t.system_attrs[OWNER_ATTR] == owner_id() for t in trials)
