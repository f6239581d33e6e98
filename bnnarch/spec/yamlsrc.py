"""YAML loading that remembers the line of every key, so that validation
errors can point at ``path (line N)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bnnarch.errors import FieldError, SpecError


class _LineLoader(yaml.SafeLoader):
    pass


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


def load_yaml_with_lines(path: str | Path) -> tuple[Any, dict[str, int]]:
    """Return (data, {dotted.path: line}). Raises SpecError on unreadable YAML."""
    path = Path(path)
    if not path.exists():
        raise SpecError(str(path), [FieldError("", "no such file")])
    text = path.read_text()
    return parse_yaml_with_lines(text, str(path))


def parse_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SpecError(source, [FieldError("", f"not valid YAML: {getattr(e, 'problem', e)}", line)]) from None
    lines: dict[str, int] = {}
    if node is not None:
        _flatten_lines(node, "", lines)
    return data, lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """Line of ``path`` or of its nearest ancestor present in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None
