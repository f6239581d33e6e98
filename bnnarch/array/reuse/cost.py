"""What a reuse scheme does to the simulator's numbers: compute-tile cycles,
the energy ledger (savings and the scheme's own actions) and the area.

Cycles: per tile, ``drain + ceil(body x slots / plain slots)`` (work-conserving
controller, bnnarch.array.reuse.effect), never below ``ceil(remaining word-ops /
PEs)`` and never above the plain tile.

Both schemes: every word-op still executed passes its S operand bits through
the compaction front end (S mux2 per PE, energy and area charged as XNOR2-class
gates / NanGate MUX2_X1).

Energy (per frame = counts / frames), savings: the ledger's XNOR, popcount,
accumulate and operand-register energy and the array's operand reads from
the weight / activation SRAMs scale by word-ops / plain word-ops (each
skipped word-op fetches neither operand). Costs (ledger component
``reuse``), each a stated assumption built on the technology table:

* kernel_pattern — per share read: ``pc_bits`` read from the shared-result
  buffer (SRAM of ``share_entries x pc_bits`` per column, Horowitz-scaled
  per-bit energy) + a ``pc_bits``-wide add (full-adder bits); per share write:
  ``pc_bits`` written; the duplicate map (``ceil(log2 N_group) + 1`` bits:
  representative filter + sign per shared slice) is streamed with the
  compacted weights, read from the weight SRAM once per pixel fold (i.e.
  share reads / pixel lanes).
* input_similarity — per compared window: K XOR gates (charged as XNOR2),
  K flip-flop writes (previous-window register), K compaction-mux bits
  (charged as XNOR2-class gates) and a K-input popcount of the diff mask
  (~1 full adder per input, Swartzlander 1973); per derived dot product: the
  previous accumulator read (``acc_bits`` flip-flops) and a correction add
  (``acc_bits`` full-adder bits).

Area (component ``reuse``): kernel_pattern — per PE a ``share_ports``-input
adder of ``pc_bits`` values (``share_ports x (pc_bits + log2 ports)`` full
adders; pc_bits for 3x3 kernels = 4) plus per pixel lane a shared-result SRAM;
input_similarity — per pixel lane ``window_bits`` flip-flops + XOR2 + mux2
(NanGate MUX2_X1 ~ 2.33 GE) + a full adder (mask popcount), per PE an
``acc_bits`` register and adder.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from bnnarch.array.energy import operand_reads
from bnnarch.array.reuse.effect import ReuseEffect, SchemeCount, geometry, pc_bits
from bnnarch.array.schedule import Schedule
from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import drain_cycles
from bnnarch.result import counter_add
from bnnarch.tech import GE_DFF, GE_FA, GE_XNOR2, tech_for
from bnnarch.workload.layer import Layer

GE_MUX2 = 2.33  # NanGate 45 nm MUX2_X1 1.862 um^2 / NAND2_X1 0.798 um^2
PC_BITS_DESIGN = 4  # share adders sized for 3x3 kernels (popcount 0..9)
WORD_COMPONENTS = ("xnor", "popcount", "accumulate", "operand_regs")


def pixel_lanes(spec: ArraySpec) -> int:
    """PE columns (broadcast, systolic ws/is) or rows (systolic os) that hold
    one output pixel each: the lanes a weight word is shared across."""
    a = spec.array
    if a.interconnect == "systolic" and a.effective_dataflow == "os":
        return a.rows
    return a.cols


def scale_schedule(s: Schedule, eff: ReuseEffect, spec: ArraySpec) -> Schedule:
    """The schedule with every tile's compute cycles scaled by slots / plain slots."""
    c = eff.chosen
    if c is None or s.engine != "array" or c.plain_slots == 0:
        return s
    ratio = Fraction(c.slots, c.plain_slots)
    a = spec.array
    drain = drain_cycles(a.simd_bits, a.interconnect)
    tiles = []
    for t in s.tiles:
        if t.compute_cycles <= drain:
            tiles.append(t)
            continue
        body = t.compute_cycles - drain
        tiles.append(replace(t, compute_cycles=drain + math.ceil(body * ratio)))
    return Schedule.of_tiles(s, tuple(tiles))


