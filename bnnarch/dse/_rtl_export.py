"""``--export-rtl``: generate a Pareto point's RTL and *verify* it on the
study's workload layers at the point's precision — bit-exact against the
golden model and cycle-exact against the simulator wherever the RTL supports
the layer, a named skip where it does not (``bnnarch.rtl.flow``). A point is
``ok`` only if at least one layer was verified and no check failed; a
dataflow design (the generator builds array designs) is a named skip.

External tools are used when installed: Icarus replays the testbench,
Verilator lints, Yosys synthesises one PE (cached). Without them the PyRTL
checks still run and the report says which tools ran.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnnarch.errors import StudyError
from bnnarch.fsio import atomic_write_text


@dataclass(frozen=True)
class RtlExport:
    trial: int
    out: Path
    ok: bool
    verified: int
    skipped: int
    failures: tuple[str, ...]


def choose_points(points: dict[int, Path], which: str) -> list[int]:
    """Trial numbers from ``N,M`` or ``all``; each must be on the front."""
    if which.strip() == "all":
        return sorted(points)
    try:
        chosen = [int(x) for x in which.split(",") if x.strip()]
    except ValueError:
        raise StudyError(f"--export-rtl: expected trial numbers or 'all', got {which!r}") from None
    missing = [n for n in chosen if n not in points]
    if missing:
        raise StudyError(f"--export-rtl: trial(s) {missing} are not on the Pareto front "
                         f"(front: {sorted(points)})")
    return chosen


def tool_options() -> dict[str, bool]:
    """Which external steps run: those whose tool is installed."""
    return {"icarus": shutil.which("iverilog") is not None,
            "lint": shutil.which("verilator") is not None,
            "synth": shutil.which("yosys") is not None}


def export_verified(point: Path, workload: Path, out: Path, *, trial: int,
                    tools: dict[str, bool] | None = None) -> RtlExport:
    """Generate and verify the RTL of the exported point ``point`` (its
    design.yaml and precision.yaml) on ``workload``'s layers into ``out``."""
    from bnnarch.array.spec import ArraySpec
    from bnnarch.rtl.flow import FlowOptions, run_flow, select_layers
    from bnnarch.rtl.sim_schedule import held_maps
    from bnnarch.template import load_design
    from bnnarch.workload.io import apply_precision, load_precision_map, load_workload

    design = load_design(point / "design.yaml")
    if not isinstance(design, ArraySpec):
        reason = (f"trial {trial}: a {getattr(design, 'template', '?')!r} design; the RTL "
                  "generator builds 'array' designs only")
        _skip_report(out, design.name, reason)
        return RtlExport(trial, out, False, 0, 0, (reason,))
    graph = load_workload(workload)
    pmap = load_precision_map(point / "precision.yaml", graph)
    graph = apply_precision(graph, pmap)
    layers = select_layers(list(graph.layers), None, design)
    switches: dict[str, Any] = tools or tool_options()  # icarus / lint / synth
    opts = FlowOptions(verify=True, skip_unsupported=True, held=held_maps(graph, design),
                       **switches)
    res = run_flow(design, out, layers, opts)
    rep = res.report
    return RtlExport(trial, out, res.ok and bool(rep["layers"]), len(rep["layers"]),
                     len(rep["skipped_layers"]), tuple(res.failures))


def _skip_report(out: Path, name: str, reason: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"design": name, "ok": False, "layers": [],
                            "skipped_layers": [], "failures": [reason]}
    atomic_write_text(out / "report.json", json.dumps(body, indent=1) + "\n")


def export_points(points: dict[int, Path], which: str, workload: Path,
                  out: Path) -> list[RtlExport]:
    """``export_verified`` for each chosen Pareto point into ``out/rtl/<point>``."""
    return [export_verified(points[n], workload, out / "rtl" / points[n].name, trial=n)
            for n in choose_points(points, which)]
