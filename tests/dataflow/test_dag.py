"""Residual and concatenating networks on the dataflow template: forks,
bypass FIFOs sized from the branch timing, add / concat joins, deadlock
reporting, and chains left exactly as they were."""

from __future__ import annotations

import json

import pytest

from bnnarch.cli import main
from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.timing import swu_fill_pixels
from bnnarch.errors import SimError, WorkloadError
from bnnarch.template import load_design
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.io import load_workload

from .helpers import design, two_convs


def _ex(r) -> dict:
    return dict(r.extra)


def _bypass(r) -> dict[str, dict]:
    return {b["fifo"]: b for b in _ex(r)["bypass_fifos"]}


def residual_fc():
    """input 64 -> fc0 (32) -> fc1 (32) -> add(fc1, fc0) -> fc2 (10): one item per frame."""
    b = GraphBuilder("res_fc", (64, 1, 1))
    b.linear("fc0", 32)
    b.linear("fc1", 32)
    b.add("add", "fc1", "fc0")
    b.linear("fc2", 10)
    return b.build()


RES_FC_FOLDS = {"fc0": (8, 16), "fc1": (2, 8), "fc2": (5, 16)}


def test_hand_built_residual_ii_latency_and_bypass_depth() -> None:
    """Derivation by hand. Stage cycles per frame (one item per frame):
    input 64 bits on a 4096-bit stream: 1 cycle for frame 0, then 0;
    fc0 (32/8)*(64/16) = 16; fc1 (32/2)*(32/8) = 64; add 1 (one pixel);
    fc2 (10/5)*(32/16) = 4. Frame 0: input done at 1, fc0 at 1+16 = 17
    (forked into fc1's FIFO and the bypass FIFO add.in1), fc1 at 17+64 = 81,
    add at 82, fc2 at 86 -> first-frame latency 86. fc1 is the slowest stage
    and never starves (fc0 refills its input FIFO 48 cycles early), so frame f
    leaves at 86 + 64 f: II = 64.
    Bypass depth: the bypass holds every frame fc0 has forked but the add has
    not consumed, i.e. the one fc1 is working on plus the two in fc1's input
    FIFO (default depth 2) -> 3. Branch lag: add.in1 gets frame 0 at 17,
    add.in0 at 81 -> 64 cycles."""
    g = residual_fc()
    r = simulate_dataflow(design(RES_FC_FOLDS, batch=6), g)
    ex = _ex(r)
    assert (r.latency_cycles, r.ii_cycles) == (86, 64)
    assert ex["frame_completion_cycles"] == [86 + 64 * f for f in range(6)]
    assert ex["bottleneck_stage"] == "fc1" and ex["ii_limited_by"] == "stage"
    by = _bypass(r)
    assert by["add.in1"] | {} == {"fifo": "add.in1", "join": "add", "from": "fc0",
                                  "fifo_depth": 3, "min_depth": 3, "depth_from": "derived",
                                  "lag_cycles": 64}
    assert by["add.in0"]["min_depth"] == 1 and by["add.in0"]["lag_cycles"] == 0
    stages = {s["stage"]: s for s in ex["stages"]}
    assert stages["fc0"]["fork"] == [{"fifo": "add.in1", "fifo_depth": 3, "fifo_peak": 3}]
    assert stages["add"]["in_fifos"] == ["add.in0", "add.in1"]
    # one item per frame: a shallower bypass only holds fc0 back (it stalls
    # on the full bypass FIFO), fc1 still always finds its next frame
    shallow = simulate_dataflow(design(RES_FC_FOLDS, batch=6, fifo={"depths": {"add": 1}}), g)
    assert (shallow.latency_cycles, shallow.ii_cycles) == (86, 64)
    assert _bypass(shallow)["add.in1"]["depth_from"] == "fifo.depths"
    # the add's cost: one 2-bit addition per element, its FIFOs like any other
    lr = {x.name: x for x in r.layers}["add"]
    assert lr.engine == "add" and dict(lr.energy_breakdown_pj)["add"] > 0
    assert dict(r.area_breakdown_mm2)["add_logic"] > 0


def residual_conv():
    """c0, c1: 3x3 convs (pad 1) on 4x6x6; add(c1, c0): the bypass skips c1."""
    b = GraphBuilder("res", (4, 6, 6))
    b.conv("c0", 4, 3)
    b.conv("c1", 4, 3)
    b.add("add", "c1", "c0")
    return b.build()


