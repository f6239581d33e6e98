"""Optuna storage for studies: one ``get_storage`` turns user input into an
RDB storage with heartbeats, plus the two things an exact, resumable trial
budget needs: a lock around trial creation (shared by every worker of a
study, on this machine or on others) and failing the trials of dead workers.

- SQLite (the default, one file): WAL journal, ``synchronous=NORMAL`` (a
  killed process loses nothing committed; only a power cut can drop the last
  commits), a 60 s busy timeout; the creation lock is ``flock`` on
  ``<db>.lock``.
- PostgreSQL: the URL goes to SQLAlchemy unchanged, so it means the same
  here as in stock Optuna: ``postgresql://`` uses SQLAlchemy's default driver
  (psycopg 3 with SQLAlchemy 2.1, which bnnarch depends on),
  ``postgresql+psycopg://`` names it, ``postgresql+psycopg2://`` needs
  psycopg2 installed; ``postgres://`` is read as ``postgresql://``. The
  creation lock is a session advisory lock keyed by the study name.

On both, grid/random trials are written by ``CoreTrials`` (SQLAlchemy Core on
Optuna's own tables: one transaction creates a trial with its params, owner
and first heartbeat; one finishes it), which is why pyproject pins Optuna's
major version; TPE/NSGA-II trials and other storages go through Optuna's API.
Every trial a bnnarch worker creates carries its owner (``OWNER_ATTR``) from
the write that creates it (grid/random: ``CoreTrials.create``; TPE/NSGA-II:
``create_new_trial`` with a template holding the owner), so a RUNNING trial
without one is another Optuna client's and is never taken for dead by us.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import math
import os
import socket
import sqlite3
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from bnnarch.errors import StudyError

HEARTBEAT_INTERVAL_S = 5
GRACE_PERIOD_S = 30
OWNER_ATTR = "bnnarch:owner"
FAIL_REASON_ATTR = "fail_reason"


class TrialNumberTaken(StudyError):
    """``CoreTrials.create``: the study no longer holds the expected number of
    trials (another client's ``study.ask()`` came between count and insert)."""


def _sqlite_storage(path: Path) -> RDBStorage:
    path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudyError(f"cannot create {path.parent}: {e}") from None

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    # processes opening a new file at once would race on creating its tables
    try:
        with file_lock(Path(str(path) + ".lock")):
            return _rdb(f"sqlite:///{path}", engine_kwargs={"creator": connect})
    except (OSError, sqlite3.Error, sqlalchemy.exc.SQLAlchemyError) as e:
        msg = str(getattr(e, "orig", None) or e).splitlines()[0]
        raise StudyError(f"cannot open storage {path}: {msg} (is {path.parent} writable? "
                         "pass another --storage)") from None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the block:
    processes on this machine take turns."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rdb(url: str, **kwargs: Any) -> RDBStorage:
    """RDBStorage with heartbeats; retried a few times because workers on
    other machines may be creating the same tables at this moment."""
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL_S,
                                  grace_period=GRACE_PERIOD_S, **kwargs)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                sqlalchemy.exc.ProgrammingError):
            if attempt == 4 or "already exists" not in traceback.format_exc():
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def get_storage(storage: None | str | Path | BaseStorage, *,
                default_path: Path | None = None) -> BaseStorage:
    """None -> SQLite at ``default_path``; a URL (``sqlite:///x.db``,
    ``postgresql://user:pw@host/db``) or a file path -> RDB storage with
    heartbeats; a storage -> itself."""
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        if default_path is None:
            raise StudyError("no storage given and no default path: pass --storage")
        return _sqlite_storage(default_path)
    text = str(storage)
    if "://" not in text:
        return _sqlite_storage(Path(text))
    if text.startswith("sqlite:///"):
        return _sqlite_storage(Path(text.removeprefix("sqlite:///")))
    if text.startswith("postgres://"):  # Heroku-style; SQLAlchemy knows only postgresql
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        return _rdb(text, engine_kwargs={"pool_pre_ping": True})
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as e:
        raise StudyError(f"cannot open storage {_redact(text)}: {str(e).splitlines()[0]} "
                         "(check the URL, that the server runs and that the database exists)"
                         ) from None


