"""Technology tables: energy per action and area per unit, per process node.

Every number names its source. The anchor is Horowitz, "Computing's energy
problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V:
  int add 8b 0.03 pJ, 16b 0.05 pJ, 32b 0.1 pJ; int mult 8b 0.2 pJ, 32b 3.1 pJ;
  SRAM 64-bit access 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB);
  DRAM 1.3-2.6 nJ per 64-bit access; area: add 8b 36 um^2, 32b 137 um^2,
  mult 8b 282 um^2, 32b 3495 um^2.

Node scaling (stated first-order rule): dynamic energy ~ C V^2 with C
proportional to feature size; nominal Vdd 65 nm 1.0 V, 45/28 nm 0.9 V,
22 nm 0.8 V. Area ~ feature size squared except SRAM, which uses published
6T bitcell areas. DRAM energy does not scale with the accelerator's node.

Supply voltage (``technology.vdd_v``; default the node's nominal, which
reproduces the tables above exactly) — bnnarch.voltage holds the rules
and their sources: every on-chip dynamic energy scales with (V / Vnom)^2 (the
same C V^2 rule), leakage power with V x I_leak(V) (DIBL), and the clock is
checked against an alpha-power-law delay bound (a warning, never an error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from bnnarch.voltage import clock_warnings, leakage_scale

# --- 45 nm anchors (Horowitz ISSCC 2014) ---------------------------------
ADD32_PJ_45 = 0.1  # Horowitz 2014: 32-bit int add
ADD8_PJ_45 = 0.03  # Horowitz 2014: 8-bit int add
MULT8_PJ_45 = 0.2  # Horowitz 2014: 8-bit int mult
MULT32_PJ_45 = 3.1  # Horowitz 2014: 32-bit int mult
SRAM64_PJ_45 = ((8, 10.0), (32, 20.0), (1024, 100.0))  # Horowitz 2014: (KiB, pJ per 64-bit access)
DRAM_PJ_PER_BIT = 1300.0 / 64  # Horowitz 2014: 1.3 nJ per 64-bit DRAM access (low end of 1.3-2.6)

# Derived per-bit logic energies at 45 nm.
FA_BIT_FJ_45 = ADD32_PJ_45 * 1000 / 32  # one full-adder bit of a 32-bit ripple add: 3.125 fJ
# XNOR2 vs full adder: ~10-12 vs 28 transistors (mirror adder), Weste & Harris,
# "CMOS VLSI Design" 4th ed., ch. 11 -> taken as 0.4 FA-bit.
XNOR_FJ_45 = 0.4 * FA_BIT_FJ_45
# A popcount of n bits needs n - popcount(n) full adders (Swartzlander, "Parallel
# counters", IEEE TC 1973): ~1 FA per input bit.
POPCOUNT_FJ_PER_BIT_45 = FA_BIT_FJ_45
# D flip-flop (~24 transistors) taken as one FA-bit per write (same transistor-count rule).
DFF_FJ_45 = FA_BIT_FJ_45

# --- gate equivalents (NanGate 45 nm Open Cell Library, cell area / NAND2_X1 0.798 um^2)
NAND2_UM2_45 = 0.798  # NanGate FreePDK45 NAND2_X1
GE_XNOR2 = 2.0  # XNOR2_X1 1.596 um^2
GE_FA = 5.33  # FA_X1 4.256 um^2
GE_DFF = 5.67  # DFF_X1 4.522 um^2

# --- SRAM 6T bitcell areas (um^2) from the foundries' process papers
BITCELL_UM2 = {
    65: 0.570,  # Intel 65 nm, Bai et al., IEDM 2004
    45: 0.346,  # Intel 45 nm, Mistry et al., IEDM 2007
    28: 0.127,  # TSMC 28 nm HPM, Wu et al., IEDM 2010 (0.127 um^2 cell)
    22: 0.092,  # Intel 22 nm tri-gate, Auth et al., VLSI 2012
}
SRAM_ARRAY_EFFICIENCY = 0.7  # bitcells / macro area, typical of CACTI 6.5 outputs (50-80%)

VDD = {65: 1.0, 45: 0.9, 28: 0.9, 22: 0.8}  # nominal supply (ITRS / foundry PDK nominal)

# Leakage: a stated assumption (not a measurement), 5 mW per mm^2 of logic+SRAM,
# the order of low-standby-power 45-22 nm processes (ITRS 2013 LSTP targets).
LEAKAGE_MW_PER_MM2 = 5.0


@dataclass(frozen=True)
class Tech:
    """Per-action energies (pJ) and unit areas (um^2) at one node."""

    node_nm: int
    energy_scale: float
    area_scale: float
    xnor_pj: float  # one XNOR2 (one bit of a binary MAC)
    popcount_pj_per_bit: float  # one input bit of a popcount tree
    fa_bit_pj: float  # one full-adder bit (accumulators, comparators, shift-add)
    dff_pj: float  # one flip-flop write
    mac8_pj: float  # 8-bit integer MAC (8b mult + 32b add)
    mac16_pj: float  # 16-bit integer MAC
    dram_pj_per_bit: float
    nand2_um2: float
    bitcell_um2: float
    leakage_mw_per_mm2: float
    vdd_v: float  # the supply (V) these energies are priced at

    def sram_access_pj_per_bit(self, bank_kib: float) -> float:
        """Energy per bit of one SRAM access for a bank of ``bank_kib`` KiB:
        log-log interpolation of Horowitz's 8 KB / 32 KB / 1 MB points (per
        64-bit access), extrapolated with the 8->32 KB slope below 8 KB
        (floor 0.5 KiB), then node-scaled."""
        kib = max(0.5, bank_kib)
        pts = SRAM64_PJ_45
        if kib <= pts[1][0]:
            (c0, e0), (c1, e1) = pts[0], pts[1]
        else:
            (c0, e0), (c1, e1) = pts[1], pts[2]
        slope = math.log(e1 / e0) / math.log(c1 / c0)
        e64 = e0 * (kib / c0) ** slope
        return e64 / 64 * self.energy_scale

    def sram_area_um2(self, bits: int) -> float:
        return bits * self.bitcell_um2 / SRAM_ARRAY_EFFICIENCY

    def ge_um2(self, gate_equivalents: float) -> float:
        return gate_equivalents * self.nand2_um2

    def leakage_pj(self, area_mm2: float, seconds: float) -> float:
        """Leakage energy (pJ) of ``area_mm2`` of powered logic/SRAM over
        ``seconds`` at this node's leakage power density."""
        return area_mm2 * self.leakage_mw_per_mm2 * 1e-3 * seconds * 1e12


