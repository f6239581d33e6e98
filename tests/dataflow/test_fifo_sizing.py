"""``fifo.sizing: auto``: the II the folding allows, every FIFO minimal (one
entry less on any one of them lengthens the II or deadlocks), explicit depths
win, and each FIFO reported with its memory cost."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from bnnarch.dataflow.fast import try_pipeline_fast
from bnnarch.dataflow.fifo_sizing import ii_of, with_depths
from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.plan import build_stages
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.timing import swu_finn_cycles
from bnnarch.tech import tech_for
from bnnarch.template import design_from_dict

from .helpers import design, two_convs
from .test_fast_engine import chains, dags
from .test_fifo_batch import FOLDS

AUTO = {"sizing": "auto"}


def _check_minimal(spec, g, r) -> None:
    """Every auto FIFO one entry shallower: longer II (last or mean) or a deadlock."""
    ex = dict(r.extra)
    n = len(ex["frame_completion_cycles"])
    stages = build_stages(spec, g, fold(spec, g).folds())
    depths = {f["fifo"]: f["depth"] for f in ex["fifos"]}
    sized = with_depths(stages, depths)
    base = try_pipeline_fast(sized, n)
    assert base is not None and list(base.completion) == ex["frame_completion_cycles"]
    for f in ex["fifos"]:
        if f["origin"] != "auto" or f["depth"] == 1:
            continue
        run = try_pipeline_fast(with_depths(sized, {f["fifo"]: f["depth"] - 1}), n)
        assert run is None or any(a > b for a, b in zip(ii_of(run), ii_of(base), strict=True)), f


def _swu_refill_bound(g, folds) -> int:
    return max([swu_finn_cycles(g[n], folds[n][1]) for n in folds if g[n].op == "conv2d"],
               default=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_random_chains_reach_the_bound_with_minimal_fifos(case) -> None:
    g, folds = case
    spec = design(folds, batch=4, fifo=AUTO)
    r = simulate_dataflow(spec, g)
    ex = dict(r.extra)
    assert ex["fifo_sizing"] == "auto"
    # as with deep FIFOs, only an SWU's frame-boundary refill can cost more than
    # the slowest stage
    if _swu_refill_bound(g, folds) <= ex["ii_bound_cycles"]:
        assert r.ii_cycles == ex["ii_bound_cycles"] and ex["ii_limited_by"] == "stage"
    _check_minimal(spec, g, r)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_keep_the_unbounded_ii_with_minimal_fifos(case) -> None:
    g, folds = case
    spec = design(folds, batch=4, fifo=AUTO)
    r = simulate_dataflow(spec, g)
    ex = dict(r.extra)
    deep = simulate_dataflow(design(folds, batch=4, fifo={"default_depth": 4096}), g)
    assert r.ii_cycles == deep.ii_cycles and r.ii_mean_cycles == deep.ii_mean_cycles
    if _swu_refill_bound(g, folds) <= ex["ii_bound_cycles"]:
        assert r.ii_cycles == ex["ii_bound_cycles"]
    _check_minimal(spec, g, r)


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
    sizes = {f["fifo"]: f for f in ex["fifos"]}
    # one deeper FIFO does it: b's window FIFO (6 windows) lets b's SWU run
    # ahead of its MVTU, so a no longer stalls; the rest stay at one entry
    assert sizes["b.windows"]["depth"] == 6 and sizes["b.windows"]["reference_peak"] == 51
    assert all(f["depth"] == 1 for n, f in sizes.items() if n != "b.windows")
    _check_minimal(design(FOLDS, batch=5, fifo=AUTO), g, r)


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
    (None, "auto"), ({}, "auto"), ({"default_depth": 2}, "fixed"),
    ({"default_depth": 2, "sizing": "auto"}, "auto"), ({"sizing": "fixed"}, "fixed"),
    ({"depths": {"x": 3}}, "auto")])
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
    stage); auto-sized, it runs at the bound."""
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
    assert sum(x["bits"] for x in b["fifos"]) == 19792
