"""Run a built array on one layer program under a PyRTL simulator.

**Cycle count to done** (the number compared with
``bnnarch.array.timing.tile_compute_cycles``): the host holds ``start`` high in
cycle 0 only (the controller is idle, its address registers are 0, so the
first word is read in that same cycle); ``rtl_cycles`` is the index of the
first cycle in which the registered output ``done`` is high — equivalently
the number of rising clock edges from the edge that samples ``start`` = 1 up
to and including the edge that raises ``done``. At that cycle every result of
the layer is in the output buffer (the last write happened on the edge that
raised ``done``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pyrtl

from bnnarch.errors import RtlError
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.golden import Program

SIMULATORS: dict[str, type] = {
    "Simulation": pyrtl.Simulation,
    "FastSimulation": pyrtl.FastSimulation,
    "CompiledSimulation": pyrtl.CompiledSimulation,
}


def pick_simulator(arr: RtlArray, cycles: int) -> str:
    """Simulator by size, measured here (2 shared cores): the interpreted
    Simulation for tiny arrays; FastSimulation (generated Python) otherwise —
    8x8 x 64 bits runs ~400 cycles/s after ~1 s of code generation;
    CompiledSimulation (C) runs >10x faster but compiles for ~40 s at 8x8 x 64
    bits (35 s at 16x16, 11 min at 64x64, NOTES), so it only pays for runs of
    more than ~50k cycles, and needs a C compiler."""
    bits = arr.rows * arr.cols * arr.simd_bits
    if bits <= 64 and cycles <= 2000:
        return "Simulation"
    has_cc = shutil.which("cc") is not None or shutil.which("gcc") is not None
    if has_cc and cycles > 50_000:
        return "CompiledSimulation"
    return "FastSimulation"


@dataclass
class RunResult:
    simulator: str
    rtl_cycles: int | None  # None: done never rose within the step limit
    steps: int
    trace: dict[str, list[int]]  # wire name -> value per cycle (inputs and outputs)
    register_init: dict[str, int]
    tracer: pyrtl.SimulationTrace

    def write_events(self, ports: int) -> list[tuple[int, int, int, int, int]]:
        """(cycle, port, addr, dot_vec, sign_vec) of every output-buffer write."""
        ev = []
        for r in range(ports):
            we = self.trace[f"o{r}_we"]
            for t, v in enumerate(we):
                if v:
                    ev.append((t, r, self.trace[f"o{r}_addr"][t], self.trace[f"o{r}_dot"][t],
                               self.trace[f"o{r}_sign"][t]))
        return ev


def _reused_fast_sim(arr: RtlArray, tracer: pyrtl.SimulationTrace,
                     mem_map: dict) -> pyrtl.FastSimulation | None:
    """The array's FastSimulation from an earlier run, reset to the initial
    register values with fresh buffers and tracer: its generated code is
    compiled once per array (~5 s at 8x8 x 64 bits) instead of once per run.
    Relies on FastSimulation's ``regs`` / ``mems`` / ``tracer`` attributes;
    None (build a new one) if they are not there."""
    cached = arr.sim_cache.get("fast")
    if cached is None:
        return None
    sim, regs0 = cached
    try:
        sim.regs = dict(regs0)
        sim.mems = {}
        sim._initialize_mems(mem_map)
        sim.tracer = tracer
        tracer._set_initial_values(sim.default_value, {}, mem_map)
    except AttributeError:
        return None
    return sim


def run_program(arr: RtlArray, prog: Program, simulator: str = "auto",
                max_steps: int | None = None) -> RunResult:
    """Load the buffers, pulse start, step until ``done`` (or the limit:
    twice the expected cycles + 64) and return the trace."""
    if simulator == "auto":
        simulator = pick_simulator(arr, prog.sim_cycles)
    if simulator not in SIMULATORS:
        raise RtlError(f"unknown simulator {simulator!r} (known: {', '.join(SIMULATORS)})")
    block = arr.block
    mems = arr.memories
    unknown = set(prog.memories) - set(mems)
    if unknown:
        raise RtlError(f"program writes unknown buffers {sorted(unknown)}")
    mem_map = {mems[n]: dict(v) for n, v in prog.memories.items() if v}
    tracked = [block.get_wirevector_by_name(n) for n in
               ["start", *prog.cfg, *arr.output_names]]
    tracer = pyrtl.SimulationTrace(wires_to_track=tracked, block=block)
    sim = _reused_fast_sim(arr, tracer, mem_map) if simulator == "FastSimulation" else None
    if sim is None:
        sim = SIMULATORS[simulator](tracer=tracer, memory_value_map=mem_map, block=block)
        if simulator == "FastSimulation":
            arr.sim_cache["fast"] = (sim, dict(sim.regs))
    limit = max_steps if max_steps is not None else 2 * prog.sim_cycles + 64
    first = min(limit, prog.sim_cycles + 1)
    steps = 0
    chunk = first
    while steps < limit:
        n = min(chunk, limit - steps)
        inputs = {k: [v] * n for k, v in prog.cfg.items()}
        inputs["start"] = [1 if steps + i == 0 else 0 for i in range(n)]
        sim.step_multiple(provided_inputs=inputs, nsteps=n)
        steps += n
        done = tracer.trace["done"]
        if any(done):
            break
        chunk = max(16, steps)
    done = list(tracer.trace["done"])
    rtl = done.index(1) if 1 in done else None
    trace = {n: list(tracer.trace[n]) for n in tracer.trace}
    return RunResult(simulator, rtl, steps, trace, {}, tracer)
