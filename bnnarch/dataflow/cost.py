"""Energy ledger (per frame) and area of each dataflow stage, from the same
technology tables as the array template (bnnarch.tech; every per-action
number there names its source).

Actions per frame:

* MVTU: ``mw*mh*vectors`` binary MACs, each an XNOR (``w_bits*a_bits``
  AND/XNOR bit-products for multi-bit layers, in either mode) and one popcount
  input bit per bit-product; one accumulator update (acc_bits full-adder bits)
  per PE per busy cycle; the weight memory is read every busy cycle
  (PE*SIMD*w_bits bits; FINN keeps one memory per PE, so the per-bit access
  energy is that of one PE's bank); each output channel compares its
  accumulator with its thresholds (``thresholds`` x acc_bits full-adder bits)
  after reading them from the threshold memory.
* SWU: every input pixel written into the line buffer once, every window
  read out of it (K*K*Cin*a_bits bits), SRAM energy of the buffer's size.
* Upsample: a line buffer of two input rows, every input pixel written once
  and read once per output pixel.
* Max/avg-pool: one comparison (or addition) per window element (a_bits full-adder bits;
  a binary max is an OR, counted the same), line buffer as for the SWU.
* Add (FINN AddStreams): one ``out_bits`` addition per output element;
  concat: no arithmetic (a multiplexer), only its FIFOs.
* FIFOs: every item written and read once (SRAM energy of the FIFO's size),
  in every FIFO of a forked stream — the bypass FIFO of a residual branch is
  priced like any other.
* Leakage: per stage, its area x the table's leakage density x the frame's
  steady-state period (II cycles).

Area: weight / threshold / line-buffer / FIFO bits as SRAM (bitcell area /
array efficiency, as the array template prices its buffers; FINN on FPGAs
uses BRAM/LUTRAM instead); lanes as XNOR2 + full adder gate equivalents per
bit-product (NanGate 45 nm cells, scaled), PE accumulators (acc_bits x (2 FA
+ DFF)) and threshold comparators (acc_bits FA each).
"""

from __future__ import annotations

from collections import Counter

from bnnarch.dataflow.plan import Stage
from bnnarch.dataflow.spec import DataflowSpec
from bnnarch.result import counter_add
from bnnarch.tech import GE_DFF, GE_FA, GE_XNOR2, Tech, tech_for


def weight_depth(s: Stage) -> int:
    """FINN weight memory depth: MW*MH / (PE*SIMD) words of PE*SIMD*w_bits bits."""
    return s.mw * s.mh // (s.pe * s.simd) if s.kind == "mvtu" else 0


def threshold_depth(s: Stage) -> int:
    """FINN threshold memory depth: MH/PE words per PE (0 without thresholds)."""
    return s.mh // s.pe if s.kind == "mvtu" and s.thresholds else 0


def weight_bits(s: Stage) -> int:
    return s.mw * s.mh * s.w_bits if s.kind == "mvtu" else 0


def threshold_bits(s: Stage, spec: DataflowSpec) -> int:
    return s.mh * s.thresholds * spec.acc_bits if s.kind == "mvtu" else 0


def line_buffer_bits(s: Stage) -> int:
    if s.kind not in ("swu", "pool", "upsample"):
        return 0
    bits = s.a_bits if s.kind in ("pool", "upsample") else s.out_bits
    return s.line_rows * s.win * s.in_channels * bits


def fifo_bits(s: Stage) -> int:
    """Bits of every FIFO the stage writes (several when its stream forks)."""
    return sum(int(depth) * s.item_bits for _, depth in s.out_fifos)


def _kib(bits: int) -> float:
    return bits / 8192


