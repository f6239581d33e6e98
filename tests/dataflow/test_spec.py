"""Dataflow spec validation: every error at once, each with its dotted path (and line)."""

from __future__ import annotations

import pytest

from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.spec import DataflowSpec, workload_errors
from bnnarch.errors import SpecError, WorkloadError
from bnnarch.template import parse_design
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.io import load_workload

GOOD = """\
name: d
template: dataflow
clock_mhz: 200
folding:
  target_fps: 1000
"""


def _errors(text: str) -> dict[str, tuple[str, int | None]]:
    with pytest.raises(SpecError) as ei:
        parse_design(text, "d.yaml")
    return {e.path: (e.message, e.line) for e in ei.value.errors}


def test_good_spec_loads() -> None:
    spec = parse_design(GOOD)
    assert isinstance(spec, DataflowSpec)
    assert spec.target_cycles == 200_000
    assert spec.fifo_depth("x") == 2


def test_schema_errors_all_at_once_with_paths_and_lines() -> None:
    errs = _errors("""\
name: d
template: dataflow
clock_mhz: 200
batch: 0
folding:
  layers:
    fc0: {pe: 0, simd: 4}
    fc1: {pe: 2}
  speed: 3
fifo:
  default_depth: 0
""")
    assert errs["batch"] == ("Input should be greater than or equal to 1 (got 0)", 4)
    assert errs["folding.layers.fc0.pe"][0].startswith("Input should be greater than or equal to 1")
    assert errs["folding.layers.fc0.pe"][1] == 7
    assert errs["folding.layers.fc1.simd"] == ("required field is missing", 8)
    assert errs["folding.speed"] == ("unknown key", 9)
    assert errs["fifo.default_depth"][1] == 11


def test_cross_checks_all_at_once() -> None:
    errs = _errors("""\
name: d
template: dataflow
clock_mhz: 100
folding:
  target_fps: 2.0e+8
  target_cycles: 10
  budget: {lanes: 10, area_mm2: 1.0}
fifo:
  depths: {fc1: 0}
""")
    msg = ("give at most one of target_fps, target_cycles, budget "
           "(got target_fps, target_cycles, budget)")
    assert errs["folding.target_cycles"] == (msg, 6)
    assert errs["folding.budget"] == ("give exactly one of lanes, area_mm2", 7)
    assert errs["folding.target_fps"] == (
        "2e+08 frames/s needs more than one frame per cycle at 100 MHz", 5)
    assert errs["fifo.depths.fc1"] == ("depth must be >= 1 (got 0)", 9)


def test_workload_errors_name_layers_and_finn_rules(root) -> None:
    g = load_workload(root / "workloads/sfc.json")
    spec = parse_design("""\
name: d
template: dataflow
clock_mhz: 200
folding:
  layers:
    fc0: {pe: 3, simd: 5}
    thr0: {pe: 1, simd: 1}
    fc9: {pe: 1, simd: 1}
fifo:
  depths: {nope: 4}
""")
    errs = {e.path: e.message for e in workload_errors(spec, g)}
    assert errs["folding.layers.fc0.simd"] == "SIMD 5 must divide MW = K*K*Cin = 784 (FINN folding rule)"
    assert errs["folding.layers.fc0.pe"] == "PE 3 must divide MH = Cout = 256 (FINN folding rule)"
    assert errs["folding.layers.thr0"] == ("layer 'thr0' is a threshold layer; only conv2d and "
                                           "linear layers have an MVTU to fold")
    assert errs["folding.layers.fc9"] == "no layer named 'fc9' in workload 'sfc'"
    assert errs["fifo.depths.nope"] == "no layer named 'nope' in workload 'sfc'"
    missing = [e.message for e in workload_errors(spec, g) if e.path == "folding.layers"]
    assert missing == [f"no folding for compute layer {n!r}: list it (pe, simd) or give "
                       "target_fps / target_cycles / budget" for n in ("fc1", "fc2", "fc3")]
    with pytest.raises(SpecError) as ei:
        simulate_dataflow(spec, g)
    assert "design 'd' on workload 'sfc'" in str(ei.value) and len(ei.value.errors) == 8


def test_budget_below_smallest_design(root) -> None:
    g = load_workload(root / "workloads/sfc.json")
    spec = parse_design(GOOD.replace("target_fps: 1000", "budget: {lanes: 3}"))
    with pytest.raises(SpecError) as ei:
        fold(spec, g)
    assert [(e.path, e.message) for e in ei.value.errors] == [(
        "folding.budget.lanes",
        "3 is below the smallest design (4 with PE=SIMD=1 on every folded layer)")]


def test_unsupported_workloads_are_named() -> None:
    spec = parse_design(GOOD)
    # (grouped and transposed convolutions stream: tests/dataflow/test_finn_options.py)
    # a fork into a fully connected and a spatial layer has no single item size
    b = GraphBuilder("fork", (4, 4, 4))
    b.conv("c0", 4, 3)
    b.linear("fc", 10)
    b.conv("c1", 4, 3, src="c0")
    with pytest.raises(WorkloadError, match="layer 'c0': its stream feeds a fully connected "
                                            "layer and a spatial layer at once"):
        simulate_dataflow(spec, b.build())


def test_forks_to_several_outputs_simulate() -> None:
    """Once rejected as not a chain: c0 forks into c1 and c2, both outputs."""
    b = GraphBuilder("res", (4, 8, 8))
    b.conv("c0", 4, 3)
    b.conv("c1", 4, 3)
    b.conv("c2", 4, 3, src="c0")
    r = simulate_dataflow(parse_design(GOOD), b.build())
    assert r.ii_cycles == dict(r.extra)["ii_bound_cycles"]


def test_shipped_dataflow_designs_round_trip(root, tmp_path) -> None:
    from bnnarch.template import dump_design, load_design

    for name in ("finn_sfc", "finn_lfc", "finn_cnv", "finn_cnv_pynq", "finn_resnet_digits"):
        spec = load_design(root / f"designs/{name}.yaml")
        assert isinstance(spec, DataflowSpec)
        assert load_design(dump_design(spec, tmp_path / f"{name}.yaml")) == spec