def test_bypass_below_minimum_deadlocks_or_stalls_at_minimum_it_does_not() -> None:
    """c0's fork writes c1's FIFO first, then the bypass: with bypass depth d
    c1's SWU receives d + 1 pixels before c0 blocks. Its first window needs
    (K-1-p)*W + K-p = 6 + 2 = 8 pixels, so d <= 6 deadlocks (the add waits on
    c1, c1 on pixels, c0 on the full bypass). d = 7 runs but stalls; the
    derived minimum (peak with an unbounded bypass) is 9 and runs as if the
    bypass were unbounded."""
    g = residual_conv()
    folds = {"c0": (4, 36), "c1": (4, 36)}
    assert swu_fill_pixels(g["c1"]) == 8
    free = simulate_dataflow(design(folds, batch=4), g)
    assert _bypass(free)["add.in1"]["min_depth"] == 9
    assert (free.ii_cycles, free.latency_cycles) == (_ex(free)["ii_bound_cycles"], 409) == (324, 409)
    for d in (1, 6):
        with pytest.raises(SimError, match=(
                r"pipeline deadlocked before finishing 4 frame\(s\): 'add' waits on empty FIFO "
                r"'add.in0' while its FIFO 'add.in1' \(from 'c0'\) is full "
                rf"\({d}/{d}\).*bypass FIFO 'add.in1' has depth {d}, below the derived minimum 9 "
                r"\(branch lag 74 cycles\): raise fifo.depths.add or leave it unset")):
            simulate_dataflow(design(folds, batch=4, fifo={"depths": {"add": d}}), g)
    stall = simulate_dataflow(design(folds, batch=4, fifo={"depths": {"add": 7}}), g)
    assert stall.ii_cycles > 324 and _ex(stall)["ii_limited_by"] == "fifo"
    at_min = simulate_dataflow(design(folds, batch=4, fifo={"depths": {"add": 9}}), g)
    assert _ex(at_min)["frame_completion_cycles"] == _ex(free)["frame_completion_cycles"]


def test_deadlock_is_a_clean_cli_error(tmp_path, capsys) -> None:
    from bnnarch.workload.io import save_workload

    w = tmp_path / "res.json"
    save_workload(residual_conv(), w)
    d = tmp_path / "d.yaml"
    d.write_text("name: d\ntemplate: dataflow\nclock_mhz: 100\ninput_bits_per_cycle: 4096\n"
                 "folding:\n  layers:\n    c0: {pe: 4, simd: 36}\n    c1: {pe: 4, simd: 36}\n"
                 "fifo:\n  sizing: fixed\n  depths: {add: 2}\n")
    assert main(["simulate", str(d), "--workload", str(w)]) == 2
    err = capsys.readouterr().err
    assert "pipeline deadlocked" in err and "fifo.depths.add" in err and "Traceback" not in err


# Values produced by the chain-only code before DAG support (commit 99c2828),
# when the designs had FIFOs of depth 2 (now they are auto-sized; the test
# sets them back): (II, first-frame latency, energy pJ/frame, area mm2).
BEFORE = {
    ("finn_sfc", "sfc"): (16, 77, 9699.367, 0.152753),
    ("finn_lfc", "lfc"): (128, 525, 109479.169, 0.631781),
    ("finn_cnv", "cnv"): (8192, 44348, 2886662.449, 0.33477),
    ("finn_cnv_pynq", "cnv"): (32768, 134773, 2981446.156, 0.311599),
}


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_chains_identical_to_before(root, case) -> None:
    d, w = case
    spec = load_design(root / f"designs/{d}.yaml")
    spec = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": "fixed"})})
    r = simulate_dataflow(spec, load_workload(root / f"workloads/{w}.json"))
    ii, lat, e, a = BEFORE[case]
    assert (r.ii_cycles, r.latency_cycles) == (ii, lat)
    assert r.energy_pj == pytest.approx(e, abs=1e-3) and r.area_mm2 == pytest.approx(a, abs=1e-6)
    assert "bypass_fifos" not in _ex(r)


@pytest.mark.parametrize(("depth", "want"), [(1, (17360, 19957, 14827.394, 0.004512)),
                                             (2, (17216, 19957, 14958.576, 0.004702)),
                                             (64, (16384, 19957, 24569.429, 0.016491))])
def test_small_chain_identical_to_before(depth: int, want: tuple) -> None:
    folds = {"a": (1, 8), "b": (1, 9), "fc": (10, 16)}
    r = simulate_dataflow(design(folds, batch=5, fifo={"default_depth": depth}), two_convs())
    assert (r.ii_cycles, r.latency_cycles) == want[:2]
    assert r.energy_pj == pytest.approx(want[2], abs=1e-3)
    assert r.area_mm2 == pytest.approx(want[3], abs=1e-6)


