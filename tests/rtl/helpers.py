"""Shared small designs for the RTL tests."""

from __future__ import annotations

from typing import Any

from bnnarch.array.spec import ArraySpec
from bnnarch.template import design_from_dict

SIMULATORS = ("Simulation", "FastSimulation", "CompiledSimulation")


def small_spec(rows: int = 2, cols: int = 3, simd_bits: int = 8, acc_bits: int = 16,
               interconnect: str = "broadcast", dataflow: str | None = None,
               tree: str = "adder_tree", kib: float = 2, **extra: Any) -> ArraySpec:
    arr: dict[str, Any] = {"rows": rows, "cols": cols, "simd_bits": simd_bits, "acc_bits": acc_bits,
                               "interconnect": interconnect, "popcount_tree": tree}
    if dataflow:
        arr["dataflow"] = dataflow
    buf = {"capacity_kib": kib, "port_bits": 4096}
    d = dict(name=extra.pop("name", "rtl_test"), clock_mhz=500, array=arr,
             buffers={"weights": buf, "activations": buf, "outputs": buf},
             dram={"bandwidth_gbps": 10}, **extra)
    return design_from_dict(d)
