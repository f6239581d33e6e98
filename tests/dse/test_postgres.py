"""A real PostgreSQL server as the shared storage of one study: two worker
processes (as on two machines) complete exactly the trial budget; the
grid/random fast path writes there what Optuna's API writes.

The fixture starts the Debian cluster (``pg_ctlcluster 15 main start``;
installs ``postgresql`` with apt-get if pg_ctlcluster is missing), creates a
throw-away user and database, and afterwards drops them and stops the server
if the tests started it and no other test process (pytest-xdist) still uses
it; a file lock serialises these steps between test processes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bnnarch.dse import load_study_spec, open_study
from bnnarch.dse._storage import OWNER_ATTR, file_lock
from tests.conftest import missing
from tests.dse.conftest import REPO, popen, write_spec
from tests.dse.test_core_trials import (
    check_fast_path_equals_optuna_api,
    check_finished_trial_not_overwritten,
)
from tests.dse.test_durability import GRID, GRID_POINTS
from tests.dse.test_optuna_ecosystem import check_stock_client_beside_ours
from tests.dse.test_signals import check_signal_stops_workers

pytestmark = pytest.mark.postgres


def _sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False, **kw)  # type: ignore[call-overload]


def _as_postgres(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        return _sh(["su", "postgres", "-c", " ".join(cmd)])
    return _sh(["sudo", "-n", "-u", "postgres", *cmd])


def _root(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return _sh(cmd if os.geteuid() == 0 else ["sudo", "-n", *cmd], **kw)


def _cluster() -> tuple[str, str, str] | None:
    """(version, name, status) of the first cluster."""
    p = _sh(["pg_lsclusters", "-h"])
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 4:
            return f[0], f[1], f[3]
    return None


_LOCK = Path(tempfile.gettempdir()) / "bnnarch-pg-tests.lock"
_STARTED = Path(tempfile.gettempdir()) / "bnnarch-pg-tests.started"  # the tests started the server


def _alive(pid: str) -> bool:
    """Is the test process that made database bnnarch_test_<pid> still running?"""
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if shutil.which("pg_ctlcluster") is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _root(["apt-get", "update", "-qq"])
        p = _root(["apt-get", "install", "-y", "-qq", "postgresql"], env=env)
        if shutil.which("pg_ctlcluster") is None:
            missing("PostgreSQL is not installed and apt-get could not install it: "
                        + p.stderr[-300:])
    user = db = f"bnnarch_test_{os.getpid()}"
    with file_lock(_LOCK):
        cl = _cluster()
        if cl is None:
            missing("pg_lsclusters lists no PostgreSQL cluster")
        version, name, status = cl
        if status != "online":
            p = _root(["pg_ctlcluster", version, name, "start"])
            if p.returncode != 0:
                missing(f"cannot start PostgreSQL {version}/{name}: {p.stderr.strip()[-300:]}")
            _STARTED.touch()
        port = "5432"
        m = re.search(r"^\S+\s+\S+\s+(\d+)", _sh(["pg_lsclusters", "-h"]).stdout, re.MULTILINE)
        if m:
            port = m.group(1)
        p = _as_postgres(["psql", "-p", port, "-v", "ON_ERROR_STOP=1", "-c",
                          f"\"CREATE USER {user} PASSWORD '{user}'\""])
        ok = p.returncode == 0
        if ok:
            p = _as_postgres(["createdb", "-p", port, "-O", user, db])
            ok = p.returncode == 0
    try:
        assert ok, p.stderr
        yield f"postgresql://{user}:{user}@127.0.0.1:{port}/{db}"
    finally:
        with file_lock(_LOCK):
            query = "\"SELECT datname FROM pg_database WHERE datname LIKE 'bnnarch_test_%'\""
            listed = _as_postgres(["psql", "-p", port, "-Atc", query])
            in_use = []
            for d in {db, *listed.stdout.split()}:  # ours, and those of dead test processes
                if d != db and _alive(d.rsplit("_", 1)[-1]):
                    in_use.append(d)
                    continue
                # --force: this process's engines still hold connections to it
                _as_postgres(["dropdb", "-p", port, "--if-exists", "--force", d])
                _as_postgres(["psql", "-p", port, "-c", f"\"DROP USER IF EXISTS {d}\""])
            if _STARTED.exists() and listed.returncode == 0 and not in_use:
                _root(["pg_ctlcluster", version, name, "stop"])
                _STARTED.unlink()


def test_two_workers_share_a_postgres_study(tmp_path: Path, pg_url: str) -> None:
    spec_path = write_spec(tmp_path, name="pg", design=str(REPO / "designs" / "xnor32.yaml"),
                           workload=str(REPO / "workloads" / "resnet18.json"), hardware=GRID)
    procs = [popen("sweep", str(spec_path), "--storage", pg_url, "--no-progress")
             for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    spec = load_study_spec(spec_path, sweep=True)
    trials = open_study(spec, storage=pg_url, create=False).get_trials()
    assert sorted(t.number for t in trials) == list(range(GRID_POINTS))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == GRID_POINTS
    assert len({t.system_attrs[OWNER_ATTR] for t in trials}) == 2
    assert not (tmp_path / "runs" / "pg.db").exists()  # nothing went to the SQLite default


def test_fast_path_trials_on_postgres_equal_optuna_api_trials(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_fast_path_equals_optuna_api(tmp_path, pg_url, monkeypatch)


def test_finished_trial_not_overwritten_on_postgres(tmp_path: Path, pg_url: str) -> None:
    check_finished_trial_not_overwritten(tmp_path, pg_url)


def test_stock_optuna_client_beside_ours_on_postgres(tmp_path: Path, pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    check_stock_client_beside_ours(tmp_path, pg_url, monkeypatch, "random")


def test_sigterm_stops_two_workers_on_postgres(tmp_path: Path, pg_url: str) -> None:
    check_signal_stops_workers(tmp_path, pg_url, signal.SIGTERM)
