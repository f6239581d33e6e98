"""Energy ledger and area model of the array template.

Energy = sum over actions of (count x energy per action) from the technology
table (bnnarch.cost.tech); each component of the ledger is a named action
class. Idle PEs are assumed clock gated (no dynamic energy).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bnnarch.cost.tech import (
    GE_DFF,
    GE_FA,
    GE_XNOR2,
    Tech,
    tech_for,
)
from bnnarch.sim.mapper import Schedule
from bnnarch.sim.timing import GemmTile, ceil_div, words
from bnnarch.spec.array import ArraySpec

COMPONENTS = (
    "xnor", "popcount", "accumulate", "threshold", "operand_regs", "mac_unit",
    "sram_weights", "sram_activations", "sram_outputs", "dram", "postproc", "leakage",
)

# Horowitz ISSCC 2014, 45 nm areas (um^2), scaled by Tech.area_scale.
MULT8_UM2_45 = 282.0
ADD32_UM2_45 = 137.0


def _sram_pj(spec: ArraySpec, tech: Tech, buf: str) -> float:
    b = getattr(spec.buffers, buf)
    return tech.sram_access_pj_per_bit(b.capacity_kib / b.banks)


def operand_reads(gem: GemmTile, spec: ArraySpec) -> tuple[int, int, int]:
    """(weight, activation, partial-sum read-modify-write) SRAM bits of one
    tile's operand fetches on the array: each fold reads its edge operands
    once (broadcast: a weight word per row, an activation word per column)."""
    a = spec.array
    S, R, C, acc = a.simd_bits, a.rows, a.cols, a.acc_bits
    gp = gem.groups * gem.passes
    kw = words(gem.k_bits, S)
    if a.interconnect == "broadcast":
        return (gp * ceil_div(gem.m, C) * gem.n * kw * S,
                gp * ceil_div(gem.n, R) * gem.m * kw * S, 0)
    df = a.effective_dataflow
    if df == "os":
        return (gp * ceil_div(gem.m, R) * gem.n * kw * S,
                gp * ceil_div(gem.n, C) * gem.m * kw * S, 0)
    psum = gp * ceil_div(kw, R) * gem.m * gem.n * acc * 2
    if df == "ws":
        return gp * gem.n * kw * S, gp * ceil_div(gem.n, C) * gem.m * kw * S, psum
    return gp * ceil_div(gem.m, C) * gem.n * kw * S, gp * gem.m * kw * S, psum  # is


def compute_layer_energy(s: Schedule, spec: ArraySpec, dram_bits: int) -> Counter[str]:
    """Dynamic energy (pJ) of one compute layer by component."""
    word_ops = w_rd = a_rd = psum_rmw = 0
    for gem, n in s.gemms:
        word_ops += n * gem.groups * gem.passes * gem.m * gem.n * words(gem.k_bits,
                                                                        spec.array.simd_bits)
        wr, ar, pr = operand_reads(gem, spec)
        w_rd, a_rd, psum_rmw = w_rd + n * wr, a_rd + n * ar, psum_rmw + n * pr
    acc_writes = sum(n * g.groups * g.m * g.n for g, n in s.gemms)
    outs = acc_writes // s.counts[2]  # every output tile is visited once per k tile
    macs = sum(n * g.groups * g.m * g.n * g.k_bits for g, n in s.gemms)
    e = layer_energy(spec, s.engine, word_ops=word_ops, w_rd=w_rd, a_rd=a_rd,
                     psum_rmw=psum_rmw, outs=outs, acc_writes=acc_writes, macs=macs,
                     loads=s.load_bits, stores=s.store_bits, dram_bits=dram_bits,
                     held_out_bits=s.held_out_bits)
    return Counter(e)


def layer_energy(spec: ArraySpec, engine: str, *, word_ops: Any, w_rd: Any, a_rd: Any,
                 psum_rmw: Any, outs: Any, acc_writes: Any, macs: Any,
                 loads: tuple[Any, Any, Any], stores: Any, dram_bits: Any,
                 held_out_bits: Any = 0) -> dict[str, Any]:
    """Dynamic energy (pJ) by component from a layer's action counts (ints, or
    numpy arrays of them to price many candidate schedules at once): array word
    operations, operand SRAM reads, final outputs (thresholded once each),
    accumulator writes to the output buffer (one per output per k tile), MACs
    (MAC unit), DRAM->SRAM loads (weights, activations, partial sums),
    SRAM->DRAM stores, DRAM bits, final outputs written to the activation
    buffer's hold region instead of DRAM."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    a = spec.array
    S, acc = a.simd_bits, a.acc_bits
    e: dict[str, Any] = {}
    loads_w, loads_a, psum_io = loads
    if engine == "mac_unit":
        fp = spec.full_precision
        e["mac_unit"] = macs * (t.mac8_pj if fp.bits == 8 else t.mac16_pj)
        # each MAC reads one weight and one activation from its buffer (no register reuse)
        w_rd = macs * fp.bits
        a_rd = macs * fp.bits
        psum_rmw = 0
    else:
        e["xnor"] = word_ops * S * t.xnor_pj
        e["popcount"] = word_ops * S * t.popcount_pj_per_bit
        e["accumulate"] = word_ops * acc * t.fa_bit_pj
        e["threshold"] = outs * acc * t.fa_bit_pj
        regs = 2 * S if a.interconnect == "systolic" else S
        e["operand_regs"] = word_ops * regs * t.dff_pj
    e["sram_weights"] = (w_rd + loads_w) * _sram_pj(spec, t, "weights")
    e["sram_activations"] = (a_rd + loads_a + held_out_bits) * _sram_pj(spec, t, "activations")
    e["sram_outputs"] = ((psum_rmw + psum_io + stores + held_out_bits + acc_writes * acc)
                         * _sram_pj(spec, t, "outputs"))
    e["dram"] = dram_bits * (spec.dram.energy_pj_per_bit or t.dram_pj_per_bit)
    return e


