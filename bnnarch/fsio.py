"""The file front door: every file bnnarch reads goes through ``read_bytes`` /
``read_text`` / ``read_json`` and every file it writes appears whole or not
at all (``atomic_write``: written to a temporary file beside it, then renamed
over the target). Output paths are checked with ``check_writable`` before any
work starts.

Every problem is a BnnarchError whose message starts with the file's path:
missing, a directory, unreadable, too large, not UTF-8, not valid JSON.
Callers pick the error class through ``error`` (a design reports a SpecError,
a workload a WorkloadError, ...); the default is InputError.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bnnarch.errors import BnnarchError, FieldError, InputError, SpecError

# The largest input read as text. The largest shipped workload JSON is ~0.2 MB;
# a workload with packed weights of a ResNet-18-sized BNN is a few MB. 64 MiB
# leaves room for bigger models while refusing a trace or a disk image given
# by mistake before it is read into memory.
MAX_TEXT_BYTES = 64 * 2**20
# Checkpoints hold float state_dicts: the shipped ones are 0.3-1.7 MB; a
# published-size ResNet-34 in float32 is ~90 MB.
MAX_CHECKPOINT_BYTES = 1024 * 2**20

ErrorFactory = Callable[[str, str], BnnarchError]


def input_error(path: str, message: str) -> BnnarchError:
    """Default error: ``<path>: <message>``."""
    return InputError(f"{path}: {message}")


def prefixed(cls: type[BnnarchError]) -> ErrorFactory:
    """An error factory raising ``cls("<path>: <message>")``."""
    return lambda path, message: cls(f"{path}: {message}")


def spec_error(path: str, message: str) -> BnnarchError:
    """For YAML specs (designs, studies, precision maps): a SpecError of one root error."""
    return SpecError(path, [FieldError("", message)])


def _a(what: str) -> str:
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"


def _open_error(e: OSError, what: str) -> str:
    if e.errno == errno.ENOENT:
        return f"no such {what} file"
    if e.errno == errno.EISDIR:
        return f"is a directory, not {_a(what)} file"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read the {what} file: permission denied"
    return f"cannot read the {what} file: {e.strerror or e}"


def read_bytes(path: str | Path, what: str = "input", *, limit_bytes: int = MAX_TEXT_BYTES,
               error: ErrorFactory = input_error) -> bytes:
    """The bytes of a regular file of at most ``limit_bytes``; any problem
    (missing, a directory, unreadable, too large) raises ``error(path, msg)``."""
    p = str(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            raise error(p, f"is not a regular file ({_a(what)} file was expected)")
        if st.st_size > limit_bytes:
            raise error(p, _too_large(st.st_size, limit_bytes, what))
        with open(path, "rb") as fh:  # tests replace ``open`` here
            data = fh.read(limit_bytes + 1)
    except OSError as e:
        raise error(p, _open_error(e, what)) from None
    if len(data) > limit_bytes:  # a pipe or device that reports no size
        raise error(p, _too_large(limit_bytes, limit_bytes, what, at_least=True))
    return data


def _too_large(size: int, limit: int, what: str, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return (f"the {what} file is {more}{size:,} bytes, above the {limit:,}-byte limit "
            f"for {what} files")


def decode_utf8(data: bytes, path: str, what: str = "input", *,
                error: ErrorFactory = input_error) -> str:
    """UTF-8 text (a leading BOM dropped), or ``error`` naming the line of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(path, f"the {what} file is not UTF-8 text (byte 0x{data[e.start]:02x} "
                          f"at line {line}, offset {e.start})") from None


def read_text(path: str | Path, what: str = "input", *, limit_bytes: int = MAX_TEXT_BYTES,
              error: ErrorFactory = input_error) -> str:
    """A UTF-8 text file through ``read_bytes`` (same checks, plus the encoding)."""
    data = read_bytes(path, what, limit_bytes=limit_bytes, error=error)
    return decode_utf8(data, str(path), what, error=error)


