"""Stopping a search on SIGINT / SIGTERM, promptly and cleanly.

A signal never interrupts a storage write (an exception raised inside
SQLAlchemy's commit is swallowed as "Exception ignored ..." and the run goes
on). ``StopSignals`` installs handlers that only *record* the signal, except
while a candidate is being evaluated (pure computation, ``evaluating()``):
then they raise ``SearchInterrupted`` at once. Workers check ``stop_requested``
between storage steps and raise it there. The run's parent forwards the
signal to its worker processes, so ``kill -INT <parent>`` (or a job
scheduler's SIGTERM) stops them all; in-flight trials end FAIL with the
signal's name as the reason, and the command exits 128 + the signal number
(130 for SIGINT, 143 for SIGTERM).

A signal can also land while C code is calling back into Python (e.g.
numba's object cache writing a freshly compiled kernel, through llvmlite):
an exception raised there cannot propagate and Python would print it as
"Exception ignored ...". The recorded signal is not lost —
``check_stop`` raises it at the worker's next step — so while the handlers
are installed such an unraisable ``SearchInterrupted`` is dropped silently
(``_quiet_unraisable``); every other unraisable exception is reported as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SearchInterrupted(BaseException):
    """The search was stopped by a signal (a BaseException, as KeyboardInterrupt,
    so no ``except Exception`` in an evaluator swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class _State:
    signum: int | None = None
    evaluating = False
    forward: Callable[[int], None] | None = None


_STATE = _State()


def stop_requested() -> int | None:
    """The signal received by this process, if any."""
    return _STATE.signum


def check_stop() -> None:
    """Raise ``SearchInterrupted`` if a stop signal arrived."""
    if _STATE.signum is not None:
        raise SearchInterrupted(_STATE.signum)


def _handler(signum: int, _frame: FrameType | None) -> None:
    first = _STATE.signum is None
    if first:
        _STATE.signum = signum
    if first and _STATE.forward is not None:
        _STATE.forward(signum)
    if _STATE.evaluating:
        _STATE.evaluating = False
        raise SearchInterrupted(_STATE.signum or signum)


@contextlib.contextmanager
def evaluating() -> Iterator[None]:
    """A stop signal raises ``SearchInterrupted`` inside this block at once."""
    check_stop()
    _STATE.evaluating = True
    try:
        yield
    finally:
        _STATE.evaluating = False


def _quiet_unraisable(previous: Callable[[sys.UnraisableHookArgs], object]
                      ) -> Callable[[sys.UnraisableHookArgs], object]:
    """An unraisable-exception hook that drops ``SearchInterrupted`` (the
    signal stays recorded for ``check_stop``) and passes the rest on."""
    def hook(args: sys.UnraisableHookArgs) -> None:
        if not isinstance(args.exc_value, SearchInterrupted):
            previous(args)
    return hook


@contextlib.contextmanager
def stop_signals(forward: Callable[[int], None] | None = None) -> Iterator[None]:
    """Install the handlers for the block (main thread only; elsewhere a
    no-op). ``forward(signum)`` is called on the first signal (the parent
    passes it on to its workers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in SIGNALS}
    old_hook = sys.unraisablehook
    _STATE.signum, _STATE.evaluating, _STATE.forward = None, False, forward
    for s in SIGNALS:
        signal.signal(s, _handler)
    sys.unraisablehook = _quiet_unraisable(old_hook)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        sys.unraisablehook = old_hook
        _STATE.forward = None


def kill_quietly(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)
