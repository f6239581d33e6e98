"""``mapping.objective: energy``: each candidate's closed-form dynamic energy
equals the energy ledger of its tile-by-tile schedule, and the mapper picks the
least-energy schedule (ties: fewest cycles); latency stays the default."""

from __future__ import annotations

import pytest

from bnnarch.array import mapper
from bnnarch.array.candidates import ORDERS
from bnnarch.array.energy import compute_layer_energy
from bnnarch.array.engine import run_tiles_fast
from bnnarch.array.simulate import simulate_layer

from .helpers import design
from .test_kernel import DESIGNS, LAYERS, _setup


@pytest.mark.parametrize("over,held", [(d, (False, False)) for d in DESIGNS]
                         + [(DESIGNS[1], (True, True))],
                         ids=["small", "ws-single-out", "os-single-w", "held"])
def test_energy_objective_picks_least_ledger_energy(over, held):
    spec = design(**over, mapping__objective="energy")
    for layer in LAYERS:
        c, (wb, ab, passes, engine, acc, _geo) = _setup(layer, spec, held)
        assert c.energy is not None
        ledger = []
        for i in range(len(c)):
            s = mapper._build(layer, spec, engine, *mapper._unpack(c, i, ORDERS), passes, wb, ab,
                              acc, ab, held)
            e = sum(compute_layer_energy(s, spec, s.dram_bits).values())
            assert c.energy[i] == pytest.approx(e, rel=1e-12), (layer.name, i)
            ledger.append((e, run_tiles_fast(s.tiles, spec).cycles))
        got = mapper.map_layer(layer, spec, held)
        e_min = min(e for e, _ in ledger)
        want_cycles = min(cyc for e, cyc in ledger if e == pytest.approx(e_min, rel=1e-12))
        assert sum(compute_layer_energy(got, spec, got.dram_bits).values()) == pytest.approx(e_min)
        assert got.cycles == want_cycles


@pytest.mark.parametrize("over", DESIGNS, ids=["small", "ws-single-out", "os-single-w"])
def test_objectives_trade_cycles_for_energy(over):
    lat, en = design(**over), design(**over, mapping__objective="energy")
    assert lat.mapping.objective == "latency"
    for layer in LAYERS:
        a, b = simulate_layer(layer, lat, engine="recurrence"), simulate_layer(layer, en,
                                                                              engine="recurrence")
        assert a.cycles <= b.cycles
        assert b.energy_pj <= a.energy_pj * (1 + 1e-12)
