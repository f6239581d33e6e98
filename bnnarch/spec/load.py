"""Validate parsed YAML against a template's pydantic model, reporting every
field error at once with its dotted path and YAML line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bnnarch.errors import FieldError, SpecError
from bnnarch.spec.yamlsrc import line_of, load_yaml_with_lines

M = TypeVar("M", bound=BaseModel)


def pydantic_errors(e: ValidationError, lines: dict[str, int]) -> list[FieldError]:
    out = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err:
            msg = f"{msg} (got {err['input']!r})"
        out.append(FieldError(path, msg, line_of(lines, path)))
    return out


def validate_model(model: type[M], data: dict[str, Any], lines: dict[str, int],
                   source: str) -> M:
    """``model.model_validate(data)`` then its ``cross_check()`` (if any): every
    error of both stages becomes one SpecError naming ``source``."""
    try:
        spec = model.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, pydantic_errors(e, lines)) from None
    cross = getattr(spec, "cross_check", None)
    errs = [FieldError(fe.path, fe.message, line_of(lines, fe.path))
            for fe in (cross() if cross is not None else [])]
    if errs:
        raise SpecError(source, errs)
    return spec


def with_lines(e: SpecError, path: str | Path) -> SpecError:
    """The same errors with YAML lines from the file at ``path`` (checks that
    run on a loaded spec, e.g. against a workload, have no lines of their own)."""
    _, lines = load_yaml_with_lines(path)
    return SpecError(str(path), [FieldError(x.path, x.message, x.line or line_of(lines, x.path))
                                 for x in e.errors])
