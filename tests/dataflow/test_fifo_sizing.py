"""``fifo.sizing: auto``: the II the folding allows (that of unbounded FIFOs),
every FIFO at most its reference peak, in a few runs; ``minimal``: the same II,
every FIFO minimal (one entry less on any one of them lengthens the II or
deadlocks) and none deeper than auto's; explicit depths win, and each FIFO
reported with its memory cost; ``fifo.sizing: finn``:
FINN's depths (peak occupancy with unbounded FIFOs), one run, the unbounded
run event for event; the shipped FINN designs' sizing as docs/dataflow.md
reports it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bnnarch.dataflow.fast import try_pipeline_fast
from bnnarch.dataflow.fifo_sizing import ii_of, with_depths
from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.plan import build_stages
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.timing import as_conv, swu_finn_cycles, swu_lanes
from bnnarch.tech import tech_for
from bnnarch.template import design_from_dict
from bnnarch.workload.builder import GraphBuilder

from .helpers import design, two_convs
from .test_fast_engine import chains, dags
from .test_fifo_batch import FOLDS

AUTO = {"sizing": "auto"}
MINIMAL = {"sizing": "minimal"}


def _check_minimal(spec, g, r) -> None:
    """Every minimal FIFO one entry shallower: longer II (last or mean) or a deadlock."""
    ex = dict(r.extra)
    n = len(ex["frame_completion_cycles"])
    stages = build_stages(spec, g, fold(spec, g).folds())
    depths = {f["fifo"]: f["depth"] for f in ex["fifos"]}
    sized = with_depths(stages, depths)
    base = try_pipeline_fast(sized, n)
    assert base is not None and list(base.completion) == ex["frame_completion_cycles"]
    for f in ex["fifos"]:
        if f["origin"] != "minimal" or f["depth"] == 1:
            continue
        run = try_pipeline_fast(with_depths(sized, {f["fifo"]: f["depth"] - 1}), n)
        assert run is None or any(a > b for a, b in zip(ii_of(run), ii_of(base), strict=True)), f


def _check_auto_vs_minimal(g, folds, r) -> None:
    """``auto``: every sized FIFO fills up (its depth is its occupancy peak
    in the sized run, or one entry); ``minimal``: the same II (last and
    mean), minimal FIFOs, none deeper than auto's."""
    ex = dict(r.extra)
    auto = {f["fifo"]: f for f in ex["fifos"] if f["origin"] == "auto"}
    assert auto and ex["fifo_sizing"] == "auto"
    stages = build_stages(design(folds, batch=4, fifo=AUTO), g, fold(design(folds, batch=4), g).folds())
    run = try_pipeline_fast(with_depths(stages, {f["fifo"]: f["depth"] for f in ex["fifos"]}),
                            len(ex["frame_completion_cycles"]))
    assert run is not None and list(run.completion) == ex["frame_completion_cycles"]
    assert all(max(1, run.fifo_peaks[n]) == f["depth"] for n, f in auto.items())
    spec = design(folds, batch=4, fifo=MINIMAL)
    m = simulate_dataflow(spec, g)
    mx = dict(m.extra)
    assert mx["fifo_sizing"] == "minimal" and mx["fifo_sizing_runs"] >= ex["fifo_sizing_runs"]
    assert (m.ii_cycles, m.ii_mean_cycles) == (r.ii_cycles, r.ii_mean_cycles)
    mins = {f["fifo"]: f["depth"] for f in mx["fifos"] if f["origin"] == "minimal"}
    assert mins.keys() == auto.keys() and all(mins[n] <= auto[n]["depth"] for n in mins)
    _check_minimal(spec, g, m)


def _swu_refill_bound(g, folds) -> int:
    """FINN's SWU estimate (a K-row refill every frame) of the slowest SWU, on
    the convolution it runs (for a transposed conv the stride-1 conv over the
    zero-inserted input) at the width it reads."""
    convs = [n for n in folds if g[n].op in ("conv2d", "conv_transpose2d")]
    return max([swu_finn_cycles(as_conv(g[n]), swu_lanes(g[n], *folds[n])) for n in convs],
               default=0)


def _deconv_after_pool():
    """conv 1x1 stride 2 (1 -> 2 ch, 4x4 -> 2x2), maxpool 2, transposed conv
    2x2 stride 2 (2 -> 2 ch, 1x1 -> 2x2): c1's SWU (32 cycles, the slowest
    stage) holds its whole one-pixel input frame and reads the next pixel (2
    cycles) only after its last window: II 34 even with unbounded FIFOs (found
    by the test below, which once expected 32)."""
    b = GraphBuilder("rand", (1, 4, 4))
    b.conv("c0", 2, 1, s=2, p=0)
    b.pool("mp0", 2)
    b.deconv("c1", 2, 2, 2)
    return b.build(), {"c0": (1, 1), "c1": (2, 1)}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(chains())
