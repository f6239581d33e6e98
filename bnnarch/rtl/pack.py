"""The pack unit: the array's result ports -> whole rows of the output staging
buffer (or of the hold region), in the cycles the results are produced.

The array writes its results through ``P`` output-buffer write ports
(``o{p}_we``, ``o{p}_sign`` with ``L`` lanes, ``o{p}_dot`` with ``L`` x
``acc_bits``; ``bnnarch.rtl.array`` / ``stationary``). Each port writes the
addresses of its folds in order, once per tile: an *inner* fold counter
(``pk_in_last`` + 1 folds) inside an *outer* one (``pk_out_last`` + 1), the
group folds repeating the pattern. A port's write is valid unless it lies past
the tile's edge: port p is valid unless the outer fold is the last one and
``p >= pk_port_rem``; of its lanes the low ``pk_lane_rem`` are valid in the
last inner fold, all ``L`` otherwise (broadcast / os: ports = row lanes,
lanes = column lanes; ws / is: ports = columns, one lane).

The pack unit keeps one counter pair per port (ports write in skewed cycles on
a systolic array), appends the valid lanes of every port that writes in a cycle
(port order, low lane first; sign bits, or ``acc_bits`` partial sums when the
tile spills them: ``pk_wide``) behind the bits already pending, and writes the
rows this touches (``ports`` x ``lanes`` x ``acc_bits`` + row - 1 bits span at
most ``write_ports`` rows: that many write ports per bank, at the array's
result rate, which the engine does not limit by ``port_bits`` either). The
partial last row is written too, so the slot is complete in the cycle the last
result arrives: the array's results reach
the pack unit through one register, so that is the cycle the system sees the
array's ``done`` — the cycle compute ends in the engine, in which the store may
be requested; its first beat comes ``lat >= 1`` cycles later. No cycle is
added.

The *production order* (cycle, then port, then lane) is the order of a
tile's results in its store; the DMA writes them to their places in the
output map (the testbench's DRAM model scatters them, ``bnnarch.rtl.sysrun``).

Area: per port two fold counters (address width) and a lane mask; a
port-to-slot compaction (``ports`` x ``ports`` AND-OR of ``lanes`` x
``acc_bits`` bits, by the rank of each kept port); each slot placed at one of
2 x ``lanes`` fixed strides (AND-OR, no shifter); one merge shifter of a row
plus ``ports`` x ``lanes`` x ``acc_bits`` bits by the pending offset
(log2(row) mux levels); ``write_ports`` row write ports on the destination
memories. Delay: the rank adders (``ports`` long) and the merge shifter's
O(log row) mux levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyrtl


@dataclass(frozen=True)
class PackGeometry:
    """Shape of the pack unit (from the array it serves)."""

    ports: int
    lanes: int
    acc_bits: int
    row_bits: int  # bits of one destination row (the output buffer's port)
    fold_bits: int  # width of the fold counters

    @property
    def max_bits(self) -> int:
        """Most bits the ports deliver in one cycle (all lanes, partial sums)."""
        return self.ports * self.lanes * self.acc_bits

    @property
    def write_ports(self) -> int:
        """Rows one cycle's bits can touch: (row - 1 pending + max_bits) / row."""
        return math.ceil((self.row_bits - 1 + self.max_bits) / self.row_bits)


@dataclass(frozen=True)
class PackIn:
    """Inputs of the pack unit (one entry per array port in the lists)."""

    we: list[pyrtl.WireVector]
    sign: list[pyrtl.WireVector]
    dot: list[pyrtl.WireVector]
    on: pyrtl.WireVector  # this tile's results are stored or held
    wide: pyrtl.WireVector  # partial sums at acc_bits (a spilled tile), else sign bits
    in_last: pyrtl.WireVector
    out_last: pyrtl.WireVector
    port_rem: pyrtl.WireVector
    lane_rem: pyrtl.WireVector
    tile_end: pyrtl.WireVector  # the last results arrive in this cycle


