"""SCALE-Sim topology CSV <-> WorkloadGraph.

SCALE-Sim (Samajdar et al., "A Systematic Methodology for Characterizing
Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020; version 3.0.0
on PyPI) describes a network as a CSV, one conv layer per row::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    Conv1, 229, 229, 7, 7, 3, 64, 2,

Conventions of its reader (scalesim/topology_utils.py, 3.0.0), reproduced here:

* the first line is a header and is skipped; every row ends with a trailing
  comma (the last field is dropped); an optional 9th field is an N:M
  sparsity ratio (only ``1:1``, i.e. dense, is accepted here);
* there is no padding: the IFMAP is given already padded;
* one stride for both directions; output size ``ceil((H - Fh + S) / S)``
  (which counts a window overhanging the IFMAP when ``(H - Fh) % S != 0``);
* a layer whose name contains ``DP`` is depthwise: SCALE-Sim runs it as
  ``Channels`` layers of one channel each.

Import (``load_topology_csv``): each row becomes a ``conv2d`` with padding 0,
chained in file order (each row's input is the previous row; SCALE-Sim rows
carry independent shapes, pooling between them is not in the file, so no
shape continuity is required). To count exactly the output pixels SCALE-Sim
counts, an IFMAP whose ``(H - Fh) % S != 0`` is extended to
``(Ho - 1) * S + Fh`` rows/cols (the extent SCALE-Sim's windows touch); the
rows adjusted are recorded in ``meta``. ``DP`` rows become grouped convs
(groups = Channels, Num Filter filters per channel: SCALE-Sim's MAC count).
Bit-widths default to 1/1 (weights/activations): the file has none, and 1/1
is what an XNOR-popcount array with ``simd_bits: 1`` runs as one MAC per PE
per cycle, i.e. SCALE-Sim's own PE model. Pass ``bits`` for another default.

Export (``to_topology_csv``): conv2d layers (and linear layers, as a 1x1 conv
on a 1x1 IFMAP) with their padding applied, IFMAP = ``(Ho - 1) * S + Fh``
(the padded rows/cols actually read, so SCALE-Sim's ceil gives our Ho).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from bnnarch.errors import WorkloadError
from bnnarch.fsio import atomic_write_text, prefixed, read_text
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, QUANT_BITS, Layer

COLUMNS: tuple[str, ...] = (
    "Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
    "Num Filter", "Strides",
)
DEFAULT_BITS: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class TopologyRow:
    """One SCALE-Sim conv row (IFMAP already padded)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int

    @property
    def ofmap_h(self) -> int:
        """SCALE-Sim 3.0.0 topology_utils: ceil((H - Fh + S) / S)."""
        return -(-(self.ifmap_h - self.filter_h + self.stride) // self.stride)

    @property
    def ofmap_w(self) -> int:
        return -(-(self.ifmap_w - self.filter_w + self.stride) // self.stride)

    def gemm(self) -> tuple[int, int, int]:
        """(M output pixels, N filters, K = Fh * Fw * C) as SCALE-Sim maps it."""
        return (self.ofmap_h * self.ofmap_w, self.filters,
                self.filter_h * self.filter_w * self.channels)

    def csv_fields(self) -> list[str]:
        return [self.name, str(self.ifmap_h), str(self.ifmap_w), str(self.filter_h),
                str(self.filter_w), str(self.channels), str(self.filters), str(self.stride)]


# ---- import --------------------------------------------------------------------

def _check_bits(bits: tuple[int, int]) -> tuple[int, int]:
    allowed = set(QUANT_BITS) | {FP_BITS}
    if len(bits) != 2 or any(b not in allowed for b in bits):
        raise WorkloadError(
            f"bits must be (w_bits, a_bits), each one of 1, 2, 4, 8, 32; got {bits!r}")
    return (int(bits[0]), int(bits[1]))


def _is_header(fields: list[str]) -> bool:
    return len(fields) > 1 and not fields[1].strip().lstrip("-").isdigit()


def _csv_rows(text: str, source: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        return list(reader)
    except csv.Error as e:  # e.g. a bare carriage return inside a field
        raise WorkloadError(f"{source}: line {reader.line_num}: not a CSV row ({e})") from None


def _check_field_count(fields: list[str], where: str) -> None:
    if len(fields) < len(COLUMNS):
        missing = ", ".join(COLUMNS[len(fields):])
        raise WorkloadError(
            f"{where}: {len(fields)} field(s), expected {len(COLUMNS)} ({', '.join(COLUMNS)}); "
            f"missing {missing}")
    if len(fields) > len(COLUMNS) + 1:
        raise WorkloadError(
            f"{where}: {len(fields)} fields, expected {len(COLUMNS)} (+ an optional N:M "
            "sparsity ratio)")
    if len(fields) == len(COLUMNS) + 1 and fields[-1].replace(" ", "") not in ("1:1", ""):
        raise WorkloadError(
            f"{where}: column 9 (sparsity ratio) is {fields[-1]!r}; bnnarch models dense "
            "layers only (use 1:1 or leave it out)")


def _check_name(name: str, where: str, seen: dict[str, int]) -> None:
    if not name:
        raise WorkloadError(f"{where}: column 'Layer name' is empty")
    if name == INPUT:
        raise WorkloadError(f"{where}: column 'Layer name': {INPUT!r} is reserved")
    if name in seen:
        raise WorkloadError(
            f"{where}: column 'Layer name': {name!r} already used on line {seen[name]}")


def _row_values(fields: list[str], where: str, name: str) -> list[int]:
    vals: list[int] = []
    for col, f in zip(COLUMNS[1:], fields[1:len(COLUMNS)], strict=True):
        try:
            v = int(f)
        except ValueError:
            raise WorkloadError(
                f"{where} ({name}): column {col!r} must be a positive integer, got {f!r}"
            ) from None
        if v <= 0:
            raise WorkloadError(
                f"{where} ({name}): column {col!r} must be a positive integer, got {v}")
        vals.append(v)
    return vals


def _check_filter_fits(row: TopologyRow, where: str) -> None:
    for f_col, i_col, fv, iv in (("Filter Height", "IFMAP Height", row.filter_h, row.ifmap_h),
                                 ("Filter Width", "IFMAP Width", row.filter_w, row.ifmap_w)):
        if fv > iv:
            raise WorkloadError(
                f"{where} ({row.name}): column {f_col!r} ({fv}) exceeds {i_col!r} ({iv}); "
                "SCALE-Sim has no padding: give the padded IFMAP")


def parse_topology_rows(text: str, source: str = "<csv>") -> list[TopologyRow]:
    """Rows of a SCALE-Sim conv topology CSV, checked; every problem names the
    line and column. A header line is expected first (as SCALE-Sim skips it);
    a file without one is accepted too."""
    rows: list[TopologyRow] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(_csv_rows(text, source), start=1):
        fields = [f.strip() for f in raw]
        if not any(fields) or (lineno == 1 and _is_header(fields)):
            continue
        while fields and fields[-1] == "":  # the trailing comma SCALE-Sim requires
            fields.pop()
        where = f"{source}: line {lineno}"
        _check_field_count(fields, where)
        name = fields[0]
        _check_name(name, where, seen)
        seen[name] = lineno
        row = TopologyRow(name, *_row_values(fields, where, name))
        _check_filter_fits(row, where)
        rows.append(row)
    if not rows:
        raise WorkloadError(f"{source}: no layer rows (expected a header line, then one conv "
                            f"layer per line: {', '.join(COLUMNS)},)")
    return rows


def rows_to_graph(rows: list[TopologyRow], name: str,
                  bits: tuple[int, int] = DEFAULT_BITS) -> WorkloadGraph:
    """Chain SCALE-Sim rows into a WorkloadGraph of padding-0 conv2d layers
    (see the module docstring for the IFMAP extension and DP rows)."""
    w_bits, a_bits = _check_bits(bits)
    layers: list[Layer] = []
    adjusted: list[str] = []
    prev = INPUT
    for r in rows:
        ho, wo = r.ofmap_h, r.ofmap_w
        h = (ho - 1) * r.stride + r.filter_h
        w = (wo - 1) * r.stride + r.filter_w
        if (h, w) != (r.ifmap_h, r.ifmap_w):
            adjusted.append(f"{r.name}:{r.ifmap_h}x{r.ifmap_w}->{h}x{w}")
        depthwise = "DP" in r.name
        groups = r.channels if depthwise else 1
        cout = r.channels * r.filters if depthwise else r.filters
        layers.append(Layer(
            name=r.name, op="conv2d", inputs=(prev,), in_shape=(r.channels, h, w),
            out_shape=(cout, ho, wo), kernel=(r.filter_h, r.filter_w),
            stride=(r.stride, r.stride), padding=(0, 0), groups=groups,
            w_bits=w_bits, a_bits=a_bits,
        ))
        prev = r.name
    first = layers[0].in_shape
    meta = [("source", "SCALE-Sim topology CSV"), ("bits", f"{w_bits}/{a_bits}")]
    if adjusted:
        meta.append(("ifmap_extended_to_scalesim_ceil", "; ".join(adjusted)))
    return WorkloadGraph(name, first, tuple(layers), tuple(sorted(meta)))


def parse_topology_csv(text: str, source: str = "<csv>", name: str | None = None,
                       bits: tuple[int, int] = DEFAULT_BITS) -> WorkloadGraph:
    rows = parse_topology_rows(text, source)
    try:
        return rows_to_graph(rows, name or Path(source).stem, bits)
    except WorkloadError as e:
        raise WorkloadError(f"{source}: {e}") from None


def load_topology_csv(path: str | Path, bits: tuple[int, int] = DEFAULT_BITS) -> WorkloadGraph:
    """Read a SCALE-Sim conv topology CSV as a workload (default bits 1/1)."""
    path = Path(path)
    text = read_text(path, "topology CSV", error=prefixed(WorkloadError))
    return parse_topology_csv(text, str(path), path.stem, bits)


# ---- export --------------------------------------------------------------------

def _export_name(name: str) -> str:
    """SCALE-Sim splits rows on commas and treats names containing ``DP`` as
    depthwise: keep neither in exported names."""
    return name.replace(",", "_").replace("DP", "Dp")


def layer_to_row(layer: Layer) -> TopologyRow:
    """The SCALE-Sim row of one compute layer (padding applied, IFMAP trimmed to
    the rows/cols the windows read). Raises WorkloadError for layers SCALE-Sim
    cannot express (grouped, dilated, transposed, non-square stride)."""
    if layer.op == "linear":
        cin = layer.in_shape[0] * layer.in_shape[1] * layer.in_shape[2]
        return TopologyRow(_export_name(layer.name), 1, 1, 1, 1, cin, layer.out_shape[0], 1)
    if layer.op != "conv2d":
        raise WorkloadError(f"layer {layer.name!r}: SCALE-Sim has no {layer.op} layer")
    why = []
    if layer.groups != 1:
        why.append(f"groups={layer.groups}")
    if layer.dilation != (1, 1):
        why.append(f"dilation={list(layer.dilation)}")
    if layer.stride[0] != layer.stride[1]:
        why.append(f"stride={list(layer.stride)} (one stride for both directions)")
    if why:
        raise WorkloadError(f"layer {layer.name!r}: SCALE-Sim cannot express {', '.join(why)}")
    _, ho, wo = layer.out_shape
    kh, kw = layer.kernel
    s = layer.stride[0]
    return TopologyRow(_export_name(layer.name), (ho - 1) * s + kh, (wo - 1) * s + kw, kh, kw,
                       layer.in_shape[0], layer.out_shape[0], s)


def graph_to_rows(graph: WorkloadGraph, *, skip_unsupported: bool = False) -> list[TopologyRow]:
    """Rows for every compute layer; post-processing layers have no row."""
    rows = []
    for layer in graph.compute_layers():
        try:
            rows.append(layer_to_row(layer))
        except WorkloadError:
            if not skip_unsupported:
                raise
    return rows


def rows_to_csv(rows: list[TopologyRow]) -> str:
    """SCALE-Sim's format: header, then one row per layer, trailing commas."""
    out = [", ".join(COLUMNS) + ","]
    out += [", ".join(r.csv_fields()) + "," for r in rows]
    return "\n".join(out) + "\n"


def to_topology_csv(graph: WorkloadGraph, *, skip_unsupported: bool = False) -> str:
    return rows_to_csv(graph_to_rows(graph, skip_unsupported=skip_unsupported))


def save_topology_csv(graph: WorkloadGraph, path: str | Path, *,
                      skip_unsupported: bool = False) -> Path:
    return atomic_write_text(path, to_topology_csv(graph, skip_unsupported=skip_unsupported))


__all__ = [
    "COLUMNS", "DEFAULT_BITS", "TopologyRow", "graph_to_rows", "layer_to_row",
    "load_topology_csv", "parse_topology_csv", "parse_topology_rows", "rows_to_csv",
    "rows_to_graph", "save_topology_csv", "to_topology_csv",
]
