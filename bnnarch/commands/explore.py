"""bnnarch explore STUDY [--storage URL] [--workers N] [--report [--out DIR]] [--export-rtl T,...]

Optuna search over per-layer precision and hardware parameters (accuracy in
the loop); ``bnnarch sweep`` shares this implementation with grid/random over
hardware at a fixed precision."""

from __future__ import annotations

import argparse


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study spec YAML (explore/*.yaml)")
    p.add_argument("--storage", help="Optuna storage: an SQLite path or URL, or "
                   "postgresql://user:pw@host/db to share the study across machines "
                   "(default: the spec's, else runs/<name>.db next to the spec)")
    p.add_argument("--workers", "-j", type=int, default=1, help="worker processes here (default 1)")
    p.add_argument("--report", action="store_true",
                   help="after the run, write the Pareto front (CSV, plots, HTML, design YAMLs)")
    p.add_argument("--out", help="report directory (default runs/<name>/ next to the spec)")
    p.add_argument("--no-run", action="store_true", help="do not run trials (report only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--export-rtl", metavar="TRIALS",
                   help="with --report: run `bnnarch rtl` on these Pareto trials "
                   "(comma-separated numbers, or 'all')")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explore", help="joint precision x hardware search (Optuna)",
                       description="Search per-layer precision and hardware parameters with "
                       "Optuna (NSGA-II, TPE, random), accuracy in the loop. Resumable: rerun "
                       "the same command to continue until the trial budget is met.")
    add_common(p)
    p.set_defaults(func=lambda a: run(a, sweep=False))


def run(args: argparse.Namespace, *, sweep: bool) -> int:
    from pathlib import Path

    from rich.console import Console

    from bnnarch.dse import load_study, open_study, run_study
    from bnnarch.dse._report import summary_line, write_report
    from bnnarch.dse._runner import storage_label

    console = Console(stderr=False)
    from bnnarch.fsio import check_writable

    if args.out:
        check_writable(args.out, "--out directory", directory=True)
    spec = load_study(args.study, sweep=sweep)
    if not args.no_run:
        console.print(f"{'sweep' if sweep else 'explore'} {spec.name}: {spec.trials} trials, "
                      f"sampler {spec.sampler.name}, storage {storage_label(spec, args.storage)}")
        study = run_study(spec, storage=args.storage, workers=args.workers, sweep=sweep,
                          progress=not args.no_progress)
    else:
        study = open_study(spec, storage=args.storage, create=False)
    console.print(summary_line(study, spec))
    if args.report or args.export_rtl:
        out = Path(args.out) if args.out else Path(spec.source).resolve().parent / "runs" / spec.name
        paths = write_report(study, spec, out=out, export_rtl=args.export_rtl)
        console.print(f"wrote report to {out} ({len(paths)} files)")
    return 0
