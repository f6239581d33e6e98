"""The folding pass with a budget of lanes and FIFO bits, and sweeps over
dataflow designs (global target II, per-layer folding, MMV) on the fast
engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.spec import Budget
from bnnarch.errors import SpecError
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload

REPO = Path(__file__).resolve().parents[2]


def _cnv(budget: Budget, design: str = "finn_cnv", workload: str = "cnv"):
    spec = load_design(REPO / f"designs/{design}.yaml")
    f = spec.folding.model_copy(update={"target_fps": None, "layers": {}, "budget": budget})
    return spec.model_copy(update={"folding": f}), load_workload(REPO / f"workloads/{workload}.json")


def test_fifo_bits_trade_against_ii() -> None:
    """CNV within 3,000 lanes: the cheapest folding inside the lanes
    (II 25,088) needs 22,672 FIFO bits once its FIFOs are auto-sized; with
    20,000 bits the pass moves to the next II whose FIFOs fit."""
    loose_spec, g = _cnv(Budget(lanes=3000, fifo_bits=100_000))
    tight_spec, _ = _cnv(Budget(lanes=3000, fifo_bits=20_000))
    loose, tight = fold(loose_spec, g), fold(tight_spec, g)
    assert loose.mode == tight.mode == "budget_lanes_fifo"
    assert loose.lanes <= 3000 and tight.lanes <= 3000
    assert loose.fifo_bits > 20_000 >= tight.fifo_bits
    assert loose.fifo_target_cycles < tight.fifo_target_cycles
    # the simulation uses those FIFOs and reaches that II
    for spec, fr in ((loose_spec, loose), (tight_spec, tight)):
        r = simulate_dataflow(spec, g)
        ex = dict(r.extra)
        assert sum(f["bits"] for f in ex["fifos"]) == fr.fifo_bits
        assert r.ii_cycles == fr.fifo_target_cycles
        assert ex["folding"]["fifo_bits"] == fr.fifo_bits
    # the lanes alone give the loose result's II: the FIFO budget did not bind there
    lanes_only, _ = _cnv(Budget(lanes=3000))
    assert fold(lanes_only, g).ii_bound_cycles == loose.fifo_target_cycles


def test_fifo_budget_errors() -> None:
    spec, g = _cnv(Budget(lanes=3000, fifo_bits=100), "finn_sfc", "sfc")
    with pytest.raises(SpecError, match=r"folding\.budget\.fifo_bits.*100 FIFO bits fit none "
                                        r"of the \d+ foldings within 3000 lanes tried from II"):
        fold(spec, g)
    from bnnarch.template import design_from_dict

    with pytest.raises(SpecError, match=r"folding\.budget\.fifo_bits.*a FIFO budget goes with a "
                                        r"lanes budget"):
        design_from_dict({"name": "t", "template": "dataflow", "clock_mhz": 100,
                          "folding": {"budget": {"area_mm2": 1.0, "fifo_bits": 100}}})


def test_sweep_over_dataflow_foldings(tmp_path: Path) -> None:
    """Per-layer PE choices, a global target II and MMV as sweep parameters
    (mapping fields take a layer name as a path part)."""
    import yaml

    from bnnarch.dse import load_study_spec, run_study

    path = tmp_path / "df.yaml"
    path.write_text(yaml.safe_dump({
        "name": "df", "design": str(REPO / "designs/finn_cnv_fold.yaml"),
        "workload": str(REPO / "workloads/cnv.json"),
        "hardware": {"folding.target_cycles": {"choices": [4096, 16384]},
                     "folding.layers.conv1.pe": {"choices": [16, 64]},
                     "folding.layers.conv1.simd": {"choices": [64]},
                     "swu.mmv.conv0": {"choices": [1, 9]}},
        "objectives": ["fps", "area", "energy"], "sampler": "grid"}))
    study = run_study(load_study_spec(path, sweep=True), progress=False, sweep=True)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)
    designs = [t.user_attrs["design"] for t in trials]
    assert {d["folding"]["layers"]["conv1"]["pe"] for d in designs} == {16, 64}
    assert {d["fifo"]["sizing"] for d in designs} == {"auto"}
    fps = {(t.params["folding.layers.conv1.pe"], t.params["folding.target_cycles"]):
           t.user_attrs["metrics"]["fps"] for t in trials}
    assert fps[(64, 4096)] > fps[(64, 16384)]


def test_sweep_path_names_a_layer_key() -> None:
    from bnnarch.dataflow.spec import DataflowSpec
    from bnnarch.dse._spec import _path_exists

    assert _path_exists(DataflowSpec, "folding.layers.conv1.pe")
    assert _path_exists(DataflowSpec, "swu.mmv.conv0")
    assert _path_exists(DataflowSpec, "folding.budget.lanes")
    assert not _path_exists(DataflowSpec, "swu.mmv")  # a mapping, not a value
    assert not _path_exists(DataflowSpec, "folding.layers.conv1")  # a model
    assert not _path_exists(DataflowSpec, "folding.layers.conv1.lanes")


def test_fold_command_prints_the_fifo_bits(tmp_path: Path, capsys) -> None:
    from bnnarch.cli import main

    d = tmp_path / "b.yaml"
    d.write_text("name: b\ntemplate: dataflow\nclock_mhz: 200\n"
                 "folding:\n  budget: {lanes: 3000, fifo_bits: 20000}\n")
    assert main(["fold", str(d), "--workload", str(REPO / "workloads/cnv.json")]) == 0
    out = capsys.readouterr().out
    assert "II bound 27,648 cycles" in out
    assert "FIFOs auto-sized for II 27,648 cycles: 8,272 bits" in out


@pytest.mark.parametrize(("sizing", "bits"), [("auto", "44,152"), ("minimal", "22,672")])
def test_fold_sizes_fifos_as_the_design_says(tmp_path: Path, capsys, sizing: str, bits: str) -> None:
    """The budget pass sizes the FIFOs with the design's fifo.sizing:
    minimal needs fewer bits at the same II (docs/dataflow.md)."""
    from bnnarch.cli import main

    d = tmp_path / "b.yaml"
    d.write_text(f"name: b\ntemplate: dataflow\nclock_mhz: 200\nfifo: {{sizing: {sizing}}}\n"
                 "folding:\n  budget: {lanes: 3000, fifo_bits: 100000}\n")
    assert main(["fold", str(d), "--workload", str(REPO / "workloads/cnv.json")]) == 0
    out = capsys.readouterr().out
    assert "II bound 25,088 cycles" in out
    assert f"FIFOs auto-sized for II 25,088 cycles: {bits} bits" in out
