"""Atomic file output: every file bnnarch writes appears whole or not at all
(written to a temporary file beside it, then renamed over the target)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bnnarch.errors import BnnarchError


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path next to
    ``path`` (parents created), then rename it over ``path``. On failure the
    temporary file is removed and an OSError becomes a BnnarchError naming
    the file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BnnarchError(f"cannot write {path}: {e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))
