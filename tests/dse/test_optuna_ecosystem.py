"""bnnarch as a good citizen of the Optuna ecosystem: a stock ask/tell client
works beside our workers in one study; metric names, constraints and the
spec are stored so that stock Optuna and optuna-dashboard see what we see
(the same feasible Pareto front); pandas dataframes carry the names.

``check_*`` helpers take a storage URL so test_postgres runs them on a real
PostgreSQL server too."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import bnnarch.dse._runner as runner
from bnnarch.dse import load_study_spec, open_study, pareto_trials, run_study
from bnnarch.dse._trial import Outcome
from tests.dse.conftest import write_spec

STOCK_CLIENT = textwrap.dedent("""\
    import sys, time, optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    study = optuna.load_study(study_name=name, storage=url)
    print("ready", flush=True)
    for i in range(n):
        t = study.ask()
        x = t.suggest_int("array.rows", 4, 64)
        time.sleep(0.4)  # long enough for our workers' reaping passes to see it RUNNING
        study.tell(t, [float(x), 1.0])
    print("told", n, flush=True)
""")


def _slow_outcome(ctx: Any, hw: dict[str, Any], searched: Any, name: str) -> Outcome:
    time.sleep(0.05)
    n = int(name.rsplit("_t", 1)[1])
    return Outcome(metrics={"latency": float(n)}, values=(float(n), 2.0), design={"n": n})


def check_stock_client_beside_ours(tmp: Path, url: str, monkeypatch: pytest.MonkeyPatch,
                                   sampler: str) -> None:
    """A stock Optuna process asks and tells trials in our study while our
    worker runs; none of its live trials is failed, every tell succeeds."""
    monkeypatch.setattr(runner, "evaluate_candidate", _slow_outcome)
    monkeypatch.setattr(runner, "REAP_INTERVAL_S", 0.0)  # reap before every trial
    extra = {"sampler": "random"} if sampler == "random" else \
        {"sampler": {"name": "nsga2", "population_size": 4}}
    spec = load_study_spec(write_spec(tmp, name=f"mixed_{sampler}", trials=30, seed=1,
                                      hardware={"array.rows": {"low": 4, "high": 64}},
                                      **extra))
    open_study(spec, storage=url)
    stock = subprocess.Popen([sys.executable, "-c", STOCK_CLIENT, url, spec.name, "5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stock.stdout is not None
        assert stock.stdout.readline().strip() == "ready", stock.stderr.read()  # type: ignore[union-attr]
        stats = runner.worker_loop(spec, storage=url)
        out, err = stock.communicate(timeout=60)
    finally:
        stock.kill()
    assert stock.returncode == 0, err  # every tell of the stock client succeeded
    assert "told 5" in out
    trials = optuna.load_study(study_name=spec.name, storage=url).get_trials()
    theirs = [t for t in trials if runner.OWNER_ATTR not in t.system_attrs]
    ours = [t for t in trials if runner.OWNER_ATTR in t.system_attrs]
    assert len(theirs) == 5 and all(t.state == TrialState.COMPLETE for t in theirs)
    assert not any("owner" in str(t.user_attrs.get("fail_reason", "")) for t in trials)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert stats.complete == len(ours) >= 30 - 5  # the stock trials count toward the budget


@pytest.mark.parametrize("sampler", ["random", "nsga2"])  # Core fast path / ask path
def test_stock_client_beside_ours_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            sampler: str) -> None:
    check_stock_client_beside_ours(tmp_path, f"sqlite:///{tmp_path / 's.db'}", monkeypatch,
                                   sampler)


@pytest.mark.parametrize("sampler", ["grid", "nsga2"])  # Core fast path / ask path
def test_enqueued_trials_run_first_with_their_params(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     sampler: str) -> None:
    """Points queued with stock ``study.enqueue_trial`` (WAITING) are run by
    our worker with the queued params (a partial one gets the rest sampled)
    and count toward the budget; before, they stayed WAITING for ever and
    used up the budget unevaluated."""
    monkeypatch.setattr(runner, "evaluate_candidate", _slow_outcome)
    extra = {"sampler": "grid"} if sampler == "grid" else \
        {"sampler": {"name": "nsga2", "population_size": 4}}
    spec = load_study_spec(write_spec(tmp_path, name=f"enq_{sampler}", trials=5, seed=3,
                                      **extra))
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = open_study(spec, storage=url)
    study.enqueue_trial({"array.rows": 16, "array.cols": 32})
    study.enqueue_trial({"array.cols": 8})
    stats = runner.worker_loop(spec, storage=url)
    trials = optuna.load_study(study_name=spec.name, storage=url).get_trials()
    assert len(trials) == 5 and stats.trials == 5
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].params == {"array.rows": 16, "array.cols": 32}
    assert trials[1].params["array.cols"] == 8 and trials[1].params["array.rows"] in (8, 16)
    assert all(runner.OWNER_ATTR in t.system_attrs for t in trials)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_an_ownerless_running_trial_is_left_alone(tmp_path: Path) -> None:
    from bnnarch.dse._storage import fail_dead_trials, get_storage

    storage = get_storage(tmp_path / "s.db")
    study = optuna.create_study(study_name="s", storage=storage)
    foreign = study.ask()  # another client's live trial: no owner record, no heartbeat yet
    assert fail_dead_trials(study) == 0
    assert storage.get_trial(foreign._trial_id).state == TrialState.RUNNING
    study.tell(foreign, 1.0)


def _constrained_spec(tmp: Path, name: str = "eco") -> Path:
    return write_spec(tmp, name=name, trials=24, seed=2,
                      hardware={"array.rows": [4, 8, 16, 32], "array.cols": [4, 8, 16, 32],
                                "array.simd_bits": [32, 64]},
                      objectives=["latency", "energy", "area"],
                      constraints=[{"metric": "area", "max": 0.75}])


def test_optuna_and_dashboard_see_our_front_names_and_spec(tmp_path: Path) -> None:
    path = _constrained_spec(tmp_path)
    spec = load_study_spec(path, sweep=True)
    run_study(spec, progress=False, sweep=True)
    url = f"sqlite:///{spec.default_storage_path}"
    stock = optuna.load_study(study_name="eco", storage=url)  # as any other program
    ours = {t.number for t in pareto_trials(stock, spec)}
    feasible = [t for t in stock.trials if t.state == TrialState.COMPLETE
                and t.user_attrs["constraints"][0] <= 0]
    infeasible = [t for t in stock.trials if t.state == TrialState.COMPLETE
                  and t.user_attrs["constraints"][0] > 0]
    assert feasible and infeasible and ours  # the check means something
    # Optuna: names, feasibility, front
    assert stock.metric_names == ["latency", "energy", "area"]
    assert {t.number for t in stock.best_trials} == ours
    df = stock.trials_dataframe()  # pandas is installed
    assert {"values_latency", "values_energy", "values_area"} <= set(df.columns)
    # the spec travels with the study
    attrs = stock.user_attrs
    assert attrs["bnnarch:spec"]["fields"]["constraints"] == [
        {"metric": "area", "max": 0.75, "min": None}]
    assert "array.simd_bits" in attrs["bnnarch:study_yaml"]
    assert attrs["bnnarch:trials"] == 24
    # optuna-dashboard: its API's trials and constraints, its front computation
    detail = _dashboard_detail(url, stock._study_id)
    assert detail["objective_names"] == ["latency", "energy", "area"]
    feasible_numbers = {t["number"] for t in detail["trials"]
                        if t["state"] == "Complete" and all(c <= 0 for c in t["constraints"])}
    assert feasible_numbers == {t.number for t in feasible}
    from optuna_dashboard._pareto_front import get_pareto_front_trials

    dash = get_pareto_front_trials([t for t in stock.trials if t.number in feasible_numbers],
                                   stock.directions)
    assert {t.number for t in dash} == ours


def _dashboard_detail(url: str, study_id: int) -> dict[str, Any]:
    """GET /api/studies/<id> of optuna-dashboard's WSGI app on ``url``."""
    from wsgiref.util import setup_testing_defaults

    import optuna_dashboard

    app = optuna_dashboard.wsgi(url)
    env: dict[str, Any] = {"PATH_INFO": f"/api/studies/{study_id}", "QUERY_STRING": "after=0",
                           "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(env)
    status: list[str] = []
    body = b"".join(app(env, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200"), (status, body[:300])
    return json.loads(body)


def test_study_made_before_names_gets_them(tmp_path: Path) -> None:
    spec = load_study_spec(_constrained_spec(tmp_path, "old"), sweep=True)
    study = optuna.create_study(study_name="old", storage=f"sqlite:///{tmp_path / 'o.db'}",
                                directions=["minimize"] * 3)
    assert study.metric_names is None
    assert open_study(spec, storage=f"sqlite:///{tmp_path / 'o.db'}").metric_names == [
        "latency", "energy", "area"]


def test_postgres_urls_are_passed_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    import bnnarch.dse._storage as storage

    seen: list[str] = []
    monkeypatch.setattr(storage, "_rdb", lambda url, **k: seen.append(url))
    for url in ("postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d",
                "postgresql+psycopg2://u:p@h/d"):
        storage.get_storage(url)
    storage.get_storage("postgres://u:p@h/d")
    assert seen == ["postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d",
                    "postgresql+psycopg2://u:p@h/d", "postgresql://u:p@h/d"]
    import sqlalchemy

    assert sqlalchemy.engine.make_url("postgresql://u@h/d").get_dialect().driver == "psycopg"
    import psycopg  # noqa: F401 - the driver SQLAlchemy (and stock Optuna) pick for postgresql://

