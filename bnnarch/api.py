"""The public front door's functions that span layers: simulate a design of
any template, providing the inputs its spec asks for (a Yosys-synthesised
array area when ``area.source: yosys``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from bnnarch.result import SimResult
from bnnarch.spec.fields import DesignHeader
from bnnarch.tech import supply_warnings
from bnnarch.template import SimOptions, template_of
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap


def synthesised_array_mm2(spec: DesignHeader) -> float | None:
    """The array's logic area from Yosys when the design asks for it
    (``area.source: yosys``; synthesises one PE on a cache miss, cached per PE
    configuration and node), else None (the template's own area model)."""
    area = getattr(spec, "area", None)
    if area is None or area.source != "yosys":
        return None
    from bnnarch.rtl.synth import area_for

    res, _log = area_for(spec)  # type: ignore[arg-type]  # only array designs have `area`
    return res.area_mm2


def simulate(spec: DesignHeader, graph: WorkloadGraph, precision: PrecisionMap | None = None, *,
             engine: Literal["simpy", "recurrence"] = "simpy") -> SimResult:
    """Simulate a workload (with an optional precision map) on a design of any
    template. ``engine="recurrence"`` computes the array template's SimPy model
    directly (same numbers, tested; what searches use)."""
    options = SimOptions(engine=engine, array_logic_mm2=synthesised_array_mm2(spec))
    return with_supply_warnings(template_of(spec).simulate(spec, graph, precision,
                                                           options=options), spec)


def with_supply_warnings(res: SimResult, spec: Any) -> SimResult:
    """The result with ``warnings`` (extra key, only when there are any) about
    the clock at the design's supply voltage (bnnarch.voltage)."""
    t = spec.technology
    w = supply_warnings(t.node_nm, t.vdd_v, spec.clock_mhz)
    return replace(res, extra=res.extra + (("warnings", w),)) if w else res
