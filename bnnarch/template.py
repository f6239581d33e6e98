"""Design templates as plug-ins, and the design front door.

A template is one kind of accelerator (``array``: a shared XNOR-popcount array
running layers one after another; ``dataflow``: a FINN-style layer pipeline).
Each is a package exposing a ``TEMPLATE`` object that satisfies
:class:`Template`; the registry below names it by ``"module:attribute"`` and
imports it on first use, so a third template is one new package plus one line
in ``_BUILTIN`` (or a ``register_template`` call from user code). Nothing
outside this module asks which template a design is.

    spec = load_design("designs/xnor32.yaml")       # the template's frozen model
    result = simulate(spec, graph, precision)       # the template's simulator
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import yaml
from pydantic import BaseModel

from bnnarch.errors import FieldError, SpecError
from bnnarch.fsio import atomic_write_text
from bnnarch.spec.fields import DesignHeader
from bnnarch.spec.load import validate_model
from bnnarch.spec.yamlsrc import line_of, load_yaml_with_lines, parse_yaml_with_lines

if TYPE_CHECKING:
    from bnnarch.result import SimResult
    from bnnarch.workload.graph import WorkloadGraph
    from bnnarch.workload.io import PrecisionMap

DesignSpec = DesignHeader
"""A validated, frozen design: the pydantic model of its template."""


@dataclass(frozen=True)
class SimOptions:
    """How to simulate, not what: ``engine`` picks the array template's
    discrete-event SimPy model or its direct recurrence (equal results,
    tested; the recurrence is what searches use). Other templates ignore it."""

    engine: Literal["simpy", "recurrence"] = "simpy"
    array_logic_mm2: float | None = None
    """Synthesised logic area of a design whose ``area.source`` is ``yosys``
    (bnnarch.api.simulate provides it); None: the template's area model."""


class Template(Protocol):
    """What the rest of bnnarch needs from a template."""

    name: str
    spec_model: type[DesignHeader]
    verb: str
    """What ``validate --workload`` checks per layer: "map" or "fold"."""

    def simulate(self, spec: Any, graph: WorkloadGraph, precision: PrecisionMap | None, *,
                 options: SimOptions) -> SimResult:
        """The workload (with an optional precision map) on the design."""
        ...

    def workload_errors(self, spec: Any, graph: WorkloadGraph) -> list[FieldError]:
        """Design fields that conflict with this workload (dotted paths)."""
        ...

    def check_maps(self, spec: Any, graph: WorkloadGraph) -> list[str]:
        """One message per layer of the workload the design cannot run."""
        ...


_BUILTIN: dict[str, str] = {
    "array": "bnnarch.array.template:TEMPLATE",
    "dataflow": "bnnarch.dataflow.template:TEMPLATE",
}
_registry: dict[str, str | Template] = dict(_BUILTIN)
DEFAULT_TEMPLATE = "array"
"""The template of a design that names none."""


def register_template(name: str, template: str | Template) -> None:
    """Add (or replace) a template: an object or a ``"module:attribute"`` path."""
    _registry[name] = template


def template_names() -> tuple[str, ...]:
    return tuple(sorted(_registry))


def get_template(name: str) -> Template:
    entry = _registry.get(name)
    if entry is None:
        raise KeyError(name)
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(import_module(module), attr)
        _registry[name] = entry
    return entry


def template_named_by(data: dict[str, Any]) -> Template | None:
    """The registered template a raw design mapping names (None: unknown)."""
    tname = data.get("template", DEFAULT_TEMPLATE)
    return get_template(tname) if isinstance(tname, str) and tname in _registry else None


def template_of(spec: DesignHeader) -> Template:
    """The template a validated design belongs to."""
    return get_template(spec.template)


def validate_design(data: Any, lines: dict[str, int], source: str) -> DesignSpec:
    """Parsed YAML -> the frozen model of its template, or one SpecError with
    every field error (dotted path and line)."""
    if not isinstance(data, dict):
        raise SpecError(source, [FieldError("", "a design spec must be a YAML mapping")])
    tname = data.get("template", DEFAULT_TEMPLATE)
    if not isinstance(tname, str) or tname not in _registry:
        raise SpecError(source, [FieldError(
            "template", f"unknown template {tname!r} (known: {', '.join(template_names())})",
            line_of(lines, "template"))])
    return validate_model(get_template(tname).spec_model, data, lines, source)


def load_design(path: str | Path) -> DesignSpec:
    """YAML file -> validated, frozen design spec of its template."""
    data, lines = load_yaml_with_lines(path)
    return validate_design(data, lines, str(path))


def parse_design(text: str, source: str = "<string>") -> DesignSpec:
    data, lines = parse_yaml_with_lines(text, source)
    return validate_design(data, lines, source)


def design_from_dict(data: dict[str, Any], source: str = "<dict>") -> DesignSpec:
    return validate_design(data, {}, source)


def dump_design(spec: BaseModel, path: str | Path) -> Path:
    """Write a spec as YAML that load_design() accepts as is (atomic write)."""
    body = spec.model_dump(mode="json", exclude_none=True)
    return atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))


__all__ = [
    "DesignSpec", "SimOptions", "Template", "design_from_dict", "dump_design", "get_template",
    "load_design", "parse_design", "register_template", "template_named_by", "template_names",
    "template_of", "validate_design",
]
