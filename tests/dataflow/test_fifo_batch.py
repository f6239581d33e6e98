"""Back-pressure: an under-sized FIFO stalls the pipeline; batch latency L + (N-1) x II."""

from __future__ import annotations

import pytest

from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload

from .helpers import design, two_convs

# conv a: 100 windows x (16/1)*(72/8) = 14,400 cycles; conv b: 64 x (16/1)*(144/9) = 16,384
FOLDS = {"a": (1, 8), "b": (1, 9), "fc": (10, 16)}


def _stages(r) -> dict:
    return {s["stage"]: s for s in dict(r.extra)["stages"]}


def test_undersized_fifo_stalls_the_pipeline() -> None:
    g = two_convs()
    deep = simulate_dataflow(design(FOLDS, batch=5, fifo={"default_depth": 64}), g)
    tight = simulate_dataflow(design(FOLDS, batch=5, fifo={"default_depth": 1}), g)
    d, t = dict(deep.extra), dict(tight.extra)
    # deep FIFOs: the slowest stage (b's MVTU) sets the II
    assert d["ii_cycles"] == d["ii_bound_cycles"] == 16 * 16 * 64
    assert d["bottleneck_stage"] == "b" and d["ii_limited_by"] == "stage"
    # depth 1 between a and b: b's SWU takes rows in bursts (its line buffer
    # frees a row per output row), a blocks on the full FIFO, the lost cycles
    # cannot be made up later: the II exceeds the slowest stage's
    assert t["ii_cycles"] > t["ii_bound_cycles"] == d["ii_bound_cycles"]
    assert t["ii_limited_by"] == "fifo"
    a_tight, a_deep = _stages(tight)["a"], _stages(deep)["a"]
    assert a_tight["wait_out_cycles"] > 0  # a blocked by back-pressure
    assert a_tight["fifo_peak"] == 1 and a_tight["fifo_depth"] == 1
    assert a_deep["fifo_peak"] > 1  # the deep FIFO absorbs the bursts
    # the stall shows per layer too: b's period exceeds its busy cycles
    lb = {lr.name: lr for lr in tight.layers}["b"]
    assert lb.stall_cycles == lb.cycles - lb.compute_cycles > 0


def test_per_layer_fifo_depth_overrides_default() -> None:
    g = two_convs()
    r = simulate_dataflow(design(FOLDS, batch=4, fifo={"default_depth": 1, "depths": {"b": 64}}),
                          g)
    ex = dict(r.extra)
    assert _stages(r)["a"]["fifo_depth"] == 64  # FIFO in front of layer b
    assert ex["ii_cycles"] == ex["ii_bound_cycles"]


@pytest.mark.parametrize("n", [2, 5, 9])
def test_batch_latency_is_first_latency_plus_ii_per_frame(n: int) -> None:
    g = two_convs()
    r = simulate_dataflow(design(FOLDS, batch=n, fifo={"default_depth": 8}), g)
    ex = dict(r.extra)
    L, ii, total = ex["first_frame_latency_cycles"], ex["ii_cycles"], ex["batch_cycles"]
    assert total == ex["frame_completion_cycles"][n - 1]
    assert r.total_cycles == L and r.fps == pytest.approx(100e6 / ii)
    assert total == pytest.approx(L + (n - 1) * ii, rel=0.01)


def test_finn_cnv_batch_matches_l_plus_n_ii(root) -> None:
    spec = load_design(root / "designs/finn_cnv.yaml")
    g = load_workload(root / "workloads/cnv.json")
    r = simulate_dataflow(spec, g, frames=6)
    c = dict(r.extra)["frame_completion_cycles"]
    L, ii = c[0], c[-1] - c[-2]
    for n in range(1, 7):
        assert c[n - 1] == pytest.approx(L + (n - 1) * ii, rel=0.02)
