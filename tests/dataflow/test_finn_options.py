"""FINN's hardware options against FINN's own cycle formulas: depthwise /
grouped convs (VectorVectorActivation), multiple windows per cycle
(ConvolutionInputGenerator M), transposed convs (FMPadding_Pixel + SWU +
MVAU, InferPixelPaddingDeconv) and data-width converters (InsertDWC,
StreamingDataWidthConverter) — simulated busy cycles equal the formulas,
and both engines agree on every new stage."""

from __future__ import annotations

import math

import pytest

from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.spec import LayerFold
from bnnarch.dataflow.timing import swu_finn_cycles
from bnnarch.errors import SpecError
from bnnarch.template import load_design
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.io import load_workload

from .helpers import design


def _stages(r) -> dict[str, dict]:
    return {s["stage"]: s for s in dict(r.extra)["stages"]}


def test_depthwise_conv_is_finns_vvau() -> None:
    """VVAU get_exp_cycles = Channels*K*K / PE / SIMD * H*W; the SWU emits
    PE channels x SIMD taps per cycle (capped by Cin)."""
    b = GraphBuilder("dw", (16, 8, 8))
    b.conv("dw", 16, 3, p=1, groups=16)
    b.conv("pw", 8, 1)
    g = b.build()
    for pe, simd in [(1, 1), (4, 3), (16, 9), (8, 1)]:
        r = simulate_dataflow(design({"dw": (pe, simd), "pw": (8, 16)}, batch=3), g)
        st = _stages(r)
        assert st["dw"]["ii_cycles"] == 16 * 3 * 3 // pe // simd * 8 * 8
        assert (st["dw"]["mw"], st["dw"]["mh"]) == (9, 16)
        # window values per cycle: PE x SIMD, served at gcd with Cin when it
        # does not divide Cin (the SWU's rule for any conv)
        lanes = pe * simd if 16 % (pe * simd) == 0 else math.gcd(16, pe * simd)
        assert st["dw.swu"]["ii_cycles"] == max(8 * 8 * 16 // lanes, 8 * 8 * 9 * 16 // lanes)
    # weights: one K*K kernel per channel
    assert st["dw"]["weight_depth"] * 8 * 1 == 9 * 16


def test_grouped_conv_folds_mw_per_group() -> None:
    b = GraphBuilder("grp", (8, 6, 6))
    b.conv("g", 8, 3, p=1, groups=2)
    g = b.build()
    r = simulate_dataflow(design({"g": (2, 6)}, batch=3), g)
    st = _stages(r)["g"]
    assert (st["mw"], st["mh"]) == (3 * 3 * 4, 8)  # MW = K*K*Cin/groups
    assert st["ii_cycles"] == (8 // 2) * (36 // 6) * 36


def test_mmv_lifts_cnv_conv0_above_the_swu_cap(root) -> None:
    """CNV conv0 (3 channels, 32x32 -> 30x30, K=3): one window per 27/3 = 9
    cycles caps its SWU at 8,100 cycles/frame; with M = 9 windows per slot
    (FINN: cycles_write_block = Wout*K*K*Cin/SIMD / mmv) it reads 1,024
    pixels and writes 900 windows in 900 cycles."""
    spec = load_design(root / "designs/finn_cnv.yaml")
    g = load_workload(root / "workloads/cnv.json")
    conv0 = g.compute_layers()[0].name
    folds = {conv0: LayerFold(pe=64, simd=27)}
    base = spec.model_copy(update={"folding": spec.folding.model_copy(
        update={"layers": folds, "target_fps": None, "target_cycles": 1024})})
    lf = {x.layer: x for x in fold(base, g).layers}[conv0]
    assert lf.swu_cycles == 30 * 30 * 9 == 8100
    fast = base.model_copy(update={"swu": base.swu.model_copy(update={"mmv": {conv0: 9}})})
    lf9 = {x.layer: x for x in fold(fast, g).layers}[conv0]
    assert lf9.swu_cycles == max(32 * 32 * 1, 30 * 30 * 9 // 9) == 1024
    assert swu_finn_cycles(g[conv0], 3, 9) == 32 * 3 * 1 + 30 * max(30 * 9 // 9, 32)
    r = simulate_dataflow(fast.model_copy(update={"batch": 3}), g)
    st = _stages(r)
    assert st[f"{conv0}.swu"]["ii_cycles"] == 1024
    assert dict(r.extra)["ii_bound_cycles"] < 8100
    bad = base.model_copy(update={"swu": base.swu.model_copy(update={"mmv": {conv0: 4}})})
    with pytest.raises(SpecError, match=rf"swu\.mmv\.{conv0}.*MMV 4 must divide the SWU's 9 "
                                        "write cycles per window at PE=64 SIMD=27"):
        fold(bad, g)


def test_transposed_conv_is_pixel_padding_swu_and_mvau() -> None:
    """FINN InferPixelPaddingDeconv: FMPadding_Pixel (C/SIMD * odim_h *
    odim_w cycles, odim = (H-1)*s + 1; all channels per cycle here), then a
    stride-1 SWU with padding K-1-p and an MVAU of MW = K*K*Cin over the
    H*s x W*s output pixels."""
    b = GraphBuilder("up", (4, 6, 6))
    b.deconv("d", 8, 4, 2)  # 6x6 -> 12x12, padding 1
    g = b.build()
    r = simulate_dataflow(design({"d": (4, 8)}, batch=3), g)
    st = _stages(r)
    assert st["d.pad"]["ii_cycles"] == 11 * 11  # (6-1)*2 + 1
    assert (st["d"]["mw"], st["d"]["mh"]) == (4 * 4 * 4, 8)
    assert st["d"]["ii_cycles"] == (8 // 4) * (64 // 8) * 12 * 12
    assert st["d.swu"]["ii_cycles"] == max(11 * 11 * 4 // 4, 12 * 12 * 64 // 4)
    by = {lr.name: lr for lr in r.layers}
    assert by["d"].engine == "mvtu" and by["d"].macs == g["d"].macs


def test_dwc_between_mvtu_and_swu() -> None:
    """conv a (PE 2) -> conv b (SWU reading 8 channels per cycle): a
    StreamingDataWidthConverter moves one word per cycle on its wider side,
    max(C/PE, C/SIMD) = max(16/2, 16/8) = 8 cycles per pixel; it adds latency,
    never throughput (never slower than the MVTU that feeds it)."""
    b = GraphBuilder("dwc", (8, 10, 10))
    b.conv("a", 16, 3, p=1)
    b.conv("b", 8, 3, p=1)
    g = b.build()
    folds = {"a": (2, 8), "b": (8, 8)}
    plain = simulate_dataflow(design(folds, batch=4), g)
    r = simulate_dataflow(design(folds, batch=4, dwc=True), g)
    st = _stages(r)
    assert "b.dwc" in st and "a.dwc" not in st and "b.dwc" not in _stages(plain)
    assert st["b.dwc"]["ii_cycles"] == 10 * 10 * max(16 // 2, 16 // 8)
    assert r.ii_cycles == plain.ii_cycles
    assert r.latency_cycles > plain.latency_cycles
    # equal widths: no converter
    same = simulate_dataflow(design({"a": (8, 8), "b": (8, 8)}, batch=3, dwc=True), g)
    assert "b.dwc" not in _stages(same)


def test_both_engines_agree_on_the_new_stages() -> None:
    b = GraphBuilder("mix", (4, 8, 8))
    b.conv("a", 8, 3, p=1)
    b.conv("dw", 8, 3, p=1, groups=8)
    b.deconv("up", 4, 2, 2)
    b.conv("c", 4, 3, p=1)
    g = b.build()
    folds = {"a": (2, 4), "dw": (4, 3), "up": (2, 4), "c": (1, 12)}
    for kw in ({}, {"dwc": True}, {"fifo": {"sizing": "auto"}}):
        spec = design(folds, batch=4, **kw)
        assert simulate_dataflow(spec, g, engine="fast") == simulate_dataflow(spec, g,
                                                                              engine="simpy")


def test_early_fc_starts_on_the_first_simd_words() -> None:
    """FINN's MVAU reads an FC's SIMD input words as they arrive during its
    first neuron fold. conv c (8 channels, 4x4 pixels) -> fc (MW = 128, MH =
    10, PE 5, SIMD 16): (10/5) x (128/16) = 16 cycles per frame either way;
    early, it takes items of g = 2 pixels (16 values, one SIMD word) for 1
    cycle each and the second fold (8 cycles) after the last one, so the
    frame leaves (8 - 1) x 1 cycles sooner; the II is the same."""
    b = GraphBuilder("efc", (4, 4, 4))
    b.conv("c", 8, 3, p=1)
    b.linear("fc", 10)
    g = b.build()
    folds = {"c": (8, 36), "fc": (5, 16)}
    plain = simulate_dataflow(design(folds, batch=4), g)
    early = simulate_dataflow(design(folds, batch=4, early_fc=True), g)
    st_p, st_e = _stages(plain), _stages(early)
    assert st_p["fc"]["ii_cycles"] == st_e["fc"]["ii_cycles"] == (10 // 5) * (128 // 16)
    assert plain.latency_cycles - early.latency_cycles == (16 // 2 - 1) * 1
    assert early.ii_cycles == plain.ii_cycles
    assert early.energy_pj == pytest.approx(plain.energy_pj, rel=0.01)
    for spec in (design(folds, batch=4, early_fc=True),
                 design(folds, batch=4, early_fc=True, fifo={"sizing": "auto"})):
        assert simulate_dataflow(spec, g, engine="fast") == simulate_dataflow(spec, g,
                                                                              engine="simpy")


def test_mvtu_pipeline_depth_adds_latency_not_ii() -> None:
    """mvtu_pipeline_cycles: d register stages after each MVTU (finn-hlslib's
    MVAU is an II=1 pipeline a few cycles deep), one item per cycle each: a
    frame takes d more cycles per MVTU on its path (three here), the II is
    the same (deep FIFOs: no back-pressure to change the schedule)."""
    from .helpers import two_convs
    from .test_fifo_batch import FOLDS

    g = two_convs()
    base = simulate_dataflow(design(FOLDS, batch=4, fifo={"default_depth": 8}), g)
    for d in (1, 3):
        spec = design(FOLDS, batch=4, mvtu_pipeline_cycles=d, fifo={"default_depth": 8})
        r = simulate_dataflow(spec, g)
        assert r.latency_cycles == base.latency_cycles + 3 * d
        assert r.ii_cycles == base.ii_cycles
        st = _stages(r)
        assert [st[f"a.reg{i}"]["fifo_depth"] for i in range(d - 1)] == [1] * (d - 1)
        assert {lr.name: lr for lr in r.layers}["a"].mapping.startswith("PE=1 SIMD=8")
        assert r == simulate_dataflow(spec, g, engine="simpy")
    # the SWU's registers: d more cycles per SWU (two here)
    for d in (1, 3):
        spec = design(FOLDS, batch=4, swu_pipeline_cycles=d, fifo={"default_depth": 8})
        r = simulate_dataflow(spec, g)
        assert (r.latency_cycles, r.ii_cycles) == (base.latency_cycles + 2 * d, base.ii_cycles)
        assert r == simulate_dataflow(spec, g, engine="simpy")
    auto = simulate_dataflow(design(FOLDS, batch=4, mvtu_pipeline_cycles=2,
                                    fifo={"sizing": "auto"}), g)
    regs = [f for f in dict(auto.extra)["fifos"] if f["origin"] == "register"]
    assert len(regs) == 3 * 2 and {f["depth"] for f in regs} == {1}


def test_mmv_errors_name_the_field() -> None:
    from bnnarch.template import design_from_dict

    b = GraphBuilder("m", (4, 6, 6))
    b.conv("c0", 4, 3)
    b.linear("fc", 2)
    g = b.build()
    with pytest.raises(SpecError, match=r"swu\.mmv\.c0.*MMV must be >= 1 \(got 0\)"):
        design_from_dict({"name": "t", "template": "dataflow", "clock_mhz": 100,
                          "swu": {"mmv": {"c0": 0}}})
    with pytest.raises(SpecError, match=r"swu\.mmv\.fc.*no convolution named 'fc' in workload "
                                        "'m'"):
        fold(design(folding={"target_cycles": 100}, swu={"mmv": {"fc": 2}}), g)
    # 4 channels: a window is 36 values, its write cycles 36 / (1, 2 or 4 lanes)
    with pytest.raises(SpecError, match=r"swu\.mmv\.c0.*MMV 5 divides the SWU's write cycles "
                                        "per window at no legal folding"):
        fold(design(folding={"target_cycles": 100}, swu={"mmv": {"c0": 5}}), g)
