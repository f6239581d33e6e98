"""Simulation results (immutable) and their JSON form (the ``--json`` schema the README documents)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def counter_add(c: Counter[str], key: str, amount: float) -> None:
    """``c[key] += amount`` for the float-valued Counters of energy (pJ) and area
    breakdowns, which typeshed's ``Counter`` (int counts) does not express;
    subtract with ``-amount`` (exact in IEEE arithmetic)."""
    c[key] += amount  # type: ignore[assignment]  # float values, see above


@dataclass(frozen=True)
class LayerResult:
    name: str
    op: str
    w_bits: int
    a_bits: int
    engine: str  # array | mac_unit | postproc | none
    cycles: int
    compute_cycles: int
    stall_cycles: int
    utilization: float  # useful bit-ops / (peak bit-ops per cycle x cycles)
    energy_pj: float
    energy_breakdown_pj: tuple[tuple[str, float], ...]
    macs: int
    ops: int
    dram_read_bits: int
    dram_write_bits: int
    mapping: str = ""
    extra: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name, "op": self.op, "w_bits": self.w_bits, "a_bits": self.a_bits,
            "engine": self.engine, "cycles": self.cycles, "compute_cycles": self.compute_cycles,
            "stall_cycles": self.stall_cycles, "utilization": self.utilization,
            "energy_pj": self.energy_pj, "energy_breakdown_pj": dict(self.energy_breakdown_pj),
            "macs": self.macs, "ops": self.ops, "dram_read_bits": self.dram_read_bits,
            "dram_write_bits": self.dram_write_bits, "mapping": self.mapping,
        }
        d.update(dict(self.extra))
        return d


@dataclass(frozen=True)
class SimResult:
    design: str
    workload: str
    template: str
    clock_mhz: float
    layers: tuple[LayerResult, ...]
    area_mm2: float
    area_breakdown_mm2: tuple[tuple[str, float], ...]
    extra: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def total_cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def latency_s(self) -> float:
        return self.total_cycles / (self.clock_mhz * 1e6)

    @property
    def fps(self) -> float:
        return 1.0 / self.latency_s if self.total_cycles else float("inf")

    @property
    def energy_breakdown_pj(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for layer in self.layers:
            for k, v in layer.energy_breakdown_pj:
                out[k] = out.get(k, 0.0) + v
        return out

    @property
    def energy_pj(self) -> float:
        return sum(layer.energy_pj for layer in self.layers)

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @property
    def tops_per_w(self) -> float:
        """ops / pJ equals TOPS/W (1 op/pJ = 1e12 op/J)."""
        return self.ops / self.energy_pj if self.energy_pj else 0.0

    @property
    def compute_cycles(self) -> int:
        return sum(layer.compute_cycles for layer in self.layers)

    @property
    def stall_cycles(self) -> int:
        return sum(layer.stall_cycles for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "design": self.design,
            "workload": self.workload,
            "template": self.template,
            "clock_mhz": self.clock_mhz,
            "total_cycles": self.total_cycles,
            "compute_cycles": self.compute_cycles,
            "stall_cycles": self.stall_cycles,
            "latency_s": self.latency_s,
            "fps": self.fps,
            "energy_pj": self.energy_pj,
            "energy_per_frame_uj": self.energy_pj * 1e-6,
            "energy_breakdown_pj": self.energy_breakdown_pj,
            "ops": self.ops,
            "tops_per_w": self.tops_per_w,
            "area_mm2": self.area_mm2,
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        d.update(dict(self.extra))
        return d


def result_summary(r: SimResult) -> dict[str, Any]:
    """The result's JSON form without the per-layer rows."""
    return {k: v for k, v in r.to_dict().items() if k != "layers"}
