"""Memory system of the array template in RTL: the DMA engine, the tile-slot
(ping-pong) control and the staging buffers, built from an ``ArraySpec``
into an explicit ``pyrtl.Block``.

It runs a layer's tile schedule (the mapper's ``Schedule.tiles``, loaded as a
descriptor table: per tile the bits to load and to store) exactly as the
engine models it (``bnnarch.array.engine``):

* input slots ``k_in`` (2 when the weight and activation buffers are double
  buffered), output slots ``k_out`` (2 when the output buffer is): the staged
  load of tile i lands in input slot ``i mod k_in``, its results leave from
  output slot ``i mod k_out``;
* compute i starts (``comp_start``, ``comp_tile`` = i; the array's own
  ``start``) in the cycle in which load i has completed, the array is free
  (its ``done`` is high or it never ran) and store i - k_out has completed;
* one DMA engine on one DRAM channel: whenever it is free it issues the
  oldest ready store (compute done) first, else the next load if its input
  slot is free (compute i - k_in done), else waits. A transfer of b > 0 bits
  requested in cycle t gets its first beat ``lat`` cycles later and moves
  ``bw`` bits per beat (``ceil(b / bw)`` beats); it completes in cycle
  ``t + lat + ceil(b / bw)``, where the DMA decides again. Transfers of 0
  bits (a weight tile still on chip, a partial sum kept in the output
  buffer, a held output) take no cycle: the decision logic is unrolled
  ``CHAIN`` times so that such transfers and the next real request all
  happen in one cycle, as in the engine's event loop.

Beats of a load are written into the input staging buffer (``instage``, one
``bw``-bit word per beat, ``k_in`` halves); beats of a store are read from
the output staging buffer (``outstage``, ``k_out`` halves). The DRAM itself
(latency, data) is a behavioural model on the testbench side
(``bnnarch.rtl.sysrun``) that answers the request ports. ``done`` is high
from the cycle in which the last store completes (start sampled in cycle
0): that index is the layer's total cycles, the number the simulator
reports as ``cycles``.

Area: ~10 counters of 16-32 bits, CHAIN copies of the decision logic
(comparators and adders on tile indices), one bits-left subtractor; the
descriptor table and the staging SRAMs are memories (priced by the SRAM
area model, not as logic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyrtl

from bnnarch.array.engine import buffer_slots, dram_latency_cycles
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError

CHAIN = 6
"""Decisions the DMA can take in one cycle (zero-bit transfers chained before
one real request). Between two cycles at most k_out + 1 stores and k_in + 1
loads become ready (computes end one per cycle), so k_in + k_out + 2 <= 6."""
TILE_BITS = 16  # tile counters
MAX_TILES = 4096
"""Descriptor-table entries by default (the mapper's largest schedules on the
RTL-sized designs have hundreds of tiles)."""
XFER_BITS = 32  # bits of one transfer


@dataclass
class RtlSystem:
    """A built memory system: the block and the handles the host needs."""

    spec: ArraySpec
    block: pyrtl.Block
    k_in: int
    k_out: int
    lat_cycles: int
    bw_bits: int
    in_slot_words: int  # bw-bit words per input slot (a power of two)
    out_slot_words: int
    ldesc: pyrtl.MemBlock
    sdesc: pyrtl.MemBlock
    instage: pyrtl.MemBlock
    outstage: pyrtl.MemBlock

    @property
    def max_tiles(self) -> int:
        return 1 << self.ldesc.addrwidth

    @property
    def output_names(self) -> list[str]:
        return ["done", "comp_start", "comp_tile", "req_valid", "req_write", "req_tile",
                "req_bits", "beat", "wdata", "chain_full"]

    @property
    def input_names(self) -> list[str]:
        return ["start", "cfg_tiles", "comp_done", "rdata", "desc_we", "desc_sel", "desc_addr",
                "desc_data", "pk_we", "pk_addr", "pk_data"]


def system_params(spec: ArraySpec) -> tuple[int, int]:
    """(DRAM latency in cycles, bits per cycle) the RTL supports; RtlError
    for a fractional bandwidth or a zero latency."""
    bw = spec.dram_bits_per_cycle
    lat = dram_latency_cycles(spec)
    if bw != int(bw) or bw < 1:
        raise RtlError(f"design {spec.name!r}: the DRAM moves {bw:g} bits per cycle; the system "
                       "RTL needs a whole number (dram.bandwidth_gbps * 8000 / clock_mhz)")
    if lat < 1:
        raise RtlError(f"design {spec.name!r}: dram.latency_ns gives {lat} cycles; the system "
                       "RTL needs at least one cycle of DRAM latency")
    return lat, int(bw)


def _pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, n))))


def build_system(spec: ArraySpec, max_tiles: int = MAX_TILES) -> RtlSystem:
    """Generate the DMA, slot control and staging buffers (module doc);
    the descriptor tables hold ``max_tiles`` tiles."""
    lat, bw = system_params(spec)
    k_in, k_out = buffer_slots(spec)
    b = spec.buffers
    # a load carries a weight tile, an activation tile and reloaded partial sums
    in_words = _pow2(math.ceil((b.weights.tile_bits + b.activations.tile_bits
                                + b.outputs.tile_bits) / bw))
    out_words = _pow2(math.ceil(b.outputs.tile_bits / bw))
    block = pyrtl.Block()
    with pyrtl.set_working_block(block, no_sanity_check=True):
        da = max(1, (max_tiles - 1).bit_length())
        if da > TILE_BITS:
            raise RtlError(f"max_tiles={max_tiles}: the tile counters have {TILE_BITS} bits")
        ldesc = pyrtl.MemBlock(XFER_BITS, da, name="ldesc", asynchronous=True,
                               max_read_ports=CHAIN)
        sdesc = pyrtl.MemBlock(XFER_BITS, da, name="sdesc", asynchronous=True,
                               max_read_ports=CHAIN)
        ia = (k_in - 1).bit_length() + in_words.bit_length() - 1
        oa = (k_out - 1).bit_length() + out_words.bit_length() - 1
        instage = pyrtl.MemBlock(bw, max(1, ia), name="instage")
        outstage = pyrtl.MemBlock(bw, max(1, oa), name="outstage", asynchronous=True)
        sys = RtlSystem(spec, block, k_in, k_out, lat, bw, in_words, out_words, ldesc, sdesc,
                        instage, outstage)
        _build(sys)
    block.sanity_check()
    return sys


def _slot_addr(tile: pyrtl.WireVector, k: int, beat: pyrtl.WireVector, words: int,
               width: int) -> pyrtl.WireVector:
    """Staging address of a beat: slot (tile mod k) above the beat index."""
    wb = words.bit_length() - 1
    low = beat[:wb] if wb else None
    if k == 1:
        return (low if low is not None else pyrtl.Const(0, 1)).zero_extended(width)
    return pyrtl.concat(tile[0], low).zero_extended(width) if low is not None else tile[0]


def _build(sys: RtlSystem) -> None:
    T, X = TILE_BITS, XFER_BITS
    da = sys.ldesc.addrwidth
    start = pyrtl.Input(1, name="start")
    n_tiles = pyrtl.Input(T, name="cfg_tiles")
    comp_done = pyrtl.Input(1, name="comp_done")  # the array's done (sticky until its start)
    rdata = pyrtl.Input(sys.bw_bits, name="rdata")  # DRAM read beat data

    def reg(width: int, name: str) -> pyrtl.Register:
        return pyrtl.Register(width, name=f"dma_{name}")

    nl, ns, nc_start, nc_done = (reg(T, n) for n in ("nl", "ns", "nc_start", "nc_done"))
    run, busy, kind, computing, done_r = (reg(1, n) for n in
                                          ("run", "busy", "kind", "computing", "done"))
    xtile = reg(T, "xtile")
    lat_left = reg(max(1, sys.lat_cycles.bit_length()), "lat_left")
    bits_left = reg(X, "bits_left")
    beat_idx = reg(X, "beat_idx")

    running = (run | start) & ~done_r
    comp_end = computing & comp_done
    cd = (nc_done + comp_end)[:T]  # computes finished by this cycle
    xfer_end = busy & (lat_left == 0) & (bits_left == 0)
    lv = (nl + (xfer_end & ~kind))[:T]
    sv = (ns + (xfer_end & kind))[:T]
    active: pyrtl.WireVector = running & (~busy | xfer_end)
    issue = pyrtl.Const(0, 1)
    i_kind, i_tile, i_bits = pyrtl.Const(0, 1), pyrtl.Const(0, T), pyrtl.Const(0, X)
    for _ in range(CHAIN):
        s_ready = (sv < lv) & (sv < cd)
        l_ready = (lv < n_tiles) & (lv < (cd + sys.k_in)[: T + 1])
        sb, lb = sys.sdesc[sv[:da]], sys.ldesc[lv[:da]]
        take_s = active & s_ready
        take_l = active & ~s_ready & l_ready
        skip_s, skip_l = take_s & (sb == 0), take_l & (lb == 0)
        go = (take_s & (sb != 0)) | (take_l & (lb != 0))
        i_kind = pyrtl.select(go, take_s, i_kind)
        i_tile = pyrtl.select(go, pyrtl.select(take_s, sv, lv), i_tile)
        i_bits = pyrtl.select(go, pyrtl.select(take_s, sb, lb), i_bits)
        issue = issue | go
        lv = (lv + skip_l)[:T]
        sv = (sv + skip_s)[:T]
        active = skip_s | skip_l
    chain_full = pyrtl.Output(1, name="chain_full")
    chain_full <<= active
    # compute start: load i in, array free, store i - k_out out
    free_arr = ~computing | comp_end
    need_store = (nc_start < sys.k_out) | (nc_start < (sv + sys.k_out)[: T + 1])
    c_go = running & free_arr & (nc_start < n_tiles) & (nc_start < lv) & need_store
    finished = running & (sv == n_tiles)

    beat = busy & (lat_left == 0) & (bits_left != 0)
    # next state (explicit muxes: a new request overrides the end of the last one)
    nl.next <<= lv
    ns.next <<= sv
    nc_done.next <<= cd
    nc_start.next <<= (nc_start + c_go)[:T]
    computing.next <<= c_go | (computing & ~comp_end)
    run.next <<= run | start
    done_r.next <<= done_r | finished
    busy.next <<= issue | (busy & ~xfer_end)
    kind.next <<= pyrtl.select(issue, i_kind, kind)
    xtile.next <<= pyrtl.select(issue, i_tile, xtile)
    lat_dec = pyrtl.select(busy & (lat_left != 0), (lat_left - 1)[: lat_left.bitwidth], lat_left)
    lat_left.next <<= pyrtl.select(issue, pyrtl.Const(sys.lat_cycles - 1, lat_left.bitwidth),
                                   lat_dec)
    left = pyrtl.select(bits_left > sys.bw_bits, (bits_left - sys.bw_bits)[:X],
                        pyrtl.Const(0, X))
    bits_left.next <<= pyrtl.select(issue, i_bits, pyrtl.select(beat, left, bits_left))
    beat_idx.next <<= pyrtl.select(issue, pyrtl.Const(0, X),
                                   pyrtl.select(beat, (beat_idx + 1)[:X], beat_idx))
    in_addr = _slot_addr(xtile, sys.k_in, beat_idx, sys.in_slot_words, sys.instage.addrwidth)
    out_addr = _slot_addr(xtile, sys.k_out, beat_idx, sys.out_slot_words,
                          sys.outstage.addrwidth)
    sys.instage[in_addr] <<= pyrtl.MemBlock.EnabledWrite(rdata, enable=beat & ~kind)
    # host port: the descriptor tables are written before start; the pack
    # unit writes results into the output staging buffer
    d_we, d_sel = pyrtl.Input(1, name="desc_we"), pyrtl.Input(1, name="desc_sel")
    d_addr, d_data = pyrtl.Input(da, name="desc_addr"), pyrtl.Input(X, name="desc_data")
    sys.ldesc[d_addr] <<= pyrtl.MemBlock.EnabledWrite(d_data, enable=d_we & ~d_sel)
    sys.sdesc[d_addr] <<= pyrtl.MemBlock.EnabledWrite(d_data, enable=d_we & d_sel)
    p_we = pyrtl.Input(1, name="pk_we")
    p_addr = pyrtl.Input(sys.outstage.addrwidth, name="pk_addr")
    p_data = pyrtl.Input(sys.bw_bits, name="pk_data")
    sys.outstage[p_addr] <<= pyrtl.MemBlock.EnabledWrite(p_data, enable=p_we)
    wdata = sys.outstage[out_addr]
    outs = {
        "done": done_r | finished, "comp_start": c_go, "comp_tile": nc_start,
        "req_valid": issue, "req_write": i_kind, "req_tile": i_tile, "req_bits": i_bits,
        "beat": beat, "wdata": pyrtl.select(beat & kind, wdata, pyrtl.Const(0, sys.bw_bits)),
    }
    for name, w in outs.items():
        o = pyrtl.Output(w.bitwidth, name=name)
        o <<= w
