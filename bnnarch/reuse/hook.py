"""The simulator's entry points into reuse (kept small on the simulator side):

    hook = ReuseHook.for_layer(layer, spec)        # no-op unless the design enables reuse
    timed = run_tiles(hook.schedule(s).tiles, spec)   # compute-tile cycles scaled
    e = hook.energy(compute_layer_energy(s, spec, dram_bits))
    util *= hook.executed_fraction
    LayerResult(..., extra=hook.extra)

and, per workload, ``area_mm2(spec)`` and ``totals(result, baseline)``
(SimResult.extra: work skipped, energy saved by each scheme, net effect
against the same design without reuse).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from bnnarch.reuse.cost import adjust_energy, reuse_area_mm2, scale_schedule
from bnnarch.reuse.effect import SCHEMES, ReuseEffect, reuse_effect
from bnnarch.sim.mapper import Schedule
from bnnarch.spec.array import ArraySpec
from bnnarch.workload.layer import Layer


@dataclass
class ReuseHook:
    layer: Layer
    spec: ArraySpec
    effect: ReuseEffect | None
    _plain: Schedule | None = None
    extra: tuple[tuple[str, Any], ...] = field(default=())

    @classmethod
    def for_layer(cls, layer: Layer, spec: ArraySpec) -> ReuseHook:
        return cls(layer, spec, reuse_effect(layer, spec))

    def schedule(self, s: Schedule) -> Schedule:
        self._plain = s
        if self.effect is not None and self.spec.reuse.policy == "energy":
            self.effect = choose_by_energy(self.layer, s, self.effect, self.spec)
        return scale_schedule(s, self.effect, self.spec) if self.effect else s

    def energy(self, e: Counter[str]) -> Counter[str]:
        if self.effect is None or self._plain is None:
            return e
        out, ex = adjust_energy(self.layer, self._plain, e, self.effect, self.spec)
        self.extra = tuple(sorted(ex.items()))
        return out

    @property
    def executed_fraction(self) -> float:
        c = self.effect.chosen if self.effect else None
        return c.word_ops / c.plain_word_ops if c and c.plain_word_ops else 1.0


def choose_by_energy(layer: Layer, s: Schedule, eff: ReuseEffect, spec: ArraySpec) -> ReuseEffect:
    """``policy: energy``: the applicable scheme whose dynamic savings exceed its
    own energy by the most (the compiler knows both from the statistics), or none."""
    from bnnarch.cost.energy import compute_layer_energy

    e = compute_layer_energy(s, spec, 0)
    best, best_net = None, 0.0
    for c in eff.counts:
        if not c.applicable:
            continue
        _, ex = adjust_energy(layer, s, e, replace(eff, applied=c.scheme), spec)
        net = ex["reuse_saved_pj"] - ex["reuse_overhead_pj"]
        if net > best_net:
            best, best_net = c.scheme, net
    return replace(eff, applied=best)


def area_mm2(spec: ArraySpec) -> dict[str, float]:
    return {"reuse": reuse_area_mm2(spec)} if spec.reuse.any_enabled else {}


def without_reuse(spec: ArraySpec) -> ArraySpec:
    r = spec.reuse
    return spec.model_copy(update={"reuse": r.model_copy(update={
        "kernel_pattern": r.kernel_pattern.model_copy(update={"enabled": False}),
        "input_similarity": r.input_similarity.model_copy(update={"enabled": False})})})


def totals(result: Any, baseline: Any) -> tuple[tuple[str, Any], ...]:
    """SimResult.extra scalars: per scheme the word-ops and XNOR bits skipped
    (per frame and as a fraction of the binary conv layers' plain work), the
    dynamic energy saved, the schemes' own energy, and the net change of
    cycles and energy against ``baseline`` (same design, reuse disabled)."""
    ex = [dict(lr.extra) for lr in result.layers]
    rows = [x for x in ex if "reuse_scheme" in x]
    out: dict[str, Any] = {}
    plain_w = sum(x["reuse_plain_word_ops"] for x in rows)
    plain_b = sum(x["reuse_plain_xnor_bits"] for x in rows)
    for sch in SCHEMES:
        key = f"reuse_{sch}_skipped_word_ops"
        if not any(key in x for x in rows):
            continue
        w = sum(x.get(key, 0.0) for x in rows)
        b = sum(x.get(f"reuse_{sch}_skipped_xnor_bits", 0.0) for x in rows)
        out[f"reuse {sch}: layers applied"] = sum(1 for x in rows if x["reuse_scheme"] == sch)
        out[f"reuse {sch}: word-ops skipped %"] = 100 * w / plain_w if plain_w else 0.0
        out[f"reuse {sch}: XNOR bits skipped %"] = 100 * b / plain_b if plain_b else 0.0
        out[f"reuse {sch}: energy saved uJ"] = sum(
            x["reuse_saved_pj"] for x in rows if x["reuse_scheme"] == sch) / 1e6
        out[f"reuse {sch}: own energy uJ"] = sum(
            x["reuse_overhead_pj"] for x in rows if x["reuse_scheme"] == sch) / 1e6
    out["reuse: operand SRAM reads saved %"] = _sram_saved_pct(rows)
    out["reuse: area mm2"] = dict(result.area_breakdown_mm2).get("reuse", 0.0)
    if baseline is not None:
        out["reuse: cycles vs no reuse %"] = _pct(result.total_cycles, baseline.total_cycles)
        out["reuse: energy vs no reuse % (net)"] = _pct(result.energy_pj, baseline.energy_pj)
    return tuple(out.items())


def _pct(a: float, b: float) -> float:
    return 100 * (a - b) / b if b else 0.0


def _sram_saved_pct(rows: list[dict[str, Any]]) -> float:
    """Operand SRAM bits (weights + activations read by the array) that the
    skipped word-ops did not read, as a % of the binary conv layers' plain ones."""
    plain = sum(x["reuse_operand_sram_bits"] for x in rows)
    return 100 * sum(x["reuse_sram_bits_saved"] for x in rows) / plain if plain else 0.0
