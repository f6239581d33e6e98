"""Front plots: the 2-D staircase for every min/max mix, Pareto points
labelled with their trial numbers, the interactive HTML front's hover text."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from bnnarch.dse import load_study_spec, run_study, write_report
from bnnarch.dse._pareto import front, pareto_trials, staircase
from bnnarch.dse._plots import draw_pair, hover_text
from tests.dse.conftest import write_spec

matplotlib.use("Agg")


@pytest.mark.parametrize("dirs,pts,want", [
    # both minimised: right, then down
    (("minimize", "minimize"), [(1, 5), (2, 3), (4, 1)],
     [(1, 5), (2, 5), (2, 3), (4, 3), (4, 1)]),
    # x maximised, y minimised (accuracy vs latency): up, then right
    (("maximize", "minimize"), [(0.9, 1), (0.95, 2), (0.99, 5)],
     [(0.9, 1), (0.9, 2), (0.95, 2), (0.95, 5), (0.99, 5)]),
    # x minimised, y maximised: right, then up
    (("minimize", "maximize"), [(1, 1), (2, 3)], [(1, 1), (2, 1), (2, 3)]),
    # both maximised: down, then right
    (("maximize", "maximize"), [(1, 5), (3, 2)], [(1, 5), (1, 2), (3, 2)]),
])
def test_staircase(dirs: tuple[str, str], pts: list[tuple[float, float]],
                   want: list[tuple[float, float]]) -> None:
    assert sorted(front(pts, dirs)) == list(range(len(pts)))  # the input is a front
    assert staircase(pts[::-1] + pts[:1], dirs) == want  # any order, duplicates once
    # every corner between two points is dominated by (or equal to) one of them
    from bnnarch.dse._pareto import dominates

    for c in want:
        assert c in pts or any(dominates(p, c, dirs) for p in pts)


def test_pair_plot_labels_pareto_points_and_draws_the_staircase(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    spec = load_study_spec(write_spec(tmp_path, name="pl", sampler="random", trials=10, seed=3,
                                      hardware={"array.rows": {"low": 4, "high": 64},
                                                "array.cols": [8, 16, 32]},
                                      objectives=[{"name": "fps", "direction": "maximize"},
                                                  "energy"]), sweep=True)
    study = run_study(spec, progress=False, sweep=True)
    trials = [t for t in study.get_trials() if t.values]
    pareto = pareto_trials(study, spec)
    fig, ax = plt.subplots()
    draw_pair(ax, spec.objectives, (0, 1), trials, [], pareto)
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"t{t.number}" for t in pareto)
    (line,) = ax.lines
    pts = [tuple(t.values) for t in pareto]
    want = staircase(pts, ["maximize", "minimize"])
    got = [tuple(map(float, p)) for p in line.get_xydata()]
    assert got == want
    plt.close(fig)
    out = tmp_path / "rep"
    write_report(study, spec, out=out)
    html = (out / "html" / "front_fps_energy.html").read_text()
    t = pareto[0]
    assert hover_text(t, spec) in html.replace("\\u003cbr\\u003e", "<br>")
    assert f"array.rows = {t.params['array.rows']}" in hover_text(t, spec)
