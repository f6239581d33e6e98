"""Load and validate a design YAML into a frozen model of its template."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from bnnarch.errors import FieldError, SpecError
from bnnarch.fsio import atomic_write_text
from bnnarch.spec.array import ArraySpec
from bnnarch.spec.yamlsrc import line_of, load_yaml_with_lines, parse_yaml_with_lines

# template name -> model class. Other templates (dataflow) register here.
_TEMPLATES: dict[str, type[BaseModel]] = {"array": ArraySpec}

DesignSpec = Union[ArraySpec, BaseModel]  # noqa: UP007 - a registered template model


def register_template(name: str, model: type[BaseModel]) -> None:
    _TEMPLATES[name] = model


def _templates() -> dict[str, type[BaseModel]]:
    # import for side effect: templates defined in other modules register themselves
    import bnnarch.spec.dataflow  # noqa: F401

    return _TEMPLATES


def pydantic_errors(e: ValidationError, lines: dict[str, int]) -> list[FieldError]:
    out = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and err["type"] not in ("missing",):
            msg = f"{msg} (got {err['input']!r})"
        out.append(FieldError(path, msg, line_of(lines, path)))
    return out


def validate_data(data: Any, lines: dict[str, int], source: str) -> BaseModel:
    if not isinstance(data, dict):
        raise SpecError(source, [FieldError("", "a design spec must be a YAML mapping")])
    templates = _templates()
    tname = data.get("template", "array")
    if not isinstance(tname, str) or tname not in templates:
        raise SpecError(source, [FieldError(
            "template", f"unknown template {tname!r} (known: {', '.join(sorted(templates))})",
            line_of(lines, "template"))])
    model = templates[tname]
    try:
        spec = model.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, pydantic_errors(e, lines)) from None
    errs = [FieldError(fe.path, fe.message, line_of(lines, fe.path)) for fe in spec.cross_check()]  # type: ignore[attr-defined]
    if errs:
        raise SpecError(source, errs)
    return spec


def load_design(path: str | Path) -> Any:
    """YAML file -> validated, frozen design spec (ArraySpec, DataflowSpec, ...)."""
    data, lines = load_yaml_with_lines(path)
    return validate_data(data, lines, str(path))


def parse_design(text: str, source: str = "<string>") -> Any:
    data, lines = parse_yaml_with_lines(text, source)
    return validate_data(data, lines, source)


def design_from_dict(data: dict[str, Any], source: str = "<dict>") -> Any:
    return validate_data(data, {}, source)


def dump_design(spec: BaseModel, path: str | Path) -> Path:
    """Write a spec as YAML that load_design() accepts as is (atomic write)."""
    body = spec.model_dump(mode="json", exclude_none=True)
    return atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))
