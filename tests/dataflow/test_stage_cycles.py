"""Stage timing against FINN's MVTU cycle model and our SWU buffer-fill model."""

from __future__ import annotations

import pytest

from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.timing import mvtu_cycles, swu_cycles, swu_finn_cycles

from .helpers import design, one_layer

# (op, cin, hw, cout, k, s, pe, simd)
CASES = [
    ("linear", 4, 4, 32, 1, 1, 8, 16),  # MW=64, MH=32: (32/8)*(64/16) = 16
    ("linear", 1, 28, 64, 1, 1, 1, 1),
    ("linear", 1, 28, 64, 1, 1, 64, 784),
    ("conv2d", 3, 8, 16, 3, 1, 4, 3),  # FINN CNV conv0-like: SIMD = Cin
    ("conv2d", 16, 6, 32, 3, 1, 8, 16),
    ("conv2d", 16, 7, 8, 3, 2, 2, 48),  # SIMD does not divide Cin (SWU at gcd)
    ("conv2d", 8, 5, 8, 1, 1, 8, 8),
]


def _finn_mw_mh_vectors(op: str, cin: int, hw: int, cout: int, k: int, s: int) -> tuple[int, int, int]:
    """FINN's MVTU matrix from the layer's definition alone (no padding here):
    MW = k*k*Cin (conv; an FC layer's whole flattened input), MH = Cout, one
    vector per output pixel."""
    if op == "linear":
        return cin * hw * hw, cout, 1
    out_hw = (hw - k) // s + 1
    return k * k * cin, cout, out_hw * out_hw


@pytest.mark.parametrize("case", CASES)
def test_mvtu_stage_matches_finn_formula(case: tuple) -> None:
    op, cin, hw, cout, k, s, pe, simd = case
    mw, mh, vectors = _finn_mw_mh_vectors(op, cin, hw, cout, k, s)
    assert mh % pe == 0 and mw % simd == 0  # FINN's folding constraint
    finn = (mh // pe) * (mw // simd) * vectors
    g = one_layer(op, cin, hw, cout, k, s)
    layer = g["l"]
    r = simulate_dataflow(design({"l": (pe, simd)}, batch=3), g)
    stages = {st["stage"]: st for st in dict(r.extra)["stages"]}
    assert (stages["l"]["mw"], stages["l"]["mh"]) == (mw, mh)  # the report agrees
    assert mvtu_cycles(layer, pe, simd) == finn
    assert stages["l"]["ii_cycles"] == finn  # busy cycles per frame, from the simulation
    lr = r.layers[0]
    assert lr.compute_cycles == max(finn, swu_cycles(layer, simd) if op == "conv2d" else 0)
    # the slowest stage sets the steady-state II when FIFOs do not limit it
    ex = dict(r.extra)
    assert ex["ii_cycles"] == ex["ii_bound_cycles"] == max(st["ii_cycles"] for st in stages.values())


def test_bit_serial_multiplies_cycles_by_passes() -> None:
    g = one_layer("conv2d", 8, 6, 8, bits=(2, 4))
    wide = simulate_dataflow(design({"l": (4, 8)}, batch=3), g)
    serial = simulate_dataflow(design({"l": (4, 8)}, batch=3, multibit={"mode": "bit_serial"}), g)
    w = {s["stage"]: s for s in dict(wide.extra)["stages"]}["l"]["ii_cycles"]
    b = {s["stage"]: s for s in dict(serial.extra)["stages"]}["l"]["ii_cycles"]
    assert w == mvtu_cycles(g["l"], 4, 8)
    assert b == 8 * w
    # same work, so the same XNOR / popcount energy; wider lanes cost area instead
    ew, es = dict(wide.layers[0].energy_breakdown_pj), dict(serial.layers[0].energy_breakdown_pj)
    assert ew["xnor"] == pytest.approx(es["xnor"])
    assert wide.area_mm2 > serial.area_mm2


def test_swu_bound_layer_runs_at_swu_cycles() -> None:
    """PE = MH and SIMD = MW make the MVTU take one cycle per window, so the
    SWU (K*K*Cin/SIMD words per window, Cin/SIMD per input pixel) sets the II.
    With a whole-frame line buffer the next frame is prefetched and the II is
    the SWU's busy time exactly; with the default K + stride rows the refill
    at each frame boundary is a bubble, bounded by FINN's own estimate."""
    g = one_layer("conv2d", 4, 9, 4, k=3)
    layer = g["l"]
    big = simulate_dataflow(design({"l": (4, 36)}, batch=4, swu={"extra_rows": 6}), g)
    ex = dict(big.extra)
    assert ex["bottleneck_stage"] == "l.swu"
    assert ex["ii_cycles"] == swu_cycles(layer, 36) == max(81 * 1, 49 * 9)
    small = dict(simulate_dataflow(design({"l": (4, 36)}, batch=4), g).extra)
    assert swu_cycles(layer, 36) < small["ii_cycles"] <= swu_finn_cycles(layer, 36)
    assert swu_finn_cycles(layer, 36) == 9 * 3 * 1 + 7 * max(7 * 9, 1 * 9 * 1)


def test_maxpool_and_fused_thresholds() -> None:
    from bnnarch.workload.builder import GraphBuilder

    b = GraphBuilder("cp", (4, 10, 10))
    b.conv("c", 8, 3, p=0)
    b.threshold("t")
    b.pool("mp", 2)
    b.linear("fc", 10)
    g = b.build()
    r = simulate_dataflow(design({"c": (8, 36), "fc": (10, 128)}, batch=3), g)
    by = {lr.name: lr for lr in r.layers}
    assert by["t"].engine == "fused" and by["t"].cycles == 0
    assert by["mp"].engine == "pool" and by["mp"].compute_cycles == 64  # 8x8 input pixels, one per cycle
    assert by["c"].energy_breakdown_pj and dict(by["c"].energy_breakdown_pj)["threshold"] > 0


def test_precision_map_changes_passes_and_thresholds(root) -> None:
    from bnnarch.template import load_design
    from bnnarch.workload.io import load_workload

    g = load_workload(root / "workloads/sfc.json")
    spec = load_design(root / "designs/finn_sfc.yaml")
    serial = spec.model_copy(update={"multibit": spec.multibit.model_copy(
        update={"mode": "bit_serial"})})
    base = simulate_dataflow(serial, g)
    two = simulate_dataflow(serial, g, {"fc1": (2, 2)})
    sb = {s["stage"]: s for s in dict(base.extra)["stages"]}
    s2 = {s["stage"]: s for s in dict(two.extra)["stages"]}
    assert s2["fc1"]["ii_cycles"] == 4 * sb["fc1"]["ii_cycles"] == 64  # 2 x 2 bit-serial passes
    assert dict(two.extra)["bottleneck_stage"] == "fc1" and two.ii_cycles == 64
    # fc0 now quantises its outputs to 2 bits: 3 thresholds per channel instead of 1
    t0 = dict(base.layers[0].energy_breakdown_pj)["threshold"]
    t2 = dict(two.layers[0].energy_breakdown_pj)["threshold"]
    assert t2 == pytest.approx(3 * t0)
