"""Verilog of the memory system, its replay testbench (Icarus / Verilator)
and its Yosys area (side effects: files and subprocesses).

The testbench replays a PyRTL system run (``bnnarch.rtl.sysrun``): the
descriptor tables are loaded with ``$readmemh``, the array's done is applied
cycle by cycle and the words the pack unit wrote into the output staging
buffer at the same cycles; a behavioural DRAM channel in the testbench
(``_dram_model``: fixed latency, one beat per cycle, in order) answers the
DMA's own requests with the run's load data and checks every store beat;
every rising edge prints the outputs, which are compared with PyRTL's trace
(``export.compare_trace``).

Area: generic Yosys synthesis of the whole system module with its memories
kept as memory cells (``memory -nomap``): the DMA, slot control and address
logic are counted in gate equivalents (``synth.cell_ge``); the memories are
listed by size, not counted: the staging buffers stand for the spec's buffers
(priced by the SRAM area model, ``bnnarch.array.area``), the descriptor tables
are priced nowhere.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyrtl

from bnnarch.errors import RtlError
from bnnarch.rtl import export
from bnnarch.rtl.synth import cell_ge, parse_stat
from bnnarch.rtl.sysrun import SystemRun
from bnnarch.rtl.system import RtlSystem, build_pack_block
from bnnarch.tech import tech_for

MODULE = "bnnarch_system"
SYNTH_SCRIPT = """read_verilog {src}
hierarchy -top {top}
proc
opt
memory -nomap
opt
techmap
opt
abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX
opt_clean
stat
"""


def system_verilog(sys: RtlSystem) -> str:
    buf = io.StringIO()
    pyrtl.output_to_verilog(buf, add_reset=False, block=sys.block, module_name=MODULE)
    return buf.getvalue()


def _duck(sys: RtlSystem) -> Any:
    """What export's testbench helpers read from an RtlArray."""
    cache = sys.__dict__.setdefault("_tb_cache", {})
    return SimpleNamespace(block=sys.block, sim_cache=cache, output_names=sys.output_names)


def testbench(sys: RtlSystem, runs: Sequence[SystemRun], include: str,
              prefix: str) -> tuple[str, dict[str, str]]:
    """Testbench text replaying ``runs`` back to back, and its hex files."""
    header, init = export._tb_skeleton(_duck(sys), include)
    header = [ln.replace(f"{export.MODULE} block(", f"{MODULE} block(") for ln in header]
    widths = {w.name: w.bitwidth for w in sys.block.wirevector_subset(pyrtl.Input)}
    mems = {m.name: m for m in sys.memories}
    names = sys.output_names
    fmt = " ".join(["%0d", "%0d"] + ["%h"] * len(names))
    mod = header.index("module tb();")
    begin = header.index("    initial begin")
    out = header[: mod + 1] + ["    integer tb_layer = 0;", "    integer tb_cycle = 0;"]
    out += header[mod + 1: begin]
    out += ["    task tb_reset;", "    begin", *init, "    end", "    endtask", ""]
    out += [header[begin], "        clk = 1'd0;"]
    files: dict[str, str] = {}
    for i, run in enumerate(runs):
        reads, writes = run.dram_words
        files[f"{prefix}_{i}_dram_rd.hex"] = "".join(f"{w:x}\n" for w in reads) or "0\n"
        files[f"{prefix}_{i}_dram_wr.hex"] = "".join(f"{w:x}\n" for w in writes) or "0\n"
        out += [f"        tb_layer = {i};", "        tb_cycle = 0;", "        tb_reset;",
                "        dram_reset;",
                f'        $readmemh("{prefix}_{i}_dram_rd.hex", dram_rd);',
                f'        $readmemh("{prefix}_{i}_dram_wr.hex", dram_wr);']
        out += export.readmemh_images(run.descriptors, mems, f"{prefix}_{i}", files)
        drive = {nm: vals for nm, vals in run.inputs.items()
                 if nm != "rdata"}  # the testbench's DRAM model drives rdata
        out += export.stimulus_lines(drive, widths, len(run.trace["done"]))
    out += ["        $finish;", "    end", "",
            "    always @(posedge clk) begin",
            f'        $display("{fmt}", tb_layer, tb_cycle, {", ".join(names)});',
            "        tb_cycle <= tb_cycle + 1;", "    end", *_dram_model(sys, max(
                [len(r.dram_words[0]) for r in runs] + [len(r.dram_words[1]) for r in runs]
                + [1])), "endmodule", ""]
    return "\n".join(out), files


