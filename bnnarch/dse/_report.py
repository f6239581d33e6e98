"""Study reports: every trial and the Pareto front as CSV, 2-D front plots
for each objective pair (PNG), Optuna's HTML visualisations, and each Pareto
point as a design YAML + precision map that ``bnnarch simulate`` (and
``bnnarch rtl``) accept as they are.

Layout of ``out``::

    trials.csv  pareto.csv  summary.txt
    front_<a>_<b>.png ...            (one per objective pair; history.png for one objective)
    html/*.html + html/plotly.min.js (Optuna visualisations)
    pareto/<study>_t<N>/design.yaml precision.yaml sim.json
"""

from __future__ import annotations

import csv
import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from bnnarch.dse._pareto import dominates, feasible, feasible_complete, front, pareto_trials
from bnnarch.dse._spec import OBJECTIVES, StudySpec
from bnnarch.errors import StudyError

METRIC_COLUMNS = ("latency", "energy", "area", "fps", "tops_per_w", "cycles", "accuracy",
                  "map", "miou", "accuracy_drop")


def _label(name: str) -> str:
    unit = OBJECTIVES.get(name, ("", ""))[1]
    return f"{name} [{unit}]" if unit else name


def summary_line(study: optuna.Study, spec: StudySpec) -> str:
    trials = study.get_trials(deepcopy=False)
    by = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
    feas = len(feasible_complete(study))
    front_n = len(pareto_trials(study, spec)) if feas else 0
    return (f"{spec.name}: {len(trials)}/{spec.trials} trials — {by[TrialState.COMPLETE]} complete "
            f"({feas} feasible), {by[TrialState.PRUNED]} invalid designs (pruned), "
            f"{by[TrialState.FAIL]} failed, {by[TrialState.RUNNING]} running; "
            f"Pareto front: {front_n} point(s)")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
    return path


def _row(t: FrozenTrial, spec: StudySpec) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": t.number, "state": t.state.name,
                           "feasible": feasible(t) if t.state == TrialState.COMPLETE else ""}
    metrics = t.user_attrs.get("metrics", {})
    for o in spec.objectives:
        row[_label(o.name)] = metrics.get(o.name, "")
    for m in METRIC_COLUMNS:
        if m in metrics and _label(m) not in row:
            row[_label(m)] = metrics[m]
    for k, v in t.params.items():
        row[k] = v
    reason = t.user_attrs.get("invalid_reason") or t.user_attrs.get("fail_reason") or ""
    row["reason"] = reason
    return row


