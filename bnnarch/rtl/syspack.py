"""Host / testbench side of the pack unit and the hold region
(``bnnarch.rtl.pack``, ``bnnarch.rtl.system``): the pack unit's per-tile
configuration, the production order of a tile's results (where each stored
element belongs in the output map: what the DMA's scatter does, modelled by
the testbench's DRAM), and hold-region images (rows of the hold memory plus
the map positions of their bits) carried from a producing layer to the layer
that reads the map on chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyrtl

from bnnarch.array.timing import ceil_div
from bnnarch.errors import RtlError
from bnnarch.rtl.array import RtlArray
from bnnarch.rtl.golden import LayerData
from bnnarch.rtl.planes import bits_values, value_bits
from bnnarch.rtl.system import RtlSystem
from bnnarch.workload.layer import Layer

if TYPE_CHECKING:  # sysrun imports this module
    from bnnarch.array.schedule import Schedule
    from bnnarch.rtl.sysrun import Dram, LayerTensors


def pack_cfg(arr: RtlArray, data: LayerData, on: bool, wide: bool,
             hold: bool) -> dict[str, int]:
    """``pk_*`` inputs for a tile of shape ``data`` (``bnnarch.rtl.pack``)."""
    g, m, n, _ = data.shape
    if arr.dataflow in ("ws", "is"):
        slen, stat = (m, n) if arr.dataflow == "ws" else (n, m)
        fo = ceil_div(stat, arr.cols)
        inner, outer, port_rem, lane_rem = slen, fo, stat - (fo - 1) * arr.cols, 1
    else:
        rows_n, cols_n = (n, m) if arr.weights_on_rows else (m, n)
        fr, fc = ceil_div(rows_n, arr.rows), ceil_div(cols_n, arr.cols)
        inner, outer = fc, fr
        port_rem, lane_rem = rows_n - (fr - 1) * arr.rows, cols_n - (fc - 1) * arr.cols
    return {"pk_on": int(on), "pk_wide": int(wide), "pk_hold": int(hold),
            "pk_in_last": inner - 1, "pk_out_last": outer - 1, "pk_port_rem": port_rem,
            "pk_lane_rem": lane_rem}


def production_order(arr: RtlArray, data: LayerData,
                     events: Sequence[tuple[int, int, int, int, int]]) -> np.ndarray:
    """Index into the tile's (G, N, M) results (flat) of every element the pack
    unit stores, in its order: write cycle, then port, then lane; elements past
    the tile's edge are dropped (what the pack unit's lane mask drops)."""
    g, m, n, _ = data.shape
    out: list[int] = []
    for _cyc, p, addr, _d, _s in sorted(events, key=lambda e: (e[0], e[1])):
        for gi, mi, ni in _positions(arr, data, p, addr):
            if gi < g and mi < m and ni < n:
                out.append((gi * n + ni) * m + mi)
    return np.asarray(out, dtype=np.int64)


def _positions(arr: RtlArray, data: LayerData, p: int,
               addr: int) -> list[tuple[int, int, int]]:
    """(g, m, n) of each lane of port p's write at ``addr`` (the inverse of the
    layouts ``golden.unpack_results`` / ``stationary_results`` read)."""
    g, m, n, _ = data.shape
    if arr.dataflow in ("ws", "is"):
        ws = arr.dataflow == "ws"
        slen, stat = (m, n) if ws else (n, m)
        fol, s = divmod(addr, slen)
        gi, fo = divmod(fol, ceil_div(stat, arr.cols))
        item = fo * arr.cols + p
        return [(gi, s, item) if ws else (gi, item, s)]
    R, C = arr.rows, arr.cols
    fr = ceil_div(n if arr.weights_on_rows else m, R)
    fc = ceil_div(m if arr.weights_on_rows else n, C)
    gi, rest = divmod(addr, fr * fc)
    fri, fci = divmod(rest, fc)
    row_i = fri * R + p
    if arr.weights_on_rows:
        return [(gi, fci * C + c, row_i) for c in range(C)]
    return [(gi, row_i, fci * C + c) for c in range(C)]


@dataclass(frozen=True)
class HoldImage:
    """A feature map in the hold region: rows ``base`` .. ``base + n_rows - 1``
    hold its values in the producer's store order, ``elem_bits`` bits each
    (least significant first); ``order[j]`` is the flat (C, H, W) index of
    value j."""

    base: int
    rows: dict[int, int]  # absolute row -> row word
    order: np.ndarray
    shape: tuple[int, ...]
    row_bits: int
    elem_bits: int = 1
    signed: bool = False  # dot products (two's complement) rather than unsigned values

    @property
    def n_rows(self) -> int:
        return ceil_div(len(self.order) * self.elem_bits, self.row_bits)

    def decode(self, rows: dict[int, int]) -> np.ndarray:
        """The map from the hold memory's rows (``rows``: absolute row -> word)."""
        words = [rows.get(self.base + j, 0) for j in range(self.n_rows)]
        bits = words_to_bits(words, self.row_bits, len(self.order) * self.elem_bits)
        flat = np.zeros(int(np.prod(self.shape)), dtype=np.int64)
        flat[self.order] = bits_values(bits, self.elem_bits, self.signed)
        return flat.reshape(self.shape)


