"""Run a layer on the whole accelerator in RTL: the memory system
(``bnnarch.rtl.system``: DMA, slot control, staging buffers) and the array
(``bnnarch.rtl.array``: controller, PEs, threshold unit) simulated cycle by
cycle in lockstep, with a behavioural DRAM on the testbench side.

Testbench-side models (behavioural, not part of the generated hardware):

* **DRAM** (``Dram``): holds the layer's real data — the zero-padded input
  map (channel, row, column; the rows the mapper counts include the padding),
  the packed weights (filter, channel, kh, kw) and the output map; every
  value as its a_bits / w_bits bits, least significant first, so a
  multi-bit layer streams the bits the mapper counts (``bnnarch.rtl.planes``) — and
  answers the DMA in order: a request seen in cycle t gets its read beats in
  cycles t + lat, t + lat + 1, ... (``bw`` bits each, the last one partial)
  or takes the store beats the DMA drives in those cycles. A load streams the
  tile's weight bits, then its activation rows (halo included), then its
  reloaded partial sums; the bits it counts are the DRAM traffic reported.
* **window unit** (``_Window``): when the array starts tile i it reads input
  slot i mod k_in of the staging buffer (the rows the DMA wrote, as they are
  in that cycle) or, for an input held on chip, the hold region (through the
  producer's layout, ``syspack.HoldImage``), forms the tile's GEMM operands
  (im2col of the staged rows; a tile that loads no weights or activations
  reuses the previous tile's, as the engine assumes) with the valid-tap mask
  of each activation word (from the tile's position alone: 0 where a tap reads
  the zero padding, ``tile_valid_map``; no DRAM traffic) and writes the array's
  lane and mask buffers and configuration in zero cycles, as the engine's
  compute start assumes; from the next cycle on it drives the pack unit's tile
  configuration (``syspack.pack_cfg``). The datapath between the staging
  buffer and the lanes is not generated: its area is not in Yosys's figure.

Generated hardware besides the DMA (``bnnarch.rtl.system``): the pack unit
(``bnnarch.rtl.pack``), fed with the array's result ports through one
register (the lockstep applies the array's outputs of cycle t to the system
in cycle t + 1), writes each tile's results (sign bits; partial sums at
``acc_bits`` when the schedule spills them, dot products at ``acc_bits`` for a
layer that stores them, ``LayerTensors.dots_out``) into its output slot or
into the hold region; the DRAM model scatters a store by the pack unit's production
order (``syspack.production_order``), and a held output is read back from the
hold memory.

The array is stepped every cycle from a tile's start to its done and on
while it is idle until its registers stop changing; further idle cycles
(the system waiting on DRAM) would repeat that state and are not simulated
(its trace then has fewer entries than the system's).

A later tile of a reduction split over tiles runs with ``cfg_cont`` = 1: the
array adds its results to the partial sums in its output buffer (kept there,
or written back from a reloaded partial-sum stream by the window unit).

Cycle 0 is the cycle in which ``start`` is sampled (the first DMA request);
the run's cycles are the index of the first cycle with the system's ``done``
high (the last store has completed).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyrtl

from bnnarch.array.candidates import spilled as is_spilled
from bnnarch.array.mapper import _in_rows
from bnnarch.array.schedule import Schedule
from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import GemmTile, ceil_div
from bnnarch.errors import RtlError
from bnnarch.rtl.array import BufferDepths, RtlArray, buffer_depths, build_array
from bnnarch.rtl.golden import LayerData, conv_valid_taps, im2col, program
from bnnarch.rtl.planes import act_planes, bit_planes, bits_values, value_bits
from bnnarch.rtl.run import _reused_fast_sim
from bnnarch.rtl.syspack import (
    HoldImage,
    check_pack,
    forget_writes,
    held_out,
    hold_setup,
    initial_memories,
    logged_mems,
    pack_cfg,
    production_order,
    read_rows,
)
from bnnarch.rtl.syspack import bits_to_words as _bits_to_words
from bnnarch.rtl.syspack import words_to_bits as _words_to_bits
from bnnarch.rtl.system import CHAIN, RtlSystem
from bnnarch.workload.layer import Layer


@dataclass(frozen=True)
class TileIndex:
    """Where tile i of a schedule sits in the layer (mapper._build_tiles's loop)."""

    g0: int  # first group
    gsz: int
    n0: int  # first output channel within the group
    nt: int
    k0: int  # first input channel within the group
    kt: int
    y0: int  # first output row
    mt: int  # output rows
    mi: int
    ni: int
    ki: int
    final: bool  # last reduction tile of its outputs


def tile_indices(layer: Layer, s: Schedule) -> list[TileIndex]:
    """The tiles of ``s`` in schedule order, with their positions."""
    gt, th, ci, co = s.tiling
    g, cin_g, cout_g, ho, *_ = layer.geometry
    cm, cn, ck = s.counts
    units = [(gi, min(gt, g - gi * gt), j, min(co, cout_g - j * co))
             for gi in range(ceil_div(g, gt)) for j in range(ceil_div(cout_g, co))]
    assert len(units) == cn
    ranges = {"m": range(cm), "n": range(cn), "k": range(ck)}
    pos = (s.order.index("m"), s.order.index("n"), s.order.index("k"))
    out = []
    for idx in itertools.product(*(ranges[c] for c in s.order)):
        mi, ni, ki = idx[pos[0]], idx[pos[1]], idx[pos[2]]
        gi, gsz, j, nt = units[ni]
        out.append(TileIndex(gi * gt, gsz, j * co, nt, ki * ci, min(ci, cin_g - ki * ci),
                             mi * th, min(th, ho - mi * th), mi, ni, ki, ki == ck - 1))
    return out


@dataclass
class LayerTensors:
    """A layer's data as the DRAM holds it. Every value is stored as its
    ``w_bits`` / ``a_bits`` bits, least significant first (1-bit layers: the
    bit codes 0 -> -1, 1 -> +1)."""

    layer: Layer
    fmap: np.ndarray  # (C, H, W) a_bits-bit input values (linear: (cin*h*w, 1, 1))
    weights: np.ndarray  # (G, N, K) bit codes (w_bits 1) or two's-complement values; K (cin/g, kh, kw)
    thresholds: np.ndarray  # (G*N,) int64
    w_bits: int = 1
    a_bits: int = 1
    dots_out: bool = False
    """outputs leave as dot products at acc_bits (``mapper.stores_dot_products``)"""
    a_signed: bool = False
    """two's-complement activations (``workload.golden.activation_signed``)"""

    @property
    def padded(self) -> np.ndarray:
        if self.layer.op == "linear":
            return self.fmap
        ph, pw = self.layer.padding
        c, h, w = self.fmap.shape
        p = np.zeros((c, h + 2 * ph, w + 2 * pw), dtype=np.int64)
        p[:, ph:ph + h, pw:pw + w] = self.fmap
        return p

    def golden(self) -> tuple[np.ndarray, np.ndarray]:
        """(dot, sign) of the whole layer, each (G, M, N)."""
        from bnnarch.rtl.golden import golden

        return golden(self.gemm(self.fmap))

    def gemm(self, fmap: np.ndarray) -> LayerData:
        """The layer as bit-plane GEMM operands on input values ``fmap``."""
        conv = self.layer.op == "conv2d"
        return LayerData(self.layer.name, bit_planes(self.weights, self.w_bits),
                         act_planes(fmap, self.layer, self.a_bits), self.thresholds,
                         self.w_bits, self.a_bits, conv_valid_taps(self.layer) if conv else None,
                         self.a_signed)


class Dram:
    """Behavioural DRAM: fixed latency, ``bw`` bits per beat, requests in
    order, real data (module doc). ``read_bits`` / ``write_bits`` count the
    traffic."""

    def __init__(self, t: LayerTensors, layer: Layer, s: Schedule, tiles: list[TileIndex],
                 lat: int, bw: int, acc_bits: int, held_in: bool, held_out: bool) -> None:
        self.t, self.layer, self.s, self.tiles = t, layer, s, tiles
        self.lat, self.bw, self.acc = lat, bw, acc_bits
        self.held_in, self.held_out = held_in, held_out
        self.padded = t.padded
        _g, self.cin_g, self.cout_g, self.ho, self.wo, h_in, _w, _taps, _ = layer.geometry
        self.h_in = h_in
        self.out = np.full((_g, self.cout_g, self.ho * self.wo), 255, dtype=np.int64)
        self.psums: dict[tuple[int, int], np.ndarray] = {}
        self.read_bits = self.write_bits = 0
        self.read_words: list[int] = []  # every read beat, in order (the Verilog DRAM model's)
        self.write_words: list[int] = []  # every write beat, in order
        self.queue: list[tuple[int, int, bool, int]] = []  # (first beat cycle, tile, write, bits)
        self.rbeats: dict[int, int] = {}  # cycle -> read data word
        self.wbeats: dict[int, tuple[int, int]] = {}  # cycle -> (request no., beat)
        self.wdata: dict[int, list[int]] = {}
        self.spilled = is_spilled(s.order)
        self.layout: dict[int, np.ndarray] = {}  # tile -> production order (syspack)
        self.last_w: tuple[int, int] | None = None

    def _act_rows(self, ti: TileIndex) -> np.ndarray:
        if self.layer.op == "linear":
            return self.padded[ti.k0: ti.k0 + ti.kt].reshape(-1)
        rows = _in_rows(self.layer, ti.mt, self.h_in)
        r0 = ti.y0 * self.layer.stride[0]
        chans = [self.padded[g * self.cin_g + ti.k0: g * self.cin_g + ti.k0 + ti.kt,
                             r0: r0 + rows] for g in range(ti.g0, ti.g0 + ti.gsz)]
        return np.concatenate([c.reshape(-1) for c in chans])

    def load_stream(self, i: int) -> np.ndarray:
        """The bits of tile i's load, in stream order (weights, rows, psums)."""
        ti, tile = self.tiles[i], self.s.tiles[i]
        parts = []
        if tile.load_w_bits:
            w = self.t.weights[ti.g0: ti.g0 + ti.gsz, ti.n0: ti.n0 + ti.nt]
            taps = w.shape[2] // self.cin_g
            w = w.reshape(ti.gsz, ti.nt, self.cin_g, taps)[:, :, ti.k0: ti.k0 + ti.kt]
            parts.append(value_bits(w, self.t.w_bits))
        if tile.load_a_bits:
            parts.append(value_bits(self._act_rows(ti), self.t.a_bits))
        if tile.load_psum_bits:
            parts.append(self.psums.get((ti.mi, ti.ni),
                                        np.zeros(tile.load_psum_bits, dtype=np.uint8)))
        bits = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        sizes = (tile.load_w_bits, tile.load_a_bits, tile.load_psum_bits)
        if len(bits) != sum(sizes):
            raise RtlError(f"layer {self.layer.name!r} tile {i}: the DRAM holds {len(bits)} "
                           f"bits for a load the mapper counts as {sum(sizes)} {sizes}")
        return bits

    def request(self, cycle: int, tile: int, write: bool, bits: int) -> None:
        """A DMA request seen in ``cycle``: schedule its beats."""
        first = cycle + self.lat
        beats = ceil_div(bits, self.bw)
        if write:
            self.write_bits += bits
            self.wdata[len(self.queue)] = []
            for j in range(beats):
                self.wbeats[first + j] = (len(self.queue), j)
        else:
            self.read_bits += bits
            stream = self.load_stream(tile)
            if len(stream) != bits:
                raise RtlError(f"tile {tile}: DMA asked for {bits} bits, the tile's load is "
                               f"{len(stream)}")
            for j, w in enumerate(_bits_to_words(stream, self.bw)):
                self.rbeats[first + j] = w
                self.read_words.append(w)
        self.queue.append((first, tile, write, bits))

    def rdata(self, cycle: int) -> int:
        return self.rbeats.pop(cycle, 0)

    def take_write(self, cycle: int, word: int) -> None:
        """The store beat the DRAM expects in ``cycle`` (if any) is ``word``."""
        slot = self.wbeats.pop(cycle, None)
        if slot is None:
            return
        req, _beat = slot
        self.wdata[req].append(word)
        self.write_words.append(word)
        _first, tile, _w, bits = self.queue[req]
        if len(self.wdata[req]) == ceil_div(bits, self.bw):
            self._scatter(tile, _words_to_bits(self.wdata.pop(req), self.bw, bits))

    def _scatter(self, i: int, bits: np.ndarray) -> None:
        """Tile i's store, in the pack unit's production order, to its places:
        the output map, or the tile's partial sums in (G, N, M) order."""
        ti = self.tiles[i]
        order = self.layout[i]
        per = bits.size // max(1, order.size)
        if per * order.size != bits.size or per not in (1, self.acc):
            raise RtlError(f"layer {self.layer.name!r} tile {i}: the store carries {bits.size} "
                           f"bits for {order.size} results")
        canon = np.zeros((order.size, per), dtype=np.uint8)
        canon[order] = bits.reshape(-1, per)
        if ti.final:
            self.place(self.out, ti, canon.reshape(-1))
        else:
            self.psums[(ti.mi, ti.ni)] = canon.reshape(-1)

    def place(self, out: np.ndarray, ti: TileIndex, bits: np.ndarray) -> None:
        """Write a final tile's stored bits (sign bits, or dot products at
        acc_bits) into the output map ``out`` (G, N, M)."""
        px = slice(ti.y0 * self.wo, (ti.y0 + ti.mt) * self.wo)
        vals = bits_values(bits, self.acc, signed=True) if self.t.dots_out else bits
        out[ti.g0: ti.g0 + ti.gsz, ti.n0: ti.n0 + ti.nt, px] = vals.reshape(
            ti.gsz, ti.nt, ti.mt * self.wo)


@dataclass
class SystemRun:
    """What one layer's system run measured."""

    cycles: int | None  # index of the first cycle with done high
    compute_cycles: int  # sum over tiles of (array done - array start)
    dram_read_bits: int
    dram_write_bits: int
    out: np.ndarray  # (G, N, M) sign bits the DRAM (or the hold region) received
    chain_full: bool  # the DMA's one-cycle decision chain was exhausted somewhere
    trace: dict[str, list[int]] = field(default_factory=dict, repr=False)
    events: list[tuple[int, str, int]] = field(default_factory=list, repr=False)
    inputs: dict[str, list[int]] = field(default_factory=dict, repr=False)
    hold_out: HoldImage | None = field(default=None, repr=False)
    """the output map as the hold region holds it (a held output)"""
    descriptors: dict[str, dict[int, int]] = field(default_factory=dict, repr=False)
    dram_words: tuple[list[int], list[int]] = field(default=([], []), repr=False)
    """(read beats, write beats) in order, as the DRAM model served / took them"""


def _array_sim(arr: RtlArray) -> tuple[pyrtl.FastSimulation, pyrtl.SimulationTrace]:
    tracked = [arr.block.get_wirevector_by_name(n) for n in arr.output_names]
    tracer = pyrtl.SimulationTrace(wires_to_track=tracked, block=arr.block)
    sim = _reused_fast_sim(arr, tracer, {})
    if sim is None:
        sim = pyrtl.FastSimulation(tracer=tracer, memory_value_map={}, block=arr.block)
        arr.sim_cache["fast"] = (sim, dict(sim.regs))
    return sim, tracer


class _Window:
    """Behavioural window unit between the input staging buffer (or the hold
    region) and the array (module doc)."""

    def __init__(self, arr: RtlArray, sys: RtlSystem, t: LayerTensors, dram: Dram,
                 held_in: HoldImage | None) -> None:
        self.arr, self.sys, self.t, self.dram = arr, sys, t, dram
        self.held_in = held_in
        self.w: np.ndarray | None = None
        self.a_rows: np.ndarray | None = None  # staged (gsz, kt, rows, row_w) or flat
        self.data: dict[int, LayerData] = {}
        self.hold_rows: dict[int, int] = {}  # the hold memory when the layer starts
        self._held_map: np.ndarray | None = None

    def start(self, i: int, instage: dict[int, int]
              ) -> tuple[dict[str, int], dict[str, dict[int, int]]]:
        """Operands of tile i from its input slot -> the array's buffers; returns
        cfg and the buffer images to load (``instage``: row -> row word)."""
        d, tile, ti = self.dram, self.dram.s.tiles[i], self.dram.tiles[i]
        row_bits = self.sys.in_row_bits
        slot = (i % self.sys.k_in) * self.sys.in_slot_rows
        nbits = tile.load_w_bits + tile.load_a_bits + tile.load_psum_bits
        words = [instage.get(slot + j, 0) for j in range(ceil_div(nbits, row_bits))]
        bits = _words_to_bits(words, row_bits, nbits)
        lw, la = tile.load_w_bits, tile.load_a_bits
        wb, ab = self.t.w_bits, self.t.a_bits
        if lw:  # (gsz, nt, w planes, K)
            self.w = bits[:lw].reshape(ti.gsz, ti.nt, -1, wb).transpose(0, 1, 3, 2)
        if la:
            self.a_rows = bits_values(bits[lw: lw + la], ab)
        layer = d.layer
        valid = None
        if layer.op == "linear":
            vec = (self._held().reshape(-1)[ti.k0: ti.k0 + ti.kt] if d.held_in
                   else self.a_rows)
            assert vec is not None  # the DMA loads a tile's activations before it starts
            a = bit_planes(vec.reshape(1, 1, -1), ab)
        else:
            fm = self._tile_fmap(ti)
            sub = replace_layer(layer, ti, fm.shape)
            a = act_planes(fm, sub, ab)
            valid = im2col(tile_valid_map(layer, ti, fm.shape), sub)[0]
        thr = self.t.thresholds.reshape(-1, d.cout_g)[ti.g0: ti.g0 + ti.gsz,
                                                        ti.n0: ti.n0 + ti.nt]
        assert self.w is not None  # the DMA loads a tile's weights before it starts
        data = LayerData(f"{layer.name}#{i}", np.ascontiguousarray(self.w), a,
                         np.ascontiguousarray(thr).reshape(-1), wb, ab, valid, self.t.a_signed)
        self.data[i] = data
        prog = program(self.arr, data)
        mems: dict[str, dict[int, int]] = dict(prog.memories)
        if tile.load_psum_bits:  # spilled partial sums back into the output buffer
            ab = self.arr.acc_bits
            vals = bits[lw + la:].reshape(-1, ab).astype(np.int64) @ (1 << np.arange(ab))
            dots = vals.reshape(ti.gsz, ti.nt, -1).transpose(0, 2, 1)
            mems |= outbuf_image(self.arr, data, dots)
        # a later tile of a split reduction adds to the partial sums
        cfg = prog.cfg | {"cfg_cont": int(ti.ki > 0)}
        return cfg, mems

    def pack(self, i: int, held_out: bool) -> dict[str, int]:
        """The pack unit's configuration for tile i (``syspack.pack_cfg``)."""
        tile, ti = self.dram.s.tiles[i], self.dram.tiles[i]
        hold = ti.final and held_out and not tile.store_bits
        # acc_bits values: spilled partial sums, or a layer that stores dot products
        return pack_cfg(self.arr, self.data[i], bool(tile.store_bits) or hold,
                        not ti.final or self.t.dots_out, hold)

    def _held(self) -> np.ndarray:
        """The input map, read from the hold region through its layout."""
        if self.held_in is None:
            raise RtlError(f"layer {self.dram.layer.name!r}: its input is held on chip but no "
                           "held map was given")
        if self._held_map is None:
            self._held_map = self.held_in.decode(self.hold_rows)
        return self._held_map

    def _tile_fmap(self, ti: TileIndex) -> np.ndarray:
        """The input rows of the tile as a (gsz*kt, rows, row_w) map (padding
        included, so the sub-layer has no padding of its own)."""
        d = self.dram
        rows = _in_rows(d.layer, ti.mt, d.h_in)
        if d.held_in:
            r0 = ti.y0 * d.layer.stride[0]
            p = replace(self.t, fmap=self._held()).padded
            return np.concatenate([p[g * d.cin_g + ti.k0: g * d.cin_g + ti.k0 + ti.kt,
                                     r0: r0 + rows] for g in range(ti.g0, ti.g0 + ti.gsz)])
        assert self.a_rows is not None
        return self.a_rows.reshape(ti.gsz * ti.kt, rows, -1)


def outbuf_image(arr: RtlArray, data: LayerData, dots: np.ndarray) -> dict[str, dict[int, int]]:
    """Output-buffer contents holding partial sums ``dots`` (G, M, N) in the
    layout the array writes (inverse of ``golden.unpack_results``)."""
    g, m, n, _ = data.shape
    ab, mask = arr.acc_bits, (1 << arr.acc_bits) - 1
    mems: dict[str, dict[int, int]] = {mm.name: {} for mm in arr.out_mems}
    if arr.dataflow in ("ws", "is"):
        ws = arr.dataflow == "ws"
        slen, stat = (m, n) if ws else (n, m)
        fo_n = ceil_div(stat, arr.cols)
        for gi in range(g):
            for item in range(stat):
                fo, c = divmod(item, arr.cols)
                for s in range(slen):
                    mi, ni = (s, item) if ws else (item, s)
                    mems[f"outbuf{c}"][(gi * fo_n + fo) * slen + s] = int(dots[gi, mi, ni]) & mask
        return mems
    R, C = arr.rows, arr.cols
    rows_n, cols_n = (n, m) if arr.weights_on_rows else (m, n)
    fr, fc = ceil_div(rows_n, R), ceil_div(cols_n, C)
    for gi in range(g):
        for row_i in range(rows_n):
            fri, r = divmod(row_i, R)
            for col_i in range(cols_n):
                fci, c = divmod(col_i, C)
                mi, ni = (col_i, row_i) if arr.weights_on_rows else (row_i, col_i)
                addr = (gi * fr + fri) * fc + fci
                img = mems[f"outbuf{r}"]
                img[addr] = img.get(addr, 0) | (int(dots[gi, mi, ni]) & mask) << (c * ab)
    return mems


def lane_words(spec: ArraySpec, gem: GemmTile, w_planes: int = 1,
               a_planes: int = 1) -> BufferDepths:
    """Words per lane buffer the array needs to hold one tile's GEMM operands
    at the given bit planes (what ``golden.program`` / ``stationary_program``
    lay out)."""
    a = spec.array
    R, C, S = a.rows, a.cols, a.simd_bits
    g, kw = gem.groups, ceil_div(gem.k_bits, S)
    if a.interconnect == "systolic" and a.effective_dataflow in ("ws", "is"):
        ws = a.effective_dataflow == "ws"
        stat, slen = (gem.n, gem.m) if ws else (gem.m, gem.n)
        ps, pt = (w_planes, a_planes) if ws else (a_planes, w_planes)
        fk, fo = ceil_div(kw, R), ceil_div(stat, C)
        out = max(g * fo * slen, slen)
        return BufferDepths(g * fk * pt * slen, g * fo * fk * ps * R, out,
                            g * (fo if ws else gem.n))
    broadcast = a.interconnect == "broadcast"
    rows_items, cols_items = (gem.n, gem.m) if broadcast else (gem.m, gem.n)
    pr, pc = (w_planes, a_planes) if broadcast else (a_planes, w_planes)
    fr, fc = ceil_div(rows_items, R), ceil_div(cols_items, C)
    return BufferDepths(g * fr * pr * kw, g * fc * pc * kw, g * fr * fc, g * fr * fc)


def system_array(spec: ArraySpec, schedules: list[Schedule],
                 planes: list[tuple[int, int]] | None = None) -> RtlArray:
    """The array of a system build: its lane buffers are the window unit's
    output (im2col windows of the staged rows), sized for the largest tile of
    the schedules (at least the spec's tile capacities); the spec's buffer
    capacities bound the staging buffers the DMA fills."""
    if spec.array.interconnect == "systolic" and spec.array.effective_dataflow in ("ws", "is"):
        from bnnarch.rtl.stationary import _depths

        base = _depths(spec)
    else:
        base = buffer_depths(spec)
    bits = planes or [(1, 1)] * len(schedules)  # (w, a) bit planes per schedule
    need = [lane_words(spec, gem, *b) for s, b in zip(schedules, bits, strict=True)
            for gem, _n in s.gemms]
    d = BufferDepths(*(max([getattr(base, f)] + [getattr(x, f) for x in need])
                       for f in ("row", "col", "out", "thr")))
    return build_array(spec, d)


def tile_valid_map(layer: Layer, ti: TileIndex, shape: tuple[int, ...]) -> np.ndarray:
    """What the window unit knows from a tile's position alone: 1 where the
    tile's staged input rows (``shape`` = (channels, rows, padded width))
    hold the image, 0 where they hold the zero padding; im2col of it is the
    valid-tap mask sent beside the activation words."""
    ph, pw = layer.padding
    _, h, w = layer.in_shape
    r0 = ti.y0 * layer.stride[0]
    rows = np.zeros(h + 2 * ph, dtype=np.uint8)
    rows[ph:ph + h] = 1
    cols = np.zeros(w + 2 * pw, dtype=np.uint8)
    cols[pw:pw + w] = 1
    plane = np.outer(rows[r0: r0 + shape[1]], cols)
    return np.ascontiguousarray(np.broadcast_to(plane, tuple(shape)))


def replace_layer(layer: Layer, ti: TileIndex, shape: tuple[int, ...]) -> Layer:
    """The sub-layer a tile computes: its groups x channels of input rows
    (padding already in them), its output rows and filters."""
    c_in = shape[0]
    return replace(layer, in_shape=(c_in, shape[1], shape[2]),
                   out_shape=(ti.gsz * ti.nt, ti.mt, layer.out_shape[2]), padding=(0, 0),
                   groups=ti.gsz, packed_weights=None, thresholds=None)


def run_layer_system(arr: RtlArray, sys: RtlSystem, layer: Layer, s: Schedule,
                     t: LayerTensors, held: tuple[bool, bool] = (False, False),
                     held_fmap: np.ndarray | None = None, max_cycles: int | None = None,
                     on_cycle: Callable[[int], None] | None = None,
                     held_image: HoldImage | None = None,
                     hold_live: Sequence[HoldImage] = ()) -> SystemRun:
    """Simulate the layer's schedule on the memory system and the array in
    lockstep (module doc) and return what the RTL measured. A held input is
    read from the hold region: ``held_image`` (its producer's), else
    ``held_fmap`` placed there in (C, H, W) order; ``hold_live``: maps the
    hold region keeps meanwhile (a held output is placed beside them)."""
    tiles = tile_indices(layer, s)
    n = len(tiles)
    if n > sys.max_tiles:
        raise RtlError(f"layer {layer.name!r}: its schedule has {n} tiles; the system RTL's "
                       f"descriptor tables hold {sys.max_tiles}")
    img_in, live, out_base = hold_setup(sys, t, held, held_fmap, held_image, hold_live)
    dram = Dram(t, layer, s, tiles, sys.lat_cycles, sys.bw_bits, arr.acc_bits, *held)
    win = _Window(arr, sys, t, dram, img_in)
    mem, win.hold_rows = initial_memories(sys, s, live)
    names = sys.output_names
    tracer = pyrtl.SimulationTrace(
        wires_to_track=[sys.block.get_wirevector_by_name(x) for x in names], block=sys.block)
    ssim = pyrtl.FastSimulation(tracer=tracer, memory_value_map=mem, block=sys.block)
    asim, atr = _array_sim(arr)
    instage = logged_mems(ssim, sys.instage)
    in_widths = [m.bitwidth for m in sys.instage]
    arr_mems = arr.memories
    cfg_names = [w.name for w in arr.block.wirevector_subset(pyrtl.Input) if w.name != "start"]
    cfg = {k: 0 for k in cfg_names}
    computing, t_start, compute_cycles = -1, 0, 0
    a_start = 0  # index of the tile's start cycle in the array's trace
    quiet = False  # the idle array's registers stopped changing: later idle steps are skipped
    events: list[tuple[int, str, int]] = []
    chain_full = False
    ins: dict[str, list[int]] = {k: [] for k in sys.input_names}
    idle = {k: 0 for k in sys.input_names[4:]}  # host ports (descriptors preloaded), array ports
    if sys.hold:
        idle["cfg_hold_base"] = out_base
    aw_names = [k for k in sys.input_names if k.startswith("aw")]
    port_names = [f"o{k[2:]}" for k in aw_names]  # aw3_sign <- o3_sign
    limit = max_cycles if max_cycles is not None else 10 * (s.cycles or 1000) + 10_000
    out_ports = arr.ports
    end: int | None = None  # stays None if done never rises
    for cyc in range(limit):
        done_arr = asim.regs["done_r"]
        step = {**idle, "start": int(cyc == 0), "cfg_tiles": n, "comp_done": done_arr,
                "rdata": dram.rdata(cyc)}
        forget_writes(instage)
        ssim.step(step)
        for k in ins:
            ins[k].append(step[k])
        for k in aw_names:
            idle[k] = 0
        o = {k: tracer.trace[k][-1] for k in names}
        chain_full |= bool(o["chain_full"])
        check_pack(o, layer, cyc)
        if o["req_valid"]:
            dram.request(cyc, o["req_tile"], bool(o["req_write"]), o["req_bits"])
            events.append((cyc, "store" if o["req_write"] else "load", o["req_tile"]))
        dram.take_write(cyc, o["wdata"])
        if computing >= 0 and done_arr:  # tile `computing` finished in this cycle
            compute_cycles += cyc - t_start
            ev = _writes(atr, out_ports, a_start, len(atr.trace["done"]))
            dram.layout[computing] = production_order(arr, win.data[computing], ev)
            events.append((cyc, "compute_end", computing))
            computing = -1
        start = 0
        if o["comp_start"]:
            i = o["comp_tile"]
            # the window reads the slot as it is in this cycle (before its edge)
            c, mems = win.start(i, read_rows([b.before() for b in instage], in_widths))
            for name, img in mems.items():  # outbufs only when reloaded
                live_mem = asim.inspect_mem(arr_mems[name])
                live_mem.clear()
                live_mem.update(img)
            cfg = {k: c.get(k, 0) for k in cfg_names}
            idle |= win.pack(i, held[1])  # the pack unit's tile cfg, from the next cycle on
            computing, t_start, start = i, cyc, 1
            events.append((cyc, "compute_start", i))
            a_start, quiet = len(atr.trace["done"]), False
        if start or not quiet:
            before = dict(asim.regs) if computing < 0 else None
            asim.step({"start": start, **cfg})
            # the array's result ports reach the pack unit through one register
            for k, src in zip(aw_names, port_names, strict=True):
                idle[k] = atr.trace[src][-1]
            # idle (inputs constant, start low) and no register changed: every
            # further idle cycle would be the same, so the array waits unstepped
            quiet = before is not None and before == asim.regs
        if on_cycle:
            on_cycle(cyc)
        if o["done"]:
            end = cyc
            break
    out, hold_out = dram.out, None
    if held[1]:
        rows = read_rows([ssim.inspect_mem(m) for m in sys.hold], [m.bitwidth for m in sys.hold])
        hold_out, out = held_out(sys, dram, out_base, rows)
    return SystemRun(end, compute_cycles, dram.read_bits, dram.write_bits, out, chain_full,
                     {k: list(v) for k, v in tracer.trace.items()}, events, ins,
                     hold_out, {m.name: d for m, d in mem.items()},
                     (dram.read_words, dram.write_words))


def _writes(atr: pyrtl.SimulationTrace, ports: int, t0: int,
            t1: int) -> list[tuple[int, int, int, int, int]]:
    """Output-buffer writes of the array in cycles t0 .. t1 - 1 (t1: done high)."""
    ev = []
    tr = atr.trace
    for r in range(ports):
        we = tr[f"o{r}_we"]
        for c in range(t0, t1):
            if we[c]:
                ev.append((c, r, tr[f"o{r}_addr"][c], tr[f"o{r}_dot"][c], tr[f"o{r}_sign"][c]))
    return ev


__all__ = ["CHAIN", "Dram", "LayerTensors", "SystemRun", "TileIndex", "lane_words",
           "run_layer_system", "system_array", "tile_indices"]
