"""bnnarch: a cycle-accurate simulator and design-space explorer for binary
neural network accelerators.

    import bnnarch
    spec = bnnarch.load_design("designs/xnor32.yaml")
    graph = bnnarch.load_workload("workloads/resnet18.json")
    result = bnnarch.simulate(spec, graph)          # SimResult
    print(result.total_cycles, result.energy_pj)

Every name below is imported on first use, so ``import bnnarch`` stays cheap
(no torch, numba, SimPy or PyRTL until a function needs them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bnnarch.api import simulate
    from bnnarch.errors import BnnarchError
    from bnnarch.nn.extract_any import extract, register_binarizer
    from bnnarch.result import LayerResult, SimResult
    from bnnarch.template import load_design, register_template
    from bnnarch.workload.golden import golden_forward
    from bnnarch.workload.graph import WorkloadGraph
    from bnnarch.workload.io import load_precision_map, load_workload
    from bnnarch.workload.onnx_import import import_onnx

_EXPORTS = {
    "load_design": "bnnarch.template",
    "register_template": "bnnarch.template",
    "load_workload": "bnnarch.workload.io",
    "load_precision_map": "bnnarch.workload.io",
    "WorkloadGraph": "bnnarch.workload.graph",
    "simulate": "bnnarch.api",
    "SimResult": "bnnarch.result",
    "LayerResult": "bnnarch.result",
    "BnnarchError": "bnnarch.errors",
    "extract": "bnnarch.nn.extract_any",
    "register_binarizer": "bnnarch.nn.extract_any",
    "import_onnx": "bnnarch.workload.onnx_import",
    "golden_forward": "bnnarch.workload.golden",
}

__all__ = [
    "BnnarchError", "LayerResult", "SimResult", "WorkloadGraph", "extract", "golden_forward",
    "import_onnx", "load_design", "load_precision_map", "load_workload", "register_binarizer",
    "register_template", "simulate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bnnarch' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
