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

A module file next to the study (``my_eval.py``; ``pkg.mod`` -> ``pkg/mod.py``)
is loaded from there, keyed by its path; otherwise the module is imported as
installed.
Results of an evaluator hook are cached like the checkpoint evaluator's,
keyed by the module file's hash (editing it never reuses old results).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
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
    local = base_dir.resolve() / (mod_name.replace(".", "/") + ".py")
    try:
        module = _load_file(local) if local.is_file() else importlib.import_module(mod_name)
    except ImportError as e:
        raise StudyError(f"cannot import {mod_name!r} for {ref!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed at import
        raise StudyError(f"importing {mod_name!r} for {ref!r} raised "
                         f"{type(e).__name__}: {e}") from None
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise StudyError(f"module {mod_name!r} has no {fn_name!r} (for {ref!r})")
    if not callable(fn):
        raise StudyError(f"{ref!r} is not callable")
    return fn


def _load_file(path: Path) -> ModuleType:
    """The module in ``path``, loaded once per file (keyed by its path, so two
    studies' ``my_eval.py`` in different directories never mix)."""
    name = "bnnarch_hook_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    here = str(path.parent)
    sys.path.insert(0, here)  # the module may import its neighbours
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(here)
    return module


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