def _redact(url: str) -> str:
    """The URL without its password."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a message
        return url.split("@")[-1]


def _backend(storage: BaseStorage) -> BaseStorage:
    return getattr(storage, "_backend", storage)


def _lock_key(study_name: str) -> int:
    return int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big") >> 1


@contextlib.contextmanager
def creation_lock(storage: BaseStorage, study_name: str) -> Iterator[None]:
    """Held while a worker checks the budget and creates a trial, so that
    several workers never overshoot it."""
    rdb = _backend(storage)
    url = getattr(rdb, "url", "")
    if url.startswith("sqlite:///"):
        with file_lock(Path(url.removeprefix("sqlite:///") + ".lock")):
            yield
    elif url.startswith("postgresql"):
        engine = rdb.engine  # type: ignore[attr-defined]  # a postgresql URL: an RDBStorage
        key = _lock_key(study_name)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    else:  # in-memory storages live in one process; other URLs: best effort
        with _LOCAL_LOCK:
            yield


_LOCAL_LOCK = threading.Lock()


def _proc_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time (clock ticks)


def owner_id() -> str:
    """host:pid:start-time of this process (start time guards against pid reuse)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start(pid) or '?'}"


def owner_alive(owner: str) -> bool | None:
    """True/False for a process of this host; None (unknown) for another host."""
    try:
        host, pid_s, start = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    now = _proc_start(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return start == "?"
    return now == start


def fail_dead_trials(study: optuna.Study) -> int:
    """Mark RUNNING trials of dead bnnarch workers FAIL (with a reason); call
    under the creation lock. A trial is failed only when its death is
    provable: its ``OWNER_ATTR`` names a process of this host that is gone,
    or (any trial, ours or another Optuna client's) Optuna's own heartbeat
    says so (``fail_stale_trials``: no heartbeat for the grace period). A
    RUNNING trial without our owner record belongs to another Optuna client
    (``study.ask()`` elsewhere) and is left alone. Returns how many were failed."""
    storage = study._storage
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.system_attrs.get(OWNER_ATTR)
        if isinstance(owner, str) and owner_alive(owner) is False:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                storage.set_trial_user_attr(t._trial_id, FAIL_REASON_ATTR,
                                            f"worker {owner} died while the trial ran")
                storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                n += 1
    before = sum(1 for _ in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    after = sum(1 for _ in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    return n + after - before


def count_trials(study: optuna.Study) -> int:
    """Trials of the study in any state (each one used a unit of the budget)."""
    rdb = _backend(study._storage)
    engine = getattr(rdb, "engine", None)
    if engine is None:
        return len(study.get_trials(deepcopy=False))
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM trials WHERE study_id = :s"),
                                {"s": study._study_id}).scalar_one())


class Heartbeat:
    """Records a trial's heartbeat every HEARTBEAT_INTERVAL_S on a thread, so
    other machines can tell a dead worker's trial. First beat at once, unless
    ``beat_now`` is False (``CoreTrials.create`` wrote it with the trial)."""

    def __init__(self, storage: BaseStorage, trial_id: int, *, beat_now: bool = True) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._beat_now = beat_now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        rec = getattr(self._storage, "record_heartbeat", None)
        interval = getattr(self._storage, "get_heartbeat_interval", lambda: None)()
        if rec is None or interval is None:
            return self
        if self._beat_now:
            rec(self._trial_id)
        self._thread = threading.Thread(target=self._run, args=(rec, interval), daemon=True)
        self._thread.start()
        return self

    def _run(self, rec: Callable[[int], object], interval: int) -> None:
        while not self._stop.wait(interval):
            with contextlib.suppress(Exception):
                rec(self._trial_id)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def set_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    """Several user attrs of a trial in one transaction on RDB storages (one
    commit instead of one each: a large share of a fast trial's cost)."""
    rdb = _backend(storage)
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        setter = rdb._set_trial_attr_without_commit  # type: ignore[attr-defined]  # optuna-private
        session_factory = rdb.scoped_session  # type: ignore[attr-defined]  # optuna-private
    except (ImportError, AttributeError):
        for k, v in attrs.items():
            storage.set_trial_user_attr(trial_id, k, v)
        return
    with _create_scoped_session(session_factory, True) as session:
        for k, v in attrs.items():
            setter(session, models.TrialUserAttributeModel, trial_id, k, v)


class CoreTrials:
    """Grid/random trials written with SQLAlchemy Core straight into Optuna's
    own tables (``optuna.storages._rdb.models``, the installed schema), in two
    transactions per trial instead of Optuna's dozen ORM round trips.

    Rows are what ``RDBStorage`` writes for the same trial, so every reader
    (``optuna.load_study(...).get_trials()``, here or elsewhere, through a
    ``_CachedStorage`` or not) sees an ordinary trial: ``number`` = the study's
    trial count, naive-UTC datetimes, params in internal repr with
    ``distribution_to_json``, attrs as ``json.dumps``, values with their
    FINITE/INF value type, the heartbeat row stamped by the database clock.
    Not written (Optuna checks them per parameter): distribution compatibility
    is checked once per worker by ``check_distributions``.
    SQLite and PostgreSQL only; ``core_trials`` returns None for others.
    """

    def __init__(self, engine: sqlalchemy.engine.Engine, study_id: int) -> None:
        from optuna.storages._rdb import models

        self._engine = engine
        self._study_id = study_id
        self._models = models
        self._trials = models.TrialModel.__table__
        self._params = models.TrialParamModel.__table__
        self._user = models.TrialUserAttributeModel.__table__
        self._system = models.TrialSystemAttributeModel.__table__
        self._values = models.TrialValueModel.__table__
        self._beats = models.TrialHeartbeatModel.__table__
        dialect = engine.dialect.name
        insert: Any  # the dialect's INSERT with ON CONFLICT
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            insert = sqlite_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert
            insert = postgresql_insert
        self._upsert_user = self._attr_upsert(insert, self._user)
        self._upsert_system = self._attr_upsert(insert, self._system)
        self._postgres = dialect == "postgresql"
        # built once: a statement's construction costs as much as its execution
        t, b = self._trials, sqlalchemy.bindparam
        s = models.StudyModel.__table__
        self._touch_study = (s.update().where(s.c.study_id == study_id)
                             .values(study_id=s.c.study_id))
        self._lock_study = (sqlalchemy.select(s.c.study_id)
                            .where(s.c.study_id == study_id).with_for_update())
        self._count = (sqlalchemy.select(sqlalchemy.func.count(t.c.trial_id))
                       .where(t.c.study_id == study_id))
        self._insert_trial = t.insert()
        self._finish = (t.update().where(t.c.trial_id == b("b_trial_id"),
                                         t.c.state == TrialState.RUNNING)
                        .values(state=b("b_state"), datetime_complete=b("b_complete")))
        self._which = sqlalchemy.select(t.c.number, t.c.state).where(t.c.trial_id == b("b_trial_id"))

    @staticmethod
    def _attr_upsert(insert: Any, table: sqlalchemy.Table) -> Any:
        # as RDBStorage does: a key set meanwhile (e.g. a fail_reason) is replaced
        stmt = insert(table)
        return stmt.on_conflict_do_update(index_elements=[table.c.trial_id, table.c.key],
                                          set_={"value_json": stmt.excluded.value_json})

    def check_distributions(self, dists: dict[str, BaseDistribution]) -> None:
        """Raise StudyError if a parameter is already stored in this study with
        an incompatible distribution (what Optuna checks on every param write)."""
        p, t = self._params, self._trials
        first = (sqlalchemy.select(sqlalchemy.func.min(p.c.param_id))
                 .select_from(p.join(t, p.c.trial_id == t.c.trial_id))
                 .where(t.c.study_id == self._study_id).group_by(p.c.param_name))
        with self._engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(p.c.param_name, p.c.distribution_json)
                                .where(p.c.param_id.in_(first))).all()
        for name, text in rows:
            if name in dists:
                try:
                    optuna.distributions.check_distribution_compatibility(
                        optuna.distributions.json_to_distribution(text), dists[name])
                except ValueError as e:
                    raise StudyError(f"parameter {name!r} is stored in this study with another "
                                     f"distribution ({e}): give the study a new name") from None

    def create(self, number: int, params: dict[str, Any], dists: dict[str, BaseDistribution],
               *, owner: str) -> int:
        """Trial ``number`` (RUNNING) with its params, owner and first
        heartbeat, in one transaction; call under ``creation_lock``. Returns
        its trial id. Raises StudyError if the study does not hold exactly
        ``number`` trials (someone created trials without the lock)."""
        with self._engine.begin() as conn:
            # serialise with every other writer (e.g. another client's study.ask())
            # before counting: PostgreSQL locks the study row as RDBStorage does;
            # SQLite takes its write lock with a no-op update (pysqlite runs a
            # plain SELECT outside the transaction, so a count alone could race)
            conn.execute(self._lock_study if self._postgres else self._touch_study)
            count = conn.execute(self._count).scalar_one()
            if count != number:
                raise TrialNumberTaken(f"study holds {count} trials where this worker expected "
                                       f"{number}: another Optuna client created a trial "
                                       "meanwhile (the worker retries with the next number)")
            trial_id = conn.execute(self._insert_trial, {
                "number": number, "study_id": self._study_id, "state": TrialState.RUNNING,
                "datetime_start": _utc_now(), "datetime_complete": None}
            ).inserted_primary_key[0]  # type: ignore[index]  # a one-row INSERT has its key
            if params:
                conn.execute(self._params.insert(), [
                    {"trial_id": trial_id, "param_name": k,
                     "param_value": dists[k].to_internal_repr(v),
                     "distribution_json": optuna.distributions.distribution_to_json(dists[k])}
                    for k, v in params.items()])
            conn.execute(self._system.insert(), {"trial_id": trial_id, "key": OWNER_ATTR,
                                                 "value_json": json.dumps(owner)})
            conn.execute(self._beats.insert(), {"trial_id": trial_id})  # DB clock, as Optuna
        return int(trial_id)

    def finish(self, trial_id: int, *, state: TrialState, values: Sequence[float] | None = None,
               user_attrs: dict[str, Any] | None = None,
               system_attrs: dict[str, Any] | None = None) -> None:
        """Attrs, values, state and completion time of a RUNNING trial in one
        transaction. Raises ``optuna.exceptions.UpdateFinishedTrialError`` (and
        writes nothing) if the trial is no longer RUNNING, e.g. another worker
        failed it as dead; ValueError (nothing written) for a NaN value."""
        if not state.is_finished():
            raise ValueError(f"state must be a finished state, got {state.name}")
        rows = []
        for i, v in enumerate(values or ()):
            v = float(v)
            if math.isnan(v):
                raise ValueError(f"objective {i} is NaN, which Optuna cannot store")
            stored, kind = self._models.TrialValueModel.value_to_stored_repr(v)
            rows.append({"trial_id": trial_id, "objective": i, "value": stored, "value_type": kind})
        with self._engine.begin() as conn:
            done = conn.execute(self._finish, {"b_trial_id": trial_id, "b_state": state,
                                               "b_complete": _utc_now()})
            if done.rowcount != 1:
                row = conn.execute(self._which, {"b_trial_id": trial_id}).one_or_none()
                what = "does not exist" if row is None else f"is already {row[1].name}"
                num = "?" if row is None else row[0]
                raise optuna.exceptions.UpdateFinishedTrialError(
                    f"trial {num} (id {trial_id}) {what}: not overwritten with {state.name}")
            for stmt, attrs in ((self._upsert_user, user_attrs), (self._upsert_system, system_attrs)):
                if attrs:
                    conn.execute(stmt, [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                                        for k, v in attrs.items()])
            if rows:
                conn.execute(self._values.insert(), rows)


def _utc_now() -> datetime.datetime:
    """Naive UTC, as RDBStorage stores trial datetimes."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def core_trials(storage: BaseStorage, study_id: int) -> CoreTrials | None:
    """A ``CoreTrials`` for an RDB storage on SQLite (>= 3.24, for upserts) or
    PostgreSQL, else None (use Optuna's API)."""
    rdb = _backend(storage)
    if not isinstance(rdb, RDBStorage):
        return None
    name = rdb.engine.dialect.name
    if name == "postgresql" or (name == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0)):
        return CoreTrials(rdb.engine, study_id)
    return None
