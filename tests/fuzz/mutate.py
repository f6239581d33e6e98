"""Hypothesis strategies that break a valid input in the ways users (and
disks) do: a wrong type at any path, extreme numbers, NaN/inf, deleted and
unknown keys, unicode, huge lists; and, on the serialised text, binary
bytes, YAML tags, anchors/aliases and truncation."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import strategies as st

Path_ = tuple[Any, ...]

EXTREME_INTS = [0, -1, 1, 3, 7, 2**31, 2**63, -(2**63), 10**30, 10**9]
EXTREME_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 0.5, -1.5, 1e-9, 1e18]
ODD_STRINGS = ["", "\x00", "é" * 100, "x" * 5000, "../../etc/passwd", "🙂", "\u202e", "1e999",
               "null", "true", "0x10", " "]

weird_values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EXTREME_INTS),
    st.integers(-(10**6), 10**6),
    st.sampled_from(EXTREME_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(ODD_STRINGS),
    st.lists(st.integers(-5, 5), max_size=4),
    st.sampled_from([[], {}, [0] * 20_000, list(range(5000)), {"a": 1}, [[1, 2], [3]]]),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=3),
).map(copy.deepcopy)  # sampled containers are shared: later mutations must not change them


def all_paths(tree: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path below the root (dict keys and list indices)."""
    out: list[Path_] = []
    if isinstance(tree, dict):
        items: list[tuple[Any, Any]] = list(tree.items())
    elif isinstance(tree, list):
        items = list(enumerate(tree))
    else:
        return out
    for k, v in items:
        out.append((*prefix, k))
        out.extend(all_paths(v, (*prefix, k)))
    return out


def _parent(tree: Any, path: Path_) -> Any:
    for k in path[:-1]:
        tree = tree[k]
    return tree


def _get(tree: Any, path: Path_) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _numeric_variants(v: Any) -> list[Any]:
    if not _is_number(v):
        return [v]
    half = v // 2 if isinstance(v, int) else v / 2
    return [0, -v, v + 1, v - 1, 2 * v, half, 4 * v, v * 1000, v * 10**12, v / 3, str(v),
            float(v), math.nan, math.inf, 5e-324, v * 1e-300, v * 1e300]


@st.composite
def mutated(draw: st.DrawFn, tree: Any, max_ops: int = 2) -> Any:
    """A deep copy of ``tree`` with 1..max_ops structural mutations."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, max_ops))):
        paths = all_paths(tree)
        if not paths:
            return draw(weird_values)
        op = draw(st.sampled_from(["replace", "replace", "numeric", "numeric", "numeric",
                                   "delete", "add_key", "wrap", "duplicate"]))
        if op == "numeric":  # keep most cases valid enough to reach the simulator
            paths = [p for p in paths if _is_number(_get(tree, p))] or paths
        path = draw(st.sampled_from(paths))
        parent, key = _parent(tree, path), path[-1]
        if op == "replace":
            parent[key] = draw(weird_values)
        elif op == "numeric":
            parent[key] = draw(st.sampled_from(_numeric_variants(parent[key])))
        elif op == "delete":
            del parent[key]
        elif op == "add_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "", "rows", "name", "é", "layers"]))
                   + draw(st.sampled_from(["", "_x"]))] = draw(weird_values)
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif op == "duplicate" and isinstance(parent, list):
            parent.extend([parent[key]] * draw(st.sampled_from([1, 2, 50])))
    return tree


TAGS = ["!!binary ", "!!set ", "!!timestamp ", "!!python/name:os.system ", "!!float ", "!!str ",
        "!!int ", "!!map ", "!!seq ", "!custom ", "!!null "]


@st.composite
def text_mutated(draw: st.DrawFn, text: str, *, yaml_text: bool) -> bytes:
    """The serialised document, possibly changed as text/bytes."""
    # half the documents stay as serialised, so that most cases reach validation
    text_ops = ["bytes", "truncate", "tag", "alias", "bom", "latin1", "dupkey"] if yaml_text \
        else ["bytes", "truncate", "bom", "latin1"]
    op = draw(st.sampled_from(["none"] * len(text_ops) + text_ops))
    data = text.encode("utf-8")
    lines = text.splitlines(keepends=True)
    if op == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif op == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif op == "bom":
        data = b"\xef\xbb\xbf" + data
    elif op == "latin1":
        data = text.replace("a", "\xe9", 1).encode("latin-1", errors="replace")
    elif op in ("tag", "alias", "dupkey") and lines:
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        head, sep, tail = line.partition(": ")
        if sep and tail.strip() and not tail.lstrip().startswith("#"):
            if op == "tag":
                lines[i] = head + sep + draw(st.sampled_from(TAGS)) + tail
            elif op == "alias":
                # anchor this value, use it at another key at the same indentation
                lines[i] = head + sep + "&fz " + tail
                j = draw(st.integers(0, len(lines) - 1))
                h2, s2, t2 = lines[j].partition(": ")
                if j > i and s2 and t2.strip():
                    lines[j] = h2 + s2 + "*fz\n"
            else:
                lines.insert(i + 1, line)
        data = "".join(lines).encode("utf-8")
    return data
