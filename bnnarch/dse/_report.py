"""Study reports: every trial and the Pareto front as CSV, 2-D front plots
for each objective pair (PNG), Optuna's HTML visualisations, and each Pareto
point as a design YAML + precision map that ``bnnarch simulate`` (and
``bnnarch rtl``) accept as they are.

Layout of ``out``::

    trials.csv  pareto.csv  summary.txt
    front_<a>_<b>.png ...            (one per objective pair; history.png for one objective)
    html/front_<a>_<b>.html          (interactive fronts: hover shows trial and parameters)
    html/*.html + html/plotly.min.js (Optuna visualisations)
    pareto/<study>_t<N>/design.yaml precision.yaml sim.json
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from bnnarch.dse._pareto import dominates, feasible, feasible_complete, pareto_trials
from bnnarch.dse._plots import html_fronts, label, png_fronts
from bnnarch.dse._spec import StudySpec
from bnnarch.errors import StudyError

METRIC_COLUMNS = ("latency", "energy", "area", "fps", "tops_per_w", "cycles", "accuracy",
                  "map", "miou", "accuracy_drop")


_label = label


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
        paths += png_fronts(spec, trials, infeasible, pareto, out)
        paths += html_fronts(spec, trials, infeasible, pareto, out)
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
        from bnnarch.dse._rtl_export import export_points

        exports = export_points(points, export_rtl, spec.workload, out)
        paths += [e.out for e in exports]
        bad = [e for e in exports if not e.ok]
        if bad:
            raise StudyError("RTL of trial(s) " + ", ".join(
                f"{e.trial} ({e.verified} layer(s) verified: "
                f"{'; '.join(e.failures[:2]) or 'nothing verified'})" for e in bad)
                + f": see {out / 'rtl'}/*/report.json")
    return paths