def stage_energy_pj(s: Stage, spec: DataflowSpec, t: Tech | None = None) -> Counter[str]:
    """Dynamic energy (pJ) of one frame through stage ``s``, by component."""
    t = t or tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    e: Counter[str] = Counter()
    acc = spec.acc_bits
    if s.kind == "mvtu":
        bitprods = s.mw * s.mh * s.vectors * s.w_bits * s.a_bits
        busy = s.busy_cycles
        counter_add(e, "xnor", bitprods * t.xnor_pj)
        counter_add(e, "popcount", bitprods * t.popcount_pj_per_bit)
        counter_add(e, "accumulate", busy * s.pe * acc * t.fa_bit_pj)
        bank_kib = _kib(weight_bits(s) // s.pe)
        lane_bits = s.w_bits if s.passes == 1 else 1
        counter_add(e, "sram_weights",
                    busy * s.pe * s.simd * lane_bits * t.sram_access_pj_per_bit(bank_kib))
        if s.thresholds:
            outs = s.mh * s.vectors
            counter_add(e, "threshold", outs * s.thresholds * acc * t.fa_bit_pj)
            tb = threshold_bits(s, spec)
            counter_add(e, "sram_thresholds",
                        outs * s.thresholds * acc * t.sram_access_pj_per_bit(_kib(tb // s.pe)))
    elif s.kind in ("swu", "pool", "upsample"):
        lb = line_buffer_bits(s)
        bits = lb // (s.line_rows * s.win)  # bits of one input pixel
        pj = t.sram_access_pj_per_bit(_kib(lb))
        counter_add(e, "line_buffer", s.hin * s.win * bits * pj)  # writes
        counter_add(e, "line_buffer", s.out_natural * s.k * s.k * bits * pj)  # window reads
        if s.kind == "pool":
            counter_add(e, "pool", s.out_natural * s.k * s.k * s.channels * s.a_bits * t.fa_bit_pj)
    elif s.kind == "threshold":
        counter_add(e, "threshold", s.out_natural * s.channels * s.thresholds * acc * t.fa_bit_pj)
    elif s.kind == "add":
        counter_add(e, "add", s.out_natural * s.channels * s.out_bits * t.fa_bit_pj)
    for _, depth in s.out_fifos:
        fb = int(depth) * s.item_bits
        counter_add(e, "fifo", 2 * s.out_items * s.item_bits * t.sram_access_pj_per_bit(_kib(fb)))
    return e


def stage_area_um2(s: Stage, spec: DataflowSpec, t: Tech | None = None) -> Counter[str]:
    """Area (um^2) of stage ``s`` by component."""
    t = t or tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    a: Counter[str] = Counter()
    acc = spec.acc_bits
    if s.kind == "mvtu":
        lane_bits = s.w_bits * s.a_bits if s.passes == 1 else 1
        counter_add(a, "mvtu_logic", t.ge_um2(s.pe * s.simd * lane_bits * (GE_XNOR2 + GE_FA)
                                              + s.pe * acc * (2 * GE_FA + GE_DFF)
                                              + s.pe * s.thresholds * acc * GE_FA))
        counter_add(a, "weight_mem", t.sram_area_um2(weight_bits(s)))
        counter_add(a, "threshold_mem", t.sram_area_um2(threshold_bits(s, spec)))
    elif s.kind in ("swu", "pool", "upsample"):
        counter_add(a, "line_buffer", t.sram_area_um2(line_buffer_bits(s)))
        if s.kind == "pool":
            counter_add(a, "pool_logic", t.ge_um2(s.channels * s.a_bits * (GE_FA + GE_DFF)))
    elif s.kind == "threshold":
        counter_add(a, "threshold_logic", t.ge_um2(s.pe * s.thresholds * acc * GE_FA))
    elif s.kind == "add":
        counter_add(a, "add_logic", t.ge_um2(s.channels * s.out_bits * GE_FA))
    for _, depth in s.out_fifos:
        counter_add(a, "fifo", t.sram_area_um2(int(depth) * s.item_bits))
    return a


def leakage_pj(area_um2: float, cycles: int, spec: DataflowSpec, t: Tech | None = None) -> float:
    """Leakage (pJ) of ``area_um2`` (square micrometres) over ``cycles`` clock cycles."""
    t = t or tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    return t.leakage_pj(area_um2 / 1e6, cycles / (spec.clock_mhz * 1e6))


def total_area_mm2(stages: list[Stage], spec: DataflowSpec) -> float:
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    return sum(sum(stage_area_um2(s, spec, t).values()) for s in stages) / 1e6
