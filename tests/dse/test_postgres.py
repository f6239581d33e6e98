"""A real PostgreSQL server as the shared storage of one study: two worker
processes (as on two machines) complete exactly the trial budget.

The fixture starts the Debian cluster (``pg_ctlcluster 15 main start``;
installs ``postgresql`` with apt-get if pg_ctlcluster is missing), creates a
throw-away user and database, and afterwards drops them and stops the server
if it started it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bnnarch.dse import load_study, open_study
from bnnarch.dse._storage import OWNER_ATTR
from tests.dse.conftest import REPO, popen, write_spec

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


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if shutil.which("pg_ctlcluster") is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _root(["apt-get", "update", "-qq"])
        p = _root(["apt-get", "install", "-y", "-qq", "postgresql"], env=env)
        if shutil.which("pg_ctlcluster") is None:
            pytest.skip("PostgreSQL is not installed and apt-get could not install it: "
                        + p.stderr[-300:])
    cl = _cluster()
    if cl is None:
        pytest.skip("pg_lsclusters lists no PostgreSQL cluster")
    version, name, status = cl
    started = False
    if status != "online":
        p = _root(["pg_ctlcluster", version, name, "start"])
        if p.returncode != 0:
            pytest.skip(f"cannot start PostgreSQL {version}/{name}: {p.stderr.strip()[-300:]}")
        started = True
    port = "5432"
    m = re.search(r"^\S+\s+\S+\s+(\d+)", _sh(["pg_lsclusters", "-h"]).stdout, re.MULTILINE)
    if m:
        port = m.group(1)
    user = db = f"bnnarch_test_{os.getpid()}"
    try:
        p = _as_postgres(["psql", "-p", port, "-v", "ON_ERROR_STOP=1", "-c",
                          f"\"CREATE USER {user} PASSWORD '{user}'\""])
        assert p.returncode == 0, p.stderr
        p = _as_postgres(["createdb", "-p", port, "-O", user, db])
        assert p.returncode == 0, p.stderr
        yield f"postgresql://{user}:{user}@127.0.0.1:{port}/{db}"
    finally:
        _as_postgres(["dropdb", "-p", port, "--if-exists", db])
        _as_postgres(["psql", "-p", port, "-c", f"\"DROP USER IF EXISTS {user}\""])
        if started:
            _root(["pg_ctlcluster", version, name, "stop"])


def test_two_workers_share_a_postgres_study(tmp_path: Path, pg_url: str) -> None:
    spec_path = write_spec(tmp_path, name="pg", design=str(REPO / "designs" / "xnor32.yaml"),
                           workload=str(REPO / "workloads" / "resnet18.json"), hardware={
                               "array.rows": [8, 16, 32, 64], "array.cols": [16, 24, 32, 48],
                               "array.simd_bits": [32, 64]})
    procs = [popen("sweep", str(spec_path), "--storage", pg_url, "--no-progress")
             for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    spec = load_study(spec_path, sweep=True)
    trials = open_study(spec, storage=pg_url, create=False).get_trials()
    assert sorted(t.number for t in trials) == list(range(32))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 32
    assert len({t.system_attrs[OWNER_ATTR] for t in trials}) == 2
    assert not (tmp_path / "runs" / "pg.db").exists()  # nothing went to the SQLite default
