"""Front plots of a study: a PNG per objective pair (matplotlib; Pareto
points labelled with their trial numbers, the pair's 2-D front drawn as its
attainment staircase for any mix of min/max objectives), ``history.png`` for
one objective, and an interactive HTML front per pair (plotly; hovering a
point shows its trial, objective values and design parameters)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from bnnarch.dse._pareto import front, staircase
from bnnarch.dse._spec import OBJECTIVES, Objective, StudySpec


def label(name: str) -> str:
    unit = OBJECTIVES.get(name, ("", ""))[1]
    return f"{name} [{unit}]" if unit else name


def draw_pair(ax: Any, objs: tuple[Objective, Objective], idx: tuple[int, int],
              trials: list[FrozenTrial], infeasible: list[FrozenTrial],
              pareto: list[FrozenTrial]) -> None:
    """One objective pair into ``ax``: infeasible (x), dominated (grey) and
    Pareto trials (blue, labelled "t<N>"), and the pair's 2-D staircase."""
    (a, b), (i, j) = objs, idx
    pset = {t.number for t in pareto}
    if infeasible:
        ax.scatter([t.values[i] for t in infeasible], [t.values[j] for t in infeasible],
                   s=10, marker="x", c="tab:red", alpha=0.5, label="infeasible")
    rest = [t for t in trials if t.number not in pset]
    ax.scatter([t.values[i] for t in rest], [t.values[j] for t in rest], s=10, c="0.6",
               label="dominated")
    ax.scatter([t.values[i] for t in pareto], [t.values[j] for t in pareto], s=22,
               c="tab:blue", label=f"Pareto ({len(pareto[0].values) if pareto else 0}-D)")
    for t in pareto:
        ax.annotate(f"t{t.number}", (t.values[i], t.values[j]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    pts = [(t.values[i], t.values[j]) for t in trials]
    dirs = [a.direction, b.direction]
    corners = staircase([pts[k] for k in front(pts, dirs)], dirs)
    ax.plot([c[0] for c in corners], [c[1] for c in corners], c="tab:orange", lw=1.2,
            label="2-D front")
    ax.set_xlabel(label(a.name) + (" (max)" if a.direction == "maximize" else ""))
    ax.set_ylabel(label(b.name) + (" (max)" if b.direction == "maximize" else ""))
    for k, setter in ((i, ax.set_xscale), (j, ax.set_yscale)):
        vals = [t.values[k] for t in trials]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
            setter("log")


def png_fronts(spec: StudySpec, trials: list[FrozenTrial], infeasible: list[FrozenTrial],
               pareto: list[FrozenTrial], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = spec.objectives
    if len(objs) == 1:
        return [_history(spec, trials, out, plt)]
    paths = []
    for (i, a), (j, b) in itertools.combinations(enumerate(objs), 2):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        draw_pair(ax, (a, b), (i, j), trials, infeasible, pareto)
        ax.set_title(f"{spec.name}: {a.name} vs {b.name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = out / f"front_{a.name}_{b.name}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def _history(spec: StudySpec, trials: list[FrozenTrial], out: Path, plt: Any) -> Path:
    o = spec.objectives[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [t.number for t in trials]
    ys = [t.values[0] for t in trials]
    ax.scatter(xs, ys, s=12, c="tab:blue", label="feasible trials")
    best, run = [], None
    for y in ys:
        run = y if run is None else (max(run, y) if o.direction == "maximize" else min(run, y))
        best.append(run)
    ax.step(xs, best, where="post", c="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(label(o.name))
    ax.legend()
    ax.set_title(spec.name)
    p = out / "history.png"
    fig.tight_layout()
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def hover_text(t: FrozenTrial, spec: StudySpec) -> str:
    """Trial number, objective values and every parameter, one per line."""
    lines = [f"trial {t.number}"]
    lines += [f"{o.name}: {t.values[k]:.5g}" for k, o in enumerate(spec.objectives)]
    lines += [f"{k} = {v}" for k, v in t.params.items()]
    return "<br>".join(lines)


def html_fronts(spec: StudySpec, trials: list[FrozenTrial], infeasible: list[FrozenTrial],
                pareto: list[FrozenTrial], out: Path) -> list[Path]:
    """``html/front_<a>_<b>.html`` per objective pair (plotly)."""
    import plotly.graph_objects as go

    html = out / "html"
    html.mkdir(parents=True, exist_ok=True)
    pset = {t.number for t in pareto}
    paths = []
    for (i, a), (j, b) in itertools.combinations(enumerate(spec.objectives), 2):
        fig = go.Figure()
        groups = (("infeasible", infeasible, "x", "crimson"),
                  ("dominated", [t for t in trials if t.number not in pset], "circle", "gray"),
                  ("Pareto", pareto, "circle", "royalblue"))
        for name, ts, symbol, color in groups:
            fig.add_trace(go.Scatter(
                x=[t.values[i] for t in ts], y=[t.values[j] for t in ts], mode="markers",
                name=name, marker={"symbol": symbol, "color": color, "size": 8},
                text=[hover_text(t, spec) for t in ts], hoverinfo="text"))
        pts = [(t.values[i], t.values[j]) for t in trials]
        dirs = [a.direction, b.direction]
        corners = staircase([pts[k] for k in front(pts, dirs)], dirs)
        fig.add_trace(go.Scatter(x=[c[0] for c in corners], y=[c[1] for c in corners],
                                 mode="lines", name="2-D front", hoverinfo="skip",
                                 line={"color": "orange"}))
        fig.update_layout(title=f"{spec.name}: {a.name} vs {b.name}",
                          xaxis_title=label(a.name), yaxis_title=label(b.name))
        p = html / f"front_{a.name}_{b.name}.html"
        fig.write_html(str(p), include_plotlyjs="directory")
        paths.append(p)
    return paths
