"""Verilog export, testbench, and the Icarus / Verilator runs (side effects:
files and subprocesses; everything else in bnnarch.rtl is pure).

The same testbench runs in Icarus (``run_icarus``) and, built by Verilator
5 with ``--binary --timing``, as a compiled simulation (``run_verilator``);
both print the same lines, compared with PyRTL's trace by ``compare_trace``
and with each other by ``compare_lines``.

The testbench replays the PyRTL run's stimulus (buffer images, start and cfg
inputs per cycle) and prints every output once per cycle from an
``always @(posedge clk)`` block: at the rising edge that ends cycle i the
outputs still show cycle i's values (the DUT's non-blocking register updates
land after the display), which is exactly PyRTL's trace entry i (NOTES).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import pyrtl

from bnnarch.errors import RtlError
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.golden import Program
from bnnarch.rtl.run import RunResult

MODULE = "bnnarch_array"


def verilog_text(arr: RtlArray) -> str:
    """The array as synthesisable Verilog (module ``bnnarch_array``, no reset:
    registers start at 0 like PyRTL's simulators; the testbench sets them)."""
    buf = io.StringIO()
    pyrtl.output_to_verilog(buf, add_reset=False, block=arr.block, module_name=MODULE)
    return buf.getvalue()


def write_testbench(workdir: Path, name: str, arr: RtlArray,
                    runs: Sequence[tuple[Program, RunResult]], include: str) -> Path:
    """Write ``testbench_multi`` as ``<name>.v`` plus its buffer-image files
    into ``workdir``; returns the testbench path."""
    text, files = testbench_multi(arr, runs, include, prefix=name)
    for fname, body in files.items():
        (workdir / fname).write_text(body)
    path = workdir / f"{name}.v"
    path.write_text(text)
    return path


def _tb_skeleton(arr: RtlArray, include: str) -> tuple[list[str], list[str]]:
    """(header up to ``initial begin``, register/buffer initialisation lines)
    from one PyRTL testbench generation (slow for big arrays, so cached)."""
    key = f"tb_skeleton:{include}"
    if key not in arr.sim_cache:
        inputs = arr.block.wirevector_subset(pyrtl.Input)
        trace_obj = SimpleNamespace(trace={w.name: [0] for w in inputs}, register_value_map={},
                                    default_value=0, memory_value_map={})
        buf = io.StringIO()
        pyrtl.output_verilog_testbench(buf, simulation_trace=trace_obj,
                                       toplevel_include=include, vcd=None, cmd=None,
                                       add_reset=False, block=arr.block, module_name=MODULE)
        lines = buf.getvalue().splitlines()
        begin = lines.index("    initial begin")
        init = [x for x in lines[begin + 1:]
                if x.strip().startswith(("block.", "for (tb_addr"))]
        arr.sim_cache[key] = (lines[: begin + 1], init)
    return arr.sim_cache[key]


def testbench_multi(arr: RtlArray, runs: Sequence[tuple[Program, RunResult]], include: str,
                    prefix: str = "tb") -> tuple[str, dict[str, str]]:
    """One testbench replaying several runs back to back (one Icarus compile
    for many layers): before run i it re-initialises every register and
    buffer, loads run i's buffer images (``$readmemh`` of the returned files
    ``<prefix>_<i>_<buffer>.hex``: one statement per buffer, Icarus compiles
    thousands of single-word assignments slowly) and sets ``tb_layer = i``;
    each run drives its inputs cycle by cycle (an input line only when the
    value changes); every rising edge prints ``layer cycle out1 out2 ...``
    (hex). Returns (testbench text, {file name: contents})."""
    header, init = _tb_skeleton(arr, include)
    mems = arr.memories
    widths = {w.name: w.bitwidth for w in arr.block.wirevector_subset(pyrtl.Input)}
    names = arr.output_names
    fmt = " ".join(["%0d", "%0d"] + ["%h"] * len(names))
    mod = header.index("module tb();")
    out = header[: mod + 1] + ["    integer tb_layer = 0;", "    integer tb_cycle = 0;"]
    # register/buffer initialisation once, as a task (Icarus compiles each of
    # thousands of hierarchical assignments slowly: once, not once per run)
    begin = header.index("    initial begin")
    out += header[mod + 1: begin]
    out += ["    task tb_reset;", "    begin", *init, "    end", "    endtask", ""]
    out += [header[begin], "        clk = 1'd0;"]
    files: dict[str, str] = {}
    for i, (prog, run) in enumerate(runs):
        out += [f"        tb_layer = {i};", "        tb_cycle = 0;", "        tb_reset;"]
        out += readmemh_images(prog.memories, mems, f"{prefix}_{i}", files)
        drive = {nm: run.trace[nm] for nm in ("start", *prog.cfg)}
        out += stimulus_lines(drive, widths, len(run.trace["done"]))
    out += ["        $finish;", "    end", "",
            "    always @(posedge clk) begin",
            f'        $display("{fmt}", tb_layer, tb_cycle, {", ".join(names)});',
            "        tb_cycle <= tb_cycle + 1;", "    end", "endmodule", ""]
    return "\n".join(out), files


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    message: str
    seconds: float = 0.0


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RtlError(f"{tool} is not installed (the project's setup.sh installs it from "
                       "Debian's packages)")
    return path


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise RtlError(f"{Path(cmd[0]).name} timed out after {timeout_s:.0f} s") from None


def run_icarus(workdir: Path, tb_v: str, timeout_s: float = 600) -> list[str]:
    """Compile and run the testbench (it ``include``s the design) with Icarus
    (``iverilog -g2012``, ``vvp -n``); returns the printed lines."""
    iverilog, vvp = _need("iverilog"), _need("vvp")
    workdir = Path(workdir).resolve()  # the tools run with cwd=workdir: no relative paths
    out = workdir / "tb.vvp"
    p = _run([iverilog, "-g2012", "-o", str(out), tb_v], workdir, timeout_s)
    if p.returncode:
        raise RtlError(f"iverilog failed on {tb_v}:\n{p.stderr.strip()[:2000]}")
    p = _run([vvp, "-n", str(out)], workdir, timeout_s)
    if p.returncode:
        raise RtlError(f"vvp failed:\n{p.stderr.strip()[:2000]}")
    return [ln for ln in p.stdout.splitlines() if ln and ln[0].isdigit()]


def _layer_lines(lines: list[str], layer: int) -> list[str]:
    """The printed lines of run ``layer`` of a testbench, without the tag."""
    tag = f"{layer} "
    return [ln[len(tag):] for ln in lines if ln.startswith(tag)]


class Traced(Protocol):
    """A run with a per-cycle trace: ``RunResult``, ``sysrun.SystemRun``."""

    @property
    def trace(self) -> Mapping[str, Sequence[int]]: ...


def compare_trace(arr: RtlArray, run: Traced, lines: list[str], layer: int = 0,
                  tool: str = "Icarus") -> str | None:
    """None if ``tool`` printed PyRTL's trace of run ``layer`` of the testbench
    for every cycle, else the first difference (cycle, output, both values)."""
    names = arr.output_names
    lines = _layer_lines(lines, layer)
    n = len(run.trace["done"])
    if len(lines) < n:
        return f"{tool} printed {len(lines)} cycles, PyRTL ran {n}"
    for t in range(n):
        fields = lines[t].split()
        if len(fields) != len(names) + 1 or int(fields[0]) != t:
            return f"cycle {t}: malformed testbench line {lines[t][:120]!r}"
        for name, txt in zip(names, fields[1:], strict=True):
            want = run.trace[name][t]
            try:
                got = int(txt, 16)
            except ValueError:
                return f"cycle {t}, output {name}: {tool} {txt!r} (unknown bits), PyRTL {want:#x}"
            if got != want:
                return f"cycle {t}, output {name}: {tool} {got:#x}, PyRTL {want:#x}"
    return None


def compare_icarus(arr: RtlArray, run: RunResult, lines: list[str],
                   layer: int = 0) -> str | None:
    """``compare_trace`` for Icarus's lines."""
    return compare_trace(arr, run, lines, layer, "Icarus")


def compare_lines(arr: RtlArray, lines: list[str], ref: list[str], layer: int = 0,
                  tool: str = "Verilator", ref_tool: str = "Icarus") -> str | None:
    """None if two simulators printed the same values for every cycle of run
    ``layer`` of one testbench, else the first difference."""
    names = arr.output_names
    got, want = _layer_lines(lines, layer), _layer_lines(ref, layer)
    if len(got) != len(want):
        return f"{tool} printed {len(got)} cycles, {ref_tool} {len(want)}"
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        fa, fb = a.split(), b.split()
        if len(fa) != len(names) + 1 or len(fb) != len(names) + 1:
            return f"cycle {t}: malformed testbench line {a[:120]!r} / {b[:120]!r}"
        for name, x, y in zip(["cycle", *names], fa, fb, strict=True):
            try:
                same = int(x, 16) == int(y, 16)
            except ValueError:
                same = x == y
            if not same:
                return f"cycle {t}, output {name}: {tool} {x}, {ref_tool} {y}"
    return None


def done_cycle(arr: RtlArray, lines: list[str], layer: int = 0) -> int | None:
    """The cycle count to ``done`` (``bnnarch.rtl.run``) of run ``layer`` as a
    simulator printed it: the first cycle whose ``done`` is 1, or None."""
    col = 1 + arr.output_names.index("done")
    for ln in _layer_lines(lines, layer):
        fields = ln.split()
        if fields[col] == "1":
            return int(fields[0])
    return None


def verilator_lint(design_v: Path, timeout_s: float = 300) -> ToolResult:
    """``verilator --lint-only`` on the exported module (warnings are fatal)."""
    verilator = _need("verilator")
    design_v = Path(design_v).resolve()  # the tool runs with cwd=design_v.parent
    p = _run([verilator, "--lint-only", "--top-module", MODULE, str(design_v)],
             design_v.parent, timeout_s)
    msg = (p.stdout + p.stderr).strip()
    return ToolResult(p.returncode == 0, msg[:4000])


VERILATOR_MIN_MAJOR = 5
"""``--binary`` and ``--timing`` (the testbench's delays) need Verilator 5."""

VERILATOR_BUILD = ("--binary", "--timing", "-j", "0",
                   "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")
"""C++ at -O0 on all cores: the replays are short, the build dominates
(measured idle: rtl_small's testbench 16 -> 6 s, rtl_8x8's 47 -> 10 s, against
Verilator's default -Os on one job)."""


def verilator_version(timeout_s: float = 60) -> str:
    """The installed Verilator's version; RtlError when it is missing or
    older than 5 (no ``--binary`` / ``--timing``)."""
    verilator = _need("verilator")
    p = _run([verilator, "--version"], Path.cwd(), timeout_s)
    text = (p.stdout + p.stderr).strip()
    words = text.split()
    version = words[1] if len(words) > 1 and words[0] == "Verilator" else ""
    major = version.split(".")[0]
    if p.returncode or not major.isdigit():
        raise RtlError(f"verilator --version failed or printed no version: {text[:200]!r}")
    if int(major) < VERILATOR_MIN_MAJOR:
        raise RtlError(f"verilator {version} is too old for the Verilator simulation: "
                       f"--binary and --timing need Verilator {VERILATOR_MIN_MAJOR} or newer "
                       "(or leave out --verilator-sim)")
    return version


def run_verilator(workdir: Path, tb_v: str, timeout_s: float = 1800) -> list[str]:
    """Build the testbench (it ``include``s the design) with Verilator into
    ``verilator_<testbench>/`` (``--binary --timing``, see ``VERILATOR_BUILD``),
    run it in ``workdir`` (it reads the buffer images there) and return the
    printed lines: the same lines ``run_icarus`` returns for that testbench."""
    verilator = _need("verilator")
    workdir = Path(workdir).resolve()  # the tools run with cwd=workdir: no relative paths
    mdir = workdir / f"verilator_{Path(tb_v).stem}"
    p = _run([verilator, *VERILATOR_BUILD, "--top-module", "tb", "-Mdir", str(mdir),
              "-o", "verilated_tb", tb_v], workdir, timeout_s)
    if p.returncode:
        log = (p.stderr.strip() or p.stdout.strip())[:2000]
        raise RtlError(f"verilator --binary failed on {tb_v} (exit {p.returncode}):\n{log}")
    p = _run([str(mdir / "verilated_tb")], workdir, timeout_s)
    if p.returncode:
        raise RtlError(f"the Verilator-built simulation of {tb_v} failed (exit {p.returncode}):"
                       f"\n{(p.stderr + p.stdout).strip()[:2000]}")
    return [ln for ln in p.stdout.splitlines() if ln and ln[0].isdigit()]


def stimulus_lines(signals: Mapping[str, Sequence[int]], widths: Mapping[str, int],
                   cycles: int) -> list[str]:
    """A testbench's stimulus: each cycle, an assignment for every signal
    whose value changed, then one clock period (``#10``)."""
    out: list[str] = []
    last: dict[str, int] = {}
    for t in range(cycles):
        for nm, vals in signals.items():
            v = vals[t]
            if last.get(nm) != v:
                out.append(f"        {nm} = {widths[nm]}'h{v:x};")
                last[nm] = v
        out.append("        #10;")
    return out


def readmemh_images(images: dict[str, dict[int, int]], mems: dict[str, Any], stem: str,
                    files: dict[str, str]) -> list[str]:
    """Testbench lines that load each non-empty memory image from its own
    ``{stem}_{memory}.hex`` file (added to ``files``), one ``$readmemh`` each."""
    lines = []
    for mname, image in images.items():
        if not image:
            continue
        digits = -(-mems[mname].bitwidth // 4)
        fname = f"{stem}_{mname}.hex"
        files[fname] = "".join(f"@{a:x} {v:0{digits}x}\n" for a, v in sorted(image.items()))
        lines.append(f'        $readmemh("{fname}", block.{mname});')
    return lines
