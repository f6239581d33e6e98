"""bnnarch validate DESIGN [--workload W]: check a spec, list every error."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a design spec (and optionally that it maps a workload)")
    p.add_argument("design", nargs="+", help="design spec YAML(s)")
    p.add_argument("--workload", "-w", help="also check that every layer of this workload maps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bnnarch.errors import BnnarchError, MappingError
    from bnnarch.spec import load_design

    status = 0
    for path in args.design:
        try:
            spec = load_design(path)
        except BnnarchError as e:
            print(f"error: {e}")
            status = 2
            continue
        msg = f"{path}: ok ({spec.template} template"
        if args.workload:
            from bnnarch.workload.io import load_workload

            graph = load_workload(args.workload)
            if spec.template == "array":
                from bnnarch.sim.mapper import map_layer

                problems = []
                for layer in graph.compute_layers():
                    try:
                        map_layer(layer, spec)
                    except MappingError as e:
                        problems.append(str(e))
                if problems:
                    print(f"error: {path}: {len(problems)} layer(s) of {graph.name} cannot be mapped")
                    for pr in problems:
                        print(f"  - {pr}")
                    status = 2
                    continue
            msg += f"; all {len(graph.compute_layers())} compute layers of {graph.name} map"
        print(msg + ")")
    return status
