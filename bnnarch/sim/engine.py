"""SimPy engine: runs each layer's tile schedule at tile granularity.

Components are SimPy processes/resources built per run (no module-level
environment):
  * the DRAM channel: a Resource of capacity 1 shared by loads and stores;
    a transfer of b bits holds it ceil(b / bits_per_cycle) cycles after a
    fixed access latency (spec.dram.latency_ns, in cycles);
  * buffer slots: a Container per tile of 2 slots (double buffered: the load
    of tile i+1 overlaps compute of tile i) or 1 (single buffered);
  * the compute unit (array or MAC unit): one tile at a time.
Cycles are exact integers: every timeout is an integer number of cycles.
Stall cycles = the layer's cycles minus its compute cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

from bnnarch.sim.mapper import Schedule, Tile
from bnnarch.spec.array import ArraySpec


@dataclass(frozen=True)
class TimedLayer:
    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_read_bits: int
    dram_write_bits: int


def dram_cycles(bits: int, spec: ArraySpec) -> int:
    if bits <= 0:
        return 0
    lat = math.ceil(spec.dram.latency_ns * spec.clock_mhz / 1000)
    return lat + math.ceil(bits / spec.dram_bits_per_cycle)


def run_tiles(tiles: tuple[Tile, ...] | list[Tile], spec: ArraySpec) -> TimedLayer:
    """Simulate one layer's tiles: loads -> compute -> stores, overlapped as the
    buffers' double buffering allows, the DRAM channel shared."""
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    b = spec.buffers
    in_slots = 2 if (b.weights.double_buffered and b.activations.double_buffered) else 1
    out_slots = 2 if b.outputs.double_buffered else 1
    free_in = simpy.Container(env, capacity=in_slots, init=in_slots)
    free_out = simpy.Container(env, capacity=out_slots, init=out_slots)
    ready = simpy.Store(env)
    done_compute = simpy.Store(env)
    state = {"compute": 0, "end": 0}

    def loader():  # noqa: ANN202 - simpy process
        for t in tiles:
            yield free_in.get(1)
            bits = t.load_w_bits + t.load_a_bits + t.load_psum_bits
            if bits:
                with dram.request() as req:
                    yield req
                    yield env.timeout(dram_cycles(bits, spec))
            yield ready.put(t)

    def computer():  # noqa: ANN202
        for _ in tiles:
            t = yield ready.get()
            yield free_out.get(1)
            yield env.timeout(t.compute_cycles)
            state["compute"] += t.compute_cycles
            yield free_in.put(1)
            yield done_compute.put(t)

    def storer():  # noqa: ANN202
        for _ in tiles:
            t = yield done_compute.get()
            if t.store_bits:
                with dram.request() as req:
                    yield req
                    yield env.timeout(dram_cycles(t.store_bits, spec))
            yield free_out.put(1)
        state["end"] = env.now

    env.process(loader())
    env.process(computer())
    p = env.process(storer())
    env.run(until=p)
    cycles = int(state["end"])
    reads = sum(t.load_w_bits + t.load_a_bits + t.load_psum_bits for t in tiles)
    writes = sum(t.store_bits for t in tiles)
    return TimedLayer(cycles, state["compute"], cycles - state["compute"], reads, writes)


def run_schedule(s: Schedule, spec: ArraySpec) -> TimedLayer:
    return run_tiles(s.tiles, spec)