def _dram_model(sys: RtlSystem, depth: int) -> list[str]:
    """Behavioural DRAM channel of the testbench: a request seen at the
    rising edge of cycle t is served in order from cycle t + lat on, one beat
    per cycle: read beats (the run's load streams, in order) drive ``rdata``
    from the falling edge before their cycle; write beats are compared with
    the stores the run expects (``DRAMERR`` lines on a difference)."""
    bw, lat = sys.bw_bits, sys.lat_cycles
    err = '$display("%0d DRAMERR cycle %0d: '
    return [
        f"    reg [{bw - 1}:0] dram_rd [0:{depth - 1}];",
        f"    reg [{bw - 1}:0] dram_wr [0:{depth - 1}];",
        "    integer dram_first, dram_beats, dram_i, dram_rn, dram_wn;",
        "    reg dram_write, dram_now;",
        "    task dram_reset;",
        "    begin",
        "        dram_first = -1; dram_beats = 0; dram_i = 0; dram_rn = 0; dram_wn = 0;",
        f"        dram_write = 1'b0; dram_now = 1'b0; rdata = {bw}'h0;",
        "    end",
        "    endtask",
        "    always @(negedge clk) begin  // is the cycle that starts now a beat?",
        "        dram_now = dram_i < dram_beats && tb_cycle >= dram_first;",
        "        if (dram_now) dram_i = dram_i + 1;",
        "        if (dram_now && !dram_write) begin",
        "            rdata = dram_rd[dram_rn]; dram_rn = dram_rn + 1;",
        "        end else begin",
        f"            rdata = {bw}'h0;",
        "        end",
        "    end",
        "    always @(posedge clk) begin",
        "        if (beat !== dram_now)",
        f'            {err}DMA beat %0d, DRAM beat %0d", tb_layer, tb_cycle, beat, dram_now);',
        "        if (dram_now && dram_write) begin",
        "            if (wdata !== dram_wr[dram_wn])",
        (f'                {err}write beat %0d %h, expected %h", tb_layer, tb_cycle,'
         " dram_wn, wdata, dram_wr[dram_wn]);"),
        "            dram_wn = dram_wn + 1;",
        "        end",
        "        if (req_valid) begin",
        f"            dram_first = tb_cycle + {lat}; dram_i = 0; dram_write = req_write;",
        f"            dram_beats = (req_bits + {bw - 1}) / {bw};",
        "        end",
        "    end",
    ]


def replay(sys: RtlSystem, workdir: Path, runs: Sequence[SystemRun], name: str,
           icarus: bool, verilator: bool) -> tuple[list[str | None], list[str | None], float]:
    """Write ``<name>.v`` replaying ``runs`` and run it in Icarus and/or
    Verilator; per run "match" or the first difference (None: tool not
    run), and the Verilator seconds."""
    text, files = testbench(sys, runs, "system.v", name)
    for fname, body in files.items():
        (workdir / fname).write_text(body)
    (workdir / f"{name}.v").write_text(text)
    duck = _duck(sys)
    res_i: list[str | None] = [None] * len(runs)
    res_v: list[str | None] = [None] * len(runs)
    secs = 0.0
    lines_i = export.run_icarus(workdir, f"{name}.v") if icarus else None
    lines_v = None
    if verilator:
        t0 = time.monotonic()
        lines_v = export.run_verilator(workdir, f"{name}.v")
        secs = time.monotonic() - t0
    trace_i = [ln for ln in lines_i if " DRAMERR " not in ln] if lines_i is not None else None
    trace_v = [ln for ln in lines_v if " DRAMERR " not in ln] if lines_v is not None else None
    for k, run in enumerate(runs):
        for tool, lines, res in (("Icarus", lines_i, res_i), ("Verilator", lines_v, res_v)):
            bad = [ln for ln in (lines or []) if ln.startswith(f"{k} DRAMERR ")]
            if bad:
                res[k] = (f"{tool}'s DRAM model: {bad[0][len(f'{k} DRAMERR '):]} "
                          f"({name}.v, run {k})")
        if trace_i is not None and res_i[k] is None:
            d = export.compare_trace(duck, run, trace_i, k, "Icarus")
            res_i[k] = "match" if d is None else d + f" ({name}.v, run {k})"
        if trace_v is not None and res_v[k] is None:
            d = export.compare_trace(duck, run, trace_v, k, "Verilator")
            res_v[k] = "match" if d is None else d + f" ({name}.v, run {k})"
    return res_i, res_v, secs