def _plot_fronts(spec: StudySpec, trials: list[FrozenTrial], infeasible: list[FrozenTrial],
                 pareto: list[FrozenTrial], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    objs = spec.objectives
    if len(objs) == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [t.number for t in trials]
        ys = [t.values[0] for t in trials]
        ax.scatter(xs, ys, s=12, c="tab:blue", label="feasible trials")
        best, run = [], None
        for y in ys:
            run = y if run is None else (max(run, y) if objs[0].direction == "maximize" else min(run, y))
            best.append(run)
        ax.step(xs, best, where="post", c="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(_label(objs[0].name))
        ax.legend()
        ax.set_title(spec.name)
        p = out / "history.png"
        fig.tight_layout()
        fig.savefig(p, dpi=120)
        plt.close(fig)
        return [p]
    pset = {t.number for t in pareto}
    for (i, a), (j, b) in itertools.combinations(enumerate(objs), 2):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        if infeasible:
            ax.scatter([t.values[i] for t in infeasible], [t.values[j] for t in infeasible],
                       s=10, marker="x", c="tab:red", alpha=0.5, label="infeasible")
        rest = [t for t in trials if t.number not in pset]
        ax.scatter([t.values[i] for t in rest], [t.values[j] for t in rest], s=10, c="0.6",
                   label="dominated")
        ax.scatter([t.values[i] for t in pareto], [t.values[j] for t in pareto], s=22,
                   c="tab:blue", label=f"Pareto ({len(objs)}-D)")
        pts = [(t.values[i], t.values[j]) for t in trials]
        idx = front(pts, [a.direction, b.direction])
        f2 = sorted(pts[k] for k in idx)
        ax.plot([p[0] for p in f2], [p[1] for p in f2], c="tab:orange", lw=1.2,
                drawstyle="steps-post" if a.direction == b.direction else "default",
                label="2-D front")
        ax.set_xlabel(_label(a.name))
        ax.set_ylabel(_label(b.name))
        for name, setter in ((a.name, ax.set_xscale), (b.name, ax.set_yscale)):
            vals = [t.values[i if name == a.name else j] for t in trials]
            if vals and min(vals) > 0 and max(vals) / min(vals) > 50:
                setter("log")
        ax.set_title(f"{spec.name}: {a.name} vs {b.name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = out / f"front_{a.name}_{b.name}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def _optuna_html(study: optuna.Study, spec: StudySpec, out: Path) -> list[Path]:
    import optuna.visualization as vis

    html = out / "html"
    html.mkdir(parents=True, exist_ok=True)
    names = [o.name for o in spec.objectives]
    figs: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if 2 <= len(names) <= 3:
            figs["pareto_front"] = lambda: vis.plot_pareto_front(
                study, target_names=[_label(n) for n in names],
                constraints_func=(lambda t: t.user_attrs.get("constraints") or [0.0])
                if spec.constraints else None)
        for k, n in enumerate(names):
            figs[f"history_{n}"] = (lambda k=k, n=n: vis.plot_optimization_history(
                study, target=lambda t: t.values[k], target_name=_label(n)))
            figs[f"parallel_{n}"] = (lambda k=k, n=n: vis.plot_parallel_coordinate(
                study, target=lambda t: t.values[k], target_name=_label(n)))
            figs[f"slice_{n}"] = (lambda k=k, n=n: vis.plot_slice(
                study, target=lambda t: t.values[k], target_name=_label(n)))
            figs[f"importance_{n}"] = (lambda k=k, n=n: vis.plot_param_importances(
                study, target=lambda t: t.values[k], target_name=_label(n)))
        paths = []
        for fname, make in figs.items():
            try:
                fig = make()
            except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as e:
                (html / f"{fname}.txt").write_text(f"not drawn: {e}\n")
                continue
            p = html / f"{fname}.html"
            fig.write_html(str(p), include_plotlyjs="directory")
            paths.append(p)
    return paths


def export_point(t: FrozenTrial, spec: StudySpec, out: Path) -> Path:
    """design.yaml + precision.yaml + sim.json of one trial, as ``bnnarch
    simulate DESIGN --workload W --precision P`` accepts them."""
    from bnnarch.template import design_from_dict, dump_design
    from bnnarch.workload.io import save_precision_map

    d = out / f"{spec.name}_t{t.number}"
    d.mkdir(parents=True, exist_ok=True)
    design = design_from_dict(t.user_attrs["design"], source=f"trial {t.number}")
    dump_design(design, d / "design.yaml")
    pmap = {k: (int(v[0]), int(v[1])) for k, v in t.user_attrs.get("precision", {}).items()}
    save_precision_map(pmap, d / "precision.yaml")
    info = {"study": spec.name, "trial": t.number, "workload": str(spec.workload),
            "objectives": {o.name: t.values[i] for i, o in enumerate(spec.objectives)},
            "metrics": t.user_attrs.get("metrics", {}), "params": t.params,
            "sim": t.user_attrs.get("sim", {}),
            "simulate": f"bnnarch simulate {d / 'design.yaml'} --workload {spec.workload} "
                        f"--precision {d / 'precision.yaml'}"}
    (d / "sim.json").write_text(json.dumps(info, indent=1) + "\n")
    return d


def _export_rtl(points: dict[int, Path], which: str, out: Path) -> list[Path]:
    from bnnarch.array.spec import ArraySpec
    from bnnarch.rtl.flow import FlowOptions, run_flow
    from bnnarch.rtl.verify import builtin_layers
    from bnnarch.template import load_design

    if which.strip() == "all":
        chosen = sorted(points)
    else:
        try:
            chosen = [int(x) for x in which.split(",") if x.strip()]
        except ValueError:
            raise StudyError(f"--export-rtl: expected trial numbers or 'all', got {which!r}") from None
        missing = [n for n in chosen if n not in points]
        if missing:
            raise StudyError(f"--export-rtl: trial(s) {missing} are not on the Pareto front "
                             f"(front: {sorted(points)})")
    done = []
    for n in chosen:
        dest = out / "rtl" / points[n].name
        design = load_design(points[n] / "design.yaml")
        if not isinstance(design, ArraySpec):
            raise StudyError(f"--export-rtl: trial {n} is a {design.template} design; the RTL "
                             "generator builds array designs only")
        result = run_flow(design, dest, builtin_layers(), FlowOptions(verify=False))
        if not result.ok:
            raise StudyError(f"bnnarch rtl failed for trial {n}: {'; '.join(result.failures)}")
        done.append(dest)
    return done


def write_report(study: optuna.Study, spec: StudySpec, *, out: Path,
                 export_rtl: str | None = None) -> list[Path]:
    """Write the report (see module doc); returns the files and directories written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudyError(f"cannot create {out}: {e}") from None
    all_trials = study.get_trials(deepcopy=False)
    trials = feasible_complete(study)
    infeasible = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if not feasible(t)]
    pareto = pareto_trials(study, spec)
    dirs = [o.direction for o in spec.objectives]
    assert not any(dominates(a.values, b.values, dirs) for a in pareto for b in pareto)
    paths = [_write_csv(out / "trials.csv", [_row(t, spec) for t in all_trials]),
             _write_csv(out / "pareto.csv", [_row(t, spec) for t in pareto])]
    if trials:
        paths += _plot_fronts(spec, trials, infeasible, pareto, out)
        paths += _optuna_html(study, spec, out)
    points = {t.number: export_point(t, spec, out / "pareto") for t in pareto}
    paths += list(points.values())
    note = ""
    if spec.needs_accuracy and spec.evaluation.evaluator == "proxy":
        note = (f"\nNOTE: {spec.metric} here is the closed-form *proxy* of bnnarch.dse "
                "(not a measured accuracy).\n")
    (out / "summary.txt").write_text(summary_line(study, spec) + "\n" + note)
    paths.append(out / "summary.txt")
    if export_rtl:
        paths += _export_rtl(points, export_rtl, out)
    return paths
