"""YAML loading that remembers the line of every key, so that validation
errors can point at ``path (line N)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bnnarch.errors import FieldError, SpecError
from bnnarch.fsio import parse_yaml, read_text, spec_error


def _flatten_lines(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = f"{prefix}.{knode.value}" if prefix else str(knode.value)
            out[key] = knode.start_mark.line + 1
            _flatten_lines(vnode, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, vnode in enumerate(node.value):
            key = f"{prefix}.{i}" if prefix else str(i)
            out[key] = vnode.start_mark.line + 1
            _flatten_lines(vnode, key, out)


def load_yaml_with_lines(path: str | Path, what: str = "design"
                         ) -> tuple[Any, dict[str, int]]:
    """Return (data, {dotted.path: line}). Raises SpecError naming the file on
    an unreadable file (``what`` names its kind in the message) or bad YAML."""
    text = read_text(path, what, error=spec_error)
    return parse_yaml_with_lines(text, str(path))


def parse_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """(data, {dotted.path: line}) of a YAML document; every problem is a
    SpecError naming ``source`` (see bnnarch.fsio.parse_yaml)."""
    data, node = parse_yaml(text, source)
    lines: dict[str, int] = {}
    if node is not None:
        try:
            _flatten_lines(node, "", lines)
        except RecursionError:
            raise SpecError(source, [FieldError("", "not valid YAML: nested too deeply")]) from None
    return data, lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """Line of ``path`` or of its nearest ancestor present in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None
