"""SCALE-Sim topology CSV import/export, and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import validation_checks as vc

from bnnarch.cli import main
from bnnarch.errors import WorkloadError
from bnnarch.workload.io import load_workload
from bnnarch.workload.scalesim import (
    COLUMNS,
    graph_to_rows,
    layer_to_row,
    load_topology_csv,
    parse_topology_csv,
    rows_to_csv,
    to_topology_csv,
)

HEADER = ", ".join(COLUMNS) + ",\n"


def test_roundtrip_resnet18_keeps_gemms(root: Path) -> None:
    c = vc.check_csv_roundtrip()
    assert c.passed
    g = load_workload(root / "workloads/resnet18.json")
    back = parse_topology_csv(to_topology_csv(g), "r18.csv")
    assert [x.gemm() for x in back] == [x.with_bits(1, 1).gemm() for x in g.compute_layers()]
    assert all(x.padding == (0, 0) and x.op == "conv2d" for x in back)


def test_import_shapes_bits_and_chain(tmp_path: Path) -> None:
    p = tmp_path / "net.csv"
    p.write_text(HEADER + "Conv1, 230, 230, 7, 7, 3, 64, 2,\nConv2, 58, 58, 3, 3, 64, 64, 1,\n")
    g = load_topology_csv(p)
    assert g.name == "net" and g.input_shape == (3, 231, 231)
    c1, c2 = g.layers
    # SCALE-Sim: ceil((230 - 7 + 2) / 2) = 113 output rows; the IFMAP is
    # extended to (113 - 1) * 2 + 7 = 231 so that our padding-0 conv gives 113 too.
    assert c1.out_shape == (64, 113, 113) and c1.in_shape == (3, 231, 231)
    assert dict(g.meta)["ifmap_extended_to_scalesim_ceil"] == "Conv1:230x230->231x231"
    assert c2.inputs == ("Conv1",) and c2.out_shape == (64, 56, 56)
    assert (c1.w_bits, c1.a_bits) == (1, 1)
    g4 = load_topology_csv(p, bits=(4, 2))
    assert (g4.layers[0].w_bits, g4.layers[0].a_bits) == (4, 2)


def test_import_without_header_and_sparsity_column() -> None:
    g = parse_topology_csv("a, 8, 8, 3, 3, 4, 5, 1, 1:1,\n")
    assert g.layers[0].out_shape == (5, 6, 6)


def test_depthwise_rows_become_grouped_convs() -> None:
    g = parse_topology_csv(HEADER + "DP1, 10, 10, 3, 3, 8, 1, 1,\n")
    layer = g.layers[0]
    assert layer.groups == 8 and layer.macs == 8 * 8 * 8 * 9


def test_export_trims_padding_to_what_windows_read() -> None:
    row = layer_to_row(vc.conv("s2", 64, 56, 128, 3, 2, 1))
    assert (row.ifmap_h, row.ofmap_h) == (57, 28)
    assert rows_to_csv([row]).splitlines()[1].endswith(",")


@pytest.mark.parametrize("text,match", [
    ("", "no layer rows"),
    (HEADER + "c1, 8, 8, 3, 3, 4,\n", r"line 2: 6 field\(s\), expected 8 .*missing Num Filter, Strides"),
    (HEADER + "c1, 8, x, 3, 3, 4, 5, 1,\n",
     r"line 2 \(c1\): column 'IFMAP Width' must be a positive integer, got 'x'"),
    (HEADER + "c1, 8, 8, 3, 3, 0, 5, 1,\n", r"column 'Channels' must be a positive integer, got 0"),
    (HEADER + "c1, 2, 8, 3, 3, 4, 5, 1,\n", r"column 'Filter Height' \(3\) exceeds 'IFMAP Height' \(2\)"),
    (HEADER + ", 8, 8, 3, 3, 4, 5, 1,\n", r"line 2: column 'Layer name' is empty"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 5, 1,\nc1, 8, 8, 3, 3, 4, 5, 1,\n",
     r"line 3: column 'Layer name': 'c1' already used on line 2"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 5, 1, 2:4,\n", r"column 9 \(sparsity ratio\) is '2:4'"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 5, 1, 1:1, 7, 9,\n", r"11 fields, expected 8"),
    (HEADER + "input, 8, 8, 3, 3, 4, 5, 1,\n", r"'input' is reserved"),
])
def test_malformed_csv_errors(text: str, match: str) -> None:
    with pytest.raises(WorkloadError, match=match):
        parse_topology_csv(text, "bad.csv")


def test_bad_bits() -> None:
    with pytest.raises(WorkloadError, match="bits must be"):
        parse_topology_csv(HEADER + "c1, 8, 8, 3, 3, 4, 5, 1,\n", bits=(3, 1))


def test_export_rejects_what_scalesim_cannot_express() -> None:
    from dataclasses import replace

    grouped = replace(vc.conv("g", 8, 8, 8, 3), groups=2)
    with pytest.raises(WorkloadError, match="layer 'g': SCALE-Sim cannot express groups=2"):
        layer_to_row(grouped)
    assert graph_to_rows.__doc__


def test_cli_simulates_a_topology_csv(tmp_path: Path, root: Path, capsys) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "c1, 10, 10, 3, 3, 4, 12, 1,\n")
    assert main(["simulate", str(root / "designs/xnor32.yaml"), "--workload", str(p), "-q"]) == 0
    assert "total cycles" in capsys.readouterr().out


def test_cli_reports_a_bad_csv(tmp_path: Path, root: Path, capsys) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "c1, 10, 10, 3, 3, 4, 12,\n")
    assert main(["simulate", str(root / "designs/xnor32.yaml"), "--workload", str(p)]) != 0
    assert "t.csv: line 2: 7 field(s)" in capsys.readouterr().err


@pytest.mark.parametrize("bits,expect", [
    ("2/2", None), ("x", "--bits must look like W/A"), ("3/1", "t.csv: bits must be"),
])
def test_cli_bits_option(tmp_path: Path, root: Path, capsys, bits: str,
                         expect: str | None) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "c1, 10, 10, 3, 3, 64, 64, 1,\n")
    code = main(["simulate", str(root / "designs/xnor32.yaml"), "--workload", str(p), "--bits",
                 bits, "-q", "--json", str(tmp_path / "r.json")] if expect is None else
                ["simulate", str(root / "designs/xnor32.yaml"), "--workload", str(p), "--bits",
                 bits])
    if expect is None:
        import json

        assert code == 0
        layer = json.loads((tmp_path / "r.json").read_text())["layers"][0]
        assert (layer["w_bits"], layer["a_bits"]) == (2, 2)
    else:
        assert code != 0 and expect in capsys.readouterr().err


def test_cli_bits_rejects_json_workload(root: Path, capsys) -> None:
    assert main(["simulate", str(root / "designs/xnor32.yaml"), "--workload",
                 str(root / "workloads/cnv.json"), "--bits", "1/1"]) != 0
    assert "--bits applies to a SCALE-Sim topology CSV" in capsys.readouterr().err
