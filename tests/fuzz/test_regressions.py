"""Inputs the fuzz harness (test_fuzz_inputs.py) found crashing or hanging,
shrunk by hypothesis and kept as explicit cases: each now ends in a message
naming the file and field, exit 2."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from bnnarch.cli import main
from bnnarch.dse import parse_study
from bnnarch.errors import SpecError, WorkloadError
from bnnarch.workload.io import graph_from_dict

ROOT = Path(__file__).resolve().parents[2]
GOOD_DESIGN = (ROOT / "designs" / "xnor32.yaml").read_text()
SFC = str(ROOT / "workloads" / "sfc.json")


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("old,new,message", [
    # OverflowError: cannot convert float infinity to integer (sim/engine.py dram_cycles)
    ("bandwidth_gbps: 25.6", "bandwidth_gbps: 5.0e-324",
     ("dram.bandwidth_gbps (line 18): Input should be greater than or equal to 0.001 "
     "(got 5e-324)")),
    # TypeError: unhashable type: 'list' (spec/load.validate_data)
    ("name: xnor32", "template: []\nname: xnor32",
     "template (line 2): unknown template [] (known: array, dataflow)"),
    # AttributeError from PyYAML's timestamp constructor
    ("name: xnor32", "name: !!timestamp xnor32",
     "not valid YAML: a tagged value cannot be built (AttributeError"),
])
def test_design_regressions(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD_DESIGN
    p = tmp_path / "d.yaml"
    p.write_text(GOOD_DESIGN.replace(old, new, 1))
    rc, text = _cli("simulate", str(p), "-w", SFC, "--json", str(tmp_path / "r.json"))
    assert rc == 2 and message in text, text
    assert "Traceback" not in text and not (tmp_path / "r.json").exists()


def _sfc_layer(**change: object) -> dict[str, object]:
    d: dict[str, object] = {"name": "fc0", "op": "linear", "inputs": ["input"],
                            "in_shape": [1, 28, 28], "out_shape": [256, 1, 1]}
    d.update(change)
    return {"format_version": 1, "name": "w", "layers": [d]}


@pytest.mark.parametrize("change,message", [
    # TypeError: unhashable type: 'list' (workload/graph.py, an input given as a list)
    ({"inputs": [["input"]]}, ("w.json: layers[0] (fc0): inputs must be a list of layer names, "
                              "got [['input']]")),
    ({"name": {"a": 1}}, "w.json: layers[0]: name must be a non-empty string, got {'a': 1}"),
    ({"groups": float("inf")}, "w.json: layers[0] (fc0): groups must be an integer, got inf"),
    ({"w_bits": True}, "w.json: layers[0] (fc0): w_bits must be an integer, got True"),
    # ZeroDivisionError in conv_out (a stride of 0)
    ({"op": "conv2d", "stride": 0, "out_shape": [8, 28, 28], "kernel": 3},
     "layer 'fc0': stride must be two integers in [1, 1,048,576], got [0, 0]"),
    ({"in_shape": [1, 2**21, 1], "out_shape": [256, 1, 1]},
     "in_shape [1, 2097152, 1]: a dimension above 1,048,576 is not a layer this simulator models"),
    ({"op": ["linear"]}, "unknown op ['linear'] (known: "),
])
def test_workload_regressions(change: dict[str, object], message: str) -> None:
    with pytest.raises(WorkloadError) as ei:
        graph_from_dict(_sfc_layer(**change), "w.json")
    assert message in str(ei.value)


@pytest.mark.parametrize("top,message", [
    # AttributeError: 'list' object has no attribute 'items' (meta given as a list)
    ({"meta": [{"source": "x"}]}, "w.json: meta must be an object, got list"),
    ({"name": ["cnv"]}, "w.json: name must be a string, got ['cnv']"),
    ({"input_shape": [1, float("inf"), 28]}, "w.json: input_shape must be [C, H, W]"),
    # ZeroDivisionError / "Negative delay -1" in the dataflow pipeline
    ({"input_shape": [1, 0, 28]}, "w.json: input_shape must be [C, H, W] of integers in "
                                  "[1, 1,048,576], got [1, 0, 28]"),
    ({"input_shape": [-1, 28, 28]}, "got [-1, 28, 28]"),
])
def test_workload_top_level_regressions(top: dict[str, object], message: str) -> None:
    d = _sfc_layer() | top
    with pytest.raises(WorkloadError) as ei:
        graph_from_dict(d, "w.json")
    assert message in str(ei.value)


def test_malformed_stats_name_the_exception() -> None:
    with pytest.raises(WorkloadError, match=r"w.json: layers\[0\] \(fc0\).stats: malformed "
                                            r"statistics \(AttributeError: "):
        graph_from_dict(_sfc_layer(stats=[1, 2]), "w.json")


STUDY = f"""\
name: s
design: {ROOT / 'designs' / 'edge16_ws.yaml'}
workload: {SFC}
evaluation: {{evaluator: proxy}}
objectives: [latency]
sampler: grid
"""


@pytest.mark.parametrize("hardware,path,message", [
    # hang: grid_values() built 10^30 points
    ("array.rows: {low: 1, high: 1000000000000000000000000000000}", "hardware",
     "the grid has more than 1,000,000 points (check the ranges and steps)"),
    # hang: a log range doubling from 5e-324 to inf never ends
    ("array.rows: {low: 5.0e-324, high: .inf, log: true}", "hardware.array.rows.high",
     "must be a finite number, got inf"),
    ("array.rows: {low: .nan, high: 8}", "hardware.array.rows.low", "must be a finite number"),
    ("array.rows: {low: 1, high: 8, step: 1.0e-300}", "hardware",
     "the grid has more than 1,000,000 points"),
])
def test_study_regressions(hardware: str, path: str, message: str) -> None:
    with pytest.raises(SpecError) as ei:
        parse_study(STUDY + f"hardware:\n  {hardware}\n", "s.yaml", sweep=True)
    assert any(fe.path == path and message in fe.message for fe in ei.value.errors), \
        ei.value.errors


@pytest.mark.parametrize("design,old,new,message", [
    # latency_s = inf written to the JSON as Infinity (not JSON)
    ("xnor32", "clock_mhz: 500", "clock_mhz: 5.0e-324",
     "clock_mhz (line 4): Input should be greater than or equal to 0.001 (got 5e-324)"),
    ("finn_sfc", "clock_mhz: 200", "clock_mhz: 5.0e-324",
     "clock_mhz (line 8): Input should be greater than or equal to 0.001 (got 5e-324)"),
    # OverflowError: cannot convert float infinity to integer (dataflow target_cycles)
    ("finn_resnet_digits", "target_cycles: 2304", "target_fps: 5.0e-324",
     "folding.target_fps (line 23): Input should be greater than or equal to 0.001"),
])
def test_denormal_rates_regressions(tmp_path: Path, design: str, old: str, new: str,
                                    message: str) -> None:
    text = (ROOT / "designs" / f"{design}.yaml").read_text()
    assert old in text
    p = tmp_path / "d.yaml"
    p.write_text(text.replace(old, new, 1))
    rc, out = _cli("simulate", str(p), "-w", SFC, "--json", str(tmp_path / "r.json"))
    assert rc == 2 and message in out, out
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("line,message", [
    # ValueError from PyYAML's int/float constructors on a tagged scalar
    ("seed: !!int citiny", "not valid YAML: a tagged value cannot be built (ValueError: "
                           "invalid literal for int() with base 10: 'citiny')"),
    ("seed: !!float null", "not valid YAML: a tagged value cannot be built (ValueError: "
                           "could not convert string to float: 'null')"),
])
def test_study_yaml_tag_regressions(line: str, message: str) -> None:
    text = STUDY + "hardware:\n  array.rows: [8, 16]\n" + line + "\n"
    with pytest.raises(SpecError) as ei:
        parse_study(text, "s.yaml", sweep=True)
    assert [fe.path for fe in ei.value.errors] == [""]
    assert message in ei.value.errors[0].message


def test_csv_with_a_bare_carriage_return_in_a_field(tmp_path: Path) -> None:
    """_csv.Error: new-line character seen in unquoted field (scalesim.py)."""
    p = tmp_path / "t.csv"
    p.write_bytes(b"Layer name, IFMAP Height,\nconv1\r\"x, 28,\n")
    rc, out = _cli("simulate", str(ROOT / "designs" / "xnor32.yaml"), "-w", str(p))
    assert rc == 2 and "t.csv: line 2: not a CSV row (" in out, out
