"""Area model of the array template (mm^2 by component) and its leakage.

Area is an input, never an accident: the array's logic area comes from the
gate-equivalent model below unless the caller passes a synthesised figure
(``array_logic_mm2``; the design's ``area.source: yosys`` makes the public
``bnnarch.simulate`` synthesise one PE with Yosys, see bnnarch.rtl.synth).
Nothing here reads a cache or a file.
"""

from __future__ import annotations

from bnnarch.array.spec import ArraySpec
from bnnarch.tech import GE_DFF, GE_FA, GE_XNOR2, tech_for

# Horowitz ISSCC 2014, 45 nm areas (um^2), scaled by Tech.area_scale.
MULT8_UM2_45 = 282.0
ADD32_UM2_45 = 137.0


def pe_gate_equivalents(spec: ArraySpec) -> float:
    """Modelled gates of one PE: S XNOR2, a popcount of ~S full adders
    (Swartzlander 1973), an accumulator (acc FA + acc DFF), a threshold
    comparator (acc FA), and operand/pipeline registers (2S DFF systolic,
    S DFF broadcast tree pipeline)."""
    a = spec.array
    S, acc = a.simd_bits, a.acc_bits
    regs = 2 * S if a.interconnect == "systolic" else S
    return S * GE_XNOR2 + S * GE_FA + acc * (2 * GE_FA + GE_DFF) + regs * GE_DFF


def model_array_mm2(spec: ArraySpec) -> float:
    """Array logic area (mm^2) from the gate-equivalent model."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    return t.ge_um2(pe_gate_equivalents(spec)) * spec.array.pes / 1e6


def area_breakdown_mm2(spec: ArraySpec, array_logic_mm2: float | None = None) -> dict[str, float]:
    """Area by component (mm^2): SRAM from bitcell areas, array logic from the
    gate model (or ``array_logic_mm2`` when the caller synthesised it), MAC
    unit and post-processing from Horowitz's adder/multiplier areas."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    out: dict[str, float] = {}
    for buf in ("weights", "activations", "outputs"):
        out[f"sram_{buf}"] = t.sram_area_um2(getattr(spec.buffers, buf).capacity_bits) / 1e6
    out["array"] = model_array_mm2(spec) if array_logic_mm2 is None else array_logic_mm2
    fp = spec.full_precision
    mult = MULT8_UM2_45 * (1 if fp.bits == 8 else 4)
    out["mac_unit"] = (fp.units * (mult + ADD32_UM2_45) * t.area_scale / 1e6
                       if fp.mode == "mac_unit" else 0.0)
    pp = spec.postproc
    lanes = (pp.threshold_per_cycle + pp.pool_per_cycle + pp.add_per_cycle
             + pp.upsample_per_cycle)
    out["postproc"] = lanes * ADD32_UM2_45 * t.area_scale / 1e6
    return out


def leakage_pj(area_mm2: float, cycles: int, spec: ArraySpec) -> float:
    """Leakage (pJ) of ``area_mm2`` (square millimetres) over ``cycles`` clock cycles."""
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    return t.leakage_pj(area_mm2, cycles / (spec.clock_mhz * 1e6))
