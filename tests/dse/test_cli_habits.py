"""The search CLI's habits: budget/seed/name overrides that extend or fork a
study explicitly, --timeout, --json, ``bnnarch studies``, plain progress
lines off a terminal, the "resuming" line, --help examples; and the spec
errors a new user meets (empty choices, a design given as a study, an
unwritable storage, a changed spec on resume naming the fields)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnnarch.dse import parse_study
from bnnarch.errors import SpecError
from tests.dse.conftest import REPO, cli, write_spec


def _spec(tmp: Path, **kw: object) -> Path:
    fields: dict[str, object] = {"sampler": "random", "trials": 6, "seed": 0}
    fields.update(kw)
    return write_spec(tmp, name="hab", **fields)  # type: ignore[arg-type]


def test_overrides_extend_fork_json_and_studies(tmp_path: Path) -> None:
    spec = str(_spec(tmp_path))
    p = cli("sweep", spec, "--trials", "4", "--json", "-", "--progress-interval", "0.2")
    summary = json.loads(p.stdout)
    assert (summary["study"], summary["trials"], summary["budget"], summary["done"]) == \
        ("hab", 4, 4, True)
    assert summary["states"]["complete"] == 4 and summary["pareto_front"]
    assert {"trial", "values", "params"} <= set(summary["pareto_front"][0])
    assert "sweep hab: 4 trials" in p.stderr  # human lines on stderr with --json -
    # plain progress lines (not a terminal) at the interval, full-length final line
    assert any(line.startswith("[") and "hab: " in line and "trials (" in line
               for line in p.stderr.splitlines()), p.stderr
    p = cli("sweep", spec, "--extend", "3", "--no-progress")
    assert "resuming hab: 4 of 7 trials already in the study (4 complete, 0 pruned, 0 failed, " \
           "0 running); 3 to run" in p.stdout
    assert "hab: 7/7 trials" in p.stdout
    # a changed seed is another study: refused, naming the field, then forked by --name
    p = cli("sweep", spec, "--seed", "3", "--no-progress", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "created from a different spec; changed: seed (0 -> 3)" in p.stderr
    assert "--name NEW" in p.stderr
    p = cli("sweep", spec, "--seed", "3", "--name", "hab_s3", "--no-progress")
    assert "hab_s3: 6/6 trials" in p.stdout
    assert not (tmp_path / "runs" / "hab_s3.db").exists()  # the fork shares the file
    p = cli("studies", str(tmp_path / "runs" / "hab.db"))
    rows = p.stdout.splitlines()
    assert rows[0].split()[:3] == ["study", "trials", "complete"]
    assert rows[1].split()[:3] == ["hab", "7/7", "7"] and rows[2].split()[:3] == [
        "hab_s3", "6/6", "6"]
    assert "latency (min), energy (min)" in rows[1]
    listed = json.loads(cli("studies", spec, "--json").stdout)
    assert [r["study"] for r in listed] == ["hab", "hab_s3"]
    assert listed[0]["metric_names"] == ["latency", "energy"]
    # --timeout: no trial starts after it; the study stays resumable
    p = cli("sweep", spec, "--trials", "9", "--timeout", "0", "--no-progress")
    assert "timeout: no trial started after 0 s (7 of 9 trials); rerun to continue" in p.stdout
    p = cli("sweep", spec, "--trials", "5", "--extend", "1", check=False)
    assert p.returncode == 2 and "give --trials or --extend, not both" in p.stderr


def test_help_shows_examples() -> None:
    for cmd in ("explore", "sweep", "studies"):
        out = cli(cmd, "--help").stdout
        assert "examples:" in out and f"bnnarch {cmd}" in out


def test_changed_spec_names_every_changed_field(tmp_path: Path) -> None:
    cli("sweep", str(_spec(tmp_path, trials=2)), "--no-progress")
    p = cli("sweep", str(_spec(tmp_path, trials=2, hardware={
        "array.rows": {"choices": [8, 32]}, "array.cols": {"choices": [8, 16, 32]}},
        constraints=[{"metric": "area", "max": 2}])), "--no-progress", check=False)
    assert p.returncode == 2
    assert "changed: constraints ([] -> [{" in p.stderr
    assert "hardware.array.rows.choices.1 (16 -> 32)" in p.stderr


def test_empty_lists_are_refused(tmp_path: Path) -> None:
    text = f"""\
design: {REPO / 'designs' / 'edge16_ws.yaml'}
workload: {REPO / 'workloads' / 'sfc.json'}
hardware: {{array.rows: []}}
precision: {{search: true, bits: [], layers: [], groups: {{g: []}}}}
objectives: [latency]
sampler: random
trials: 3
"""
    with pytest.raises(SpecError) as ei:
        parse_study(text, str(tmp_path / "empty.yaml"))
    errs = {(fe.path, fe.message) for fe in ei.value.errors}
    assert ("hardware.array.rows.choices", "must be a non-empty list") in errs
    assert ("precision.bits", "must be a non-empty list") in errs
    assert ("precision.layers", "must be a non-empty list") in errs
    assert ("precision.groups.g", "must name at least one layer pattern") in errs


def test_cli_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    spec = _spec(tmp_path, precision={"search": True, "bits": []})
    p = cli("explore", str(spec), check=False)
    assert p.returncode == 2 and "precision.bits" in p.stderr and "non-empty" in p.stderr
    p = cli("explore", str(REPO / "designs" / "edge16_ws.yaml"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "this looks like a design, not a study" in p.stderr
    p = cli("sweep", str(_spec(tmp_path)), "--storage", "/proc/bnnarch/x.db", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cannot create /proc/bnnarch" in p.stderr
    p = cli("sweep", str(_spec(tmp_path)), "--storage", "/proc/x.db", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cannot open storage /proc/x.db" in p.stderr and "pass another --storage" in p.stderr
    p = cli("studies", str(tmp_path / "nothing.db"), check=False)
    assert p.returncode == 2 and "no such storage file" in p.stderr


def test_studies_made_before_this_version_still_resume(tmp_path: Path) -> None:
    """A study stamped by the previous version (hash only, no fields; this is
    the hash it computed for explore/ci_tiny.yaml at commit 73e7b69) opens."""
    import optuna

    from bnnarch.dse import load_study_spec, open_study

    spec = load_study_spec(REPO / "explore" / "ci_tiny.yaml")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = optuna.create_study(study_name=spec.name, storage=url,
                              directions=[o.direction for o in spec.objectives])
    old.set_user_attr("bnnarch:spec", {"sha": "472fa9f536417294",
                                       "objectives": ["accuracy", "latency", "energy"]})
    assert open_study(spec, storage=url).metric_names == ["accuracy", "latency", "energy"]
