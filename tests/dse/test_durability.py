"""Durable, exact budgets: kill -9 mid-search and rerun; several worker
processes on one storage."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bnnarch.dse import load_study_spec, open_study
from bnnarch.dse._storage import OWNER_ATTR
from tests.dse.conftest import REPO, cli, popen, write_spec

RESNET = str(REPO / "workloads" / "resnet18.json")
XNOR32 = str(REPO / "designs" / "xnor32.yaml")


def _states(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return dict(c.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}


def _snapshot(spec_path: Path, *, sweep: bool = True) -> list[tuple]:
    spec = load_study_spec(spec_path, sweep=sweep)
    study = open_study(spec, storage=None, create=False)
    return [(t.number, t.state.name, tuple(sorted(t.params.items())),
             tuple(t.values) if t.values else None,
             t.user_attrs.get("fail_reason")) for t in study.get_trials()]


@pytest.mark.parametrize("command,sampler,trials", [
    ("sweep", "random", 200),   # grid/random: trials written through SQLAlchemy Core
    ("explore", "nsga2", 60),   # samplers with memory: Optuna's ask/tell
])
def test_kill_9_then_rerun_completes_the_budget_exactly(tmp_path: Path, command: str,
                                                        sampler: str, trials: int) -> None:
    extra = {"sampler": {"name": "nsga2", "population_size": 8}} if sampler == "nsga2" \
        else {"sampler": sampler}
    spec = write_spec(tmp_path, name="killme", design=XNOR32, workload=RESNET, **extra,
                      trials=trials, seed=5, hardware={
                          "array.rows": {"low": 4, "high": 96}, "array.cols": {"low": 4, "high": 96},
                          "array.simd_bits": [16, 32, 64, 128]})
    sweep = command == "sweep"
    db = tmp_path / "runs" / "killme.db"
    proc = popen(command, str(spec), "--no-progress")
    deadline = time.time() + 120
    while time.time() < deadline and _states(db).get("COMPLETE", 0) < 5:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _snapshot(spec, sweep=sweep)
    done_before = [t for t in before if t[1] == "COMPLETE"]
    assert 5 <= len(done_before) < trials
    running = [t[0] for t in before if t[1] == "RUNNING"]

    cli(command, str(spec), "--no-progress")
    after = _snapshot(spec, sweep=sweep)
    assert len(after) == trials
    assert [t[0] for t in after] == list(range(trials))  # no trial duplicated
    by_num = {t[0]: t for t in after}
    for t in done_before:  # no finished trial lost or changed
        assert by_num[t[0]] == t
    for n in running:  # in flight at the kill: failed, with the reason
        assert by_num[n][1] == "FAIL" and "died" in by_num[n][4]
    assert all(t[1] in ("COMPLETE", "FAIL", "PRUNED") for t in after)
    # a rerun after the budget is met adds nothing
    cli(command, str(spec), "--no-progress")
    assert _snapshot(spec, sweep=sweep) == after


# big enough (~2 s of trials) that a second worker process is up before the first is done
GRID = {"array.rows": [8, 12, 16, 24, 32, 48, 64, 96], "array.cols": [8, 12, 16, 24, 32, 48, 64, 96],
        "array.simd_bits": [32, 64, 128]}
GRID_POINTS = 8 * 8 * 3


def _grid_spec(tmp: Path, name: str) -> Path:
    return write_spec(tmp, name=name, design=XNOR32, workload=RESNET, hardware=GRID)


def _check_grid(spec_path: Path) -> set[str]:
    spec = load_study_spec(spec_path, sweep=True)
    trials = open_study(spec, storage=None, create=False).get_trials()
    assert len(trials) == spec.trials == GRID_POINTS
    assert sorted(t.number for t in trials) == list(range(GRID_POINTS))
    assert all(t.state.name == "COMPLETE" for t in trials)
    points = {tuple(sorted(t.params.items())) for t in trials}
    assert len(points) == GRID_POINTS  # every grid point exactly once
    return {t.system_attrs[OWNER_ATTR] for t in trials}


def test_two_worker_processes_make_exactly_the_budget(tmp_path: Path) -> None:
    spec = _grid_spec(tmp_path, "two")
    procs = [popen("sweep", str(spec), "--no-progress") for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    owners = _check_grid(spec)
    assert len(owners) == 2, owners


def test_workers_option(tmp_path: Path) -> None:
    spec = _grid_spec(tmp_path, "wopt")
    cli("sweep", str(spec), "--workers", "2", "--no-progress")
    _check_grid(spec)