def raster_image(fmap: np.ndarray, base: int, row_bits: int, elem_bits: int = 1) -> HoldImage:
    """A map of unsigned ``elem_bits``-bit values placed in the hold region in
    (C, H, W) order (a layer's input held on chip whose producer is not run in
    RTL)."""
    bits = value_bits(fmap, elem_bits)
    rows = {base + j: w for j, w in enumerate(bits_to_words(bits, row_bits))}
    return HoldImage(base, rows, np.arange(fmap.size), tuple(fmap.shape), row_bits, elem_bits)


def hold_base(live: Sequence[HoldImage], n_rows: int, capacity_rows: int,
              where: str) -> int:
    """First row from which ``n_rows`` rows miss every live image."""
    spans = sorted((h.base, h.base + h.n_rows) for h in live)
    base = 0
    for lo, hi in spans:
        if base + n_rows <= lo:
            break
        base = max(base, hi)
    if base + n_rows > capacity_rows:
        raise RtlError(f"{where}: its output needs {n_rows} rows of the hold region beside the "
                       f"maps held with it, the region has {capacity_rows} "
                       "(buffers.activations.hold_kib)")
    return base


def bank_images(sys: RtlSystem, rows: dict[int, int]) -> dict[str, dict[int, int]]:
    """Row words -> each hold bank's memory image."""
    out: dict[str, dict[int, int]] = {m.name: {} for m in sys.hold}
    for addr, word in rows.items():
        lo = 0
        for m in sys.hold:
            v = (word >> lo) & ((1 << m.bitwidth) - 1)
            if v:
                out[m.name][addr] = v
            lo += m.bitwidth
    return out


def read_rows(banks: Sequence[dict[int, int]], widths: Sequence[int]) -> dict[int, int]:
    """Memory images of side-by-side banks -> row words."""
    addrs = sorted(set().union(*(b.keys() for b in banks))) if banks else []
    out = {}
    for a in addrs:
        word, lo = 0, 0
        for b, w in zip(banks, widths, strict=True):
            word |= b.get(a, 0) << lo
            lo += w
        out[a] = word
    return out


def bits_to_words(bits: np.ndarray, bw: int) -> list[int]:
    n = ceil_div(len(bits), bw) if len(bits) else 0
    pad = np.zeros(n * bw, dtype=np.uint8)
    pad[: len(bits)] = bits
    by = np.packbits(pad.reshape(n, bw), axis=1, bitorder="little")
    return [int.from_bytes(r.tobytes(), "little") for r in by]


def words_to_bits(words: list[int], bw: int, nbits: int) -> np.ndarray:
    nbytes = ceil_div(bw, 8)
    raw = b"".join(int(w).to_bytes(nbytes, "little") for w in words)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    bits = bits.reshape(len(words), nbytes * 8)[:, :bw].reshape(-1)
    return bits[:nbits]


# -- the hold region and the staging memories during a system run (sysrun) --


