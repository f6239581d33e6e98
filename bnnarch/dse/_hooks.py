"""Python hooks of a study: a user's own accuracy evaluator and extra metrics,
named ``module:function`` in the study file.

- ``evaluation.evaluator: my_eval:accuracy`` — ``accuracy(precision, workload)
  -> float`` returns the task metric (accuracy / mAP / mIoU, higher is better)
  of *their* model under ``precision`` (layer name -> (w_bits, a_bits), every
  compute layer), or at its trained precision when ``precision`` is None (the
  ``accuracy_drop`` baseline). ``workload`` is the study's WorkloadGraph.
- ``metrics: {name: {function: my_eval:power_mw, direction: minimize}}`` —
  ``power_mw(candidate) -> float`` per valid candidate; ``candidate`` is a
  dict with ``design`` (the design spec as a dict), ``precision`` (layer ->
  [w_bits, a_bits]), ``sim`` (the simulate summary) and ``metrics`` (the
  built-in metrics). The name can then be an objective or a constraint.

The module is imported with the study file's directory first on
``sys.path`` (a ``my_eval.py`` next to the study works), else as installed.
Results of an evaluator hook are cached like the checkpoint evaluator's,
keyed by the module file's hash (editing it never reuses old results).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bnnarch.errors import StudyError

HOOK_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


def is_hook(text: object) -> bool:
    return isinstance(text, str) and ":" in text


def load_hook(ref: str, *, base_dir: Path) -> Callable[..., Any]:
    """The function ``module:function`` (module searched in ``base_dir`` first).
    Raises StudyError saying what is wrong."""
    mod_name, _, fn_name = ref.partition(":")
    if not mod_name or not fn_name.isidentifier():
        raise StudyError(f"{ref!r} is not of the form module:function")
    here = str(base_dir.resolve())
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise StudyError(f"cannot import {mod_name!r} for {ref!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed at import
        raise StudyError(f"importing {mod_name!r} for {ref!r} raised "
                         f"{type(e).__name__}: {e}") from None
    finally:
        if added:
            sys.path.remove(here)
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise StudyError(f"module {mod_name!r} has no {fn_name!r} (for {ref!r})")
    if not callable(fn):
        raise StudyError(f"{ref!r} is not callable")
    return fn


def hook_key(ref: str, fn: Callable[..., Any]) -> str:
    """``ref`` plus the hash of the module's source file (cache key part)."""
    try:
        src = inspect.getsourcefile(fn)
        digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16] if src else "?"
    except (OSError, TypeError):
        digest = "?"
    return f"py:{ref}:{digest}"


def call_metric(name: str, fn: Callable[..., Any], *args: Any) -> float:
    """Call a hook; its result must be a finite-or-infinite real number."""
    value = fn(*args)
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # numpy / torch scalars
        except (TypeError, ValueError):
            raise StudyError(f"metric {name!r}: its hook returned {value!r}, not a number"
                             ) from None
    value = float(value)
    if math.isnan(value):
        raise StudyError(f"metric {name!r}: its hook returned NaN")
    return value


class HookEvaluator:
    """An ``AccuracyEvaluator`` calling ``fn(precision, workload)``."""

    def __init__(self, *, ref: str, fn: Callable[..., Any], graph: Any, metric: str) -> None:
        self.metric = metric
        self.key = hook_key(ref, fn)
        self._fn = fn
        self._graph = graph

    def evaluate(self, pmap: Any) -> float:
        return call_metric(self.metric, self._fn, None if pmap is None else dict(pmap),
                           self._graph)
