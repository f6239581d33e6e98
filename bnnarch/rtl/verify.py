"""Verification of the generated RTL, layer by layer:

1. bit-exact: the PyRTL simulation's output-buffer writes (dot products and
   threshold sign bits) equal the numpy golden model (``bnnarch.rtl.golden``)
   on the layer's packed trained weights when the workload has them, random
   operands otherwise;
2. cycle-exact: the RTL's cycle count to ``done`` (defined in
   ``bnnarch.rtl.run``) equals ``bnnarch.array.timing.tile_compute_cycles``
   for the whole layer run as one tile, and — tile by tile over the schedule
   ``simulate`` runs (``bnnarch.rtl.sim_schedule``: held feature maps
   included; layers with computation reuse refused) — the sum over its tiles
   equals that schedule's ``compute_cycles`` (each distinct tile shape is run
   once on random operands and counted with its multiplicity);
3. (``bnnarch.rtl.export``) the Verilog testbench replays the run in Icarus
   and (optionally) as a Verilator-built simulation, each matching PyRTL
   cycle by cycle (and Verilator matching Icarus).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.golden import (
    LayerData,
    Program,
    golden,
    layer_data,
    program,
    random_data,
    unpack_results,
)
from bnnarch.rtl.run import RunResult, run_program
from bnnarch.rtl.sim_schedule import NOT_HELD, simulated_schedule
from bnnarch.workload.golden import activation_signed
from bnnarch.workload.layer import Layer


@dataclass
class RunCheck:
    """One RTL run (a whole layer or one mapper tile shape)."""

    what: str
    tile: tuple[int, int, int, int, int]  # (groups, m, n, k_bits, passes)
    rtl_cycles: int | None
    sim_cycles: int
    bit_exact: bool
    error: str | None
    simulator: str
    seconds: float
    prog: Program | None = field(default=None, repr=False)
    run: RunResult | None = field(default=None, repr=False)

    @property
    def cycle_match(self) -> bool:
        return self.rtl_cycles == self.sim_cycles


def first_mismatch(arr: RtlArray, data: LayerData, run: RunResult) -> str | None:
    """None when every output matches the golden model; otherwise which output
    (group, pixel, filter), at which cycle it was written, and both values."""
    dot, sign, cyc = unpack_results(arr, data, run.write_events(arr.ports))
    gdot, gsign = golden(data)
    bad = np.argwhere((dot != gdot) | (sign != gsign) | (cyc < 0))
    if bad.size == 0:
        return None
    g, m, n = (int(v) for v in bad[0])
    if cyc[g, m, n] < 0:
        return (f"output (group {g}, pixel {m}, filter {n}) was never written "
                f"({len(bad)} outputs differ; golden dot {gdot[g, m, n]})")
    return (f"output (group {g}, pixel {m}, filter {n}) written at cycle {cyc[g, m, n]}: "
            f"RTL dot {dot[g, m, n]} sign {sign[g, m, n]}, golden dot {gdot[g, m, n]} "
            f"sign {gsign[g, m, n]} ({len(bad)} outputs differ)")


def check_run(arr: RtlArray, data: LayerData, what: str, simulator: str = "auto",
              keep: bool = False) -> RunCheck:
    """Program the array with ``data``, simulate, compare bits and cycles."""
    t0 = time.monotonic()
    prog = program(arr, data)
    run = run_program(arr, prog, simulator)
    err = first_mismatch(arr, data, run)
    t = data.tile()
    return RunCheck(what, (t.groups, t.m, t.n, t.k_bits, t.passes), run.rtl_cycles,
                    prog.sim_cycles, err is None, err, run.simulator,
                    round(time.monotonic() - t0, 3), prog if keep else None,
                    run if keep else None)


@dataclass
class LayerCheck:
    name: str
    data: str  # "packed_weights" | "random"
    whole: RunCheck | None
    tiles: list[tuple[RunCheck, int]]  # distinct mapper tile shapes with multiplicity
    sim_cycles: int  # mapper schedule's compute cycles
    mapping: str
    seconds: float
    cells: int | None = None
    area_mm2: float | None = None
    icarus: str | None = None  # "match", "skipped", or the first difference
    verilator: str | None = None  # same, for the Verilator simulation (None: not asked)

    @property
    def rtl_cycles(self) -> int | None:
        total = 0
        for rc, count in self.tiles:
            if rc.rtl_cycles is None:
                return None
            total += rc.rtl_cycles * count
        return total

    @property
    def bit_exact(self) -> bool:
        runs = ([self.whole] if self.whole else []) + [rc for rc, _ in self.tiles]
        return all(rc.bit_exact for rc in runs)

    @property
    def cycle_match(self) -> bool:
        whole_ok = self.whole is None or self.whole.cycle_match
        return whole_ok and self.rtl_cycles == self.sim_cycles

    @property
    def ok(self) -> bool:
        replays = (self.icarus, self.verilator)
        return self.bit_exact and self.cycle_match and all(
            r in (None, "match", "skipped") for r in replays)

    def failures(self) -> list[str]:
        out = []
        runs = ([self.whole] if self.whole else []) + [rc for rc, _ in self.tiles]
        for rc in runs:
            if not rc.bit_exact:
                out.append(f"layer {self.name!r} ({rc.what}): {rc.error}")
            if not rc.cycle_match:
                got = "done never rose" if rc.rtl_cycles is None else f"{rc.rtl_cycles} cycles"
                out.append(f"layer {self.name!r} ({rc.what}): RTL {got}, timing model "
                           f"{rc.sim_cycles} cycles")
        if self.rtl_cycles is not None and self.rtl_cycles != self.sim_cycles:
            out.append(f"layer {self.name!r}: RTL {self.rtl_cycles} cycles over the mapper's "
                       f"tiles, simulator {self.sim_cycles} ({self.mapping})")
        if self.icarus not in (None, "match", "skipped"):
            out.append(f"layer {self.name!r}: Icarus differs from PyRTL at {self.icarus}")
        if self.verilator not in (None, "match", "skipped"):
            out.append(f"layer {self.name!r}: Verilator simulation differs at {self.verilator}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "bit_exact": self.bit_exact, "cycle_match": self.cycle_match,
            "rtl_cycles": self.rtl_cycles, "sim_cycles": self.sim_cycles,
            "cells": self.cells, "area_mm2": self.area_mm2, "data": self.data,
            "mapping": self.mapping, "icarus": self.icarus,
            "verilator": self.verilator, "seconds": self.seconds,
            "whole_layer": None if self.whole is None else {
                "tile": list(self.whole.tile), "rtl_cycles": self.whole.rtl_cycles,
                "sim_cycles": self.whole.sim_cycles, "bit_exact": self.whole.bit_exact,
                "simulator": self.whole.simulator, "seconds": self.whole.seconds},
            "tiles": [{"tile": list(rc.tile), "count": n, "rtl_cycles": rc.rtl_cycles,
                       "sim_cycles": rc.sim_cycles, "bit_exact": rc.bit_exact}
                      for rc, n in self.tiles],
            "failures": self.failures(),
        }


def _schedule(layer: Layer, spec: ArraySpec, held: tuple[bool, bool] = NOT_HELD
              ) -> tuple[int, str, list[tuple[tuple, int]]]:
    """(compute cycles, description, [(tile (g, m, n, k, passes), count)]) of
    the schedule ``simulate`` runs for the layer (``bnnarch.rtl.sim_schedule``:
    held feature maps included; reuse and mapper failures are an RtlError)."""
    s = simulated_schedule(layer, spec, held)
    if s.engine != "array":
        raise RtlError(f"layer {layer.name!r} runs on the {s.engine}, not on the array")
    shapes = Counter((t.gemm.groups, t.gemm.m, t.gemm.n, t.gemm.k_bits, t.gemm.passes)
                     for t in s.tiles)
    desc = f"order={s.order} tiling={list(s.tiling)} tiles={s.n_tiles}"
    if any(held):
        desc += " on-chip:" + "+".join(w for w, h in zip(("in", "out"), held, strict=True) if h)
    return s.compute_cycles, desc, sorted(shapes.items())


def check_layer(arr: RtlArray, layer: Layer, rng: np.random.Generator,
                simulator: str = "auto", keep: bool = False,
                held: tuple[bool, bool] = NOT_HELD) -> LayerCheck:
    """All RTL checks of one workload layer (see module docstring); ``held``:
    whether ``simulate`` keeps its input / output on chip (``held_maps``)."""
    t0 = time.monotonic()
    fp = arr.spec.full_precision
    if layer.is_full_precision and fp.mode == "bit_serial":
        # the design runs its full-precision layers bit-serially at fp.bits x fp.bits
        layer = layer.with_bits(fp.bits, fp.bits)
    data = layer_data(layer, rng)
    real = bool(layer.packed_weights) and layer.w_bits == 1
    sim_cycles, desc, shapes = _schedule(layer, arr.spec, held)
    whole: RunCheck | None = None
    try:
        whole = check_run(arr, data, "whole layer as one tile", simulator, keep)
    except RtlError:
        if len(shapes) == 1 and shapes[0][1] == 1:
            raise  # the mapper's single tile is the whole layer: it must fit
    tiles: list[tuple[RunCheck, int]] = []
    for (g, m, n, k, passes), count in shapes:
        if whole is not None and whole.tile == (g, m, n, k, passes):
            tiles.append((whole, count))
            continue
        if passes != layer.w_bits * layer.a_bits:
            raise RtlError(f"layer {layer.name!r}: mapper runs {passes} passes, the RTL "
                           f"{layer.w_bits}x{layer.a_bits}")
        td = random_data(layer.name, g, m, n, k, layer.w_bits, layer.a_bits, rng,
                         a_signed=activation_signed(layer))
        tiles.append((check_run(arr, td, f"mapper tile g={g} m={m} n={n} k={k}", simulator,
                                keep and whole is None), count))
    return LayerCheck(layer.name, "packed_weights" if real and whole else "random", whole,
                      tiles, sim_cycles, desc, round(time.monotonic() - t0, 3))


def builtin_layers() -> list[Layer]:
    """Small layers for checking a design without a workload: 1x1, 3x3,
    strided 3x3, grouped, multi-bit and a fully connected layer."""
    return [
        Layer("conv1x1", "conv2d", ("input",), (16, 4, 4), (8, 4, 4)),
        Layer("conv3x3", "conv2d", ("input",), (8, 5, 5), (6, 5, 5), kernel=(3, 3),
              padding=(1, 1)),
        Layer("conv3x3_s2", "conv2d", ("input",), (8, 7, 7), (5, 3, 3), kernel=(3, 3),
              stride=(2, 2)),
        Layer("conv3x3_g2", "conv2d", ("input",), (8, 4, 4), (4, 2, 2), kernel=(3, 3),
              groups=2),
        Layer("conv3x3_w2a2", "conv2d", ("input",), (4, 4, 4), (4, 2, 2), kernel=(3, 3),
              w_bits=2, a_bits=2),
        Layer("fc", "linear", ("input",), (40, 1, 1), (10, 1, 1)),
    ]