def postproc_energy(elements: int, spec: ArraySpec, data_bits: int, dram_bits: int) -> Counter[str]:
    """A post-processing op: one 32-bit-add-class operation per element
    (compare/add/max; Horowitz 32b add), activations read and written once."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    e: Counter[str] = Counter()
    e["postproc"] += elements * t.fa_bit_pj * 32
    e["sram_activations"] += 2 * elements * data_bits * _sram_pj(spec, t, "activations")
    e["dram"] += dram_bits * (spec.dram.energy_pj_per_bit or t.dram_pj_per_bit)
    return e


def pe_gate_equivalents(spec: ArraySpec) -> float:
    """Modelled gates of one PE: S XNOR2, a popcount of ~S full adders
    (Swartzlander 1973), an accumulator (acc FA + acc DFF), a threshold
    comparator (acc FA), and operand/pipeline registers (2S DFF systolic,
    S DFF broadcast tree pipeline)."""
    a = spec.array
    S, acc = a.simd_bits, a.acc_bits
    regs = 2 * S if a.interconnect == "systolic" else S
    return S * GE_XNOR2 + S * GE_FA + acc * (2 * GE_FA + GE_DFF) + regs * GE_DFF


def area_breakdown_mm2(spec: ArraySpec) -> dict[str, float]:
    """Area by component (mm^2): SRAM from bitcell areas, array logic from the
    gate model (or synthesised numbers when bnnarch.rtl has cached them),
    MAC unit and post-processing from Horowitz's adder/multiplier areas."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    out: dict[str, float] = {}
    for buf in ("weights", "activations", "outputs"):
        out[f"sram_{buf}"] = t.sram_area_um2(getattr(spec.buffers, buf).capacity_bits) / 1e6
    synth = _synthesized_array_mm2(spec)
    out["array"] = synth if synth is not None else (
        t.ge_um2(pe_gate_equivalents(spec)) * spec.array.pes / 1e6)
    fp = spec.full_precision
    mult = MULT8_UM2_45 * (1 if fp.bits == 8 else 4)
    out["mac_unit"] = (fp.units * (mult + ADD32_UM2_45) * t.area_scale / 1e6
                       if fp.mode == "mac_unit" else 0.0)
    pp = spec.postproc
    lanes = (pp.threshold_per_cycle + pp.pool_per_cycle + pp.add_per_cycle
             + pp.upsample_per_cycle)
    out["postproc"] = lanes * ADD32_UM2_45 * t.area_scale / 1e6
    return out


def array_area_source(spec: ArraySpec) -> str:
    """Where the array's logic area comes from: Yosys (cached by ``bnnarch rtl``)
    or the gate-equivalent model."""
    return "yosys (rtl area cache)" if _synthesized_array_mm2(spec) is not None else "gate model"


def _synthesized_array_mm2(spec: ArraySpec) -> float | None:
    try:
        from bnnarch.rtl.synth import synthesized_area_mm2  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return synthesized_area_mm2(spec)
    except Exception:  # noqa: BLE001 - a missing/corrupt cache falls back to the model
        return None


def leakage_pj(area_mm2: float, cycles: int, spec: ArraySpec) -> float:
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    seconds = cycles / (spec.clock_mhz * 1e6)
    return area_mm2 * t.leakage_mw_per_mm2 * 1e-3 * seconds * 1e12
