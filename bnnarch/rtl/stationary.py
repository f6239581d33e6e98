"""Systolic arrays with a stationary operand: ``ws`` (weights stationary) and
``is`` (inputs stationary), SCALE-Sim fold convention (Samajdar et al. 2018).

Rows <- K words (R words of S bits of the reduction per fold), columns <- the
stationary operand's items (ws: C filters, is: C pixels); the other operand
(ws: the M pixels, is: the N filters) is streamed. One fold:

* preload, R cycles: the stationary words of column c shift down it (word
  R-1 first), so PE(r, c) then holds word r;
* stream, L cycles (L = M for ws, N for is): item s's word r enters row r
  after r skew registers and moves one PE right per cycle, so PE(r, c) sees it
  at cycle R + s + r + c; partial popcounts move one PE down per cycle
  (registered between rows; the bottom row's sum is used combinationally);
* drain, R + C - 2 cycles: the wavefront leaves the array.

``2R + C + L - 2`` cycles per fold (``bnnarch.array.timing.fold_cycles``), folds
not overlapped. The bottom of column c shift-adds its partial sum into an
accumulator buffer (one word per streamed item, read-modify-write) over the
K folds and bit-serial passes; the last of them writes dot product and sign
into the output buffer. Loop nest (outer -> inner): group g, outer fold fo
(ws: filter folds, is: pixel folds), K fold fk, stationary plane ps,
streamed plane pt. +-1 weights with multi-bit activations: the output stage
forms 2*sum(b*a) - sum(a); on ws a lane-sum column beside column 0 supplies
sum(a) per streamed pixel (``_asum_taps``), on is each column adds up its
stationary pixel's sum(a) while it preloads (``_stationary_sum``). XNOR
layers: a valid-tap mask word travels with each activation word (ws: streamed
right beside it, is: preloaded into a mask register beside the stationary
word) and gates the PE's XNOR; the same lane-sum units count the valid taps,
popcount(mask), and the output stage forms 2*popcount(xnor AND mask) -
popcount(mask): a padded tap contributes 0, as in the trained models.
"""

from __future__ import annotations

import numpy as np
import pyrtl

from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import ceil_div, tile_compute_cycles
from bnnarch.errors import RtlError
from bnnarch.rtl.array import (
    BufferDepths,
    RtlArray,
    _addr_bits,
    _delay,
    _read,
    _stage_reg,
    buffer_depths,
    continued,
    lane_feed,
)
from bnnarch.rtl.controller import delay_line, plane_neg
from bnnarch.rtl.golden import LayerData, Program, _pack_words, max_abs_dot, mode_cfg
from bnnarch.rtl.pe import SHIFT_BITS, PassCtrl, output_stage, product_bits, shift_add
from bnnarch.rtl.popcount import TREES, identity_stage

LIMITS = ("s_last", "fk_last", "ps_last", "pt_last", "fo_last", "g_last", "slen")


