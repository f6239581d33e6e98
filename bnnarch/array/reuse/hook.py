"""Computation reuse as a pure plug-in of the array simulator:

    out = apply(layer, spec, schedule, energy)   # ReuseOutcome
    out.schedule   # compute-tile cycles scaled by the chosen scheme (or unchanged)
    out.energy     # the ledger with its savings and its own energy (component ``reuse``)
    out.report     # ReuseReport (per frame), None when the design enables no scheme

and, per workload, ``area_mm2(spec)`` and ``totals(result, baseline)``
(SimResult.extra: work skipped, energy saved by each scheme, net effect
against the same design without reuse).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from bnnarch.array.reuse.cost import ReuseReport, adjust_energy, reuse_area_mm2, scale_schedule
from bnnarch.array.reuse.effect import SCHEMES, ReuseEffect, reuse_effect
from bnnarch.array.schedule import Schedule
from bnnarch.array.spec import ArraySpec
from bnnarch.workload.layer import Layer


@dataclass(frozen=True)
class ReuseOutcome:
    schedule: Schedule
    energy: Counter[str]
    report: ReuseReport | None


def apply(layer: Layer, spec: ArraySpec, schedule: Schedule, energy: Counter[str]) -> ReuseOutcome:
    """The layer's schedule and dynamic-energy ledger with the design's reuse
    schemes applied (unchanged, report None, when none is enabled or applies)."""
    eff = reuse_effect(layer, spec)
    if eff is None:
        return ReuseOutcome(schedule, energy, None)
    if spec.reuse.policy == "energy":
        eff = choose_by_energy(layer, schedule, eff, spec, energy)
    e, report = adjust_energy(layer, schedule, energy, eff, spec)
    return ReuseOutcome(scale_schedule(schedule, eff, spec), e, report)


def choose_by_energy(layer: Layer, s: Schedule, eff: ReuseEffect, spec: ArraySpec,
                     energy: Counter[str]) -> ReuseEffect:
    """``policy: energy``: the applicable scheme whose dynamic savings exceed its
    own energy by the most (the compiler knows both from the statistics), or none.
    Savings and costs do not involve DRAM, so ``energy``'s DRAM share is irrelevant."""
    best, best_net = None, 0.0
    for c in eff.counts:
        if not c.applicable:
            continue
        _, rep = adjust_energy(layer, s, energy, replace(eff, applied=c.scheme), spec)
        net = rep.saved_pj - rep.overhead_pj
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