@example(_deconv_after_pool())
def test_random_chains_reach_the_bound_auto_and_minimal(case) -> None:
    g, folds = case
    spec = design(folds, batch=4, fifo=AUTO)
    r = simulate_dataflow(spec, g)
    ex = dict(r.extra)
    assert ex["fifo_sizing"] == "auto"
    deep = simulate_dataflow(design(folds, batch=4, fifo={"default_depth": 4096}), g)
    assert r.ii_cycles == deep.ii_cycles == ex["ii_unbounded_cycles"]
    if r.ii_cycles == ex["ii_bound_cycles"]:
        assert ex["ii_limited_by"] == "stage"
    else:
        # as with deep FIFOs, only an SWU's frame-boundary refill can cost more
        # than the slowest stage; no FIFO depth helps, and the result says so
        assert ex["ii_bound_cycles"] < r.ii_cycles <= _swu_refill_bound(g, folds)
        assert ex["ii_limited_by"] == "line_buffer"
    _check_auto_vs_minimal(g, folds, r)


def test_a_refill_bound_pipeline_is_limited_by_its_line_buffer() -> None:
    g, folds = _deconv_after_pool()
    r = simulate_dataflow(design(folds, batch=4, fifo=AUTO), g)
    ex = dict(r.extra)
    assert (r.ii_cycles, ex["ii_bound_cycles"], ex["bottleneck_stage"]) == (34, 32, "c1.swu")
    assert (ex["ii_unbounded_cycles"], ex["ii_limited_by"]) == (34, "line_buffer")
    assert _swu_refill_bound(g, folds) == 36  # FINN: 1*2*2 + 2*max(2*8, 1*2)
    fixed = dict(simulate_dataflow(design(folds, batch=4, fifo={"default_depth": 1}), g).extra)
    assert (fixed["ii_cycles"], fixed["ii_limited_by"]) == (34, "fifo")  # no reference run


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_keep_the_unbounded_ii_auto_and_minimal(case) -> None:
    g, folds = case
    spec = design(folds, batch=4, fifo=AUTO)
    r = simulate_dataflow(spec, g)
    ex = dict(r.extra)
    deep = simulate_dataflow(design(folds, batch=4, fifo={"default_depth": 4096}), g)
    assert r.ii_cycles == deep.ii_cycles and r.ii_mean_cycles == deep.ii_mean_cycles
    if _swu_refill_bound(g, folds) <= ex["ii_bound_cycles"]:
        assert r.ii_cycles == ex["ii_bound_cycles"]
    assert ex["ii_limited_by"] != "fifo"
    _check_auto_vs_minimal(g, folds, r)


def test_auto_sizing_recovers_the_throughput_a_shallow_fifo_loses() -> None:
    """two_convs folded at 14,400 / 16,384 cycles: with depth-1 FIFOs b's SWU
    takes rows in bursts and a stalls on the full FIFO (II above the bound,
    tests/dataflow/test_fifo_batch.py); auto-sized, the II is the bound."""
    g = two_convs()
    fixed = dict(simulate_dataflow(design(FOLDS, batch=5, fifo={"default_depth": 1}), g).extra)
    r = simulate_dataflow(design(FOLDS, batch=5, fifo=AUTO), g)
    ex = dict(r.extra)
    assert fixed["ii_limited_by"] == "fifo" and fixed["ii_cycles"] > 16 * 16 * 64
    assert r.ii_cycles == ex["ii_bound_cycles"] == 16 * 16 * 64
    # auto: one entry each loses the II, so every FIFO that filled up doubles
    # (1 -> 2 -> 4 -> 8: four runs after the reference run)
    assert {f["fifo"]: f["depth"] for f in ex["fifos"]} == {
        "a": 8, "a.windows": 8, "b": 1, "b.windows": 8, "fc": 1, "output": 1}
    assert ex["fifo_sizing_runs"] == 5
    spec = design(FOLDS, batch=5, fifo=MINIMAL)
    m = simulate_dataflow(spec, g)
    sizes = {f["fifo"]: f for f in dict(m.extra)["fifos"]}
    assert m.ii_cycles == r.ii_cycles
    # minimal: one deeper FIFO does it: b's window FIFO (6 windows) lets b's
    # SWU run ahead of its MVTU, so a no longer stalls; the rest at one entry
    assert sizes["b.windows"]["depth"] == 6 and sizes["b.windows"]["reference_peak"] == 51
    assert all(f["depth"] == 1 for n, f in sizes.items() if n != "b.windows")
    _check_minimal(spec, g, m)


