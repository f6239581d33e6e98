"""What a reuse scheme does to the simulator's numbers: compute-tile cycles,
the energy ledger (savings and the scheme's own actions) and the area.

Cycles: per tile, ``drain + ceil(body x slots / plain slots)`` (work-conserving
controller, bnnarch.reuse.effect), never below ``ceil(remaining word-ops /
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
from dataclasses import replace
from fractions import Fraction
from typing import Any

from bnnarch.cost.energy import operand_reads
from bnnarch.cost.tech import GE_DFF, GE_FA, GE_XNOR2, tech_for
from bnnarch.reuse.effect import ReuseEffect, SchemeCount, geometry, pc_bits
from bnnarch.sim.mapper import Schedule
from bnnarch.sim.timing import drain_cycles
from bnnarch.spec.array import ArraySpec
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
    same counts as bnnarch.cost.energy.compute_layer_energy."""
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


def adjust_energy(layer: Layer, plain: Schedule, e: Counter[str], eff: ReuseEffect,
                  spec: ArraySpec) -> tuple[Counter[str], dict[str, Any]]:
    """The ledger with the chosen scheme's savings and costs, and the per-layer
    report (``reuse_*`` keys for LayerResult.extra; per-frame values)."""
    out: Counter[str] = Counter(e)
    extra: dict[str, Any] = {"reuse_scheme": eff.applied or "none"}
    for c in eff.counts:
        f = c.frames
        on = c.scheme == eff.applied
        extra[f"reuse_{c.scheme}_skipped_word_ops"] = c.skipped_word_ops / f if on else 0.0
        extra[f"reuse_{c.scheme}_skipped_xnor_bits"] = c.skipped_xnor_bits / f if on else 0.0
        # what the scheme would skip on this layer if it ran alone (0 if not applicable)
        extra[f"reuse_{c.scheme}_alone_word_ops"] = c.skipped_word_ops / f
        extra[f"reuse_{c.scheme}_alone_xnor_bits"] = c.skipped_xnor_bits / f
        other = ("other scheme saves more energy" if spec.reuse.policy == "energy"
                 else "other scheme has fewer slots")
        if spec.reuse.policy == "energy" and eff.applied is None and not c.reason:
            other = "costs more energy than it saves"
        extra[f"reuse_{c.scheme}_reason"] = c.reason or ("applied" if c.scheme == eff.applied
                                                         else other)
    extra["reuse_plain_word_ops"] = eff.counts[0].plain_word_ops / eff.counts[0].frames
    extra["reuse_plain_xnor_bits"] = eff.counts[0].plain_xnor_bits / eff.counts[0].frames
    w_rd, a_rd = _operand_read_bits(plain, spec)
    extra["reuse_operand_sram_bits"] = float(w_rd + a_rd)
    c = eff.chosen
    if c is None:
        extra.update(reuse_skipped_word_ops=0.0, reuse_saved_pj=0.0, reuse_overhead_pj=0.0,
                     reuse_operand_words_saved=0.0, reuse_sram_bits_saved=0.0)
        return out, extra
    keep = c.word_ops / c.plain_word_ops
    saved = 0.0
    for comp in WORD_COMPONENTS:
        d = out[comp] * (1 - keep)
        out[comp] -= d
        saved += d
    bits_saved = (w_rd + a_rd) * (1 - keep)
    for comp, bits in (("sram_weights", w_rd), ("sram_activations", a_rd)):
        d = bits * (1 - keep) * _sram_pj(spec, comp.removeprefix("sram_"))
        out[comp] -= d
        saved += d
    over = overhead_pj(layer, c, spec) / c.frames
    out["reuse"] += over
    extra.update(reuse_skipped_word_ops=c.skipped_word_ops / c.frames, reuse_saved_pj=saved,
                 reuse_overhead_pj=over, reuse_operand_words_saved=c.operand_words_saved / c.frames,
                 reuse_sram_bits_saved=bits_saved)
    return out, extra


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
