"""bnnarch validate DESIGN [--workload W]: check a spec, list every error."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a design spec (and optionally that it maps a workload)")
    p.add_argument("design", nargs="+", help="design spec YAML(s)")
    p.add_argument("--workload", "-w", help="also check that every layer of this workload maps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bnnarch.errors import BnnarchError, MappingError, SpecError
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
            if spec.template == "dataflow":
                from bnnarch.spec.dataflow import with_lines, workload_errors

                errs = workload_errors(spec, graph)
                if errs:
                    print(f"error: {with_lines(SpecError(path, errs), path)}")
                    status = 2
                    continue
                from bnnarch.dataflow.fold import fold
                from bnnarch.dataflow.plan import chain

                try:
                    chain(graph)
                    fold(spec, graph)
                except BnnarchError as e:
                    print(f"error: {path}: {e}")
                    status = 2
                    continue
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
            msg += (f"; all {len(graph.compute_layers())} compute layers of {graph.name} "
                    f"{'map' if spec.template == 'array' else 'fold'}")
        print(msg + ")")
        from bnnarch.cost.tech import supply_warnings

        t = spec.technology
        for w in supply_warnings(t.node_nm, t.vdd_v, spec.clock_mhz):
            print(f"warning: {path}: {w}")
    return status
