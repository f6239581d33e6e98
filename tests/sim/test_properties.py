"""Property tests over random layers and designs."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnarch.array.simulate import simulate_layer
from bnnarch.workload.layer import Layer, conv_out

from .helpers import design

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "conv", "dw", "linear"]))
    bits = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 4), (4, 4), (8, 8)]))
    if kind == "linear":
        cin = draw(st.integers(1, 600))
        cout = draw(st.integers(1, 300))
        return Layer("l", "linear", ("input",), (cin, 1, 1), (cout, 1, 1), w_bits=bits[0],
                     a_bits=bits[1])
    k = draw(st.sampled_from([1, 3, 5]))
    s = draw(st.sampled_from([1, 2]))
    h = draw(st.integers(k, 20))
    p = k // 2
    cin = draw(st.integers(1, 96))
    groups = 1
    cout = draw(st.integers(1, 96))
    if kind == "dw":
        groups, cout = cin, cin
    ho = conv_out(h, k, s, p)
    return Layer("c", "conv2d", ("input",), (cin, h, h), (cout, ho, ho), (k, k), (s, s), (p, p),
                 (1, 1), groups, *bits)


@st.composite
def designs(draw):
    ic = draw(st.sampled_from(["broadcast", "systolic"]))
    df = draw(st.sampled_from(["os", "ws", "is"])) if ic == "systolic" else None
    simd = draw(st.sampled_from([8, 32, 64, 128]))
    return {
        "array__rows": draw(st.sampled_from([1, 2, 4, 8, 16])),
        "array__cols": draw(st.sampled_from([1, 2, 4, 8, 16])),
        "array__simd_bits": simd,
        "array__interconnect": ic,
        "array__dataflow": df,
        "dram__bandwidth_gbps": draw(st.sampled_from([0.5, 2.0, 8.0, 64.0])),
        "dram__latency_ns": draw(st.sampled_from([0, 20, 100])),
        "buffers__weights__capacity_kib": draw(st.sampled_from([16, 64, 1024])),
        "buffers__activations__capacity_kib": draw(st.sampled_from([16, 64, 1024])),
        "buffers__outputs__capacity_kib": draw(st.sampled_from([16, 64, 1024])),
        "buffers__weights__double_buffered": draw(st.booleans()),
    }


def _sim(layer, over):
    return simulate_layer(layer, design(**over))


@SETTINGS
@given(layers(), designs())
def test_cycles_at_least_roofline(layer, over):
    spec = design(**over)
    r = simulate_layer(layer, spec)
    a = spec.array
    peak = a.rows * a.cols * a.simd_bits
    assert r.cycles >= math.ceil(layer.macs * layer.w_bits * layer.a_bits / peak)
    assert r.cycles >= math.ceil((r.dram_read_bits + r.dram_write_bits) / spec.dram_bits_per_cycle)
    assert r.compute_cycles <= r.cycles
    assert 0.0 <= r.utilization <= 1.0


@SETTINGS
@given(layers(), designs())
def test_counts_are_integers_and_ledger_sums(layer, over):
    r = _sim(layer, over)
    for v in (r.cycles, r.compute_cycles, r.stall_cycles, r.dram_read_bits, r.dram_write_bits):
        assert isinstance(v, int) and v >= 0
    assert math.isclose(sum(v for _, v in r.energy_breakdown_pj), r.energy_pj, rel_tol=1e-12)
    assert all(v >= 0 for _, v in r.energy_breakdown_pj)


@SETTINGS
@given(layers(), designs())
def test_more_bandwidth_never_slower(layer, over):
    slow = _sim(layer, over)
    fast = _sim(layer, {**over, "dram__bandwidth_gbps": over["dram__bandwidth_gbps"] * 4})
    assert fast.cycles <= slow.cycles


@SETTINGS
@given(layers(), designs())
def test_bigger_buffers_never_slower(layer, over):
    small = _sim(layer, over)
    big = _sim(layer, {**over, **{f"buffers__{b}__capacity_kib": 4 * over[f"buffers__{b}__capacity_kib"]
                                 for b in ("weights", "activations", "outputs")}})
    assert big.cycles <= small.cycles
