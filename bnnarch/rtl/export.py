"""Verilog export, testbench, and the Icarus / Verilator runs (side effects:
files and subprocesses; everything else in bnnarch.rtl is pure).

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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

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


def testbench_text(arr: RtlArray, prog: Program, run: RunResult, include: str) -> str:
    """Testbench driving ``run``'s inputs cycle by cycle; prints
    ``cycle out1 out2 ...`` (hex) at every rising edge."""
    mems = arr.memories
    trace_obj = SimpleNamespace(
        trace={n: run.trace[n] for n in ["start", *prog.cfg]},
        register_value_map={}, default_value=0,
        memory_value_map={mems[n]: v for n, v in prog.memories.items() if v})
    buf = io.StringIO()
    pyrtl.output_verilog_testbench(buf, simulation_trace=trace_obj, toplevel_include=include,
                                   vcd=None, cmd=None, add_reset=False, block=arr.block,
                                   module_name=MODULE)
    text = _drop_repeated_inputs(buf.getvalue(), ["start", *prog.cfg]).rstrip()
    assert text.endswith("endmodule")
    names = arr.output_names
    fmt = " ".join(["%0d"] + ["%h"] * len(names))
    monitor = (
        "    integer tb_cycle = 0;\n"
        "    always @(posedge clk) begin\n"
        f'        $display("{fmt}", tb_cycle, {", ".join(names)});\n'
        "        tb_cycle <= tb_cycle + 1;\n"
        "    end\n")
    return text[: -len("endmodule")] + monitor + "endmodule\n"


def _drop_repeated_inputs(text: str, inputs: list[str]) -> str:
    """Remove per-cycle input assignments that repeat the previous value (the
    cfg words are constant): a much shorter testbench, same stimulus."""
    last: dict[str, str] = {}
    out = []
    for line in text.splitlines():
        parts = line.strip().rstrip(";").split(" = ")
        if len(parts) == 2 and parts[0] in inputs:
            if last.get(parts[0]) == parts[1]:
                continue
            last[parts[0]] = parts[1]
        out.append(line)
    return "\n".join(out) + "\n"


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
    out = workdir / "tb.vvp"
    p = _run([iverilog, "-g2012", "-o", str(out), tb_v], workdir, timeout_s)
    if p.returncode:
        raise RtlError(f"iverilog failed on {tb_v}:\n{p.stderr.strip()[:2000]}")
    p = _run([vvp, "-n", str(out)], workdir, timeout_s)
    if p.returncode:
        raise RtlError(f"vvp failed:\n{p.stderr.strip()[:2000]}")
    return [ln for ln in p.stdout.splitlines() if ln and ln[0].isdigit()]


def compare_icarus(arr: RtlArray, run: RunResult, lines: list[str]) -> str | None:
    """None if Icarus printed PyRTL's trace for every cycle, else the first
    difference (cycle, output, both values)."""
    names = arr.output_names
    n = len(run.trace["done"])
    if len(lines) < n:
        return f"Icarus printed {len(lines)} cycles, PyRTL ran {n}"
    for t in range(n):
        fields = lines[t].split()
        if len(fields) != len(names) + 1 or int(fields[0]) != t:
            return f"cycle {t}: malformed testbench line {lines[t][:120]!r}"
        for name, txt in zip(names, fields[1:], strict=True):
            want = run.trace[name][t]
            try:
                got = int(txt, 16)
            except ValueError:
                return f"cycle {t}, output {name}: Icarus {txt!r} (unknown bits), PyRTL {want:#x}"
            if got != want:
                return f"cycle {t}, output {name}: Icarus {got:#x}, PyRTL {want:#x}"
    return None


def verilator_lint(design_v: Path, timeout_s: float = 300) -> ToolResult:
    """``verilator --lint-only`` on the exported module (warnings are fatal)."""
    verilator = _need("verilator")
    p = _run([verilator, "--lint-only", "--top-module", MODULE, str(design_v)],
             design_v.parent, timeout_s)
    msg = (p.stdout + p.stderr).strip()
    return ToolResult(p.returncode == 0, msg[:4000])
