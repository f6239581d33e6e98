"""Failing the trials of dead workers: same host by process identity at once,
other hosts by heartbeat after the grace period; live workers' trials stay."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bnnarch.dse._storage import (
    FAIL_REASON_ATTR,
    OWNER_ATTR,
    count_trials,
    fail_dead_trials,
    get_storage,
    owner_alive,
    owner_id,
)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_dead_live_and_remote_owners(tmp_path: Path) -> None:
    storage = get_storage(tmp_path / "s.db")
    storage.heartbeat_interval = 1  # type: ignore[attr-defined]
    storage.grace_period = 1  # type: ignore[attr-defined]
    study = optuna.create_study(study_name="s", storage=storage)
    host = socket.gethostname()
    owners = {"live": owner_id(), "dead": f"{host}:999999:123", "remote": "elsewhere:42:7"}
    ids = {}
    for k, owner in owners.items():
        t = study.ask()
        study._storage.set_trial_system_attr(t._trial_id, OWNER_ATTR, owner)
        study._storage.record_heartbeat(t._trial_id)
        ids[k] = t._trial_id
    assert owner_alive(owners["live"]) is True
    assert owner_alive(owners["dead"]) is False
    assert owner_alive(owners["remote"]) is None
    assert fail_dead_trials(study) == 1  # the dead local worker's trial, at once
    states = {k: study._storage.get_trial(i).state for k, i in ids.items()}
    assert states == {"live": TrialState.RUNNING, "dead": TrialState.FAIL,
                      "remote": TrialState.RUNNING}
    assert "died" in study._storage.get_trial(ids["dead"]).user_attrs[FAIL_REASON_ATTR]
    time.sleep(2.2)
    study._storage.record_heartbeat(ids["live"])
    fail_dead_trials(study)  # the remote worker sent no heartbeat for > grace period
    assert study._storage.get_trial(ids["remote"]).state == TrialState.FAIL
    assert study._storage.get_trial(ids["live"]).state == TrialState.RUNNING
    assert count_trials(study) == 3