def _depths(spec: ArraySpec) -> BufferDepths:
    a, b = spec.array, spec.buffers
    ws = a.effective_dataflow == "ws"
    stat, stream = (b.weights, b.activations) if ws else (b.activations, b.weights)
    out = b.outputs.tile_bits // (a.cols * a.acc_bits)  # as array.buffer_depths
    base = buffer_depths(spec)  # checks the common limits
    cap = 1 << 20
    return BufferDepths(min(stream.tile_bits // (a.rows * a.simd_bits), cap),
                        min(stat.tile_bits // (a.cols * a.simd_bits), cap),
                        min(max(out, 1), cap), base.thr)


def build_stationary(spec: ArraySpec, depths: BufferDepths | None = None) -> RtlArray:
    """Generate a ws / is systolic array + buffers + controller (module doc).
    Area: R x C PEs of S XNOR/AND + combinational popcount + a psum adder of
    log2(R S) bits + weight and operand registers; per column one shift-add
    accumulator and output stage."""
    a = spec.array
    R, C, S, AB = a.rows, a.cols, a.simd_bits, a.acc_bits
    depths = depths or _depths(spec)
    addr_bits = _addr_bits(max(depths.row, depths.col, depths.out, depths.thr,
                               depths.out * 2))
    ws = a.effective_dataflow == "ws"
    block = pyrtl.Block()
    arr = RtlArray(spec, block, R, C, S, AB, a.interconnect, a.effective_dataflow,
                   weights_on_rows=not ws, addr_bits=addr_bits, depths=depths, ports=C)
    tree = TREES[a.popcount_tree]
    with pyrtl.set_working_block(block, no_sanity_check=True):
        start = pyrtl.Input(1, name="start")
        lim = {n: pyrtl.Input(addr_bits if n not in ("wmsb", "amsb") else 3, name=f"cfg_{n}")
               for n in (*LIMITS, "wmsb", "amsb")}
        xnor, signed = pyrtl.Input(1, name="cfg_xnor"), pyrtl.Input(1, name="cfg_signed")
        cont = pyrtl.Input(1, name="cfg_cont")
        pm1, pm1a = pyrtl.Input(1, name="cfg_pm1"), pyrtl.Input(1, name="cfg_pm1a")
        asigned = pyrtl.Input(1, name="cfg_asigned")
        ctl, shift_en, sp, tp, busy = _controller(start, lim, (signed, asigned), addr_bits, R, C,
                                                  ws)
        arr.col_mems = [pyrtl.MemBlock(S, _addr_bits(depths.col), name=f"colbuf{c}")
                        for c in range(C)]
        arr.row_mems = [pyrtl.MemBlock(S, _addr_bits(depths.row), name=f"rowbuf{r}")
                        for r in range(R)]
        arr.thr_mems = [pyrtl.MemBlock(AB, _addr_bits(depths.thr), name=f"thrbuf{c}",
                                       asynchronous=True) for c in range(C)]
        arr.acc_mems = [pyrtl.MemBlock(AB, _addr_bits(depths.out), name=f"accbuf{c}",
                                       asynchronous=True) for c in range(C)]
        arr.out_mems = [pyrtl.MemBlock(AB + 1, _addr_bits(depths.out), name=f"outbuf{c}",
                                       asynchronous=True) for c in range(C)]
        # the activation lanes' valid-tap masks: ws streams them (row lanes),
        # is preloads them (column lanes)
        arr.msk_mems = [pyrtl.MemBlock(S, _addr_bits(depths.row if ws else depths.col),
                                       name=f"mskbuf{i}") for i in range(R if ws else C)]
        pipe = delay_line(ctl, R + C - 2, "st_d")
        psum_bits = (R * S).bit_length()
        a_in = [_delay(_read(arr.row_mems[r], tp), r) for r in range(R)]
        m_in = ([_delay(_read(arr.msk_mems[r], tp), r) for r in range(R)] if ws
                else [pyrtl.Const((1 << S) - 1, S)] * R)
        asums = _asum_taps(arr, [lane_feed(a, m, xnor, pm1a) for m, a in zip(m_in, a_in,
                                                                             strict=True)],
                           pipe[R - 1], tree, psum_bits) if ws else [pyrtl.Const(0, AB)] * C
        for c in range(C):
            above = _read(arr.col_mems[c], sp)
            m_above = (_read(arr.msk_mems[c], sp) if not ws
                       else pyrtl.Const((1 << S) - 1, S))
            if not ws:
                asums[c] = _stationary_sum(lane_feed(above, m_above, xnor, pm1a), pipe[0],
                                           shift_en, pm1a, tree, AB, c)
            psum: pyrtl.WireVector = pyrtl.Const(0, psum_bits)
            for r in range(R):
                with pyrtl.name_scope(f"pe{r}_{c}"):
                    w = pyrtl.Register(S, name=f"w{r}_{c}")
                    w.next <<= pyrtl.select(shift_en, above, w)
                    above = w
                    if ws:  # the mask streams with the activation word
                        mask = m_in[r]
                        m_in[r] = _stage_reg(m_in[r])
                    else:  # the mask is preloaded with the stationary activation word
                        mreg = pyrtl.Register(S, name=f"m{r}_{c}")
                        mreg.next <<= pyrtl.select(shift_en, m_above, mreg)
                        mask = m_above = mreg
                    pop = tree(product_bits(w, a_in[r], xnor, mask), identity_stage)
                    psum = (psum + pop)[:psum_bits]
                    if r + 1 < R:
                        psum = _stage_reg(psum)
                    a_in[r] = _stage_reg(a_in[r])
            _column_out(arr, c, pipe[R - 1 + c], psum, asums[c], cont,
                        ((xnor & ~pm1a) | pm1, pm1a))
        last = pipe[R + C - 2]
        done = pyrtl.Register(1, name="done_r")
        done.next <<= (last["valid"] & last["final"]) | (done & ~(start & ~busy))
        done_o = pyrtl.Output(1, name="done")
        done_o <<= done
    block.sanity_check()
    return arr


def _column_out(arr: RtlArray, c: int, ctl: dict[str, pyrtl.WireVector],
                psum: pyrtl.WireVector, bias: pyrtl.WireVector, cont: pyrtl.WireVector,
                mode: tuple[pyrtl.WireVector, pyrtl.WireVector]) -> None:
    """Bottom of column c: shift-add into accbuf c; on the last K fold / pass
    write dot and sign to outbuf c (and the o{c}_* ports)."""
    AB = arr.acc_bits
    acc_mem, out_mem = arr.acc_mems[c], arr.out_mems[c]
    prev = _read(acc_mem, ctl["s"])
    acc_next = shift_add(prev, psum, PassCtrl(ctl["valid"], ctl["first"], ctl["shift"],
                                              ctl["neg"]), AB)
    acc_mem[ctl["s"][: acc_mem.addrwidth]] <<= pyrtl.MemBlock.EnabledWrite(
        acc_next, enable=ctl["valid"])
    thr = _read(arr.thr_mems[c], ctl["thr"])
    dot, sign = output_stage(acc_next, mode[0], mode[1], bias, thr, AB)  # (double, sub)
    we = ctl["valid"] & ctl["last"]
    addr = ctl["oaddr"][: out_mem.addrwidth]
    dot, sign = continued(dot, out_mem[addr][:AB], cont, thr, AB)
    out_mem[addr] <<= pyrtl.MemBlock.EnabledWrite(pyrtl.concat(sign, dot), enable=we)
    for nm, wv in (("we", we), ("addr", addr), ("dot", dot), ("sign", sign)):
        o = pyrtl.Output(wv.bitwidth, name=f"o{c}_{nm}")
        o <<= wv


def _asum_taps(arr: RtlArray, a_in: list[pyrtl.WireVector], ctl: dict[str, pyrtl.WireVector],
               tree, psum_bits: int) -> list[pyrtl.WireVector]:
    """ws with +-1 weights and multi-bit activations: a lane-sum column beside
    column 0 (the same streamed words, all-ones weights, AND mode) adds
    sum(a) of each streamed pixel over the K folds and activation planes into
    its own accumulator buffer; tap c delays that sum by c cycles, when column
    c finishes the same pixel (the output stage forms 2*sum(b*a) - sum(a)).
    Area: R popcounts, a psum chain and one accumulator, C-1 registers of
    acc_bits."""
    AB = arr.acc_bits
    psum: pyrtl.WireVector = pyrtl.Const(0, psum_bits)
    for r, a in enumerate(a_in):
        with pyrtl.name_scope(f"asum_r{r}"):
            psum = (psum + tree(a, identity_stage))[:psum_bits]
            if r + 1 < len(a_in):
                psum = _stage_reg(psum)
    mem = pyrtl.MemBlock(AB, arr.acc_mems[0].addrwidth, name="asumbuf", asynchronous=True)
    arr.acc_mems.append(mem)
    total = shift_add(_read(mem, ctl["s"]), psum, PassCtrl(ctl["valid"], ctl["first"],
                                                          ctl["shift"], ctl["neg"]), AB)
    mem[ctl["s"][: mem.addrwidth]] <<= pyrtl.MemBlock.EnabledWrite(total, enable=ctl["valid"])
    taps = [total]
    for _ in range(1, arr.cols):
        taps.append(_stage_reg(taps[-1]))
    return taps


def _stationary_sum(word: pyrtl.WireVector, ctl: dict[str, pyrtl.WireVector],
                    preload: pyrtl.WireVector, pm1a: pyrtl.WireVector, tree, acc_bits: int,
                    c: int) -> pyrtl.Register:
    """is with +-1 weights and multi-bit activations: column c's sum(a) of its
    stationary pixel, added up from the words entering the column during
    each preload (popcount << activation plane; the first word of an output
    fold restarts it, a reload for another weight plane is not counted).
    Stable from the end of the last preload to the fold's last output. The
    term is negated on a signed activation MSB plane (``neg`` at pt = 0) and
    for +-1 activations x multi-bit weights (counted once: -popcount(v AND
    NOT b), as the other lane units' sum over the weight planes gives).
    Area: one popcount of S bits, a shifter, an XOR row and an acc_bits adder
    per column."""
    with pyrtl.name_scope(f"ssum{c}"):
        pop = tree(word, identity_stage).zero_extended(acc_bits)
        shifted = pyrtl.shift_left_logical(pop, ctl["shift"])
        neg = ctl["neg"] ^ pm1a
        term = ((shifted ^ neg.sign_extended(acc_bits)).zero_extended(acc_bits + 1)
                + neg)[:acc_bits]
        total = pyrtl.Register(acc_bits, name=f"ssum{c}")
        restart = preload & ctl["first"] & (ctl["s"] == 0)
        add = preload & ctl["pt0"]
        total.next <<= pyrtl.select(restart, term, pyrtl.select(
            add, (total + term)[:acc_bits], total))
    return total


def _fold_end(reg, phase, zero, drain_len: int) -> None:
    reg["i"].next |= zero
    phase.next |= 2 if drain_len else 0


def _controller(start, lim, signs, A: int, R: int, C: int, ws: bool):
    """Preload / stream / drain phases over the loop nest (module doc).
    Returns (stream control word, preload shift enable, stationary and
    streamed buffer pointers, busy)."""
    n = ("i", "pt", "ps", "fk", "fo", "g", "sp", "tp", "tfk", "tg", "olin", "obase", "gs")
    reg = {k: pyrtl.Register(A, name=f"stc_{k}") for k in n}
    phase = pyrtl.Register(2, name="stc_phase")
    busy = pyrtl.Register(1, name="stc_busy")
    act = start | busy
    pre, stream, drain = act & (phase == 0), act & (phase == 1), act & (phase == 2)
    end_s = reg["i"] == lim["s_last"]
    end_pt = reg["pt"] == lim["pt_last"]
    end_ps = end_pt & (reg["ps"] == lim["ps_last"])
    end_fk = end_ps & (reg["fk"] == lim["fk_last"])
    end_fo = end_fk & (reg["fo"] == lim["fo_last"])
    end_g = end_fo & (reg["g"] == lim["g_last"])
    drain_len = R + C - 2

    def inc(k: str, by=1):
        return (reg[k] + by)[:A]

    zero = pyrtl.Const(0, A)
    with pyrtl.conditional_assignment:
        with pre:
            reg["sp"].next |= inc("sp")
            busy.next |= 1
            with reg["i"] == R - 1:
                reg["i"].next |= zero
                phase.next |= 1
            with pyrtl.otherwise:
                reg["i"].next |= inc("i")
        with stream:
            with ~end_s:
                reg["i"].next |= inc("i")
                reg["tp"].next |= inc("tp")
            with end_g:
                for r in reg.values():
                    r.next |= zero
                phase.next |= 0
                busy.next |= 0
            with end_fo:  # next group
                _fold_end(reg, phase, zero, drain_len)
                for k in ("pt", "ps", "fk", "fo"):
                    reg[k].next |= zero
                reg["g"].next |= inc("g")
                for k in ("tp", "tfk", "tg"):
                    reg[k].next |= inc("tp")
                reg["olin"].next |= inc("olin")
                reg["obase"].next |= (reg["obase"] + lim["slen"])[:A]
                reg["gs"].next |= (reg["gs"] + lim["slen"])[:A]
            with end_fk:  # next outer fold: stream the same group again
                _fold_end(reg, phase, zero, drain_len)
                for k in ("pt", "ps", "fk"):
                    reg[k].next |= zero
                reg["fo"].next |= inc("fo")
                reg["tp"].next |= reg["tg"]
                reg["tfk"].next |= reg["tg"]
                reg["olin"].next |= inc("olin")
                reg["obase"].next |= (reg["obase"] + lim["slen"])[:A]
            with end_ps:  # next K fold
                _fold_end(reg, phase, zero, drain_len)
                reg["pt"].next |= zero
                reg["ps"].next |= zero
                reg["fk"].next |= inc("fk")
                reg["tp"].next |= inc("tp")
                reg["tfk"].next |= inc("tp")
            with end_pt:  # next stationary plane: stream from the K fold's start
                _fold_end(reg, phase, zero, drain_len)
                reg["pt"].next |= zero
                reg["ps"].next |= inc("ps")
                reg["tp"].next |= reg["tfk"]
            with pyrtl.otherwise:  # next streamed plane: reload the same stationary
                _fold_end(reg, phase, zero, drain_len)
                reg["pt"].next |= inc("pt")
                reg["tp"].next |= inc("tp")
                reg["sp"].next |= (reg["sp"] - R)[:A]
        with drain:
            with reg["i"] == max(drain_len - 1, 0):
                reg["i"].next |= zero
                phase.next |= 0
            with pyrtl.otherwise:
                reg["i"].next |= inc("i")
    last = end_fk
    wplane, aplane = (reg["ps"], reg["pt"]) if ws else (reg["pt"], reg["ps"])
    ctl = {
        "valid": stream, "first": (reg["pt"] == 0) & (reg["ps"] == 0) & (reg["fk"] == 0),
        "last": last, "final": last & end_fo & end_g & end_s,
        "shift": (reg["ps"] + reg["pt"])[:SHIFT_BITS],
        "neg": plane_neg(signs[0], wplane, lim["wmsb"], signs[1], aplane, lim["amsb"]),
        "s": reg["i"], "pt0": reg["pt"] == 0,
        "oaddr": (reg["obase"] + reg["i"])[:A],
        "thr": reg["olin"] if ws else (reg["gs"] + reg["i"])[:A],
    }
    return ctl, pre, reg["sp"], reg["tp"], busy


def _check_fits(arr: RtlArray, data: LayerData, need: dict[str, int], kpad: int) -> None:
    """Raise unless every buffer holds the layer's words per lane and the
    accumulator holds its dot products."""
    AB = arr.acc_bits
    have = {"col": arr.depths.col, "row": arr.depths.row, "out": arr.depths.out,
            "thr": arr.depths.thr}
    for key, n_words in need.items():
        if n_words > have[key]:
            raise RtlError(f"layer {data.name!r} needs {n_words} words per lane of the {key} "
                           f"buffer but the design's tile holds {have[key]}; the RTL runs a "
                           "layer as one tile (use a smaller layer or larger buffers)")
    if max_abs_dot(data) > (1 << (AB - 1)) - 1 or 2 * kpad > (1 << AB):
        raise RtlError(f"layer {data.name!r}: dot products up to {max_abs_dot(data)} overflow "
                       f"acc_bits={AB}")


def _lane_words(x: np.ndarray, simd_bits: int, lanes: int) -> np.ndarray:
    """(..., K) planes -> (..., lanes) S-bit words (python ints)."""
    w = _pack_words(x, simd_bits, lanes)
    return np.array(w, dtype=object).reshape(x.shape[:-1] + (lanes,))


def _nonzero(img: dict[int, int]) -> dict[int, int]:
    return {a_: v for a_, v in img.items() if v}


def _colbuf_images(sw: np.ndarray, R: int, C: int, fk_n: int) -> dict[str, dict[int, int]]:
    """Column buffers: stationary words sw (G, FO*C, PS, FK*R)."""
    g, foc, ps_n, _ = sw.shape
    fo_n = foc // C
    mems: dict[str, dict[int, int]] = {}
    for c in range(C):
        img = {}
        for gi in range(g):
            for fo in range(fo_n):
                for fk in range(fk_n):
                    for p in range(ps_n):
                        base = (((gi * fo_n + fo) * fk_n + fk) * ps_n + p) * R
                        for i in range(R):
                            img[base + i] = int(sw[gi, fo * C + c, p, fk * R + R - 1 - i])
        mems[f"colbuf{c}"] = _nonzero(img)
    return mems


def _rowbuf_images(tw: np.ndarray, R: int, fk_n: int) -> dict[str, dict[int, int]]:
    """Row buffers: streamed words tw (G, L, P, FK*R)."""
    g, slen, pt_n, _ = tw.shape
    mems: dict[str, dict[int, int]] = {}
    for r in range(R):
        img = {}
        for gi in range(g):
            for fk in range(fk_n):
                for p in range(pt_n):
                    base = ((gi * fk_n + fk) * pt_n + p) * slen
                    for s in range(slen):
                        img[base + s] = int(tw[gi, s, p, fk * R + r])
        mems[f"rowbuf{r}"] = _nonzero(img)
    return mems


def _thrbuf_images(thr: np.ndarray, C: int, fo_n: int, ws: bool,
                   mask: int) -> dict[str, dict[int, int]]:
    """Threshold buffers from thresholds thr (G, N), masked to acc_bits."""
    g, n = thr.shape
    mems: dict[str, dict[int, int]] = {}
    for c in range(C):
        if ws:
            vals = {gi * fo_n + fo: int(thr[gi, fo * C + c]) for gi in range(g)
                    for fo in range(fo_n) if fo * C + c < n}
        else:
            vals = {gi * n + s: int(thr[gi, s]) for gi in range(g) for s in range(n)}
        mems[f"thrbuf{c}"] = {a_: v & mask for a_, v in vals.items() if v & mask}
    return mems


def _mask_images(data: LayerData, R: int, C: int, S: int, fk_n: int, fo_n: int,
                 ws: bool) -> dict[str, dict[int, int]]:
    """mskbuf images: the valid-tap words of each activation word, at its
    address (ws: the streamed row buffers' layout, is: the stationary column
    buffers')."""
    g, m, _, k = data.a_planes.shape
    valid = np.broadcast_to(data.valid_taps[None, :, None, :], (g, m, 1, k))
    words = _lane_words(valid, S, fk_n * R)  # (G, M, 1, FK*R)
    if ws:
        imgs = _rowbuf_images(words, R, fk_n)
    else:
        sw = np.zeros((g, fo_n * C, 1, fk_n * R), dtype=object)
        sw[:, :m] = words
        imgs = _colbuf_images(sw, R, C, fk_n)
    return {name.replace("rowbuf", "mskbuf").replace("colbuf", "mskbuf"): img
            for name, img in imgs.items()}


def stationary_program(arr: RtlArray, data: LayerData) -> Program:
    """Buffer images + cfg words of a ws / is array for one layer."""
    g, _m, n, k = data.shape
    R, C, S, AB = arr.rows, arr.cols, arr.simd_bits, arr.acc_bits
    ws = arr.dataflow == "ws"
    stat, strm = (data.w_planes, data.a_planes) if ws else (data.a_planes, data.w_planes)
    kw = ceil_div(k, S)
    fk_n, fo_n = ceil_div(kw, R), ceil_div(stat.shape[1], C)
    ps_n, pt_n, slen = stat.shape[2], strm.shape[2], strm.shape[1]
    need = {"col": g * fo_n * fk_n * ps_n * R, "row": g * fk_n * pt_n * slen,
            "out": max(g * fo_n * slen, slen), "thr": g * (fo_n if ws else n)}
    kpad = fk_n * R * S
    _check_fits(arr, data, need, kpad)
    sw = np.zeros((g, fo_n * C, ps_n, fk_n * R), dtype=object)
    sw[:, : stat.shape[1]] = _lane_words(stat, S, fk_n * R)
    mask = (1 << AB) - 1
    mems = _colbuf_images(sw, R, C, fk_n)
    mems |= _rowbuf_images(_lane_words(strm, S, fk_n * R), R, fk_n)  # (G, L, P, FK*R)
    mems |= _thrbuf_images(data.thresholds.reshape(g, n), C, fo_n, ws, mask)
    if data.masked:  # valid-tap masks, laid out like the activation words
        mems |= _mask_images(data, R, C, S, fk_n, fo_n, ws)
    cfg = {"cfg_s_last": slen - 1, "cfg_fk_last": fk_n - 1, "cfg_ps_last": ps_n - 1,
           "cfg_pt_last": pt_n - 1, "cfg_fo_last": fo_n - 1, "cfg_g_last": g - 1,
           "cfg_slen": slen, "cfg_wmsb": data.w_planes.shape[2] - 1, **mode_cfg(data),
           "cfg_cont": 0}
    sim = tile_compute_cycles(data.tile(), R, C, S, arr.interconnect, arr.dataflow)
    return Program(mems, cfg, kw, fk_n, fo_n, sim)


def stationary_results(arr: RtlArray, data: LayerData,
                       events: list[tuple[int, int, int, int, int]]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output writes (cycle, column, addr, dot, sign) -> (dot, sign, cycle)
    arrays (G, M, N); addr = (g*FO + fo)*L + s."""
    g, m, n, _ = data.shape
    ws = arr.dataflow == "ws"
    AB, C = arr.acc_bits, arr.cols
    slen, stat_n = (m, n) if ws else (n, m)
    fo_n = ceil_div(stat_n, C)
    dot = np.zeros((g, m, n), dtype=np.int64)
    sign = np.zeros((g, m, n), dtype=np.uint8)
    cyc = np.full((g, m, n), -1, dtype=np.int64)
    for cycle, c, addr, d, sg in events:
        fol, s = divmod(addr, slen)
        gi, fo = divmod(fol, fo_n)
        item = fo * C + c
        if gi >= g or item >= stat_n:
            continue
        mi, ni = (s, item) if ws else (item, s)
        dot[gi, mi, ni] = d - (1 << AB) if d >> (AB - 1) else d
        sign[gi, mi, ni] = sg
        cyc[gi, mi, ni] = cycle
    return dot, sign, cyc