@cache
def tech_for(node_nm: int, vdd_v: float | None = None) -> Tech:
    """The tables of one node at supply ``vdd_v`` volts (None: the node's
    nominal VDD[node_nm], which gives exactly the unscaled tables)."""
    if node_nm not in VDD:
        raise ValueError(f"no technology table for {node_nm} nm (known: {sorted(VDD)})")
    v = VDD[node_nm] if vdd_v is None else float(vdd_v)
    # C V^2: C ~ feature size (node / 45), V relative to Horowitz's 0.9 V at 45 nm
    e = (node_nm / 45) * (v / VDD[45]) ** 2
    a = (node_nm / 45) ** 2
    fa = FA_BIT_FJ_45 * e / 1000
    return Tech(
        node_nm=node_nm,
        energy_scale=e,
        area_scale=a,
        xnor_pj=XNOR_FJ_45 * e / 1000,
        popcount_pj_per_bit=POPCOUNT_FJ_PER_BIT_45 * e / 1000,
        fa_bit_pj=fa,
        dff_pj=DFF_FJ_45 * e / 1000,
        mac8_pj=(MULT8_PJ_45 + ADD32_PJ_45) * e,
        # 16b mult interpolated between 8b and 32b (quadratic in width): 0.2*(16/8)^2=0.8 pJ
        mac16_pj=(MULT8_PJ_45 * 4 + ADD32_PJ_45) * e,
        dram_pj_per_bit=DRAM_PJ_PER_BIT,
        nand2_um2=NAND2_UM2_45 * a,
        bitcell_um2=BITCELL_UM2[node_nm],
        leakage_mw_per_mm2=LEAKAGE_MW_PER_MM2 * leakage_scale(v, VDD[node_nm]),
        vdd_v=v,
    )


def supply_warnings(node_nm: int, vdd_v: float | None, clock_mhz: float) -> tuple[str, ...]:
    """Warnings about a design's clock at its supply (bnnarch.voltage):
    empty when the clock is plausible; results carry them under ``warnings``."""
    vnom = VDD[node_nm]
    return clock_warnings(node_nm, vnom if vdd_v is None else vdd_v, vnom, clock_mhz)
