"""Feature maps held on chip between layers (buffers.activations.hold_kib)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnnarch.array.mapper import map_layer
from bnnarch.array.residency import hold_plan
from bnnarch.array.simulate import output_bits, simulate
from bnnarch.errors import SpecError
from bnnarch.result import SimResult
from bnnarch.template import load_design
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload
from bnnarch.workload.layer import Layer

from .helpers import conv, design

ROOT = Path(__file__).resolve().parents[2]


def _graph() -> WorkloadGraph:
    """c1 -> c2 -> c3 -> add(c3, c1) -> c4: c1's map lives until the add."""
    c1 = conv(cin=8, cout=16, hw=8, name="c1")
    c2 = Layer("c2", "conv2d", ("c1",), (16, 8, 8), (16, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1),
               1, 1, 1)
    c3 = Layer("c3", "conv2d", ("c2",), (16, 8, 8), (16, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1),
               1, 1, 1)
    add = Layer("add", "add", ("c3", "c1"), (16, 8, 8), (16, 8, 8))
    c4 = Layer("c4", "conv2d", ("add",), (16, 8, 8), (16, 8, 8), (3, 3), (1, 1), (1, 1),
               (1, 1), 1, 1, 1)
    return WorkloadGraph("g", c1.in_shape, (c1, c2, c3, add, c4))


@pytest.mark.parametrize("hold_bits,want", [
    # each map is 16 x 8 x 8 x 1 bit = 1024 bits; lifetimes (layer indices):
    # c1 0..3 (until the add), c2 1..2, c3 2..3, add 3..4; c4 is the output
    (0, set()),
    (1023, set()),
    (1024, {"c1"}),                        # c1 fills the region until the add
    (2048, {"c1", "c2", "add"}),           # c3 would need 3072 bits at c3
    (3072, {"c1", "c2", "c3", "add"}),
])
def test_first_fit_over_each_maps_lifetime(hold_bits, want):
    g = _graph()
    spec = design(buffers__activations__hold_kib=hold_bits / 8192)
    assert hold_plan(g, spec, output_bits(g, spec)) == want


def test_held_layers_skip_dram_for_their_maps():
    g = load_workload(ROOT / "workloads" / "resnet18.json")
    off = simulate(load_design(ROOT / "designs" / "xnor32.yaml"), g, engine="recurrence")
    on = simulate(load_design(ROOT / "designs" / "xnor32_hold.yaml"), g, engine="recurrence")
    held_in = [r for r in on.layers if "on-chip:in" in r.mapping]
    assert len(held_in) >= 10
    by_name = {r.name: r for r in off.layers}
    layers = {x.name: x for x in g}
    spec_on = load_design(ROOT / "designs" / "xnor32_hold.yaml")
    for r in held_in:
        x = layers[r.name]
        s = map_layer(x, spec_on, (True, "out" in r.mapping.split("on-chip:")[1]))
        assert s.load_bits[1] == 0 < map_layer(x, spec_on).load_bits[1]  # no input-map loads
        assert r.dram_read_bits == s.load_bits[0] + s.load_bits[2]  # weights + partial sums
        assert r.dram_read_bits < by_name[r.name].dram_read_bits

    def dram(res: SimResult) -> int:
        return sum(x.dram_read_bits + x.dram_write_bits for x in res.layers)

    assert dram(on) < 0.9 * dram(off)
    assert on.energy_pj < off.energy_pj


def test_hold_region_errors_name_the_field():
    with pytest.raises(SpecError) as e:
        design(buffers__weights__hold_kib=1, buffers__activations__hold_kib=1024)
    text = str(e.value) + " ".join(str(x) for x in getattr(e.value, "errors", []))
    assert "buffers.weights.hold_kib" in text and "buffers.activations.hold_kib" in text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=14), st.integers(0, 6000))
def test_held_maps_never_exceed_the_hold_region(skips, hold_bits):
    """Random residual nets (3x3 convs of 16 channels; a nonzero entry adds the
    previous map and the one that many layers back): at every layer the maps held
    across it fit the region, every held map has a consumer, and the network
    output is not held."""
    layers: list[Layer] = []
    for i, skip in enumerate(skips):
        if skip and len(layers) > skip:
            a, b = layers[-1], layers[-1 - skip]
            layers.append(Layer(f"a{i}", "add", (a.name, b.name), a.out_shape, a.out_shape))
        else:
            src, cin = ("input", 8) if not layers else (layers[-1].name, 16)
            layers.append(Layer(f"c{i}", "conv2d", (src,), (cin, 6, 6), (16, 6, 6), (3, 3),
                                (1, 1), (1, 1), (1, 1), 1, 1, 1))
    g = WorkloadGraph("r", (8, 6, 6), tuple(layers))
    spec = design(buffers__activations__hold_kib=hold_bits / 8192)
    bits = output_bits(g, spec)
    held = hold_plan(g, spec, bits)
    order = [x.name for x in g]
    size = {x.name: x.out_elems * bits[x.name] for x in g}
    last = {s: i for i, x in enumerate(g) for s in x.inputs}
    assert order[-1] not in held
    assert all(name in last for name in held)
    for i in range(len(order)):
        live = sum(size[n] for n in held if order.index(n) <= i <= last[n])
        assert live <= spec.buffers.activations.hold_bits
