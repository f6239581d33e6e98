"""Energy ledger and area model of the array template.

Energy = sum over actions of (count x energy per action) from the technology
table (bnnarch.tech); each component of the ledger is a named action
class. Idle PEs are assumed clock gated (no dynamic energy).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bnnarch.array.candidates import Ledger
from bnnarch.array.schedule import Schedule
from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import GemmTile, ceil_div, words
from bnnarch.result import counter_add
from bnnarch.tech import Tech, tech_for

COMPONENTS = (
    "xnor", "popcount", "accumulate", "threshold", "operand_regs", "mac_unit",
    "sram_weights", "sram_activations", "sram_outputs", "dram", "postproc", "leakage",
)



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
    counter_add(e, "postproc", elements * t.fa_bit_pj * 32)
    counter_add(e, "sram_activations", 2 * elements * data_bits * _sram_pj(spec, t, "activations"))
    counter_add(e, "dram", dram_bits * (spec.dram.energy_pj_per_bit or t.dram_pj_per_bit))
    return e


LEDGER = Ledger(operand_reads, layer_energy)
"""This ledger's prices, for the mapper's energy objective."""
