"""End to end: `bnnarch simulate` / `bnnarch fold` on shipped FINN designs;
energy ledger and area; the folding pass."""

from __future__ import annotations

import json

import pytest

from bnnarch.cli import main
from bnnarch.dataflow.fold import divisors, fold, fold_layer
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.tech import tech_for
from bnnarch.template import design_from_dict, load_design
from bnnarch.workload.io import load_workload

KEYS = ("design", "workload", "clock_mhz", "total_cycles", "latency_s", "fps", "energy_pj",
        "energy_breakdown_pj", "tops_per_w", "area_mm2", "layers")
LAYER_KEYS = ("name", "op", "w_bits", "a_bits", "cycles", "compute_cycles", "stall_cycles",
              "utilization", "energy_pj")


def test_simulate_cli_on_finn_sfc(root, tmp_path, capsys) -> None:
    out = tmp_path / "r.json"
    rc = main(["simulate", str(root / "designs/finn_sfc.yaml"), "--workload",
               str(root / "workloads/sfc.json"), "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "bottleneck_stage" in text and "stage fc0" in text and "PE=256 SIMD=49" in text
    d = json.loads(out.read_text())
    assert all(k in d for k in KEYS) and all(k in lr for lr in d["layers"] for k in LAYER_KEYS)
    assert d["template"] == "dataflow" and d["ii_cycles"] == 16
    assert d["fps"] == pytest.approx(200e6 / 16)  # FINN SFC-max: 12.36 Mfps reported
    assert d["total_cycles"] == d["first_frame_latency_cycles"]
    assert d["latency_s"] == pytest.approx(d["total_cycles"] / 200e6)
    assert {s["stage"] for s in d["stages"]} == {"input", "fc0", "fc1", "fc2", "fc3"}
    assert all(s["fifo_peak"] <= s["fifo_depth"] for s in d["stages"])


def test_fold_cli_writes_explicit_design(root, tmp_path, capsys) -> None:
    out, js = tmp_path / "cnv.yaml", tmp_path / "fold.json"
    rc = main(["fold", str(root / "designs/finn_cnv.yaml"), "-w", str(root / "workloads/cnv.json"),
               "--out", str(out), "--json", str(js)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "target 9,129 cycles/frame: met" in text
    f = json.loads(js.read_text())
    assert f["met"] and f["ii_bound_cycles"] <= 9129
    explicit = load_design(out)
    assert explicit.folding.target_fps is None
    assert {k: (v.pe, v.simd) for k, v in explicit.folding.layers.items()} == {
        k: (v["pe"], v["simd"]) for k, v in f["layers"].items()}
    g = load_workload(root / "workloads/cnv.json")
    a = simulate_dataflow(load_design(root / "designs/finn_cnv.yaml"), g, frames=3)
    b = simulate_dataflow(explicit, g, frames=3)
    assert (a.ii_cycles, a.latency_cycles) == (b.ii_cycles, b.latency_cycles)


def test_fold_cli_reports_errors_with_lines(tmp_path, root, capsys) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: b\ntemplate: dataflow\nclock_mhz: 100\nfolding:\n  layers:\n"
                 "    fc0: {pe: 3, simd: 49}\n    fcX: {pe: 1, simd: 1}\n  target_cycles: 100\n")
    rc = main(["fold", str(p), "-w", str(root / "workloads/sfc.json")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "folding.layers.fc0.pe (line 6): PE 3 must divide MH = Cout = 256" in err
    assert "folding.layers.fcX (line 7): no layer named 'fcX' in workload 'sfc'" in err
    rc = main(["fold", str(root / "designs/xnor32.yaml"), "-w", str(root / "workloads/sfc.json")])
    assert rc == 2 and "'fold' needs a dataflow design (template: array)" in capsys.readouterr().err


def test_energy_ledger_and_area(root) -> None:
    g = load_workload(root / "workloads/sfc.json")
    spec = load_design(root / "designs/finn_sfc.yaml")
    r = simulate_dataflow(spec, g)
    t = tech_for(28)
    eb = r.energy_breakdown_pj
    assert eb["xnor"] == pytest.approx(g.macs * t.xnor_pj)  # one XNOR per binary MAC
    assert eb["popcount"] == pytest.approx(g.macs * t.popcount_pj_per_bit)
    # every weight is read once per frame (PE*SIMD bits each busy cycle)
    area = dict(r.area_breakdown_mm2)
    assert area["weight_mem"] == pytest.approx(t.sram_area_um2(g.weight_bits) / 1e6)
    assert r.area_mm2 == pytest.approx(sum(area.values()))
    assert eb["sram_weights"] > eb["xnor"] and eb["leakage"] > 0
    assert r.energy_pj == pytest.approx(sum(eb.values()))
    # frames overlap: power = energy per frame x frames per second
    assert dict(r.extra)["steady_state_power_mw"] == pytest.approx(r.energy_pj * 1e-9 * r.fps)
    # a slower folding of the same network: same weights, less logic, same dynamic work
    slow = design_from_dict({**spec.model_dump(), "folding": {"target_cycles": 256}})
    rs = simulate_dataflow(slow, g)
    assert rs.ii_cycles == 256 and rs.area_mm2 < r.area_mm2
    assert rs.energy_breakdown_pj["xnor"] == pytest.approx(eb["xnor"])


def test_folding_pass_is_minimal_and_budget_fits(root) -> None:
    g = load_workload(root / "workloads/lfc.json")
    spec = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                             "folding": {"target_cycles": 128}})
    res = fold(spec, g)
    assert res.met and res.ii_bound_cycles <= 128
    layer = g["fc1"]
    lf = fold_layer(layer, 128, spec)
    cheapest = min(p * s for p in divisors(1024) for s in divisors(1024)
                   if (1024 // p) * (1024 // s) <= 128)
    assert lf.lanes == cheapest == 8192
    budget = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                               "folding": {"budget": {"lanes": res.lanes}}})
    rb = fold(budget, g)
    assert rb.lanes <= res.lanes and rb.ii_bound_cycles <= 128
    tighter = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                                "folding": {"budget": {"lanes": res.lanes // 2}}})
    rt = fold(tighter, g)
    assert rt.lanes <= res.lanes // 2 and rt.ii_bound_cycles > rb.ii_bound_cycles
    area = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                             "folding": {"budget": {"area_mm2": 0.6}}})
    ra = fold(area, g)
    assert ra.mode == "budget_area"
    r = simulate_dataflow(design_from_dict({**area.model_dump(), "folding": {
        "layers": {k: {"pe": p, "simd": s} for k, (p, s) in ra.folds().items()}}}), g, frames=2)
    assert r.area_mm2 <= 0.6


def test_unreachable_target_takes_fastest_folding(root, capsys) -> None:
    g = load_workload(root / "workloads/sfc.json")
    spec = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                             "folding": {"target_cycles": 1}})
    res = fold(spec, g)  # fully unrolled MVTUs take one cycle per frame...
    assert res.met and res.ii_bound_cycles == 1
    assert {lf.layer: (lf.pe, lf.simd) for lf in res.layers} == {
        "fc0": (256, 784), "fc1": (256, 256), "fc2": (256, 256), "fc3": (10, 256)}
    ex = dict(simulate_dataflow(spec, g).extra)
    # ...but the host stream needs 784 bits / 64 per cycle = 13 cycles per frame
    assert ex["bottleneck_stage"] == "input" and 12 <= ex["ii_cycles"] <= 13
    assert ex["ii_mean_cycles"] == pytest.approx(12.25, abs=0.3)
    cnv = load_workload(root / "workloads/cnv.json")
    spec = design_from_dict({"name": "f", "template": "dataflow", "clock_mhz": 200,
                             "folding": {"target_cycles": 100}})
    res = fold(spec, cnv)
    # an SWU emits at most Cin channels per cycle: conv0's 900 windows x 9 words
    assert not res.met and res.ii_bound_cycles == 8100
    assert main(["fold", str(root / "designs/finn_cnv.yaml"), "-w",
                 str(root / "workloads/cnv.json")]) == 0
    assert "NOT met" not in capsys.readouterr().out
