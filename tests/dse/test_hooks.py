"""Python hooks: a study names its own accuracy evaluator and extra metrics as
``module:function`` (a module next to the study file); their values are the
trials' objectives and constraints; bad hooks are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from bnnarch.dse import load_study_spec, run_study
from bnnarch.errors import SpecError, StudyError
from tests.dse.conftest import cli, write_spec

MY_EVAL = '''\
def accuracy(precision, workload):
    """A stand-in for "my model's accuracy": 0.99 at the trained precision,
    minus 0.01 per bit below 4 on each searched layer."""
    if precision is None:
        return 0.99
    return 0.99 - 0.01 * sum(max(0, 4 - w) + max(0, 4 - a) for w, a in precision.values()
                             if w < 16)


def pe_count(candidate):
    d = candidate["design"]["array"]
    assert "latency" in candidate["metrics"] and candidate["sim"]["total_cycles"] > 0
    return float(d["rows"] * d["cols"])


def not_a_number(candidate):
    return "many"
'''


def _spec(tmp: Path, **kw: object) -> Path:
    (tmp / "my_eval.py").write_text(MY_EVAL)
    fields: dict[str, object] = {
        "hardware": {"array.rows": [8, 16], "array.cols": [8, 16]},
        "precision": {"search": True, "bits": [1, 2, 4]},
        "evaluation": {"evaluator": "my_eval:accuracy", "cache": False},
        "metrics": {"pes": {"function": "my_eval:pe_count", "direction": "maximize"}},
        "objectives": ["accuracy", "latency", "pes"],
        "constraints": [{"metric": "accuracy_drop", "max": 0.05}, {"metric": "pes", "max": 200}],
        "sampler": "random", "trials": 8, "seed": 2}
    fields.update(kw)
    return write_spec(tmp, name="hooked", **fields)  # type: ignore[arg-type]


def test_hooks_give_objectives_and_constraints(tmp_path: Path) -> None:
    spec = load_study_spec(_spec(tmp_path))
    assert [o.direction for o in spec.objectives] == ["maximize", "minimize", "maximize"]
    study = run_study(spec, progress=False)
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(done) == 8
    for t in done:
        m = t.user_attrs["metrics"]
        searched = [(w, a) for w, a in t.user_attrs["precision"].values() if w < 16]
        want = 0.99 - 0.01 * sum(max(0, 4 - w) + max(0, 4 - a) for w, a in searched)
        assert m["accuracy"] == pytest.approx(want)
        assert m["accuracy_drop"] == pytest.approx(0.99 - want)
        assert m["pes"] == t.params["array.rows"] * t.params["array.cols"]
        assert t.values == [m["accuracy"], m["latency"], m["pes"]]
        assert t.user_attrs["constraints"] == pytest.approx([m["accuracy_drop"] - 0.05,
                                                             m["pes"] - 200])
    assert study.metric_names == ["accuracy", "latency", "pes"]


def test_bad_hooks_are_spec_errors(tmp_path: Path) -> None:
    path = _spec(tmp_path, evaluation={"evaluator": "nope_mod:accuracy"},
                 metrics={"pes": "my_eval:missing", "latency": "my_eval:pe_count",
                          "x": {"function": "my_eval:pe_count", "direction": "up"}})
    with pytest.raises(SpecError) as ei:
        load_study_spec(path)
    errs = {fe.path: fe.message for fe in ei.value.errors}
    assert errs["evaluation.evaluator"].startswith("cannot import 'nope_mod' for "
                                                   "'nope_mod:accuracy'")
    assert errs["metrics.pes.function"] == ("module 'my_eval' has no 'missing' "
                                            "(for 'my_eval:missing')")
    assert errs["metrics.latency"] == "'latency' is a built-in metric; give yours another name"
    assert errs["metrics.x.direction"] == "must be minimize or maximize, got 'up'"
    with pytest.raises(SpecError, match=r"evaluation.evaluator.*String should match pattern"):
        load_study_spec(_spec(tmp_path, evaluation={"evaluator": "no colon here"}))


def test_a_hook_returning_a_non_number_stops_the_run(tmp_path: Path) -> None:
    path = _spec(tmp_path, metrics={"pes": "my_eval:not_a_number"}, objectives=["latency", "pes"],
                 constraints=[])
    with pytest.raises(StudyError, match=r"metric 'pes': its hook returned 'many', not a number"):
        run_study(load_study_spec(path), progress=False)
    p = cli("explore", str(path), "--no-progress", check=False)
    assert p.returncode == 2 and "its hook returned 'many', not a number" in p.stderr
    assert "Traceback" not in p.stderr


def test_same_module_name_in_two_study_dirs(tmp_path: Path) -> None:
    from bnnarch.dse._hooks import load_hook

    for v in (1, 2):
        d = tmp_path / f"s{v}"
        d.mkdir()
        (d / "my_eval.py").write_text(f"VALUE = {v}\n\ndef f(c):\n    return VALUE\n")
    assert load_hook("my_eval:f", base_dir=tmp_path / "s1")({}) == 1
    assert load_hook("my_eval:f", base_dir=tmp_path / "s2")({}) == 2
    # a hook module may import its neighbours
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / "helper_mod_s3.py").write_text("VALUE = 3\n")
    (tmp_path / "s3" / "my_eval.py").write_text("from helper_mod_s3 import VALUE\n\n"
                                                "def f(c):\n    return VALUE\n")
    assert load_hook("my_eval:f", base_dir=tmp_path / "s3")({}) == 3
