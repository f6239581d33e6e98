"""The R x C XNOR-popcount array with its buffers and controller, built from
an ``ArraySpec`` into an explicit ``pyrtl.Block`` (never the global working
block, so several designs coexist in one process).

Interconnects (``bnnarch.array.timing`` gives their cycle formulas):

* ``broadcast`` (output stationary; rows <- filters, cols <- pixels): lane
  buffer r (weights) is broadcast along row r, lane buffer c (activations)
  down column c with its valid-tap mask word (1-bit layers); every PE has
  a popcount tree with a register after each of its ceil(log2 S) levels;
  the control word is delayed by the same depth.
* ``systolic`` ``os`` (rows <- pixels, cols <- filters): activations enter at
  the left of row r after r skew registers and move one PE right per cycle;
  (with their valid-tap mask words) weights enter at the top of column c
  after c skew registers and move one
  PE down per cycle, so PE(r, c) sees word j at cycle j + r + c; its popcount
  is combinational. Control reaches PE(r, c) through a shared delay line tap
  r + c. Row r writes its C results when PE(r, C-1) finishes.
* ``systolic`` ``ws`` / ``is``: see ``bnnarch.rtl.stationary``.

Buffers are PyRTL MemBlocks, one per lane (R row-lane and C col-lane operand
buffers of S bits, a mask buffer of S bits beside each activation lane (the
window unit's valid-tap words: a 1-bit convolution pads with 0), R output
buffers of C x acc_bits plus C sign bits, one threshold buffer per filter
lane), their depths taken from the spec's buffer capacities (the tile share:
half when double buffered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyrtl

from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import popcount_tree_depth
from bnnarch.errors import RtlError
from bnnarch.rtl.controller import Cfg, controller, delay_line, make_cfg
from bnnarch.rtl.pe import PassCtrl, output_stage, pe_core
from bnnarch.rtl.popcount import TREES, identity_stage

MAX_RTL_PES = 64 * 64
"""Largest array the generator builds (PyRTL simulation and export beyond it
take hours; NOTES)."""
MAX_ADDR_BITS = 20


def _addr_bits(depth: int) -> int:
    return max(1, math.ceil(math.log2(max(2, depth))))


@dataclass(frozen=True)
class BufferDepths:
    """Words per lane of each buffer (from the spec's tile capacities)."""

    row: int
    col: int
    out: int
    thr: int


@dataclass
class RtlArray:
    """A built array: the block and the handles the host needs."""

    spec: ArraySpec
    block: pyrtl.Block
    rows: int
    cols: int
    simd_bits: int
    acc_bits: int
    interconnect: str
    dataflow: str
    weights_on_rows: bool
    addr_bits: int
    depths: BufferDepths
    row_mems: list[pyrtl.MemBlock] = field(default_factory=list)
    col_mems: list[pyrtl.MemBlock] = field(default_factory=list)
    out_mems: list[pyrtl.MemBlock] = field(default_factory=list)
    thr_mems: list[pyrtl.MemBlock] = field(default_factory=list)
    acc_mems: list[pyrtl.MemBlock] = field(default_factory=list)  # ws / is only
    msk_mems: list[pyrtl.MemBlock] = field(default_factory=list)  # per activation lane
    ports: int = 0  # output-buffer write ports (rows for os, columns for ws / is)
    sim_cache: dict[str, Any] = field(default_factory=dict, repr=False)  # bnnarch.rtl.run

    @property
    def memories(self) -> dict[str, pyrtl.MemBlock]:
        return {m.name: m for m in self.row_mems + self.col_mems + self.thr_mems
                + self.out_mems + self.acc_mems + self.msk_mems}

    @property
    def output_names(self) -> list[str]:
        names = ["done"]
        for r in range(self.ports):
            names += [f"o{r}_we", f"o{r}_addr", f"o{r}_dot", f"o{r}_sign"]
        return names


def check_supported(spec: ArraySpec) -> None:
    """Raise RtlError for designs the generator cannot build."""
    a = spec.array
    df = a.effective_dataflow
    if a.interconnect == "systolic" and df not in ("os", "ws", "is"):
        raise RtlError(f"design {spec.name!r}: dataflow {df} not supported by the RTL "
                       "generator (systolic supports os, ws, is; broadcast is os)")
    if a.pes > MAX_RTL_PES:
        raise RtlError(f"design {spec.name!r}: {a.rows}x{a.cols} = {a.pes} PEs is too large "
                       f"for the RTL generator (at most {MAX_RTL_PES} PEs)")
    if a.acc_bits < 8:
        raise RtlError(f"design {spec.name!r}: acc_bits={a.acc_bits}; the RTL generator "
                       "needs acc_bits >= 8")


def buffer_depths(spec: ArraySpec) -> BufferDepths:
    """Words per lane from the spec: each lane buffer gets an equal share of
    the buffer's tile capacity (``Buffer.tile_bits``)."""
    a = spec.array
    b = spec.buffers
    w_lanes, a_lanes = (a.rows, a.cols) if a.interconnect == "broadcast" else (a.cols, a.rows)
    w_depth = b.weights.tile_bits // (w_lanes * a.simd_bits)
    a_depth = b.activations.tile_bits // (a_lanes * a.simd_bits)
    row, col = (w_depth, a_depth) if a.interconnect == "broadcast" else (a_depth, w_depth)
    # acc_bits per output, as the mapper counts the output tile (the sign bit
    # beside each result is the threshold unit's output, not a partial sum)
    out = b.outputs.tile_bits // (a.rows * a.cols * a.acc_bits)
    for nm, d in (("row", row), ("col", col), ("out", out)):
        if d < 1:
            raise RtlError(f"design {spec.name!r}: {nm} buffer holds no word per lane")
    cap = 1 << MAX_ADDR_BITS
    # thresholds: one word per filter fold, never more than the output folds
    return BufferDepths(min(row, cap), min(col, cap), min(out, cap), min(out, cap))


def build_array(spec: ArraySpec, depths: BufferDepths | None = None) -> RtlArray:
    """Generate the whole array + buffers + controller into a new Block.

    Inputs: ``start`` and the ``cfg_*`` words (see controller). Outputs:
    ``done`` (sticky until the next start) and per row r the output-buffer
    write port ``o{r}_we``, ``o{r}_addr``, ``o{r}_dot`` (C x acc_bits, lane 0
    in the low bits) and ``o{r}_sign`` (C bits) so that results and their
    write cycle are visible in a trace. ``depths``: words per lane buffer
    (default: the spec's tile capacities, ``buffer_depths``).
    """
    check_supported(spec)
    a = spec.array
    if a.interconnect == "systolic" and a.effective_dataflow in ("ws", "is"):
        from bnnarch.rtl.stationary import build_stationary

        return build_stationary(spec, depths)
    R, C, S, AB = a.rows, a.cols, a.simd_bits, a.acc_bits
    broadcast = a.interconnect == "broadcast"
    depths = depths or buffer_depths(spec)
    addr_bits = _addr_bits(max(depths.row, depths.col, depths.out, depths.thr))
    tree = TREES[a.popcount_tree]
    block = pyrtl.Block()
    arr = RtlArray(spec, block, R, C, S, AB, a.interconnect, a.effective_dataflow,
                   weights_on_rows=broadcast, addr_bits=addr_bits, depths=depths, ports=R)
    with pyrtl.set_working_block(block, no_sanity_check=True):
        start = pyrtl.Input(1, name="start")
        cfg = make_cfg(addr_bits, AB)
        bubble = 0 if broadcast else R + C - 2
        word, busy = controller(start, cfg, addr_bits, broadcast, bubble)
        arr.row_mems = [pyrtl.MemBlock(S, _addr_bits(depths.row), name=f"rowbuf{r}")
                        for r in range(R)]
        arr.col_mems = [pyrtl.MemBlock(S, _addr_bits(depths.col), name=f"colbuf{c}")
                        for c in range(C)]
        row_words = [_read(m, word.row_addr) for m in arr.row_mems]
        col_words = [_read(m, word.col_addr) for m in arr.col_mems]
        a_lanes, a_depth, a_addr = ((C, depths.col, word.col_addr) if broadcast
                                    else (R, depths.row, word.row_addr))
        arr.msk_mems = [pyrtl.MemBlock(S, _addr_bits(a_depth), name=f"mskbuf{i}")
                        for i in range(a_lanes)]
        masks = [_read(m, a_addr) for m in arr.msk_mems]
        lanes = R if broadcast else C
        arr.thr_mems = [pyrtl.MemBlock(AB, _addr_bits(depths.thr), name=f"thrbuf{t}",
                                       max_read_ports=max(2, R + 1), asynchronous=True)
                        for t in range(lanes)]
        arr.out_mems = [pyrtl.MemBlock(C * (AB + 1), _addr_bits(depths.out), name=f"outbuf{r}",
                                       asynchronous=True) for r in range(R)]
        if broadcast:
            events = _broadcast(arr, cfg, word.fields, row_words, col_words, masks, tree)
        else:
            events = _systolic_os(arr, cfg, word.fields, row_words, col_words, masks, tree)
        done = pyrtl.Register(1, name="done_r")
        done.next <<= events | (done & ~(start & ~busy))
        done_o = pyrtl.Output(1, name="done")
        done_o <<= done
    block.sanity_check()
    return arr


def _emit_row(arr: RtlArray, r: int, ctrl: dict[str, pyrtl.WireVector], cfg: Cfg,
              accs: list[pyrtl.WireVector], thrs: list[pyrtl.WireVector],
              asums: list[pyrtl.WireVector]) -> None:
    """Output stage of row r: dot/sign per lane, write into outbuf r."""
    AB = arr.acc_bits
    dots, signs = [], []
    double = cfg.double
    for acc, thr, asum in zip(accs, thrs, asums, strict=True):
        dot, sign = output_stage(acc, double, cfg.pm1a, asum, thr, AB)  # bias: the lane sum
        dots.append(dot)
        signs.append(sign)
    we = ctrl["valid"] & ctrl["last"]
    m = arr.out_mems[r]
    addr = ctrl["fold"][: m.addrwidth]
    prev = m[addr]  # partial sums of earlier reduction tiles (cfg_cont)
    for c, thr in enumerate(thrs):
        dots[c], signs[c] = continued(dots[c], prev[c * AB: (c + 1) * AB], cfg.cont, thr, AB)
    dot_v = pyrtl.concat_list(dots)
    sign_v = pyrtl.concat_list(signs)
    m[addr] <<= pyrtl.MemBlock.EnabledWrite(pyrtl.concat(sign_v, dot_v), enable=we)
    for nm, w in (("we", we), ("addr", addr), ("dot", dot_v), ("sign", sign_v)):
        o = pyrtl.Output(w.bitwidth, name=f"o{r}_{nm}")
        o <<= w


def continued(dot: pyrtl.WireVector, prev: pyrtl.WireVector, cont: pyrtl.WireVector,
              thr: pyrtl.WireVector, acc_bits: int) -> tuple[pyrtl.WireVector,
                                                             pyrtl.WireVector]:
    """With ``cont`` the tile's result is added to the partial sum the output
    buffer holds from earlier tiles of the same outputs (a reduction split
    over tiles); the threshold compares the sum. One adder and one
    comparator of acc_bits."""
    total = pyrtl.select(cont, (dot + prev)[:acc_bits], dot)
    return total, pyrtl.signed_ge(total, thr)


def _read(mem: pyrtl.MemBlock, addr: pyrtl.WireVector) -> pyrtl.WireVector:
    w = pyrtl.WireVector(mem.bitwidth)
    w <<= mem[addr[: mem.addrwidth]]
    return w


def lane_feed(words: pyrtl.WireVector, mask: pyrtl.WireVector, xnor: pyrtl.WireVector,
              pm1a: pyrtl.WireVector) -> pyrtl.WireVector:
    """What a lane unit counts: the mask (XNOR layers), mask AND NOT a (+-1
    activations x multi-bit weights), the activation word (+-1 weights x
    multi-bit activations). Two S-bit muxes and an S-bit AND."""
    return pyrtl.select(xnor, pyrtl.select(pm1a, mask & ~words, mask), words)


def _lane_sum(words: pyrtl.WireVector, mask: pyrtl.WireVector, cfg: Cfg,
              pc: PassCtrl, tree, stage, acc_bits: int,
              name: str) -> tuple[pyrtl.WireVector, pyrtl.Register]:
    """The output stage's bias per activation lane over the fold: the number
    of valid taps, popcount(mask), in XNOR layers; sum(a) for +-1 weights x
    multi-bit activations (signed: the MSB plane's pass negated);
    -popcount(mask AND NOT a) for +-1 activations x multi-bit weights (the
    weight planes' shifts and negations). A PE whose weights are all ones,
    AND mode, with the array's pass control, fed ``lane_feed``."""
    ones = pyrtl.Const((1 << words.bitwidth) - 1, words.bitwidth)
    zero = pyrtl.Const(0, 1)
    return pe_core(ones, lane_feed(words, mask, cfg.xnor, cfg.pm1a), zero, ones, pc, tree, stage,
                   acc_bits, name)


def _stage_reg(w: pyrtl.WireVector) -> pyrtl.WireVector:
    r = pyrtl.Register(w.bitwidth)
    r.next <<= w
    return r


def _broadcast(arr: RtlArray, cfg: Cfg, fields: dict[str, pyrtl.WireVector],
               row_words: list[pyrtl.WireVector], col_words: list[pyrtl.WireVector],
               masks: list[pyrtl.WireVector], tree) -> pyrtl.WireVector:
    """Broadcast array; returns the 'layer finished' event of the last stage."""
    D = popcount_tree_depth(arr.simd_bits)
    pipe = delay_line(fields, D, "bc_d")
    ctl = pipe[D]
    pc = PassCtrl(ctl["valid"], ctl["first"], ctl["shift"], ctl["neg"])
    asums = []
    for c in range(arr.cols):
        with pyrtl.name_scope(f"asum{c}"):
            asums.append(_lane_sum(col_words[c], masks[c], cfg, pc, tree, _stage_reg,
                                   arr.acc_bits, f"asum{c}")[0])
    for r in range(arr.rows):
        accs = []
        for c in range(arr.cols):
            with pyrtl.name_scope(f"pe{r}_{c}"):
                acc_next, _ = pe_core(row_words[r], col_words[c], cfg.xnor, masks[c], pc,
                                      tree, _stage_reg, arr.acc_bits, name=f"acc{r}_{c}")
            accs.append(acc_next)
        thr = _read(arr.thr_mems[r], ctl["thr"])
        _emit_row(arr, r, ctl, cfg, accs, [thr] * arr.cols, asums)
    return ctl["valid"] & ctl["final"]


def _systolic_os(arr: RtlArray, cfg: Cfg, fields: dict[str, pyrtl.WireVector],
                 row_words: list[pyrtl.WireVector], col_words: list[pyrtl.WireVector],
                 masks: list[pyrtl.WireVector], tree) -> pyrtl.WireVector:
    """Output-stationary systolic array; returns the 'layer finished' event.
    Each activation word moves right with its mask word (S more register bits
    per PE)."""
    R, C = arr.rows, arr.cols
    pipe = delay_line(fields, R + C - 2, "sy_d")
    # skew: row r operand delayed r cycles, column c operand c cycles
    a_in = [_delay(row_words[r], r) for r in range(R)]
    m_in = [_delay(masks[r], r) for r in range(R)]
    w_in = [_delay(col_words[c], c) for c in range(C)]
    acc_grid: list[list[tuple[pyrtl.WireVector, pyrtl.Register]]] = []
    w_down = list(w_in)
    for r in range(R):
        a_right, m_right = a_in[r], m_in[r]
        row = []
        for c in range(C):
            ctl = pipe[r + c]
            pc = PassCtrl(ctl["valid"], ctl["first"], ctl["shift"], ctl["neg"])
            with pyrtl.name_scope(f"pe{r}_{c}"):
                row.append(pe_core(w_down[c], a_right, cfg.xnor, m_right, pc, tree,
                                   identity_stage, arr.acc_bits, name=f"acc{r}_{c}"))
                if c + 1 < C:
                    a_right, m_right = _stage_reg(a_right), _stage_reg(m_right)
                if r + 1 < R:
                    w_down[c] = _stage_reg(w_down[c])
        acc_grid.append(row)
    for r in range(R):
        ctl = pipe[r + C - 1]
        accs = [acc_grid[r][c][1] for c in range(C - 1)] + [acc_grid[r][C - 1][0]]
        thrs = [_read(arr.thr_mems[c], ctl["thr"]) for c in range(C)]
        p0 = pipe[r]
        with pyrtl.name_scope(f"asum{r}"):
            s_next, s_reg = _lane_sum(a_in[r], m_in[r], cfg,
                                      PassCtrl(p0["valid"], p0["first"], p0["shift"], p0["neg"]),
                                      tree, identity_stage, arr.acc_bits, f"asum{r}")
        _emit_row(arr, r, ctl, cfg, accs, thrs, [s_next if C == 1 else s_reg] * C)
    last = pipe[R + C - 2]
    return last["valid"] & last["final"]


def _delay(w: pyrtl.WireVector, n: int) -> pyrtl.WireVector:
    for _ in range(n):
        w = _stage_reg(w)
    return w