def _operand_read_bits(s: Schedule, spec: ArraySpec) -> tuple[int, int]:
    """(weight, activation) SRAM bits the array's operand fetches read — the
    same counts as bnnarch.array.energy.compute_layer_energy."""
    w_rd = a_rd = 0
    for gem, n in s.gemms:
        wr, ar, _ = operand_reads(gem, spec)
        w_rd, a_rd = w_rd + n * wr, a_rd + n * ar
    return w_rd, a_rd


def _sram_pj(spec: ArraySpec, buf: str) -> float:
    b = getattr(spec.buffers, buf)
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    return t.sram_access_pj_per_bit(b.capacity_kib / b.banks)


def share_buffer_kib(spec: ArraySpec) -> float:
    return spec.reuse.kernel_pattern.share_entries * PC_BITS_DESIGN / 8192


def overhead_pj(layer: Layer, c: SchemeCount, spec: ArraySpec) -> float:
    """Dynamic energy of the scheme's own actions over ``c.frames`` frames."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    acc = spec.array.acc_bits
    # operand gather: every word-op still executed passes S bits through the
    # compaction muxes (mux2 charged as an XNOR2-class gate)
    gather = c.word_ops * spec.array.simd_bits * t.xnor_pj
    if c.scheme == "kernel_pattern":
        _, taps, _, _, _, _ = geometry(layer, spec)
        pcb = pc_bits(taps)
        sh = t.sram_access_pj_per_bit(share_buffer_kib(spec))
        ng = layer.out_shape[0] // layer.groups
        idx_bits = max(1, math.ceil(math.log2(ng))) + 1
        return (gather + c.share_reads * pcb * (sh + t.fa_bit_pj) + c.share_writes * pcb * sh
                + c.share_reads / pixel_lanes(spec) * idx_bits * _sram_pj(spec, "weights"))
    return (gather + c.compare_bits * (2 * t.xnor_pj + t.dff_pj + t.popcount_pj_per_bit)
            + c.acc_reads * acc * (t.dff_pj + t.fa_bit_pj))


@dataclass(frozen=True)
class SchemeReport:
    """One scheme on one layer, per frame."""

    scheme: str
    skipped_word_ops: float  # 0 unless this scheme ran
    skipped_xnor_bits: float
    alone_word_ops: float  # what it would skip running alone (0 if not applicable)
    alone_xnor_bits: float
    reason: str  # "applied", why not applicable, or why the other one ran


@dataclass(frozen=True)
class ReuseReport:
    """What computation reuse did on one layer (per-frame values)."""

    scheme: str  # the scheme that ran, or "none"
    schemes: tuple[SchemeReport, ...]
    plain_word_ops: float
    plain_xnor_bits: float
    operand_sram_bits: float  # operand bits the array reads without reuse
    executed_fraction: float  # word-ops executed / plain word-ops
    skipped_word_ops: float = 0.0
    saved_pj: float = 0.0  # dynamic energy the skipped work would have cost
    overhead_pj: float = 0.0  # the scheme's own energy
    operand_words_saved: float = 0.0
    sram_bits_saved: float = 0.0

    def as_fields(self) -> tuple[tuple[str, Any], ...]:
        """The ``reuse_*`` keys of a layer's JSON row."""
        out: dict[str, Any] = {"reuse_scheme": self.scheme}
        for c in self.schemes:
            out[f"reuse_{c.scheme}_skipped_word_ops"] = c.skipped_word_ops
            out[f"reuse_{c.scheme}_skipped_xnor_bits"] = c.skipped_xnor_bits
            out[f"reuse_{c.scheme}_alone_word_ops"] = c.alone_word_ops
            out[f"reuse_{c.scheme}_alone_xnor_bits"] = c.alone_xnor_bits
            out[f"reuse_{c.scheme}_reason"] = c.reason
        out.update(reuse_plain_word_ops=self.plain_word_ops,
                   reuse_plain_xnor_bits=self.plain_xnor_bits,
                   reuse_operand_sram_bits=self.operand_sram_bits,
                   reuse_skipped_word_ops=self.skipped_word_ops, reuse_saved_pj=self.saved_pj,
                   reuse_overhead_pj=self.overhead_pj,
                   reuse_operand_words_saved=self.operand_words_saved,
                   reuse_sram_bits_saved=self.sram_bits_saved)
        return tuple(sorted(out.items()))


