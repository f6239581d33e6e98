"""bnnarch rtl DESIGN --out DIR [--verify] [--workload W [--precision P] --layers a,b]"""

from __future__ import annotations

import argparse
from pathlib import Path

from bnnarch.errors import RtlError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rtl", help="export and verify RTL of a design",
        description="Generate Verilog of an array design (PyRTL), verify it bit-exactly and "
                    "cycle-exactly against the golden model and the simulator's timing, "
                    "replay it in Icarus (optionally in a Verilator simulation), lint it with Verilator "
                    "and synthesise a PE with Yosys.")
    p.add_argument("design", help="design spec YAML (array template)")
    p.add_argument("--out", "-o", required=True, help="output directory")
    p.add_argument("--verify", action="store_true", help="run the layer checks")
    p.add_argument("--workload", "-w", help="workload JSON whose layers to check "
                   "(default: a built-in set of small layers)")
    p.add_argument("--precision", "-p", help="precision map YAML (layer -> w_bits, a_bits) "
                   "applied to the workload's layers before the checks, e.g. a search's "
                   "pareto/<point>/precision.yaml (needs --workload)")
    p.add_argument("--layers", help="comma-separated layer names of the workload")
    p.add_argument("--simulator", default="auto",
                   choices=["auto", "Simulation", "FastSimulation", "CompiledSimulation"])
    p.add_argument("--seed", type=int, default=0, help="seed of random operands")
    p.add_argument("--no-icarus", action="store_true", help="skip the Icarus replay")
    p.add_argument("--verilator-sim", action="store_true",
                   help="also build the testbenches with Verilator 5 (--binary) and compare "
                        "its simulation with PyRTL and Icarus (a C++ build, ~5-20 s per testbench)")
    p.add_argument("--system", action="store_true",
                   help="also run each array layer (1-8 bits) through the memory system (DMA, ping-pong "
                        "buffers, DRAM model) and the array, and compare total cycles, stalls, "
                        "DRAM bits and outputs with the simulator")
    p.add_argument("--network", action="store_true",
                   help="run --workload from a digits test image: every layer the array runs "
                        "in the system RTL, the others on the host side with the golden model "
                        "(outputs against golden_forward, total cycles against the simulator's "
                        "sum); a workload without a digits input runs its array layers on "
                        "random maps")
    p.add_argument("--image", type=int, default=0,
                   help="index of the digits test image for --network (default 0)")
    p.add_argument("--no-lint", action="store_true", help="skip Verilator lint")
    p.add_argument("--no-synth", action="store_true", help="skip Yosys synthesis")
    p.add_argument("--area-cache", help="synthesis cache JSON "
                   "(default ~/.cache/bnnarch/rtl_area.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from bnnarch.array.spec import ArraySpec
    from bnnarch.fsio import check_writable
    from bnnarch.rtl.flow import FlowOptions, run_flow, select_layers
    from bnnarch.rtl.verify import builtin_layers
    from bnnarch.template import load_design

    check_writable(args.out, "--out directory", directory=True)
    spec = load_design(args.design)
    if not isinstance(spec, ArraySpec):
        raise RtlError(f"{args.design}: the RTL generator builds 'array' designs only")
    names = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    graph = None
    if args.network and not args.workload:
        raise RtlError("--network needs --workload")
    held: dict[str, tuple[bool, bool]] = {}
    image = None
    if args.workload:
        from bnnarch.rtl.sim_schedule import held_maps
        from bnnarch.workload.io import apply_precision, load_precision_map, load_workload

        graph = load_workload(args.workload)
        if args.precision:
            graph = apply_precision(graph, load_precision_map(args.precision, graph))
        layers = select_layers(list(graph), names, spec)
        held = held_maps(graph, spec)  # the feature maps simulate keeps on chip
        if args.network:
            image = _digits_image(graph, args.image)
    else:
        if names:
            raise RtlError("--layers needs --workload")
        if args.precision:
            raise RtlError("--precision needs --workload")
        layers = builtin_layers()
    opts = FlowOptions(verify=args.verify, simulator=args.simulator, seed=args.seed,
                       icarus=not args.no_icarus, verilator_sim=args.verilator_sim,
                       lint=not args.no_lint,
                       synth=not args.no_synth,
                       area_cache=Path(args.area_cache) if args.area_cache else None,
                       skip_unsupported=bool(args.workload) and not names,
                       system=args.system, network=args.network, held=held, image=image)
    console = Console(stderr=True)
    out = Path(args.out)
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("verifying", total=len(layers) if args.verify else 0)

        started = [0]

        def advance(name: str) -> None:
            """Called as each layer starts: layers before it are done."""
            prog.update(task, completed=started[0], description=f"layer {name}")
            started[0] += 1

        result = run_flow(spec, out, layers, opts, progress=advance, graph=graph, names=names)
    rep = result.report
    con = Console()
    for lay in rep["layers"]:
        mark = "ok" if not lay["failures"] else "FAIL"
        con.print(f"{mark:4} {lay['name']:<20} rtl {lay['rtl_cycles']} sim {lay['sim_cycles']} "
                  f"bit_exact={lay['bit_exact']} cycle_match={lay['cycle_match']} "
                  f"icarus={lay['icarus']}"
                  + (f" verilator={lay['verilator']}" if args.verilator_sim else ""),
                  soft_wrap=True)
    for s in rep["skipped_layers"]:
        con.print(f"skip {s['name']:<20} {s['reason']}", soft_wrap=True)
    if rep["area"]:
        con.print(f"area: {rep['area']['cells']} cells, {rep['area']['area_mm2']:.4f} mm^2 "
                  f"({rep['area']['ge_per_pe']} GE per PE, {spec.technology.node_nm} nm)")
    _print_system(con, rep.get("system"))
    vsim = rep["tools"].get("verilator_sim")
    if vsim:
        con.print(f"verilator {rep['tools']['verilator_version']}: built and ran "
                  f"{vsim['testbenches']} testbench(es) in {vsim['seconds']} s")
    con.print(f"wrote {out / 'report.json'} ({rep['seconds']} s)")
    if not result.ok:
        for f in result.failures:
            console.print(f"[red]check failed:[/red] {f}")
        return 1
    return 0


def _digits_image(graph, index: int):
    """(index, pixels) of digits test image ``index`` for ``--network`` (the
    split and preprocessing the models were trained and extracted with), or
    None for a workload that does not take a digits image; RtlError (exit 2)
    for an index outside the split, before anything runs."""
    from bnnarch.rtl.network import check_image, image_input

    if not image_input(graph):
        if index != 0:
            raise RtlError(f"--image {index}: workload {graph.name!r} does not take a digits "
                           f"image (input {list(graph.input_shape)}); its network run uses "
                           "random maps")
        return None
    from bnnarch.nn.data import digits

    x, _y = digits("test", graph.input_shape[1])
    check_image(len(x), index)
    return index, x[index].numpy()


def _print_system(con, section: dict | None) -> None:
    """One line per system check, the network total and the DMA/control area."""
    if not section:
        return
    rows = list(section.get("layers", []))
    net = section.get("network")
    for lay in rows + [x for x in (net["layers"] if net else []) if x.get("source") != "host"]:
        mark = "ok" if not lay["failures"] else "FAIL"
        con.print(f"{mark:4} system {lay['name']:<20} cycles rtl {lay['rtl_cycles']} sim "
                  f"{lay['sim_cycles']} stalls rtl {lay['rtl_stall_cycles']} sim "
                  f"{lay['sim_stall_cycles']} dram r/w rtl {lay['rtl_dram_read_bits']}/"
                  f"{lay['rtl_dram_write_bits']} sim {lay['sim_dram_read_bits']}/"
                  f"{lay['sim_dram_write_bits']} bit_exact={lay['bit_exact']} "
                  f"icarus={lay['icarus']}" + (f" verilator={lay['verilator']}"
                                               if lay["verilator"] else ""), soft_wrap=True)
    for skip in section.get("skipped", []):
        con.print(f"skip system {skip['name']:<20} {skip['reason']}", soft_wrap=True)
    if net:
        for lay in net["layers"]:
            if lay.get("source") == "host":
                con.print(f"host   {lay['name']:<20} {lay['op']}"
                          + (f" ({lay['reason']})" if lay.get("reason") else ""), soft_wrap=True)
        start = (f"image {net['image']}" if net.get("image") is not None else net["input"])
        con.print(f"network {net['workload']} from {start}: {net['layers_run']} layers in RTL, "
                  f"{net.get('host_layers', 0)} on the host, rtl {net['rtl_cycles']} cycles, "
                  f"sim {net['sim_cycles']}, cycle_match={net['cycle_match']} "
                  f"bit_exact={net['bit_exact']}"
                  + (f" golden_match={net['golden_match']} local_match="
                     f"{net['local_match']} predicted={net['predicted']} (golden "
                     f"{net['golden_predicted']})" if "golden_match" in net else ""),
                  soft_wrap=True)
    area = section.get("area")
    if area:
        con.print(f"DMA + buffer control: {area['cells']} cells, {area['ge']} GE, "
                  f"{area['area_mm2']:.5f} mm^2 (logic; memories listed in report.json)")
