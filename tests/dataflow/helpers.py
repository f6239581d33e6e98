"""Small dataflow designs and workloads for the tests."""

from __future__ import annotations

from typing import Any

from bnnarch.template import design_from_dict
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.graph import WorkloadGraph


def design(folds: dict[str, tuple[int, int]] | None = None, **kw: Any) -> Any:
    d: dict[str, Any] = {"name": "t", "template": "dataflow", "clock_mhz": 100,
                         "input_bits_per_cycle": 4096,
                         # the tests of fixed depths; fifo={"sizing": "auto"} for the other
                         "fifo": {"sizing": "fixed"}}
    if folds is not None:
        d["folding"] = {"layers": {k: {"pe": p, "simd": s} for k, (p, s) in folds.items()}}
    for k, v in kw.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return design_from_dict(d)


def two_convs() -> WorkloadGraph:
    """conv a (8x12x12 -> 16x10x10), conv b (-> 16x8x8), fc (-> 10)."""
    b = GraphBuilder("two_convs", (8, 12, 12))
    b.conv("a", 16, 3, p=0)
    b.conv("b", 16, 3, p=0)
    b.linear("fc", 10)
    return b.build()


def one_layer(op: str, cin: int, hw: int, cout: int, k: int = 3, s: int = 1, p: int = 0,
              bits: tuple[int, int] = (1, 1)) -> WorkloadGraph:
    b = GraphBuilder(f"one_{op}", (cin, hw, hw))
    if op == "conv2d":
        b.conv("l", cout, k, s=s, p=p, bits=bits)
    else:
        b.linear("l", cout, bits=bits)
    return b.build()