def hold_setup(sys: RtlSystem, t: LayerTensors, held: tuple[bool, bool],
                held_fmap: np.ndarray | None, held_image: HoldImage | None,
                hold_live: Sequence[HoldImage]) -> tuple[HoldImage | None, list[HoldImage], int]:
    """(the input's hold image, every image the hold memory starts with, the
    output's first row)."""
    if not any(held):
        return None, [], 0
    layer = t.layer
    if not sys.hold:
        raise RtlError(f"layer {layer.name!r}: a feature map is held on chip but the design "
                       "has no hold region (buffers.activations.hold_kib)")
    img = held_image
    if held[0] and img is None and held_fmap is not None:
        img = raster_image(held_fmap, 0, sys.pack.row_bits, layer.a_bits)
    live = list(hold_live) + ([img] if img is not None and img not in hold_live else [])
    base = 0
    if held[1]:
        g, _cin, cout_g, ho, wo, *_ = layer.geometry
        per = sys.pack.acc_bits if t.dots_out else 1
        n_rows = ceil_div(g * cout_g * ho * wo * per, sys.pack.row_bits)
        base = hold_base(live, n_rows, sys.hold_rows, f"layer {layer.name!r}")
    return img, live, base


def held_out(sys: RtlSystem, dram: Dram, base: int,
              hold_rows: dict[int, int]) -> tuple[HoldImage, np.ndarray]:
    """The held output as the hold memory holds it: (its image, the map); dot
    products at acc_bits for a layer that stores them."""
    order = []
    for i, ti in enumerate(dram.tiles):
        if not ti.final:
            continue
        local = dram.layout[i]
        gn, pix = np.divmod(local, ti.mt * dram.wo)
        gi, ni = np.divmod(gn, ti.nt)
        ch = (ti.g0 + gi) * dram.cout_g + ti.n0 + ni
        order.append(ch * (dram.ho * dram.wo) + ti.y0 * dram.wo + pix)
    flat = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    shape = dram.out.shape
    dots = dram.t.dots_out
    img = HoldImage(base, {}, flat, (shape[0] * shape[1], dram.ho, dram.wo), sys.pack.row_bits,
                    dram.acc if dots else 1, dots)
    rows = {a: w for a, w in hold_rows.items() if base <= a < base + img.n_rows}
    img = HoldImage(base, rows, flat, img.shape, img.row_bits, img.elem_bits, dots)
    return img, img.decode(rows).reshape(shape)


class LoggedMem(dict):
    """A simulated memory that remembers what each step overwrote, so the
    window unit can read it as it was during the cycle (before the edge)."""

    def __init__(self, contents: dict[int, int]) -> None:
        super().__init__(contents)
        self.old: dict[int, int] = {}

    def __setitem__(self, addr: int, value: int) -> None:
        if addr not in self.old:
            self.old[addr] = self.get(addr, 0)
        super().__setitem__(addr, value)

    def before(self) -> dict[int, int]:
        return {**self, **self.old}


def forget_writes(mems: list[LoggedMem]) -> None:
    for m in mems:
        m.old.clear()


def logged_mems(ssim: pyrtl.FastSimulation, mems: list[pyrtl.MemBlock]) -> list[LoggedMem]:
    """Swap the simulation's memories for logged ones (FastSimulation writes
    each step's memory writes into ``ssim.mems[name][addr]``)."""
    out = []
    for m in mems:
        key = ssim._mem_varname(m)
        ssim.mems[key] = LoggedMem(ssim.mems[key])
        out.append(ssim.mems[key])
    return out


def check_pack(o: dict[str, int], layer: Layer, cyc: int) -> None:
    if o["pk_conflict"]:
        raise RtlError(f"layer {layer.name!r}, cycle {cyc}: the pack unit saw ports with "
                       "different valid lanes in one cycle (bnnarch.rtl.pack)")


def initial_memories(sys: RtlSystem, s: Schedule, live: Sequence[HoldImage]
                      ) -> tuple[dict[pyrtl.MemBlock, dict[int, int]], dict[int, int]]:
    """The descriptor tables and the hold region's live maps (and its rows)."""
    mem = {sys.ldesc: {i: x.load_w_bits + x.load_a_bits + x.load_psum_bits
                       for i, x in enumerate(s.tiles)},
           sys.sdesc: {i: x.store_bits for i, x in enumerate(s.tiles)}}
    rows: dict[int, int] = {}
    for h in live:
        rows |= h.rows
    if sys.hold:
        by_name = bank_images(sys, rows)
        mem |= {m: by_name[m.name] for m in sys.hold}
    return mem, rows



__all__ = ["HoldImage", "LoggedMem", "bank_images", "bits_to_words", "check_pack",
           "forget_writes", "held_out", "hold_base", "hold_setup", "initial_memories",
           "logged_mems", "pack_cfg", "production_order", "raster_image", "read_rows",
           "words_to_bits"]