def test_explicit_depths_win_and_costs_are_reported() -> None:
    g = two_convs()
    spec = design(FOLDS, batch=4, fifo={"sizing": "auto", "depths": {"b": 7}})
    r = simulate_dataflow(spec, g)
    ex = dict(r.extra)
    sizes = {f["fifo"]: f for f in ex["fifos"]}
    assert sizes["b"]["depth"] == 7 and sizes["b"]["origin"] == "fifo.depths"
    assert {f["origin"] for n, f in sizes.items() if n != "b"} == {"auto"}
    stages = {s["stage"]: s for s in ex["stages"]}
    assert stages["a"]["fifo_depth"] == 7
    t = tech_for(spec.technology.node_nm)
    for f in sizes.values():
        assert f["bits"] == f["depth"] * f["item_bits"]
        assert f["area_um2"] == pytest.approx(t.sram_area_um2(f["bits"]))
    # the report prices exactly the FIFO area and energy the totals charge
    assert sum(f["area_um2"] for f in sizes.values()) / 1e6 == pytest.approx(
        dict(r.area_breakdown_mm2)["fifo"])
    e_fifo = sum(dict(lr.energy_breakdown_pj).get("fifo", 0.0) for lr in r.layers)
    assert sum(f["energy_pj"] for f in sizes.values()) == pytest.approx(e_fifo)
    assert ex["fifo b"].startswith("depth 7 (fifo.depths;")


@pytest.mark.parametrize(("fifo", "want"), [
    (None, "auto"), ({}, "auto"), ({"default_depth": 2}, "fixed"), ({"sizing": "minimal"}, "minimal"),
    ({"default_depth": 2, "sizing": "auto"}, "auto"), ({"sizing": "fixed"}, "fixed"),
    ({"depths": {"x": 3}}, "auto"), ({"sizing": "finn", "default_depth": 2}, "finn")])
def test_sizing_default(fifo, want: str) -> None:
    d = {"name": "t", "template": "dataflow", "clock_mhz": 100}
    if fifo is not None:
        d["fifo"] = fifo
    assert design_from_dict(d).fifo_sizing == want


def test_bad_sizing_is_a_field_error() -> None:
    from bnnarch.errors import SpecError

    with pytest.raises(SpecError, match=r"fifo\.sizing"):
        design_from_dict({"name": "t", "template": "dataflow", "clock_mhz": 100,
                          "fifo": {"sizing": "deep"}})


def test_cnv_folded_for_115200_cycles_needs_deeper_fifos(root) -> None:
    """The issue's case: CNV folded for 115,200 cycles per frame with FIFOs of
    depth 2 stalls on back-pressure (II 120,970, 5% slower than its slowest
    stage); auto-sized, it runs at the bound, minimal-sized with fewer FIFO bits."""
    from bnnarch.template import load_design
    from bnnarch.workload.io import load_workload

    base = load_design(root / "designs/finn_cnv_fold.yaml")
    g = load_workload(root / "workloads/cnv.json")
    f = base.folding.model_copy(update={"target_cycles": 115200})
    auto = base.model_copy(update={"folding": f})
    fixed = auto.model_copy(update={"fifo": auto.fifo.model_copy(update={"sizing": "fixed"})})
    a, b = dict(simulate_dataflow(fixed, g).extra), dict(simulate_dataflow(auto, g).extra)
    assert (a["ii_cycles"], a["ii_limited_by"]) == (120970, "fifo")
    assert (b["ii_cycles"], b["ii_limited_by"], b["ii_bound_cycles"]) == (115200, "stage", 115200)
    assert sum(x["bits"] for x in b["fifos"]) == 29536 and b["fifo_sizing_runs"] == 5
    minimal = auto.model_copy(update={"fifo": auto.fifo.model_copy(update={"sizing": "minimal"})})
    m = dict(simulate_dataflow(minimal, g).extra)
    assert (m["ii_cycles"], sum(x["bits"] for x in m["fifos"]), m["fifo_sizing_runs"]) == (
        115200, 19792, 20)


