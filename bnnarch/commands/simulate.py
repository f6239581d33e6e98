"""bnnarch simulate DESIGN --workload W [--precision P] [--json OUT] [--plot OUT]"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from bnnarch.errors import BnnarchError, SpecError

if TYPE_CHECKING:
    from bnnarch.workload.graph import WorkloadGraph


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a design on a workload",
                       description="Simulate a design YAML on a workload (JSON, or SCALE-Sim CSV).")
    p.add_argument("design", help="design spec YAML")
    p.add_argument("--workload", "-w", required=True, help="workload JSON or SCALE-Sim topology CSV")
    p.add_argument("--precision", "-p", help="precision map YAML (layer -> w_bits, a_bits)")
    p.add_argument("--bits", metavar="W/A",
                   help="bit-widths of the layers of a SCALE-Sim CSV workload (default 1/1)")
    p.add_argument("--json", dest="json_out", help="write the result as JSON here")
    p.add_argument("--plot", help="write a per-layer plot (PNG) here")
    p.add_argument("--reuse-plot", help="write a per-layer plot of reuse savings (PNG) here")
    p.add_argument("--quiet", "-q", action="store_true", help="print totals only")
    p.add_argument("--batch", type=int, help="frames per batch (dataflow designs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bnnarch.api import simulate
    from bnnarch.fsio import atomic_write_text, check_writable
    from bnnarch.report.table import layer_table, totals_table
    from bnnarch.spec import with_lines
    from bnnarch.template import load_design, template_of
    from bnnarch.workload.io import load_precision_map, load_workload

    for flag, out in (("--json", args.json_out), ("--plot", args.plot),
                      ("--reuse-plot", args.reuse_plot)):
        if out:
            check_writable(out, f"{flag} file")
    spec = load_design(args.design)
    reuse = getattr(spec, "reuse", None)
    if args.reuse_plot and not (reuse is not None and reuse.any_enabled):
        raise BnnarchError("--reuse-plot: the design enables no reuse scheme "
                           "(set reuse.kernel_pattern / reuse.input_similarity enabled: true)")
    if args.batch is not None:
        if "batch" not in type(spec).model_fields:
            raise BnnarchError(f"--batch applies to designs that stream frames (dataflow); "
                               f"a {template_of(spec).name} design runs one frame at a time")
        spec = spec.model_copy(update={"batch": args.batch})
    if args.bits:
        graph = _load_csv_with_bits(args.workload, args.bits)
    else:
        graph = load_workload(args.workload)
    pmap = load_precision_map(args.precision, graph) if args.precision else None
    try:
        result = simulate(spec, graph, pmap)
    except SpecError as e:
        # workload-dependent spec checks run on the loaded spec: add YAML lines
        raise with_lines(e, args.design) from None
    import sys

    console = Console(width=None if sys.stdout.isatty() else 150)
    if not args.quiet:
        console.print(layer_table(result))
    from bnnarch.report.reuse import has_reuse, reuse_table

    if has_reuse(result) and not args.quiet:
        console.print(reuse_table(result))
    console.print(totals_table(result))
    for w in dict(result.extra).get("warnings", ()):
        console.print(f"warning: {w}", markup=False, highlight=False)
    if args.json_out:
        out = atomic_write_text(args.json_out, json.dumps(result.to_dict(), indent=1) + "\n")
        console.print(f"wrote {out}")
    if args.plot:
        from bnnarch.report.plot import plot_result

        console.print(f"wrote {plot_result(result, args.plot)}")
    if args.reuse_plot:
        from bnnarch.report.reuse import plot_reuse

        if not has_reuse(result):
            raise BnnarchError("--reuse-plot: the design enables no reuse scheme "
                               "(set reuse.kernel_pattern / reuse.input_similarity enabled: true)")
        console.print(f"wrote {plot_reuse(result, args.reuse_plot)}")
    return 0


def _load_csv_with_bits(path: str, bits: str) -> WorkloadGraph:
    """--bits W/A: only meaningful for a SCALE-Sim CSV (JSON workloads carry
    their own bit-widths; use --precision to change them)."""
    from bnnarch.errors import WorkloadError
    from bnnarch.workload.scalesim import load_topology_csv

    if not path.lower().endswith(".csv"):
        raise WorkloadError("--bits applies to a SCALE-Sim topology CSV workload; a JSON "
                            "workload carries its own bit-widths (use --precision to change them)")
    w, sep, a = bits.partition("/")
    if not sep or not w.isdigit() or not a.isdigit():
        raise WorkloadError(f"--bits must look like W/A, e.g. 1/1 or 2/4; got {bits!r}")
    return load_topology_csv(path, bits=(int(w), int(a)))
