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

Staging buffers and the hold region are split into the spec's ``banks``
memories side by side; a row is the buffer's ``port_bits`` (whole DMA beats;
validation keeps the DRAM's bits per cycle within every port). A load beat is
merged into the row being assembled and written across the banks of the
input staging buffer (``instage``, ``k_in`` slots); a store beat is ``bw``
bits of a row of the output staging buffer (``outstage``, ``k_out`` slots),
which the pack unit (``bnnarch.rtl.pack``) fills from the array's result
ports while the tile computes. With ``hold_kib`` the pack unit writes a held
output into the hold region (``hold``, the activation buffer's hold part,
rows from ``cfg_hold_base``) instead; the next layer's window unit reads it
there. The DRAM itself (latency, data) is a behavioural model on the
testbench side (``bnnarch.rtl.sysrun``) that answers the request ports.
``done`` is high from the cycle in which the last store completes (start
sampled in cycle 0): that index is the layer's total cycles, the number the
simulator reports as ``cycles``.

Area: ~10 counters of 16-32 bits, CHAIN copies of the decision logic
(comparators and adders on tile indices), one bits-left subtractor, the row
assembly register and beat muxes, the pack unit (its cost in
``bnnarch.rtl.pack``); the descriptor tables, staging banks and hold banks
are memories (priced by the SRAM area model, not as logic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyrtl

from bnnarch.array.engine import buffer_slots, dram_latency_cycles
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.rtl.pack import PackGeometry, PackIn, advance, pack_unit

CHAIN = 6
"""Decisions the DMA can take in one cycle (zero-bit transfers chained before
one real request). Between two cycles at most k_out + 1 stores and k_in + 1
loads become ready (computes end one per cycle), so k_in + k_out + 2 <= 6."""
TILE_BITS = 16  # tile counters
MAX_TILES = 4096
"""Descriptor-table entries by default (the mapper's largest schedules on the
RTL-sized designs have hundreds of tiles)."""
XFER_BITS = 32  # bits of one transfer
X_ROW = 20  # staging / hold row pointers


@dataclass
class RtlSystem:
    """A built memory system: the block and the handles the host needs."""

    spec: ArraySpec
    block: pyrtl.Block
    k_in: int
    k_out: int
    lat_cycles: int
    bw_bits: int
    in_row_bits: int  # bits of one input staging row (the buffer's port, whole beats)
    out_row_bits: int
    in_slot_rows: int  # rows per input slot (a power of two)
    out_slot_rows: int
    ldesc: pyrtl.MemBlock
    sdesc: pyrtl.MemBlock
    instage: list[pyrtl.MemBlock]  # banks, low bits of a row first
    outstage: list[pyrtl.MemBlock]
    hold: list[pyrtl.MemBlock]  # hold region banks (empty without hold_kib)
    hold_rows: int
    pack: PackGeometry

    @property
    def max_tiles(self) -> int:
        return 1 << self.ldesc.addrwidth

    @property
    def memories(self) -> list[pyrtl.MemBlock]:
        return [self.ldesc, self.sdesc, *self.instage, *self.outstage, *self.hold]

    def staging_report(self) -> dict[str, object]:
        """report.json's ``system.params.staging``: rows, row widths and banks of
        the staging buffers and the hold region, the pack unit's shape."""
        def mems(ms: list[pyrtl.MemBlock], rows: int) -> dict[str, object]:
            return {"rows": rows, "row_bits": sum(m.bitwidth for m in ms),
                    "banks": len(ms), "bank_bits": [m.bitwidth for m in ms]}
        return {"in": mems(self.instage, self.k_in * self.in_slot_rows) | {
                    "slot_rows": self.in_slot_rows},
                "out": mems(self.outstage, self.k_out * self.out_slot_rows) | {
                    "slot_rows": self.out_slot_rows},
                "hold": mems(self.hold, self.hold_rows) if self.hold else None,
                "pack": {"ports": self.pack.ports, "lanes": self.pack.lanes,
                         "max_bits_per_cycle": self.pack.max_bits,
                         "row_write_ports": self.pack.write_ports}}

    @property
    def output_names(self) -> list[str]:
        return ["done", "comp_start", "comp_tile", "req_valid", "req_write", "req_tile",
                "req_bits", "beat", "wdata", "chain_full", "pk_conflict", "in_rdata"] + (
                    ["hold_rdata"] if self.hold else [])

    @property
    def input_names(self) -> list[str]:
        """The first four are the run's control; the rest are host and array ports."""
        names = ["start", "cfg_tiles", "comp_done", "rdata", "desc_we", "desc_sel", "desc_addr",
                 "desc_data", "in_raddr"]
        for p in range(self.pack.ports):
            names += [f"aw{p}_we", f"aw{p}_sign", f"aw{p}_dot"]
        names += [f"pk_{n}" for n in PACK_CFG]
        if self.hold:
            names += ["cfg_hold_base", "hold_raddr"]
        return names


PACK_CFG = ("on", "wide", "hold", "in_last", "out_last", "port_rem", "lane_rem")
"""Pack-unit configuration inputs (``pk_<name>``), per tile (``bnnarch.rtl.pack``)."""


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
    # A DMA beat lands in one buffer row per cycle: a DRAM channel wider than
    # a buffer's port cannot be built at its rated bandwidth. (`simulate` takes
    # the channel's rate as given; the check is the generator's, not the spec's.)
    for buf in ("weights", "activations", "outputs"):
        port = getattr(spec.buffers, buf).port_bits
        if bw > port:
            raise RtlError(f"buffers.{buf}.port_bits: {port} bits/cycle is narrower than the "
                           f"DRAM channel ({bw:g} bits/cycle = dram.bandwidth_gbps * 8000 / "
                           "clock_mhz): the system RTL writes one DMA beat into the buffer "
                           "per cycle")
    return lat, int(bw)


def _pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, n))))