def read_json(path: str | Path, what: str = "input", *, limit_bytes: int = MAX_TEXT_BYTES,
              error: ErrorFactory = input_error) -> Any:
    """A JSON file through ``read_text``; a syntax error names its line and
    column. NaN/Infinity literals are refused (they are not JSON)."""
    text = read_text(path, what, limit_bytes=limit_bytes, error=error)

    def _no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise error(str(path), f"not valid JSON (line {e.lineno}, column {e.colno}: "
                               f"{e.msg})") from None
    except ValueError as e:
        raise error(str(path), f"not valid JSON ({e})") from None
    except RecursionError:
        raise error(str(path), "not valid JSON (nested too deeply)") from None


# A YAML document whose aliases expand to more nodes than this is refused
# before it is walked (a "billion laughs" document would otherwise hang
# validation). The largest shipped spec has a few hundred nodes.
MAX_YAML_NODES = 100_000
# libyaml's safe loader when PyYAML was built with it (its wheels are): the
# same documents, ~10x faster than the pure-Python one.
_LineLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RecursiveAlias(Exception):
    pass


def _expanded_nodes(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Nodes in the tree ``node`` expands to (aliases counted every time they
    are used, counting stops past MAX_YAML_NODES); _RecursiveAlias for a
    recursive alias."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _RecursiveAlias("a YAML alias refers to itself (recursive anchor)")
    active.add(key)
    n = 1
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        for item in node.value:
            for child in item if isinstance(item, tuple) else (item,):
                n += _expanded_nodes(child, memo, active)
            if n > MAX_YAML_NODES:
                break
    active.discard(key)
    memo[key] = n
    return n


def parse_yaml(text: str, source: str, *, error: ErrorFactory = spec_error
               ) -> tuple[Any, yaml.Node | None]:
    """(data, composed node) of a YAML document with PyYAML's safe loader;
    bad syntax, unknown tags, values a tag cannot build, alias bombs and
    deep nesting raise ``error(source, msg)`` (with the line where known)."""
    def fail(msg: str, line: int | None = None) -> BnnarchError:
        if error is spec_error:
            return SpecError(source, [FieldError("", msg, line)])
        return error(source, msg + (f" (line {line})" if line is not None else ""))

    try:
        node = yaml.compose(text, Loader=_LineLoader)
        if node is not None and _expanded_nodes(node, {}, set()) > MAX_YAML_NODES:
            raise fail(f"the YAML document expands to more than {MAX_YAML_NODES:,} nodes "
                       "(anchors and aliases?)")
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise fail(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except _RecursiveAlias as e:
        raise fail(f"not valid YAML: {e}") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as e:
        # PyYAML's constructors fail this way on some tagged scalars (!!timestamp x)
        raise fail("not valid YAML: a tagged value cannot be built "
                   f"({type(e).__name__}: {e})") from None
    except RecursionError:
        raise fail("not valid YAML: nested too deeply") from None
    return data, node


def read_yaml(path: str | Path, what: str = "input", *, error: ErrorFactory = spec_error) -> Any:
    """A YAML file through ``read_text`` and ``parse_yaml``."""
    return parse_yaml(read_text(path, what, error=error), str(path), error=error)[0]


def check_writable(path: str | Path, what: str = "output", *, directory: bool = False) -> Path:
    """Fail early (before any work) when ``path`` cannot be written: it is a
    directory (or, for an output ``directory``, a file), or its nearest
    existing ancestor is not a writable directory. Creates nothing."""
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise InputError(f"cannot write {what} {path}: it exists and is not a directory")
    elif path.is_dir():
        raise InputError(f"cannot write {what} {path}: it is a directory")
    elif path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {what} {path}: permission denied")
    anc = path if directory and path.is_dir() else path.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise InputError(f"cannot write {what} {path}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {what} {path}: {anc} is not writable")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path next to
    ``path`` (parents created), then rename it over ``path``. On failure the
    temporary file is removed and an OSError becomes a BnnarchError naming
    the file."""
    path = check_writable(path, "file")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(path)
    except OSError as e:
        _remove(tmp)
        raise BnnarchError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # the parent is not a directory: nothing was written
        pass


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