@dataclass(frozen=True)
class PackOut:
    """Per cycle: the bits appended this cycle, merged behind the pending ones
    (``write_ports`` rows from ``first_row``), and how many rows they touch."""

    rows: list[pyrtl.WireVector]
    touched: list[pyrtl.WireVector]  # row k receives bits this cycle
    appended: pyrtl.WireVector  # bits appended this cycle


def _lane_mask(n_valid: pyrtl.WireVector, lanes: int) -> list[pyrtl.WireVector]:
    return [n_valid > c for c in range(lanes)]


def _segment(g: PackGeometry, sign: pyrtl.WireVector, dot: pyrtl.WireVector,
             mask: list[pyrtl.WireVector], wide: pyrtl.WireVector) -> pyrtl.WireVector:
    """A port's valid lanes, low lane first: sign bits or acc_bits values."""
    ab, width = g.acc_bits, g.max_bits // g.ports
    narrow = pyrtl.concat_list([sign[c] & mask[c] for c in range(g.lanes)])
    full = pyrtl.concat_list([dot[c * ab: (c + 1) * ab] & mask[c].sign_extended(ab)
                              for c in range(g.lanes)])
    return pyrtl.select(wide, full, narrow.zero_extended(width))


def _fold_counters(g: PackGeometry, x: PackIn, p: int
                   ) -> tuple[pyrtl.WireVector, pyrtl.WireVector]:
    """Port p's fold counters; returns (the write is kept, its valid lanes)."""
    fb = g.fold_bits
    inner = pyrtl.Register(fb, name=f"pk{p}_inner")
    outer = pyrtl.Register(fb, name=f"pk{p}_outer")
    we = x.we[p]
    last_in, last_out = inner == x.in_last, outer == x.out_last
    inner.next <<= pyrtl.select(x.tile_end | (we & last_in), pyrtl.Const(0, fb),
                                pyrtl.select(we, (inner + 1)[:fb], inner))
    wrap_out = we & last_in & last_out
    outer.next <<= pyrtl.select(x.tile_end | wrap_out, pyrtl.Const(0, fb),
                                pyrtl.select(we & last_in, (outer + 1)[:fb], outer))
    port_ok = ~last_out | (x.port_rem > p)
    n_lanes = pyrtl.select(last_in, x.lane_rem, pyrtl.Const(g.lanes, x.lane_rem.bitwidth))
    return x.on & we & port_ok, n_lanes


def _popcount(bits: list[pyrtl.WireVector], width: int) -> pyrtl.WireVector:
    total = pyrtl.Const(0, width)
    for b in bits:
        total = (total + b)[:width]
    return total