def _row_bits(port_bits: int, bw: int) -> int:
    """A staging row: the buffer's port width, whole DMA beats (validation
    keeps the port at least one beat wide)."""
    return max(1, port_bits // bw) * bw


def _banks(name: str, row_bits: int, banks: int, rows: int, **kw) -> list[pyrtl.MemBlock]:
    """``banks`` memories side by side (low bits of a row in bank 0), each
    ``ceil(row / banks)`` bits wide, the last one what remains."""
    n = min(banks, row_bits)
    w = math.ceil(row_bits / n)
    widths = [min(w, row_bits - i * w) for i in range(n) if row_bits - i * w > 0]
    aw = max(1, (rows - 1).bit_length())
    return [pyrtl.MemBlock(bw_, aw, name=f"{name}{i}", **kw) for i, bw_ in enumerate(widths)]


def pack_geometry(spec: ArraySpec, row_bits: int) -> PackGeometry:
    """The array's result ports as the pack unit sees them."""
    a = spec.array
    stationary = a.interconnect == "systolic" and a.effective_dataflow in ("ws", "is")
    ports, lanes = (a.cols, 1) if stationary else (a.rows, a.cols)
    return PackGeometry(ports, lanes, a.acc_bits, row_bits, TILE_BITS)


def build_system(spec: ArraySpec, max_tiles: int = MAX_TILES) -> RtlSystem:
    """Generate the DMA, slot control, staging buffers, pack unit and hold
    region (module doc); the descriptor tables hold ``max_tiles`` tiles."""
    lat, bw = system_params(spec)
    k_in, k_out = buffer_slots(spec)
    b = spec.buffers
    in_row = _row_bits(min(b.weights.port_bits, b.activations.port_bits), bw)
    out_row = _row_bits(b.outputs.port_bits, bw)
    # a load carries a weight tile, an activation tile and reloaded partial sums
    in_rows = _pow2(math.ceil((b.weights.tile_bits + b.activations.tile_bits
                               + b.outputs.tile_bits) / in_row))
    out_rows = _pow2(math.ceil(b.outputs.tile_bits / out_row))
    geo = pack_geometry(spec, out_row)
    hold_rows = math.ceil(b.activations.hold_bits / out_row)
    block = pyrtl.Block()
    with pyrtl.set_working_block(block, no_sanity_check=True):
        da = max(1, (max_tiles - 1).bit_length())
        if da > TILE_BITS:
            raise RtlError(f"max_tiles={max_tiles}: the tile counters have {TILE_BITS} bits")
        ldesc = pyrtl.MemBlock(XFER_BITS, da, name="ldesc", asynchronous=True,
                               max_read_ports=CHAIN)
        sdesc = pyrtl.MemBlock(XFER_BITS, da, name="sdesc", asynchronous=True,
                               max_read_ports=CHAIN)
        instage = _banks("instage", in_row, min(b.weights.banks, b.activations.banks),
                         k_in * in_rows, asynchronous=True)
        outstage = _banks("outstage", out_row, b.outputs.banks, k_out * out_rows,
                          asynchronous=True, max_write_ports=geo.write_ports)
        hold = (_banks("hold", out_row, b.activations.banks, hold_rows, asynchronous=True,
                       max_write_ports=geo.write_ports) if hold_rows else [])
        sys = RtlSystem(spec, block, k_in, k_out, lat, bw, in_row, out_row, in_rows, out_rows,
                        ldesc, sdesc, instage, outstage, hold, hold_rows, geo)
        _build(sys)
    block.sanity_check()
    return sys


def _row_addr(tile: pyrtl.WireVector, k: int, row: pyrtl.WireVector, rows: int,
              width: int) -> pyrtl.WireVector:
    """Staging address of a slot row: slot (tile mod k) above the row index."""
    rb = rows.bit_length() - 1
    low = row[:rb] if rb else None
    if k == 1:
        return (low if low is not None else pyrtl.Const(0, 1)).zero_extended(width)
    return pyrtl.concat(tile[0], low).zero_extended(width) if low is not None else tile[0]


def _read_row(banks: list[pyrtl.MemBlock], addr: pyrtl.WireVector) -> pyrtl.WireVector:
    return pyrtl.concat_list([m[addr[: m.addrwidth]] for m in banks])


def _write_row(banks: list[pyrtl.MemBlock], addr: pyrtl.WireVector, row: pyrtl.WireVector,
               enable: pyrtl.WireVector) -> None:
    lo = 0
    for m in banks:
        m[addr[: m.addrwidth]] <<= pyrtl.MemBlock.EnabledWrite(row[lo: lo + m.bitwidth], enable)
        lo += m.bitwidth


def _beat_in_row(word: pyrtl.WireVector, pos: pyrtl.WireVector, per_row: int,
                 row_bits: int) -> pyrtl.WireVector:
    """``word`` placed at beat ``pos`` of a row (a mux over the row's beats)."""
    bw = word.bitwidth
    vals = [pyrtl.concat(word, pyrtl.Const(0, k * bw)).zero_extended(row_bits) if k
            else word.zero_extended(row_bits) for k in range(per_row)]
    return vals[0] if per_row == 1 else pyrtl.mux(pos, *vals, default=pyrtl.Const(0, row_bits))


def _row_beat(row: pyrtl.WireVector, pos: pyrtl.WireVector, per_row: int,
              bw: int) -> pyrtl.WireVector:
    vals = [row[k * bw: (k + 1) * bw] for k in range(per_row)]
    return vals[0] if per_row == 1 else pyrtl.mux(pos, *vals, default=pyrtl.Const(0, bw))


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
    wdata = _staging(sys, issue, beat, kind, xtile, rdata)
    # host port: the descriptor tables are written before start
    d_we, d_sel = pyrtl.Input(1, name="desc_we"), pyrtl.Input(1, name="desc_sel")
    d_addr, d_data = pyrtl.Input(da, name="desc_addr"), pyrtl.Input(X, name="desc_data")
    sys.ldesc[d_addr] <<= pyrtl.MemBlock.EnabledWrite(d_data, enable=d_we & ~d_sel)
    sys.sdesc[d_addr] <<= pyrtl.MemBlock.EnabledWrite(d_data, enable=d_we & d_sel)
    _pack(sys, start, comp_end, (nc_start - 1)[:T])
    outs = {
        "done": done_r | finished, "comp_start": c_go, "comp_tile": nc_start,
        "req_valid": issue, "req_write": i_kind, "req_tile": i_tile, "req_bits": i_bits,
        "beat": beat, "wdata": pyrtl.select(beat & kind, wdata, pyrtl.Const(0, sys.bw_bits)),
    }
    for name, w in outs.items():
        o = pyrtl.Output(w.bitwidth, name=name)
        o <<= w


def _staging(sys: RtlSystem, issue: pyrtl.WireVector, beat: pyrtl.WireVector,
             kind: pyrtl.WireVector, xtile: pyrtl.WireVector,
             rdata: pyrtl.WireVector) -> pyrtl.WireVector:
    """The beats' side of the staging buffers: a load beat is merged into the
    row being assembled (``bw`` bits at its beat position) and the row is
    written across the banks; a store beat is the ``bw`` bits at its position
    of the output row. Returns the store beat's data."""
    X, bw = XFER_BITS, sys.bw_bits
    per_in, per_out = sys.in_row_bits // bw, sys.out_row_bits // bw
    pb = max(1, (max(per_in, per_out) - 1).bit_length())
    brow = pyrtl.Register(X, name="dma_row")
    bpos = pyrtl.Register(pb, name="dma_pos")
    asm = pyrtl.Register(sys.in_row_bits, name="dma_asm")
    last_pos = pyrtl.select(kind, pyrtl.Const(per_out - 1, pb), pyrtl.Const(per_in - 1, pb))
    row_end = beat & (bpos == last_pos)
    brow.next <<= pyrtl.select(issue, pyrtl.Const(0, X),
                               pyrtl.select(row_end, (brow + 1)[:X], brow))
    bpos.next <<= pyrtl.select(issue | row_end, pyrtl.Const(0, pb),
                               pyrtl.select(beat, (bpos + 1)[:pb], bpos))
    merged = asm | _beat_in_row(rdata, bpos, per_in, sys.in_row_bits)
    load = beat & ~kind
    asm.next <<= pyrtl.select(issue | (load & row_end), pyrtl.Const(0, sys.in_row_bits),
                              pyrtl.select(load, merged, asm))
    in_aw = sys.instage[0].addrwidth
    _write_row(sys.instage, _row_addr(xtile, sys.k_in, brow, sys.in_slot_rows, in_aw),
               merged, load)
    out_aw = sys.outstage[0].addrwidth
    row = _read_row(sys.outstage, _row_addr(xtile, sys.k_out, brow, sys.out_slot_rows, out_aw))
    # the window unit's read port of the input staging buffer
    in_raddr = pyrtl.Input(in_aw, name="in_raddr")
    o = pyrtl.Output(sys.in_row_bits, name="in_rdata")
    o <<= _read_row(sys.instage, in_raddr)
    return _row_beat(row, bpos, per_out, bw)


def _pack(sys: RtlSystem, start: pyrtl.WireVector, tile_end: pyrtl.WireVector,
          tile: pyrtl.WireVector) -> None:
    """The pack unit (``bnnarch.rtl.pack``) writing the output slot of the
    computing tile, or the hold region from the layer's ``cfg_hold_base``."""
    g = sys.pack
    ab, L = g.acc_bits, g.lanes
    we = [pyrtl.Input(1, name=f"aw{p}_we") for p in range(g.ports)]
    sign = [pyrtl.Input(L, name=f"aw{p}_sign") for p in range(g.ports)]
    dot = [pyrtl.Input(L * ab, name=f"aw{p}_dot") for p in range(g.ports)]
    widths = {"on": 1, "wide": 1, "hold": 1, "in_last": g.fold_bits, "out_last": g.fold_bits,
              "port_rem": g.ports.bit_length(), "lane_rem": L.bit_length()}
    cfg = {n: pyrtl.Input(widths[n], name=f"pk_{n}") for n in PACK_CFG}
    x = PackIn(we, sign, dot, cfg["on"], cfg["wide"], cfg["in_last"], cfg["out_last"],
               cfg["port_rem"], cfg["lane_rem"], tile_end)
    R = g.row_bits
    ob = max(1, (R - 1).bit_length())
    s_row = pyrtl.Register(X_ROW, name="pk_row")
    s_off, s_pend = pyrtl.Register(ob, name="pk_off"), pyrtl.Register(R, name="pk_pend")
    if sys.hold:
        h_row = pyrtl.Register(X_ROW, name="hd_row")
        h_off, h_pend = pyrtl.Register(ob, name="hd_off"), pyrtl.Register(R, name="hd_pend")
        hold = cfg["hold"]
        off, pend = pyrtl.select(hold, h_off, s_off), pyrtl.select(hold, h_pend, s_pend)
    else:
        hold, off, pend = pyrtl.Const(0, 1), s_off, s_pend
    out = pack_unit(g, x, off, pend)
    n_done, n_off, n_pend = advance(g, off, out)
    zero_row, zero_off = pyrtl.Const(0, X_ROW), pyrtl.Const(0, ob)
    s_row.next <<= pyrtl.select(tile_end, zero_row,
                                pyrtl.select(hold, s_row, (s_row + n_done)[:X_ROW]))
    s_off.next <<= pyrtl.select(tile_end | hold, pyrtl.select(tile_end, zero_off, s_off), n_off)
    s_pend.next <<= pyrtl.select(tile_end | hold, pyrtl.select(tile_end, pyrtl.Const(0, R),
                                                               s_pend), n_pend)
    out_aw = sys.outstage[0].addrwidth
    for k, (row, touched) in enumerate(zip(out.rows, out.touched, strict=True)):
        addr = _row_addr(tile, sys.k_out, (s_row + k)[:X_ROW], sys.out_slot_rows, out_aw)
        _write_row(sys.outstage, addr, row, touched & ~hold)
    if not sys.hold:
        return
    base = pyrtl.Input(X_ROW, name="cfg_hold_base")
    h_row.next <<= pyrtl.select(start, base, pyrtl.select(hold, (h_row + n_done)[:X_ROW],
                                                          h_row))
    h_off.next <<= pyrtl.select(start, zero_off, pyrtl.select(hold, n_off, h_off))
    h_pend.next <<= pyrtl.select(start, pyrtl.Const(0, R), pyrtl.select(hold, n_pend, h_pend))
    for k, (row, touched) in enumerate(zip(out.rows, out.touched, strict=True)):
        _write_row(sys.hold, (h_row + k)[: sys.hold[0].addrwidth], row, touched & hold)
    h_raddr = pyrtl.Input(sys.hold[0].addrwidth, name="hold_raddr")
    o = pyrtl.Output(R, name="hold_rdata")
    o <<= _read_row(sys.hold, h_raddr)


def build_pack_block(spec: ArraySpec) -> pyrtl.Block:
    """The pack unit alone (its append datapath, fold counters and pending
    row; rows and write enables as outputs), for its own Yosys figure."""
    lat, bw = system_params(spec)
    g = pack_geometry(spec, _row_bits(spec.buffers.outputs.port_bits, bw))
    block = pyrtl.Block()
    with pyrtl.set_working_block(block, no_sanity_check=True):
        ab, L = g.acc_bits, g.lanes
        widths = {"on": 1, "wide": 1, "in_last": g.fold_bits, "out_last": g.fold_bits,
                  "port_rem": g.ports.bit_length(), "lane_rem": L.bit_length(), "end": 1}
        c = {n: pyrtl.Input(w, name=f"pk_{n}") for n, w in widths.items()}
        x = PackIn([pyrtl.Input(1, name=f"aw{p}_we") for p in range(g.ports)],
                   [pyrtl.Input(L, name=f"aw{p}_sign") for p in range(g.ports)],
                   [pyrtl.Input(L * ab, name=f"aw{p}_dot") for p in range(g.ports)],
                   c["on"], c["wide"], c["in_last"], c["out_last"], c["port_rem"],
                   c["lane_rem"], c["end"])
        ob = max(1, (g.row_bits - 1).bit_length())
        off, pend = pyrtl.Register(ob, name="pk_off"), pyrtl.Register(g.row_bits, name="pk_pend")
        row = pyrtl.Register(X_ROW, name="pk_row")
        out = pack_unit(g, x, off, pend)
        n_done, n_off, n_pend = advance(g, off, out)
        off.next <<= pyrtl.select(x.tile_end, pyrtl.Const(0, ob), n_off)
        pend.next <<= pyrtl.select(x.tile_end, pyrtl.Const(0, g.row_bits), n_pend)
        row.next <<= pyrtl.select(x.tile_end, pyrtl.Const(0, X_ROW), (row + n_done)[:X_ROW])
        for k, (r, t) in enumerate(zip(out.rows, out.touched, strict=True)):
            o, e, a = (pyrtl.Output(r.bitwidth, name=f"row{k}"), pyrtl.Output(1, name=f"we{k}"),
                       pyrtl.Output(X_ROW, name=f"addr{k}"))
            o <<= r
            e <<= t
            a <<= (row + k)[:X_ROW]
    block.sanity_check()
    return block
