"""technology.vdd_v: the nominal supply reproduces the tables; dynamic energy
scales with V^2, leakage with V x exp(DIBL); the clock check warns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bnnarch import voltage
from bnnarch.api import simulate
from bnnarch.cli import main
from bnnarch.errors import SpecError
from bnnarch.tech import VDD, supply_warnings, tech_for
from bnnarch.template import load_design, parse_design
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]

DESIGN = """\
name: t
clock_mhz: {clock}
technology: {{node_nm: 28{vdd}}}
array: {{rows: 8, cols: 8, simd_bits: 64}}
buffers:
  weights: {{capacity_kib: 64, port_bits: 512}}
  activations: {{capacity_kib: 64, port_bits: 512}}
  outputs: {{capacity_kib: 64, port_bits: 512}}
dram: {{bandwidth_gbps: 12.8}}
"""


def _design(clock: float = 500, vdd: float | None = None) -> str:
    return DESIGN.format(clock=clock, vdd="" if vdd is None else f", vdd_v: {vdd}")


@pytest.mark.parametrize("node", sorted(VDD))
def test_nominal_supply_reproduces_the_tables(node: int) -> None:
    assert tech_for(node, VDD[node]) == tech_for(node)
    assert tech_for(node).leakage_mw_per_mm2 == 5.0  # the unscaled, sourced table value


@pytest.mark.parametrize("node,v", [(65, 0.6), (65, 1.2), (28, 0.5), (22, 0.4)])
def test_dynamic_energy_scales_with_v_squared(node: int, v: float) -> None:
    t0, t = tech_for(node), tech_for(node, v)
    k = (v / VDD[node]) ** 2
    for field in ("xnor_pj", "popcount_pj_per_bit", "fa_bit_pj", "dff_pj", "mac8_pj", "mac16_pj"):
        assert getattr(t, field) == pytest.approx(k * getattr(t0, field)), field
    assert t.sram_access_pj_per_bit(32) == pytest.approx(k * t0.sram_access_pj_per_bit(32))
    assert t.dram_pj_per_bit == t0.dram_pj_per_bit  # DRAM is not on the accelerator's supply
    assert t.nand2_um2 == t0.nand2_um2 and t.vdd_v == v


def test_leakage_scale_rule() -> None:
    assert voltage.leakage_scale(1.0, 1.0) == 1.0
    expect = 0.6 * math.exp(0.1 * (0.6 - 1.0) / (1.5 * 0.0259))
    assert voltage.leakage_scale(0.6, 1.0) == pytest.approx(expect)
    vs = [0.4, 0.6, 0.8, 1.0, 1.2]
    scales = [voltage.leakage_scale(v, 1.0) for v in vs]
    assert scales == sorted(scales) and scales[0] < 0.1
    assert tech_for(65, 0.6).leakage_mw_per_mm2 == pytest.approx(5.0 * expect)


def test_vdd_changes_energy_not_cycles() -> None:
    g = load_workload(ROOT / "workloads" / "cnv.json")
    r0 = simulate(parse_design(_design()), g, engine="recurrence")
    r1 = simulate(parse_design(_design(vdd=0.6)), g, engine="recurrence")
    assert [x.cycles for x in r1.layers] == [x.cycles for x in r0.layers]
    assert r1.area_mm2 == r0.area_mm2
    e0, e1 = r0.energy_breakdown_pj, r1.energy_breakdown_pj
    assert e1["dram"] == pytest.approx(e0["dram"])
    for k in ("xnor", "popcount", "sram_weights", "sram_activations"):
        assert e1[k] == pytest.approx(e0[k] * (0.6 / 0.9) ** 2), k
    assert e1["leakage"] == pytest.approx(e0["leakage"] * voltage.leakage_scale(0.6, 0.9))


def test_vdd_out_of_range_is_a_field_error() -> None:
    with pytest.raises(SpecError) as ei:
        parse_design(_design(vdd=2.0), "x.yaml")
    errs = [str(e) for e in ei.value.errors]
    msg = "technology.vdd_v (line 3): Input should be less than or equal to 1.5 (got 2.0)"
    assert errs == [msg]


def test_clock_warning_names_its_sources() -> None:
    (w,) = supply_warnings(28, 0.5, 5000)
    assert w.startswith("clock_mhz 5000 exceeds ")
    assert "at 0.5 V in 28 nm: 8 FO4 per cycle (Hrishikesh et al., ISCA 2002)" in w
    assert "alpha-power law (Sakurai & Newton, JSSC 1990)" in w
    (n,) = supply_warnings(28, 0.35, 100)
    assert n.startswith("technology.vdd_v 0.35 V is within 0.1 V of the assumed 0.32 V threshold "
                        "of the 28 nm table: near-threshold operation")
    assert supply_warnings(28, None, 500) == ()
    # the bound falls with the supply (alpha-power law)
    b = [voltage.max_clock_mhz(65, v, 1.0) for v in (0.5, 0.6, 0.8, 1.0, 1.2)]
    assert b == sorted(b)


def test_shipped_designs_raise_no_clock_warning() -> None:
    for p in sorted((ROOT / "designs").rglob("*.yaml")):
        s = load_design(p)
        assert supply_warnings(s.technology.node_nm, s.technology.vdd_v, s.clock_mhz) == (), p


def test_result_and_cli_carry_the_warning(tmp_path, capsys) -> None:
    d = tmp_path / "fast.yaml"
    d.write_text(_design(clock=5000, vdd=0.5))
    g = load_workload(ROOT / "workloads" / "sfc.json")
    r = simulate(parse_design(_design(clock=5000, vdd=0.5)), g, engine="recurrence")
    (w,) = dict(r.extra)["warnings"]
    assert w.startswith("clock_mhz 5000 exceeds")
    assert "warnings" not in simulate(parse_design(_design()), g, engine="recurrence").to_dict()
    out = tmp_path / "r.json"
    assert main(["simulate", str(d), "-w", str(ROOT / "workloads" / "sfc.json"), "-q",
                 "--json", str(out)]) == 0
    assert f"warning: {w}" in capsys.readouterr().out.replace("\n", "")
    assert '"warnings"' in out.read_text()


def test_validate_prints_the_warning(tmp_path, capsys) -> None:
    d = tmp_path / "fast.yaml"
    d.write_text(_design(clock=5000, vdd=0.5))
    assert main(["validate", str(d)]) == 0  # a warning, not an error
    out = capsys.readouterr().out.replace("\n", "")
    assert f"{d}: ok (array template)" in out
    assert f"warning: {d}: clock_mhz 5000 exceeds" in out


def test_dataflow_designs_take_the_supply_too() -> None:
    spec = load_design(ROOT / "designs" / "finn_sfc.yaml")
    low = spec.model_copy(update={"technology": spec.technology.model_copy(
        update={"vdd_v": 0.6})})
    g = load_workload(ROOT / "workloads" / "sfc.json")
    r0, r1 = simulate(spec, g), simulate(low, g)
    assert r1.total_cycles == r0.total_cycles
    dyn0 = r0.energy_pj - r0.energy_breakdown_pj.get("leakage", 0.0)
    dyn1 = r1.energy_pj - r1.energy_breakdown_pj.get("leakage", 0.0)
    assert dyn1 == pytest.approx(dyn0 * (0.6 / 0.9) ** 2)
