"""bnnarch fold DESIGN --workload W [--out DESIGN.yaml] [--json OUT]

Run the dataflow template's folding pass and print the per-layer PE x SIMD,
cycles and memory depths; ``--out`` writes the design back with every layer
folded explicitly (a spec ``simulate`` accepts as is)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fold", help="show (and write) the folding of a dataflow design",
                       description="Run the folding pass of a dataflow design on a workload.")
    p.add_argument("design", help="dataflow design spec YAML")
    p.add_argument("--workload", "-w", required=True, help="workload JSON")
    p.add_argument("--precision", "-p", help="precision map YAML (layer -> w_bits, a_bits)")
    p.add_argument("--out", help="write the design with the folding made explicit here")
    p.add_argument("--json", dest="json_out", help="write the folding as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console
    from rich.table import Table

    from bnnarch.dataflow.fold import fold
    from bnnarch.dataflow.spec import DataflowSpec
    from bnnarch.errors import BnnarchError, SpecError
    from bnnarch.fsio import check_writable
    from bnnarch.spec import with_lines
    from bnnarch.template import dump_design, load_design, template_of
    from bnnarch.workload.io import apply_precision, load_precision_map, load_workload

    for flag, out in (("--json", args.json_out), ("--out", args.out)):
        if out:
            check_writable(out, f"{flag} file")
    spec = load_design(args.design)
    if not isinstance(spec, DataflowSpec):
        raise BnnarchError(f"{args.design}: 'fold' needs a dataflow design "
                           f"(template: {template_of(spec).name})")
    graph = load_workload(args.workload)
    if args.precision:
        graph = apply_precision(graph, load_precision_map(args.precision, graph))
    try:
        result = fold(spec, graph)
    except SpecError as e:  # attach YAML lines to workload-dependent errors
        raise with_lines(e, args.design) from None
    console = Console(width=None if sys.stdout.isatty() else 150)
    t = Table(title=f"folding of {spec.name} on {graph.name} ({result.mode})", header_style="bold")
    for col in ("layer", "PE", "SIMD", "lanes", "MVTU cycles", "SWU cycles", "wmem depth",
                "tmem depth", "from"):
        t.add_column(col, justify="left" if col in ("layer", "from") else "right")
    for lf in result.layers:
        t.add_row(lf.layer, str(lf.pe), str(lf.simd), f"{lf.lanes:,}", f"{lf.mvtu_cycles:,}",
                  f"{lf.swu_cycles:,}" if lf.swu_cycles else "-", f"{lf.weight_depth:,}",
                  f"{lf.threshold_depth:,}", lf.origin)
    for name, cyc in result.fixed_stages:
        t.add_row(name, "-", "-", "-", "-", f"{cyc:,}", "-", "-", "fixed")
    console.print(t)
    ii = result.ii_bound_cycles
    target = (f"target {result.target_cycles:,} cycles/frame: "
              f"{'met' if result.met else 'NOT met (fastest folding taken)'}; "
              if result.target_cycles else "")
    console.print(f"{target}II bound {ii:,} cycles -> {spec.clock_mhz * 1e6 / ii:,.1f} frames/s "
                  f"at {spec.clock_mhz:g} MHz; {result.lanes:,} PE x SIMD lanes")
    if result.fifo_bits is not None:
        console.print(f"FIFOs auto-sized for II {result.fifo_target_cycles:,} cycles: "
                      f"{result.fifo_bits:,} bits (simulate lists each)")
    if args.json_out:
        _write(Path(args.json_out), json.dumps(result.to_dict(), indent=1) + "\n")
        console.print(f"wrote {args.json_out}")
    if args.out:
        f = spec.folding
        layers = {lf.layer: {"pe": lf.pe, "simd": lf.simd} for lf in result.layers}
        explicit = spec.model_copy(update={"folding": type(f).model_validate({"layers": layers})})
        console.print(f"wrote {dump_design(explicit, args.out)}")
    return 0


def _write(path: Path, text: str) -> None:
    from bnnarch.fsio import atomic_write_text

    atomic_write_text(path, text)
