"""RTL generation and verification for the ``array`` template (PyRTL).

Public surface::

    build_array(spec) -> RtlArray            generators (bnnarch.rtl.array)
    check_layer(arr, layer, rng) -> LayerCheck   bit-/cycle-exact checks (verify)
    run_flow(spec, out, layers, opts)        the ``bnnarch rtl`` flow (flow)
    synthesized_area_mm2(spec) -> float|None     cached Yosys area (synth)

Modules: popcount (trees), pe (PE datapath), controller, array, golden
(numpy model + buffer images), run (PyRTL simulators), export (Verilog,
testbench, Icarus, Verilator), synth (Yosys, area cache), verify, flow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RtlArray": "array", "build_array": "array", "check_supported": "array",
    "FlowOptions": "flow", "FlowResult": "flow", "run_flow": "flow",
    "synthesized_area_mm2": "synth",
    "LayerCheck": "verify", "builtin_layers": "verify", "check_layer": "verify",
}
__all__ = [
    "FlowOptions", "FlowResult", "LayerCheck", "RtlArray", "build_array", "builtin_layers",
    "check_layer", "check_supported", "run_flow", "synthesized_area_mm2",
]


def __getattr__(name: str) -> Any:
    """Lazy re-exports: ``import bnnarch.rtl.synth`` (the simulator's area
    model does) must not pull in PyRTL."""
    if name in _EXPORTS:
        return getattr(import_module(f"bnnarch.rtl.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'bnnarch.rtl' has no attribute {name!r}")