def pack_unit(g: PackGeometry, x: PackIn, off: pyrtl.WireVector,
              pend: pyrtl.WireVector) -> PackOut:
    """The append datapath (module doc): ``off`` bits of ``pend`` are pending
    in the current row; returns the rows to write and the bits appended. The
    fold counters are registers inside; the caller keeps ``off``/``pend``.

    Every port writing in one cycle has the same valid lanes (broadcast: one
    fold for all ports; os: one port per cycle, the fold bubble is longer
    than the skew; ws / is: one lane), so the kept ports are compacted (the
    q-th kept port into slot q) and slot q lands at q x lanes x lane width:
    no shifter per port. ``pk_conflict`` rises if that ever fails."""
    P, L, ab = g.ports, g.lanes, g.acc_bits
    total_w = g.row_bits + g.max_bits
    cb = max(1, P.bit_length())
    keeps, segs, lanes = [], [], []
    for p in range(P):
        with pyrtl.name_scope(f"pk{p}"):
            keep, n_lanes = _fold_counters(g, x, p)
            n_lanes = pyrtl.select(keep, n_lanes, pyrtl.Const(0, n_lanes.bitwidth))
            keeps.append(keep)
            lanes.append(n_lanes)
            segs.append(_segment(g, x.sign[p], x.dot[p], _lane_mask(n_lanes, L), x.wide))
    nl = lanes[0]
    for v in lanes[1:]:
        nl = nl | v
    conflict = pyrtl.Output(1, name="pk_conflict")
    conflict <<= pyrtl.rtl_any(*[k & (v != nl) for k, v in zip(keeps, lanes, strict=True)])
    ranks = [_popcount(keeps[:p], cb) for p in range(P)]
    vec = pyrtl.Const(0, total_w)
    for q in range(P):
        hits = [keeps[p] & (ranks[p] == q) for p in range(q, P)]
        slot = pyrtl.Const(0, L * ab)
        for h, seg in zip(hits, segs[q:], strict=True):
            slot = slot | (seg & h.sign_extended(L * ab))
        for v in range(1, L + 1):
            for wide, lw in ((0, 1), (1, ab)):
                shift = q * v * lw
                if shift >= total_w:
                    continue
                cond = (nl == v) & (x.wide == wide)
                part = slot[: L * lw] & cond.sign_extended(L * lw)
                placed = pyrtl.concat(part, pyrtl.Const(0, shift)) if shift else part
                vec = vec | placed.zero_extended(max(total_w, placed.bitwidth))[:total_w]
    pw = max(1, g.max_bits.bit_length())
    # bits per kept port: nl lanes of 1 or acc_bits bits (a table, no multiplier)
    lane_bits = pyrtl.mux(pyrtl.concat(x.wide, nl),
                          *[pyrtl.Const(min(v, L) * (ab if w else 1), pw)
                            for w in (0, 1) for v in range(1 << nl.bitwidth)])
    pos = pyrtl.Const(0, pw)
    for k in keeps:
        add = pyrtl.select(k, lane_bits, pyrtl.Const(0, pw)).zero_extended(pw + 1)
        pos = (pos.zero_extended(pw + 1) + add)[:pw]
    merged = pend.zero_extended(total_w) | pyrtl.shift_left_logical(
        vec, off.zero_extended(max(off.bitwidth, pos.bitwidth)))
    end = _end(off, pos)  # bit just past the last appended
    rows = [merged[k * g.row_bits: (k + 1) * g.row_bits].zero_extended(g.row_bits)
            for k in range(g.write_ports)]
    touched = [(pos != 0) & (end > k * g.row_bits) for k in range(g.write_ports)]
    return PackOut(rows, touched, pos)


def _end(off: pyrtl.WireVector, n: pyrtl.WireVector) -> pyrtl.WireVector:
    w = max(off.bitwidth, n.bitwidth) + 1
    return (off.zero_extended(w) + n.zero_extended(w))[:w]


def advance(g: PackGeometry, off: pyrtl.WireVector, out: PackOut
            ) -> tuple[pyrtl.WireVector, pyrtl.WireVector, pyrtl.WireVector]:
    """(rows completed, next offset, next pending row) after this cycle."""
    end = _end(off, out.appended)
    done = [end >= k * g.row_bits for k in range(1, g.write_ports + 1)]
    n_done = pyrtl.Const(0, max(1, g.write_ports.bit_length()))
    for d in done:
        n_done = (n_done + d)[: n_done.bitwidth]
    next_off = end[: off.bitwidth]
    next_pend = out.rows[0]
    for k in range(1, g.write_ports + 1):
        sub = (end - k * g.row_bits)[: off.bitwidth]
        row = out.rows[k] if k < len(out.rows) else pyrtl.Const(0, g.row_bits)
        next_off = pyrtl.select(n_done == k, sub, next_off)
        next_pend = pyrtl.select(n_done == k, row, next_pend)
    return n_done, next_off, next_pend


__all__ = ["PackGeometry", "PackIn", "PackOut", "advance", "pack_unit"]