def test_shipped_residual_design_simulates_and_folds(root, tmp_path, capsys) -> None:
    dpath, wpath = root / "designs/finn_resnet_digits.yaml", root / "workloads/digits_bnn.json"
    out, fj = tmp_path / "r.json", tmp_path / "f.json"
    assert main(["simulate", str(dpath), "--workload", str(wpath), "--json", str(out),
                 "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert (r["ii_cycles"], r["first_frame_latency_cycles"]) == (2304, 7954)
    assert r["bottleneck_stage"] == "conv1.swu" and r["ii_limited_by"] == "stage"
    # auto-sized (fifo.sizing: auto): every FIFO at one entry but the
    # bypasses, at their peak when they start unbounded (the three identity
    # bypasses: their peak with unbounded FIFOs; minimal sizing takes one less)
    assert "bypass_fifos" not in r and r["fifo_sizing"] == "auto"
    deep = {f["fifo"]: (f["depth"], f["reference_peak"]) for f in r["fifos"] if f["depth"] > 1}
    assert deep == {"layer1.0.add.in1": (2, 2), "layer1.0.add_1.in1": (11, 11),
                    "layer2.0.add_1.in1": (7, 7), "layer3.0.add_1.in1": (5, 5)}
    assert len([f for f in r["fifos"] if ".add" in f["fifo"] and ".in" in f["fifo"]]) == 12
    # with fixed depths (as the design had before) the join FIFOs are derived
    spec = load_design(dpath)
    fixed = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": "fixed"})})
    ex = _ex(simulate_dataflow(fixed, load_workload(wpath)))
    by = {b["fifo"]: b for b in ex["bypass_fifos"]}
    assert len(by) == 12 and all(b["fifo_depth"] >= b["min_depth"] for b in by.values())
    assert by["layer1.0.add_1.in1"]["min_depth"] == 11
    assert {lr["name"]: lr["cycles"] for lr in r["layers"]}["layer1.0.add"] == 2304
    assert main(["fold", str(dpath), "-w", str(wpath), "--json", str(fj)]) == 0
    f = json.loads(fj.read_text())
    assert f["met"] and f["ii_bound_cycles"] == 2304 and f["lanes"] == 353
    assert "layer1.0.add" in f["fixed_stages"]
    assert "target 2,304 cycles/frame: met" in capsys.readouterr().out


def test_fold_targets_every_branch() -> None:
    """The target holds on both branches; the SWUs (4 channels per cycle, 36
    windows x 9 words = 324) cannot go below 324, the add is a fixed stage."""
    g = residual_conv()
    res = fold(design(folding={"target_cycles": 400}), g)
    assert res.met and all(lf.cycles <= 400 for lf in res.layers)
    assert {lf.layer for lf in res.layers} == {"c0", "c1"}
    assert dict(res.fixed_stages) == {"add": 36}
    fast = fold(design(folding={"target_cycles": 100}), g)
    assert not fast.met and fast.ii_bound_cycles == 324


def test_concat_and_upsample() -> None:
    """A U-Net-like join: c0 (4x8x8) -> max-pool -> c1 -> upsample x2 ->
    concat(up, c0) -> c2. The concat takes one pixel vector per input per
    cycle (2 cycles/pixel), the upsample one output pixel per cycle."""
    b = GraphBuilder("unet_mini", (4, 8, 8))
    b.conv("c0", 4, 3)
    b.pool("mp", 2)
    b.conv("c1", 8, 3)
    b.upsample("up", 2)
    b.concat("cat", ["up", "c0"])
    b.conv("c2", 4, 1)
    g = b.build()
    r = simulate_dataflow(design({"c0": (4, 36), "c1": (8, 36), "c2": (4, 12)}, batch=3), g)
    stages = {s["stage"]: s for s in _ex(r)["stages"]}
    assert stages["cat"]["ii_cycles"] == 2 * 64 and stages["up"]["ii_cycles"] == 64
    assert _bypass(r)["cat.in1"]["from"] == "c0" and _bypass(r)["cat.in1"]["min_depth"] > 2
    assert r.ii_cycles == _ex(r)["ii_bound_cycles"]
    by = {lr.name: lr for lr in r.layers}
    assert by["cat"].engine == "concat" and by["up"].engine == "upsample"


def test_transposed_conv_that_is_no_pixel_padded_conv_names_the_layer() -> None:
    b = GraphBuilder("tc", (4, 8, 8))
    b.conv("c0", 4, 3)
    b.deconv("up", 4, 3, 2)  # k=3, s=2: (H-1)*2 + 3 - 2*0 = 17, not 16
    with pytest.raises(WorkloadError, match=r"layer 'up': transposed conv \(4, 8, 8\) -> "
                                            r"\(4, 16, 16\) \(kernel 3, stride 2, padding 0\) "
                                            "is not a pixel-padded stride-1 convolution"):
        simulate_dataflow(design(folding={"target_cycles": 100}), b.build())
