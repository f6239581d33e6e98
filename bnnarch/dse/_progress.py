"""Progress of a running study: a bar on a terminal, plain text lines at a
fixed interval elsewhere (CI, nohup, cluster jobs), and the line that says a
rerun resumes a study."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.trial import TrialState

from bnnarch.dse._spec import StudySpec

OnTrial = Callable[[optuna.Study, int], None]


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    out = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] += 1
    return out


def counts_text(c: dict[str, int]) -> str:
    return (f"{c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed, "
            f"{c['RUNNING']} running")


def resume_line(study: optuna.Study, spec: StudySpec) -> str | None:
    """"resuming NAME: N of M trials ..." when the study already holds trials."""
    c = state_counts(study)
    n = sum(c.values())
    if not n:
        return None
    todo = max(0, spec.trials - n)
    return (f"resuming {spec.name}: {n} of {spec.trials} trials already in the study "
            f"({counts_text(c)}); {todo} to run")


def progress_line(study: optuna.Study, spec: StudySpec, elapsed_s: float) -> str:
    from bnnarch.dse._runner import best_so_far

    c = state_counts(study)
    return (f"[{elapsed_s:6.0f} s] {spec.name}: {sum(c.values())}/{spec.trials} trials "
            f"({counts_text(c)}) | {best_so_far(study, spec)}")


@contextlib.contextmanager
def progress_reporter(spec: StudySpec, study: optuna.Study, *, mode: bool | str,
                      interval_s: float, echo: Callable[[str], None]) -> Iterator[OnTrial | None]:
    """Yields the worker's ``on_trial`` callback (or None). ``mode``: True (bar
    on a terminal, else lines), "lines", "bar", or False (nothing)."""
    if mode is True:
        mode = "bar" if sys.stdout.isatty() else "lines"
    if mode == "lines":
        with _lines(spec, study, interval_s, echo):
            yield None
    elif mode == "bar":
        with _bar(spec, study) as on_trial:
            yield on_trial
    else:
        yield None


@contextlib.contextmanager
def _lines(spec: StudySpec, study: optuna.Study, interval_s: float,
           echo: Callable[[str], None]) -> Iterator[None]:
    """A thread that prints ``progress_line`` every ``interval_s`` (it reads
    the study through its own Study object; the workers never wait for it)."""
    stop = threading.Event()
    t0 = time.monotonic()

    def run() -> None:
        while not stop.wait(interval_s):
            with contextlib.suppress(Exception):  # a progress line is never worth a crash
                echo(progress_line(study, spec, time.monotonic() - t0))

    thread = threading.Thread(target=run, daemon=True, name="bnnarch-progress")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def _bar(spec: StudySpec, study: optuna.Study) -> Iterator[OnTrial]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bnnarch.dse._runner import best_so_far
    from bnnarch.dse._storage import count_trials

    done = count_trials(study)
    last = [0.0]
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
                  transient=False) as bar:
        task = bar.add_task(spec.name, total=spec.trials, completed=done,
                            best=best_so_far(study, spec) if done else "")

        def on_trial(st: optuna.Study, n: int) -> None:
            now = time.monotonic()
            fields: dict[str, Any] = {"completed": min(n, spec.trials)}
            if now - last[0] > 1.0 or n >= spec.trials:
                last[0] = now
                fields["best"] = best_so_far(st, spec)
            bar.update(task, **fields)

        yield on_trial
        bar.update(task, completed=min(count_trials(study), spec.trials),
                   best=best_so_far(study, spec))