def _finn_is_the_unbounded_run(g, folds) -> None:
    r = simulate_dataflow(design(folds, batch=4, fifo={"sizing": "finn"}), g)
    ex = dict(r.extra)
    n = 1 << 20  # deeper than any FIFO fills in these runs
    deep = dict(simulate_dataflow(design(folds, batch=4, fifo={
        "default_depth": n, "swu_depth": n, "output_depth": n}), g).extra)
    assert ex["fifo_sizing_runs"] == 1
    assert ex["frame_completion_cycles"] == deep["frame_completion_cycles"]
    assert r.ii_cycles == ex["ii_unbounded_cycles"]
    finn = [f for f in ex["fifos"] if f["origin"] == "finn"]
    assert finn and all(f["depth"] == max(1, f["reference_peak"]) for f in finn)
    # the same peaks as the deep run: no put found a FIFO full
    peaks = {s["out_fifo"]: s["fifo_peak"] for s in deep["stages"]}
    assert all(f["reference_peak"] == peaks[f["fifo"]] for f in finn if f["fifo"] in peaks)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_finn_sizing_on_random_chains_is_the_unbounded_run(case) -> None:
    _finn_is_the_unbounded_run(*case)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_finn_sizing_on_random_dags_is_the_unbounded_run(case) -> None:
    _finn_is_the_unbounded_run(*case)


# The shipped FINN designs on their workloads, as docs/dataflow.md reports
# them: (design, workload) -> (II, first-frame latency, finn FIFO bits, and
# for auto and for minimal: (FIFO bits, FIFOs deeper than one entry, runs)).
# II and latency are those of the FIFOs of depth 2 the designs had before.
CHAIN = (8272, {}, 2)
SHIPPED = {
    ("finn_sfc", "sfc"): (16, 77, 2496, (1712, {}, 2), (1712, {}, 2)),
    ("finn_lfc", "lfc"): (128, 525, 8720, (4016, {}, 2), (4016, {}, 2)),
    ("finn_cnv", "cnv"): (8192, 44348, 135928, CHAIN, CHAIN),
    ("finn_cnv_fold", "cnv"): (8192, 44348, 135928, CHAIN, CHAIN),
    ("finn_cnv_pynq", "cnv"): (32768, 134773, 718264, CHAIN, CHAIN),
    ("finn_resnet_digits", "digits_bnn"): (
        2304, 7954, 27672,
        (15744, {"layer1.0.add.in1": 2, "layer1.0.add_1.in1": 11, "layer2.0.add_1.in1": 7,
                 "layer3.0.add_1.in1": 5}, 2),
        (14608, {"layer1.0.add_1.in1": 10, "layer2.0.add_1.in1": 6, "layer3.0.add_1.in1": 4}, 18)),
}


@pytest.mark.parametrize("case", sorted(SHIPPED))
def test_shipped_finn_designs_are_sized_as_documented(root, case) -> None:
    from bnnarch.template import load_design
    from bnnarch.workload.io import load_workload

    d, w = case
    ii, lat, finn_bits, *sized = SHIPPED[case]
    spec, g = load_design(root / f"designs/{d}.yaml"), load_workload(root / f"workloads/{w}.json")
    assert spec.fifo_sizing == "auto"
    fixed = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": "fixed"})})
    before = simulate_dataflow(fixed, g)
    assert (before.ii_cycles, before.latency_cycles) == (ii, lat)
    for how, (bits, deep, runs) in zip(("auto", "minimal"), sized, strict=True):
        s = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": how})})
        r = simulate_dataflow(s, g)
        ex = dict(r.extra)
        assert (r.ii_cycles, r.latency_cycles, ex["ii_limited_by"]) == (ii, lat, "stage")
        assert sum(f["bits"] for f in ex["fifos"]) == bits and ex["fifo_sizing_runs"] == runs
        assert {f["fifo"]: f["depth"] for f in ex["fifos"] if f["depth"] > 1} == deep
        assert r.area_mm2 < before.area_mm2
    finn = spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": "finn"})})
    f = dict(simulate_dataflow(finn, g).extra)
    assert sum(x["bits"] for x in f["fifos"]) == finn_bits and f["fifo_sizing_runs"] == 1
    _check_minimal(s, g, r)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.sampled_from(["auto", "minimal", "finn"]))
def test_reused_sizing_run_equals_a_second_run(case, sizing: str) -> None:
    """The simulator reuses the compiled run that showed the sized depths
    keep the II (the reference run for finn): the same result as running
    the sized pipeline again."""
    from bnnarch.dataflow import simulate as sim

    g, folds = case
    spec = design(folds, batch=4, fifo={"sizing": sizing})
    reused = simulate_dataflow(spec, g)
    sim.REUSE_SIZING_RUN = False
    try:
        again = simulate_dataflow(spec, g)
    finally:
        sim.REUSE_SIZING_RUN = True
    assert reused == again
