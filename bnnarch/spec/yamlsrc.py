"""YAML loading that remembers the line of every key, so that validation
errors can point at ``path (line N)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bnnarch.errors import FieldError, SpecError
from bnnarch.fsio import read_text, spec_error

# A document whose aliases expand to more nodes than this is refused before
# it is walked (a "billion laughs" document would otherwise hang validation).
# The largest shipped spec has a few hundred nodes.
MAX_YAML_NODES = 100_000


# libyaml's safe loader when PyYAML was built with it (its wheels are): the
# same documents, ~10x faster than the pure-Python one.
_LineLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class _RecursiveAlias(Exception):
    pass


def _expanded_nodes(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Nodes in the tree ``node`` expands to (aliases counted every time they
    are used); ValueError for a recursive alias."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _RecursiveAlias("a YAML alias refers to itself (recursive anchor)")
    active.add(key)
    n = 1
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            n += _expanded_nodes(knode, memo, active) + _expanded_nodes(vnode, memo, active)
            if n > MAX_YAML_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for vnode in node.value:
            n += _expanded_nodes(vnode, memo, active)
            if n > MAX_YAML_NODES:
                break
    active.discard(key)
    memo[key] = n
    return n


def parse_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        if node is not None:
            size = _expanded_nodes(node, {}, set())
            if size > MAX_YAML_NODES:
                raise SpecError(source, [FieldError("", f"the YAML document expands to more "
                                                    f"than {MAX_YAML_NODES:,} nodes (anchors "
                                                    "and aliases?)")])
        data = yaml.load(text, Loader=_LineLoader)
        lines: dict[str, int] = {}
        if node is not None:
            _flatten_lines(node, "", lines)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(source, [FieldError("", f"not valid YAML: {problem}", line)]) from None
    except _RecursiveAlias as e:
        raise SpecError(source, [FieldError("", f"not valid YAML: {e}")]) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as e:
        # PyYAML's constructors fail this way on some tagged scalars (!!timestamp x)
        raise SpecError(source, [FieldError("", "not valid YAML: a tagged value cannot be "
                                            f"built ({type(e).__name__}: {e})")]) from None
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
