"""Tile-level engine: runs a layer's tile schedule on the array, its buffers
and the DRAM channel, with exact integer cycles.

Model (one layer; tiles in schedule order 0..n-1):
  * load i  (DRAM -> buffers: weights, activations, reloaded partial sums),
    compute i (array or MAC unit), store i (outputs or spilled partial sums ->
    DRAM);
  * input buffer slots: 2 when the weight and activation buffers are double
    buffered, else 1 -- load i needs compute i - slots to have finished;
  * output buffer slots: 2 when double buffered, else 1 -- compute i needs
    store i - slots to have finished;
  * compute i starts when load i, compute i-1 and that output slot are done;
  * one DRAM channel shared by loads and stores, run by one DMA engine that,
    whenever it is free, issues the oldest ready store first (it frees an
    output slot), else the next load if its input slot is free, else waits.
    A transfer of b bits takes latency + ceil(b / bits per cycle) cycles.

``run_tiles`` is the SimPy discrete-event model (components as processes,
events at tile granularity). ``run_tiles_fast`` computes the same schedule by
a direct recurrence (compiled: bnnarch.array._kernel.recurrence); tests hold the
two equal, and the mapper uses the recurrence to search all candidate tilings
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from bnnarch.array._kernel import recurrence
from bnnarch.array.spec import ArraySpec

if TYPE_CHECKING:
    from bnnarch.array.schedule import Tile

INF = float("inf")


@dataclass(frozen=True)
class TimedLayer:
    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_read_bits: int
    dram_write_bits: int


def dram_latency_cycles(spec: ArraySpec) -> int:
    """Cycles of DRAM access latency each transfer pays."""
    return math.ceil(spec.dram.latency_ns * spec.clock_mhz / 1000)


def dram_cycles(bits: int, spec: ArraySpec) -> int:
    if bits <= 0:
        return 0
    return dram_latency_cycles(spec) + math.ceil(bits / spec.dram_bits_per_cycle)


def buffer_slots(spec: ArraySpec) -> tuple[int, int]:
    """(input, output) tile slots: 2 when double buffered, else 1."""
    b = spec.buffers
    k_in = 2 if (b.weights.double_buffered and b.activations.double_buffered) else 1
    return k_in, (2 if b.outputs.double_buffered else 1)


def _timed(tiles: Sequence[Tile], cycles: int) -> TimedLayer:
    comp = sum(t.compute_cycles for t in tiles)
    reads = sum(t.load_w_bits + t.load_a_bits + t.load_psum_bits for t in tiles)
    writes = sum(t.store_bits for t in tiles)
    return TimedLayer(cycles, comp, cycles - comp, reads, writes)


def run_tiles(tiles: Sequence[Tile], spec: ArraySpec) -> TimedLayer:
    """SimPy model: a compute process and a DMA process sharing the buffers'
    slots; the DRAM channel is the DMA process (one transfer at a time)."""
    n = len(tiles)
    if n == 0:
        return _timed(tiles, 0)
    env = simpy.Environment()
    k_in, k_out = buffer_slots(spec)
    load_done = [env.event() for _ in range(n)]
    store_done = [env.event() for _ in range(n)]
    comp_end: list[float] = [INF] * n  # known as soon as compute i starts
    changed = {"ev": env.event()}

    def notify() -> None:
        ev = changed["ev"]
        changed["ev"] = env.event()
        ev.succeed()

    def compute():
        for i, t in enumerate(tiles):
            yield load_done[i]
            if i >= k_out:
                yield store_done[i - k_out]
            comp_end[i] = env.now + t.compute_cycles
            notify()
            yield env.timeout(t.compute_cycles)

    def dma():
        nl = ns = 0
        while nl < n or ns < n:
            now = env.now
            store_ready = ns < nl and comp_end[ns] <= now
            load_ready = nl < n and (nl < k_in or comp_end[nl - k_in] <= now)
            if store_ready:
                yield env.timeout(dram_cycles(tiles[ns].store_bits, spec))
                store_done[ns].succeed()
                ns += 1
            elif load_ready:
                t = tiles[nl]
                yield env.timeout(dram_cycles(t.load_w_bits + t.load_a_bits + t.load_psum_bits, spec))
                load_done[nl].succeed()
                nl += 1
            else:
                wake = min(comp_end[ns] if ns < nl else INF,
                           comp_end[nl - k_in] if k_in <= nl < n else INF)
                waits = [changed["ev"]]
                if wake < INF:
                    waits.append(env.timeout(int(wake - now)))
                yield env.any_of(waits)
                # let every event of this instant settle before deciding again
                yield env.timeout(0)

    env.process(compute())
    proc = env.process(dma())
    env.run(until=proc)
    return _timed(tiles, int(env.now))


def run_tiles_fast(tiles: Sequence[Tile], spec: ArraySpec) -> TimedLayer:
    """The same model as run_tiles by direct recurrence (no event queue)."""
    if not tiles:
        return _timed(tiles, 0)
    cycles = recurrence_cycles(
        [t.load_w_bits + t.load_a_bits + t.load_psum_bits for t in tiles],
        [t.compute_cycles for t in tiles], [t.store_bits for t in tiles], spec)
    return _timed(tiles, cycles)


def recurrence_cycles(loads: Sequence[int], comps: Sequence[int], stores: Sequence[int],
                      spec: ArraySpec) -> int:
    """Cycles of a layer given per-tile load bits, compute cycles and store bits:
    the recurrence compiled in bnnarch.array._kernel (tests hold it equal to run_tiles)."""
    k_in, k_out = buffer_slots(spec)
    return int(recurrence(np.asarray(loads, dtype=np.int64), np.asarray(comps, dtype=np.int64),
                          np.asarray(stores, dtype=np.int64), len(comps), k_in, k_out,
                          dram_latency_cycles(spec), spec.dram_bits_per_cycle))
