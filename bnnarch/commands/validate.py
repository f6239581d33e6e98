"""bnnarch validate DESIGN [--workload W]: check a spec, list every error."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a design spec (and optionally that it maps a workload)")
    p.add_argument("design", nargs="+", help="design spec YAML(s)")
    p.add_argument("--workload", "-w", help="also check that every layer of this workload maps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bnnarch.errors import BnnarchError, SpecError
    from bnnarch.spec import with_lines
    from bnnarch.template import load_design, template_of

    graph = None
    if args.workload:
        from bnnarch.workload.io import load_workload

        graph = load_workload(args.workload)
    status = 0
    for path in args.design:
        try:
            spec = load_design(path)
        except BnnarchError as e:
            print(f"error: {e}")
            status = 2
            continue
        template = template_of(spec)
        msg = f"{path}: ok ({template.name} template"
        if graph is not None:
            errs = template.workload_errors(spec, graph)
            if errs:
                print(f"error: {with_lines(SpecError(path, errs), path)}")
                status = 2
                continue
            problems = template.check_maps(spec, graph)
            if problems:
                done = {"map": "mapped", "fold": "folded"}.get(template.verb, template.verb)
                print(f"error: {path}: {len(problems)} problem(s): {graph.name} cannot be {done}")
                for pr in problems:
                    print(f"  - {pr}")
                status = 2
                continue
            msg += f"; all {len(graph.compute_layers())} compute layers of {graph.name} {template.verb}"
        print(msg + ")")
        from bnnarch.tech import supply_warnings

        t = spec.technology
        clock_mhz = spec.clock_mhz
        for w in supply_warnings(t.node_nm, t.vdd_v, clock_mhz):
            print(f"warning: {path}: {w}")
    return status
