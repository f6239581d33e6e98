"""Small designs and layers for exact-cycle tests."""

from __future__ import annotations

from typing import Any

from bnnarch.template import design_from_dict
from bnnarch.workload.layer import Layer


def design(**over: Any) -> Any:
    d: dict[str, Any] = {
        "name": "t",
        "clock_mhz": 1000,
        "technology": {"node_nm": 45},
        "array": {"rows": 4, "cols": 4, "simd_bits": 64, "acc_bits": 16,
                  "interconnect": "broadcast"},
        "buffers": {
            "weights": {"capacity_kib": 1024, "port_bits": 4096},
            "activations": {"capacity_kib": 1024, "port_bits": 4096},
            "outputs": {"capacity_kib": 1024, "port_bits": 4096},
        },
        # 64 GB/s at 1 GHz = 512 bits/cycle, no latency unless asked
        "dram": {"bandwidth_gbps": 64, "latency_ns": 0},
    }
    for path, v in over.items():
        node = d
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = v
    return design_from_dict(d, "<test>")


def conv(cin: int = 64, cout: int = 8, hw: int = 4, k: int = 3, s: int = 1, bits=(1, 1),
         name: str = "c") -> Layer:
    p = k // 2
    h_in = (hw - 1) * s + k - 2 * p
    return Layer(name, "conv2d", ("input",), (cin, h_in, h_in), (cout, hw, hw), (k, k), (s, s),
                 (p, p), (1, 1), 1, *bits)
