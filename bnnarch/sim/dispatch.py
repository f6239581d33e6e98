"""Dispatch simulate() to the simulator of a design's template."""

from __future__ import annotations

from typing import Any

from bnnarch.errors import SimError


def simulate_any(spec: Any, graph: Any, precision: Any = None) -> Any:
    template = getattr(spec, "template", "array")
    if template == "dataflow":
        try:
            from bnnarch.dataflow.simulate import simulate_dataflow  # type: ignore[import-not-found]
        except ImportError:
            raise SimError("the dataflow template is not available in this build") from None
        return simulate_dataflow(spec, graph, precision)
    raise SimError(f"no simulator for template {template!r}")
