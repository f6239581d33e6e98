"""Properties over random small chains: the simulated MVTU busy cycles equal
FINN's formula, the II is never below the slowest stage, and with deep FIFOs
it equals the slowest stage's cycles unless an SWU's frame-boundary refill
(bounded by FINN's SWU estimate) costs more."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from bnnarch.dataflow.fold import divisors
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.timing import mvtu_cycles, swu_finn_cycles
from bnnarch.workload.builder import GraphBuilder

from .helpers import design


@st.composite
def chains(draw):
    cin = draw(st.sampled_from([1, 2, 3, 4, 8]))
    hw = draw(st.integers(5, 9))
    b = GraphBuilder("rand", (cin, hw, hw))
    n_conv = draw(st.integers(1, 2))
    for i in range(n_conv):
        b.conv(f"c{i}", draw(st.sampled_from([2, 4, 8])), draw(st.sampled_from([1, 3])),
               s=1, p=draw(st.integers(0, 1)))
    if b.shapes[b.last][1] >= 2 and draw(st.booleans()):
        b.pool("mp", 2)
    b.linear("fc", draw(st.sampled_from([2, 10])))
    g = b.build()
    folds = {}
    for layer in g.compute_layers():
        from bnnarch.dataflow.timing import mvtu_dims

        mw, mh = mvtu_dims(layer)
        folds[layer.name] = (draw(st.sampled_from(divisors(mh))),
                             draw(st.sampled_from(divisors(mw))))
    depth = draw(st.sampled_from([1, 2, 64]))
    return g, folds, depth


@settings(max_examples=60, deadline=None, derandomize=True)
@given(chains())
def test_random_chains(case) -> None:
    g, folds, depth = case
    r = simulate_dataflow(design(folds, batch=4, fifo={"default_depth": depth}), g)
    ex = dict(r.extra)
    stages = {s["stage"]: s for s in ex["stages"]}
    for name, (pe, simd) in folds.items():
        assert stages[name]["ii_cycles"] == mvtu_cycles(g[name], pe, simd)
    assert ex["ii_cycles"] >= ex["ii_bound_cycles"]
    if depth == 64:
        # deep FIFOs decouple the stages: only an SWU's frame-boundary refill
        # (bounded by FINN's SWU estimate) can push the II above the slowest stage
        swu = [swu_finn_cycles(g[n], folds[n][1]) for n in folds if g[n].op == "conv2d"]
        assert ex["ii_cycles"] <= max([ex["ii_bound_cycles"], *swu])
        if max(swu, default=0) <= ex["ii_bound_cycles"]:
            assert ex["ii_cycles"] == ex["ii_bound_cycles"]
    c = ex["frame_completion_cycles"]
    assert all(b > a for a, b in itertools.pairwise(c))
    assert all(s["fifo_peak"] <= s["fifo_depth"] for s in stages.values())
