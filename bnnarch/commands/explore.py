"""bnnarch explore STUDY [options]  (see ``bnnarch explore --help``)

Optuna search over per-layer precision and hardware parameters (accuracy in
the loop); ``bnnarch sweep`` shares this implementation with grid/random over
hardware at a fixed precision."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

EXAMPLES = """\
examples:
  bnnarch {cmd} explore/ci_tiny.yaml                      run (or resume) to the budget
  bnnarch {cmd} explore/ci_tiny.yaml --workers 2 --report  two processes, then the report
  bnnarch {cmd} explore/ci_tiny.yaml --extend 20           20 more trials in the same study
  bnnarch {cmd} explore/ci_tiny.yaml --seed 3 --name ci_tiny_s3   fork: a new study, new seed
  bnnarch {cmd} explore/ci_tiny.yaml --timeout 600 --json -       stop starting trials after 10 min
  bnnarch {cmd} explore/ci_tiny.yaml --storage postgresql://user:pw@host/db   share between machines
  bnnarch studies explore/runs/ci_tiny.db                 list the studies of a storage

Kill it at any time (Ctrl-C, kill -INT/-TERM stop every worker; in-flight trials
end FAIL with the reason): rerunning the same command resumes the study.
"""


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study spec YAML (explore/*.yaml)")
    p.add_argument("--storage", help="Optuna storage: an SQLite path or URL, or "
                   "postgresql://user:pw@host/db to share the study across machines "
                   "(default: the spec's, else runs/<name>.db next to the spec)")
    p.add_argument("--workers", "-j", "--n-jobs", type=int, default=1,
                   help="worker processes here (default 1)")
    g = p.add_argument_group("budget and identity (override the spec)")
    g.add_argument("--trials", type=int, metavar="N",
                   help="total trial budget (a larger one than the study holds extends it)")
    g.add_argument("--extend", type=int, metavar="K",
                   help="run K more trials than the study holds now")
    g.add_argument("--timeout", type=float, metavar="S",
                   help="start no trial after S seconds (the study stays resumable)")
    g.add_argument("--seed", type=int, help="sampler seed (a changed seed is a different "
                   "study: give it a new --name)")
    g.add_argument("--name", help="study name (a new name forks the study; with the default "
                   "storage it goes into the same database file)")
    p.add_argument("--report", action="store_true",
                   help="after the run, write the Pareto front (CSV, plots, HTML, design YAMLs)")
    p.add_argument("--out", help="report directory (default runs/<name>/ next to the spec)")
    p.add_argument("--no-run", action="store_true", help="do not run trials (report only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    p.add_argument("--progress-interval", type=float, default=10.0, metavar="S",
                   help="seconds between progress lines when not on a terminal (default 10)")
    p.add_argument("--json", metavar="FILE", help="write a machine-readable summary "
                   "('-': stdout; the human lines then go to stderr)")
    p.add_argument("--export-rtl", metavar="TRIALS",
                   help="with --report: generate and verify the RTL of these Pareto trials "
                   "on their layers at their precision (comma-separated numbers, or 'all')")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explore", help="joint precision x hardware search (Optuna)",
                       description="Search per-layer precision and hardware parameters with "
                       "Optuna (NSGA-II, TPE, random), accuracy in the loop. Resumable: rerun "
                       "the same command to continue until the trial budget is met.",
                       epilog=EXAMPLES.format(cmd="explore"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.set_defaults(func=lambda a: run(a, sweep=False))


def _say(stream: TextIO) -> Any:
    def say(line: str) -> None:
        print(line, file=stream, flush=True)
    return say


def run(args: argparse.Namespace, *, sweep: bool) -> int:
    from pathlib import Path

    from bnnarch.dse import (
        SearchInterrupted,
        load_study_spec,
        open_study,
        override_spec,
        run_study,
        storage_label,
        study_summary,
        summary_line,
        write_report,
    )
    from bnnarch.errors import StudyError
    from bnnarch.fsio import atomic_write_text, check_writable

    if args.out:
        check_writable(args.out, "--out directory", directory=True)
    if args.json and args.json != "-":
        check_writable(args.json, "--json file")
    say = _say(sys.stderr if args.json == "-" else sys.stdout)
    if args.trials is not None and args.extend is not None:
        raise StudyError("give --trials or --extend, not both")
    spec = override_spec(load_study_spec(args.study, sweep=sweep), trials=args.trials,
                         seed=args.seed, name=args.name)
    if args.extend is not None:
        if args.extend < 1:
            raise StudyError(f"--extend must be >= 1, got {args.extend}")
        held = len(open_study(spec, storage=args.storage).get_trials(deepcopy=False))
        spec = override_spec(spec, trials=held + args.extend)
    label = storage_label(spec, args.storage)
    extra: dict[str, Any] = {}
    code = 0
    if not args.no_run:
        say(f"{'sweep' if sweep else 'explore'} {spec.name}: {spec.trials} trials, "
            f"sampler {spec.sampler.name}, storage {label}")
        try:
            run_study(spec, storage=args.storage, workers=args.workers, sweep=sweep,
                      progress=False if args.no_progress else
                      ("lines" if args.json == "-" else True), timeout_s=args.timeout,
                      progress_interval_s=args.progress_interval, echo=say)
        except SearchInterrupted as e:
            print(f"interrupted by {e.name}: workers stopped, trials in flight marked FAIL; "
                  "rerun the same command to resume", file=sys.stderr, flush=True)
            extra["interrupted"] = e.name
            code = e.exit_code
    study = open_study(spec, storage=args.storage, create=False)
    say(summary_line(study, spec))
    n = len(study.get_trials(deepcopy=False))
    if args.timeout is not None and not code and n < spec.trials:
        say(f"timeout: no trial started after {args.timeout:g} s ({n} of {spec.trials} trials); "
            "rerun to continue")
        extra["timed_out"] = True
    if not code and (args.report or args.export_rtl):
        out = Path(args.out) if args.out else Path(spec.source).resolve().parent / "runs" / spec.name
        paths = write_report(study, spec, out=out, export_rtl=args.export_rtl)
        say(f"wrote report to {out} ({len(paths)} files)")
        extra["report"] = str(out)
    if args.json:
        text = json.dumps(study_summary(study, spec, storage=label, **extra), indent=1) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(Path(args.json), text)
    return code
