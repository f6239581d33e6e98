"""Published numbers: Horowitz 2014 anchors, binary-op energy band, bit-serial
scaling, XNOR-Net's bounds."""

from __future__ import annotations

import pytest
import validation_checks as vc

from bnnarch.array.simulate import simulate_layer
from bnnarch.tech import tech_for


def test_horowitz_points_reproduced() -> None:
    c = vc.check_horowitz()
    assert c.passed, c.rows
    t = tech_for(45)
    assert t.fa_bit_pj * 32 == pytest.approx(0.1)
    assert t.sram_access_pj_per_bit(32) * 64 == pytest.approx(20.0)


def test_binary_op_energy_in_published_band() -> None:
    c = vc.check_binary_op_energy()
    assert c.passed, c.rows
    lo, hi = vc.BAND_FJ_PER_OP
    for design, node, datapath, onchip, _at_ref, _ in c.rows:
        assert datapath < onchip  # SRAM traffic adds to the datapath
        if node in (22, 28):  # the nodes of the band's chips: raw numbers in band too
            assert lo <= onchip <= hi, design


def test_tops_per_w_table_names_its_sources() -> None:
    c = vc.check_tops_per_w(("xnor32",))
    chips = [r for r in c.rows if not str(r[0]).startswith("bnnarch")]
    assert len(chips) == len(vc.CHIPS)
    assert all(r[3] for r in chips)


def test_bit_serial_scaling() -> None:
    c = vc.check_bit_serial()
    assert c.passed, [r for r in c.rows if r[4] != r[6]]


@pytest.mark.parametrize("wb,ab", [(1, 2), (2, 2), (4, 8)])
def test_bit_serial_ws_is_exact_multiple(wb: int, ab: int) -> None:
    spec = vc.scalesim_equivalent_spec(8, 8, "ws")
    layer = vc.conv("l", 16, 8, 24, 3, 1, 1)
    c11 = simulate_layer(layer, spec).compute_cycles
    assert simulate_layer(layer.with_bits(wb, ab), spec).compute_cycles == wb * ab * c11


def test_xnornet_speedup_worked_example() -> None:
    assert vc.xnornet_speedup(256, 9) == pytest.approx(62.27, abs=0.005)
    c = vc.check_xnornet()
    assert c.passed, c.rows
