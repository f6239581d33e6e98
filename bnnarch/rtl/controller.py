"""Layer controller: walks the single tile of a layer word by word and fold
by fold, generating buffer addresses and the per-word control that travels
with the data, and raises ``done``.

Loop nest (outer -> inner), all limits are run-time configuration inputs
(``cfg_*``, held constant while the layer runs, written by the host):

    g  < groups                 group
    fr < row folds              lanes of the row operand, R at a time
    fc < col folds              lanes of the col operand, C at a time
    pr < row-operand planes     bit planes (multi-bit layers)
    pc < col-operand planes
    j  < words                  SIMD words of the reduction

``(g, fr, fc)`` is one *fold*: the accumulators start at its first word and
hold its result after its last. The row operand of lane r lives at
``((g*FR + fr)*PR + pr)*words + j`` of its lane buffer, the col operand of
lane c at ``((g*FC + fc)*PC + pc)*words + j`` — the controller keeps these as
pointers (no multipliers): +1 per word, rewind the row pointer by words-1 per
col plane, restart at the fold / group base otherwise.

A word is *injected* on every cycle in which ``start`` is high while idle or
the controller is busy and not in a bubble. Systolic arrays need
``bubble = R + C - 2`` idle cycles after each fold so that the skewed
wavefront of the fold leaves the array before the next one enters (SCALE-Sim
fold convention); broadcast arrays have none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyrtl

from bnnarch.rtl.pe import SHIFT_BITS

CFG_FIELDS = ("kw_last", "pr_last", "pc_last", "fc_last", "fr_last", "g_last", "wmsb", "amsb")
"""Counter-limit configuration inputs (``cfg_<field>``); ``*_last`` = count - 1."""


@dataclass(frozen=True)
class Cfg:
    """The configuration inputs of the array."""

    limits: dict[str, pyrtl.WireVector]
    xnor: pyrtl.WireVector
    signed: pyrtl.WireVector
    pm1: pyrtl.WireVector  # +-1 weights with multi-bit activations
    cont: pyrtl.WireVector  # add each result to the output buffer's partial sum
    asigned: pyrtl.WireVector  # two's-complement activations (MSB plane negative)
    pm1a: pyrtl.WireVector  # +-1 activations with multi-bit weights

    @property
    def double(self) -> pyrtl.WireVector:
        """Output stage ``2*acc - bias``: +-1 weights (XNOR layers, pm1)."""
        return (self.xnor & ~self.pm1a) | self.pm1


@dataclass(frozen=True)
class CtrlWord:
    """Per-cycle control of the injected word (before any pipeline delay)."""

    fields: dict[str, pyrtl.WireVector]  # valid, first, last, final, shift, neg, fold, thr
    row_addr: pyrtl.Register
    col_addr: pyrtl.Register


def make_cfg(addr_bits: int, acc_bits: int) -> Cfg:
    limits = {f: pyrtl.Input(addr_bits if f not in ("wmsb", "amsb") else 3, name=f"cfg_{f}")
              for f in CFG_FIELDS}
    return Cfg(limits, *(pyrtl.Input(1, name=f"cfg_{n}")
                         for n in ("xnor", "signed", "pm1", "cont", "asigned", "pm1a")))


def _inc(r: pyrtl.WireVector, width: int) -> pyrtl.WireVector:
    return (r + 1)[:width]


def controller(start: pyrtl.WireVector, cfg: Cfg, addr_bits: int, weights_on_rows: bool,
               bubble: int) -> tuple[CtrlWord, pyrtl.Register]:
    """Build the loop nest. Returns the injected control word and the ``busy``
    register. Area: ~14 counters of addr_bits with comparators (O(addr_bits)
    each); independent of the array size."""
    L = cfg.limits
    A = addr_bits
    regs = {n: pyrtl.Register(A, name=f"ctl_{n}") for n in (
        "j", "pr", "pc", "fc", "fr", "g", "rp", "cp", "rbase", "cbase", "cgbase",
        "fold", "rf", "cf", "cfg_base")}
    busy = pyrtl.Register(1, name="ctl_busy")
    bub = pyrtl.Register(max(1, bubble.bit_length()), name="ctl_bubble")
    R = regs
    inject = (start | busy) & (bub == 0)
    end_j = R["j"] == L["kw_last"]
    end_pc = end_j & (R["pc"] == L["pc_last"])
    end_pr = end_pc & (R["pr"] == L["pr_last"])
    end_fc = end_pr & (R["fc"] == L["fc_last"])
    end_fr = end_fc & (R["fr"] == L["fr_last"])
    end_g = end_fr & (R["g"] == L["g_last"])

    def nxt(n: str) -> pyrtl.WireVector:
        return _inc(R[n], A)

    zero = pyrtl.Const(0, A)
    with pyrtl.conditional_assignment:
        with inject:
            with end_g:
                for r in R.values():
                    r.next |= zero
                busy.next |= 0
            with end_fr:  # next group
                for n in ("j", "pc", "pr", "fc", "fr"):
                    R[n].next |= zero
                R["g"].next |= nxt("g")
                R["rp"].next |= nxt("rp")
                R["rbase"].next |= nxt("rp")
                for n in ("cp", "cbase", "cgbase"):
                    R[n].next |= nxt("cp")
                R["fold"].next |= nxt("fold")
                R["rf"].next |= nxt("rf")
                R["cf"].next |= nxt("cf")
                R["cfg_base"].next |= nxt("cf")
                busy.next |= 1
                bub.next |= bubble
            with end_fc:  # next row fold
                for n in ("j", "pc", "pr", "fc"):
                    R[n].next |= zero
                R["fr"].next |= nxt("fr")
                R["rp"].next |= nxt("rp")
                R["rbase"].next |= nxt("rp")
                R["cp"].next |= R["cgbase"]
                R["cbase"].next |= R["cgbase"]
                R["fold"].next |= nxt("fold")
                R["rf"].next |= nxt("rf")
                R["cf"].next |= R["cfg_base"]
                busy.next |= 1
                bub.next |= bubble
            with end_pr:  # next col fold
                for n in ("j", "pc", "pr"):
                    R[n].next |= zero
                R["fc"].next |= nxt("fc")
                R["rp"].next |= R["rbase"]
                R["cp"].next |= nxt("cp")
                R["cbase"].next |= nxt("cp")
                R["fold"].next |= nxt("fold")
                R["cf"].next |= nxt("cf")
                busy.next |= 1
                bub.next |= bubble
            with end_pc:  # next row plane
                R["j"].next |= zero
                R["pc"].next |= zero
                R["pr"].next |= nxt("pr")
                R["rp"].next |= nxt("rp")
                R["cp"].next |= R["cbase"]
                busy.next |= 1
            with end_j:  # next col plane
                R["j"].next |= zero
                R["pc"].next |= nxt("pc")
                R["rp"].next |= (R["rp"] - L["kw_last"])[:A]
                R["cp"].next |= nxt("cp")
                busy.next |= 1
            with pyrtl.otherwise:
                R["j"].next |= nxt("j")
                R["rp"].next |= nxt("rp")
                R["cp"].next |= nxt("cp")
                busy.next |= 1
        if bubble:
            with bub != 0:
                bub.next |= (bub - 1)[: bub.bitwidth]
    wplane, aplane = (R["pr"], R["pc"]) if weights_on_rows else (R["pc"], R["pr"])
    fields = {
        "valid": inject,
        "first": (R["j"] == 0) & (R["pr"] == 0) & (R["pc"] == 0),
        "last": end_pr,
        "final": end_g,
        "shift": (R["pr"] + R["pc"])[:SHIFT_BITS],
        "neg": plane_neg(cfg.signed, wplane, L["wmsb"], cfg.asigned, aplane, L["amsb"]),
        "fold": R["fold"],
        "thr": R["rf"] if weights_on_rows else R["cf"],
    }
    return CtrlWord(fields, R["rp"], R["cp"]), busy


def plane_neg(signed: pyrtl.WireVector, wplane: pyrtl.WireVector, wmsb: pyrtl.WireVector,
              asigned: pyrtl.WireVector, aplane: pyrtl.WireVector,
              amsb: pyrtl.WireVector) -> pyrtl.WireVector:
    """A pass is subtracted when exactly one of its planes is a negative MSB
    plane (two's-complement weights / activations). Two comparators of the
    plane counters and an XOR."""
    return (signed & (wplane == wmsb)) ^ (asigned & (aplane == amsb))


def delay_line(fields: dict[str, pyrtl.WireVector], stages: int,
               prefix: str) -> list[dict[str, pyrtl.WireVector]]:
    """``out[k]`` = ``fields`` delayed by k cycles (k = 0..stages). Shared by
    all PEs (one register per field per stage, not per PE)."""
    out = [fields]
    for k in range(1, stages + 1):
        prev = out[-1]
        cur: dict[str, pyrtl.WireVector] = {}
        for n, w in prev.items():
            r = pyrtl.Register(w.bitwidth, name=f"{prefix}{k}_{n}")
            r.next <<= w
            cur[n] = r
        out.append(cur)
    return out