def _scheme_reports(eff: ReuseEffect, spec: ArraySpec) -> tuple[SchemeReport, ...]:
    out = []
    for c in eff.counts:
        f = c.frames
        on = c.scheme == eff.applied
        other = ("other scheme saves more energy" if spec.reuse.policy == "energy"
                 else "other scheme has fewer slots")
        if spec.reuse.policy == "energy" and eff.applied is None and not c.reason:
            other = "costs more energy than it saves"
        out.append(SchemeReport(
            c.scheme, c.skipped_word_ops / f if on else 0.0,
            c.skipped_xnor_bits / f if on else 0.0, c.skipped_word_ops / f,
            c.skipped_xnor_bits / f, c.reason or ("applied" if on else other)))
    return tuple(out)


def adjust_energy(layer: Layer, plain: Schedule, e: Counter[str], eff: ReuseEffect,
                  spec: ArraySpec) -> tuple[Counter[str], ReuseReport]:
    """The ledger with the chosen scheme's savings and costs, and the per-layer
    report (per-frame values)."""
    out: Counter[str] = Counter(e)
    w_rd, a_rd = _operand_read_bits(plain, spec)
    c0 = eff.counts[0]
    c = eff.chosen
    report = ReuseReport(
        scheme=eff.applied or "none", schemes=_scheme_reports(eff, spec),
        plain_word_ops=c0.plain_word_ops / c0.frames,
        plain_xnor_bits=c0.plain_xnor_bits / c0.frames, operand_sram_bits=float(w_rd + a_rd),
        executed_fraction=c.word_ops / c.plain_word_ops if c and c.plain_word_ops else 1.0)
    if c is None:
        return out, report
    keep = c.word_ops / c.plain_word_ops
    saved = 0.0
    for comp in WORD_COMPONENTS:
        d = out[comp] * (1 - keep)
        counter_add(out, comp, -d)
        saved += d
    bits_saved = (w_rd + a_rd) * (1 - keep)
    for comp, bits in (("sram_weights", w_rd), ("sram_activations", a_rd)):
        d = bits * (1 - keep) * _sram_pj(spec, comp.removeprefix("sram_"))
        counter_add(out, comp, -d)
        saved += d
    over = overhead_pj(layer, c, spec) / c.frames
    counter_add(out, "reuse", over)
    return out, replace(report, skipped_word_ops=c.skipped_word_ops / c.frames, saved_pj=saved,
                        overhead_pj=over, operand_words_saved=c.operand_words_saved / c.frames,
                        sram_bits_saved=bits_saved)


def reuse_area_mm2(spec: ArraySpec) -> float:
    """Area of the enabled schemes' hardware (0 when none is enabled)."""
    r = spec.reuse
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    a = spec.array
    lanes = pixel_lanes(spec)
    ge = 0.0
    sram_bits = 0
    if r.any_enabled:  # per PE an S-bit operand gather mux (the compaction front end)
        ge += a.pes * a.simd_bits * GE_MUX2
    if r.kernel_pattern.enabled:
        p = r.kernel_pattern.share_ports
        ge += a.pes * p * (PC_BITS_DESIGN + max(0, math.ceil(math.log2(p)))) * GE_FA
        sram_bits += lanes * r.kernel_pattern.share_entries * PC_BITS_DESIGN
    if r.input_similarity.enabled:
        wb = r.input_similarity.window_bits
        ge += lanes * wb * (GE_DFF + GE_XNOR2 + GE_MUX2 + GE_FA)
        ge += a.pes * a.acc_bits * (GE_DFF + GE_FA)
    return (t.ge_um2(ge) + t.sram_area_um2(sram_bits)) / 1e6
