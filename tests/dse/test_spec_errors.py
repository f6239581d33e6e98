"""Bad study specs: every error at once, each with its dotted path (and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnnarch.dse import load_study_spec, parse_study
from bnnarch.errors import SpecError
from tests.dse.conftest import REPO, cli, write_spec

DESIGN = REPO / "designs" / "edge16_ws.yaml"
SFC = REPO / "workloads" / "sfc.json"


def _paths(e: SpecError) -> dict[str, str]:
    return {fe.path: fe.message for fe in e.errors}


def test_every_cross_field_error_with_its_path(tmp_path: Path) -> None:
    text = f"""\
name: bad
design: {DESIGN}
workload: {tmp_path / 'missing.json'}
hardware:
  array.rows: {{low: 64, high: 8}}
  array.bogus: {{choices: [1, 2]}}
  array.simd_bits: {{choices: [0, 64]}}
  dram.bandwidth_gbps: {{low: 0, high: 10, log: true}}
  array.cols: {{low: 8, high: 64, step: 8, log: true}}
  array.interconnect: {{choices: [broadcast, mesh]}}
precision:
  bits: [1, 3]
objectives: [latency, speed, accuracy]
constraints:
  - {{metric: area}}
  - {{metric: bogus, max: 1}}
sampler: tpe
"""
    with pytest.raises(SpecError) as ei:
        parse_study(text, str(tmp_path / "bad.yaml"), sweep=True)
    errs = _paths(ei.value)
    expect = {
        "workload": "no such file",
        "hardware.array.rows": "low (64) is greater than high (8)",
        "hardware.array.bogus": "is not a field of the array design spec",
        "hardware.array.simd_bits.choices.0": "greater than or equal to 1",
        "hardware.dram.bandwidth_gbps.low": "a log range needs low > 0",
        "hardware.array.cols.step": "a log range cannot have a step",
        "hardware.array.interconnect.choices.1": "'broadcast' or 'systolic'",
        "precision.bits.1": "must be one of 1, 2, 4, 8; got 3",
        "objectives.1.name": "unknown objective 'speed'",
        "constraints.0": "give max or min",
        "constraints.1.metric": "unknown metric 'bogus'",
        "sampler.name": "a sweep runs grid or random, not 'tpe'",
        "checkpoint": "needs a trained checkpoint",
        "trials": "required field is missing",
    }
    for path, msg in expect.items():
        assert path in errs, f"{path} not reported; got {sorted(errs)}"
        assert msg in errs[path], (path, errs[path])
    assert len(ei.value.errors) == len(expect), sorted(errs)
    lines = {fe.path: fe.line for fe in ei.value.errors}
    assert lines["hardware.array.rows"] == 5
    assert lines["objectives.1.name"] == 13
    assert lines["constraints.1.metric"] == 16


def test_schema_errors_all_at_once(tmp_path: Path) -> None:
    text = "name: 'no spaces allowed'\nworkload: 3\nobjectives: []\ntrials: 0\nfoo: 1\n"
    with pytest.raises(SpecError) as ei:
        parse_study(text, "bad.yaml")
    errs = _paths(ei.value)
    assert set(errs) == {"name", "design", "workload", "objectives", "trials", "foo"}, errs
    assert errs["design"] == "required field is missing"
    assert errs["foo"] == "unknown key"
    assert {fe.path: fe.line for fe in ei.value.errors}["foo"] == 5


def test_precision_groups_and_patterns(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, hardware={}, sampler="random", trials=4, precision={
        "search": True, "layers": ["fc*", "conv*"],
        "groups": {"g1": ["fc1", "fc2"], "g2": "fc2", "g3": "nothing*"}})
    with pytest.raises(SpecError) as ei:
        load_study_spec(spec)
    errs = _paths(ei.value)
    assert "precision.layers.1" in errs and "matches no compute layer" in errs["precision.layers.1"]
    assert "is also in group 'g1'" in errs["precision.groups.g2"]
    assert "matches no compute layer" in errs["precision.groups.g3.0"]


def test_grid_checks(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, hardware={"dram.bandwidth_gbps": {"low": 1.0, "high": 8.0},
                                          "array.rows": [8, 16]}, trials=5)
    with pytest.raises(SpecError) as ei:
        load_study_spec(spec, sweep=True)
    errs = _paths(ei.value)
    assert "a grid needs choices, a step or log: true" in errs["hardware.dram.bandwidth_gbps"]
    spec = write_spec(tmp_path, trials=7)
    with pytest.raises(SpecError, match=r"trials \(line \d+\): 7 exceeds the grid size \(6\)"):
        load_study_spec(spec, sweep=True)
    assert load_study_spec(write_spec(tmp_path), sweep=True).trials == 6


def test_cli_bad_spec_exits_nonzero_with_paths(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, objectives=["latency", "nope"], sampler="nsga2")
    p = cli("sweep", str(spec), check=False)
    assert p.returncode == 2
    assert "objectives.1.name" in p.stderr and "sampler.name" in p.stderr
    assert "Traceback" not in p.stderr
    p = cli("explore", str(tmp_path / "none.yaml"), check=False)
    assert p.returncode == 2 and "none.yaml: 1 error(s)\n  - <root>: no such study spec file" in p.stderr