def _synth(block: pyrtl.Block, module: str, workdir: Path, stem: str,
           timeout_s: float) -> dict[str, int]:
    """Yosys cell counts of ``block`` (memories kept as cells)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise RtlError("yosys is not installed (the project's setup.sh installs it)")
    buf = io.StringIO()
    pyrtl.output_to_verilog(buf, add_reset=False, block=block, module_name=module)
    (workdir / f"{stem}.v").write_text(buf.getvalue())
    (workdir / f"synth_{stem}.ys").write_text(SYNTH_SCRIPT.format(src=f"{stem}.v", top=module))
    try:
        p = subprocess.run([yosys, "-q", "-l", f"yosys_{stem}.log", "-s", f"synth_{stem}.ys"],
                           cwd=workdir, capture_output=True, text=True, timeout=timeout_s,
                           check=False)
    except subprocess.TimeoutExpired:
        raise RtlError(f"yosys timed out after {timeout_s:.0f} s on {module}") from None
    log_path = workdir / f"yosys_{stem}.log"
    log = log_path.read_text() if log_path.exists() else p.stdout
    if p.returncode:
        raise RtlError(f"yosys failed on {module}:\n{(p.stderr or log)[-2000:]}")
    return parse_stat(log)


def _figure(cells: dict[str, int], nand2_um2: float) -> dict[str, Any]:
    logic = {c: n for c, n in cells.items() if not c.startswith("$mem")}
    ge = sum(n * cell_ge(c) for c, n in logic.items())
    return {"cells": sum(logic.values()), "ge": round(ge, 1), "area_mm2": ge * nand2_um2 / 1e6,
            "cell_types": logic}


def system_area(sys: RtlSystem, workdir: Path, timeout_s: float = 600) -> dict[str, Any]:
    """Yosys area of the DMA, slot control, staging row logic and pack unit
    (module doc), and of the pack unit synthesised alone (``units.pack``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    nand2 = tech_for(sys.spec.technology.node_nm).nand2_um2
    whole = _figure(_synth(sys.block, MODULE, workdir, "system", timeout_s), nand2)
    pack = _figure(_synth(build_pack_block(sys.spec), "bnnarch_pack", workdir, "pack",
                          timeout_s), nand2)
    pack.pop("cell_types")
    return whole | {
        "units": {"pack": pack,
                  "note": "the pack unit synthesised alone (its ports as module ports); the "
                          "whole-system figure above includes it"},
        "sram_macros": sram_macros(sys),
        "sram_note": "memories, not in area_mm2: the staging buffers and the hold region "
                     "stand for the spec's buffers (priced by the SRAM area model); the "
                     "descriptor tables (ldesc, sdesc) are priced nowhere",
        "yosys_seconds": round(time.monotonic() - t0, 2)}


def sram_macros(sys: RtlSystem) -> list[dict[str, Any]]:
    """Every memory of the system as a macro named with its size."""
    rows = {m.name: sys.k_in * sys.in_slot_rows for m in sys.instage}
    rows |= {m.name: sys.k_out * sys.out_slot_rows for m in sys.outstage}
    rows |= {m.name: sys.hold_rows for m in sys.hold}
    role = {sys.ldesc.name: "load descriptor table", sys.sdesc.name: "store descriptor table"}
    role |= {m.name: "input staging bank (weight + activation buffers)" for m in sys.instage}
    role |= {m.name: "output staging bank (output buffer)" for m in sys.outstage}
    role |= {m.name: "hold region bank (activation buffer, hold_kib)" for m in sys.hold}
    out = []
    for m in sys.memories:
        words = rows.get(m.name, 1 << m.addrwidth)
        out.append({"name": m.name, "macro": f"sram_{words}x{m.bitwidth}", "words": words,
                    "bits": m.bitwidth, "kib": round(words * m.bitwidth / 8192, 3),
                    "role": role[m.name]})
    return out
