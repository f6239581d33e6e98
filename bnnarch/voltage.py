"""Supply-voltage rules of the technology model: leakage versus V and a
plausibility bound on the clock at V. Pure functions of numbers (no spec).

Dynamic energy: every on-chip per-action energy scales with (V / Vnom)^2 —
the switched-capacitance rule E = C V^2 that the node tables already use
(bnnarch.tech; Horowitz, ISSCC 2014, states his 45 nm numbers at 0.9 V).
DRAM energy does not scale: the DRAM is not on the accelerator's supply.

Leakage power: P_leak = V x I_leak (Butts & Sohi, "A static power model for
architects", MICRO 2000), and the subthreshold current rises with the drain
voltage through drain-induced barrier lowering, I_sub ~ exp(eta V_DS / (n v_T))
(Roy, Mukhopadhyay, Mahmoodi-Meimand, "Leakage current mechanisms and leakage
reduction techniques in deep-submicrometer CMOS circuits", Proc. IEEE 2003).
So P_leak(V) / P_leak(Vnom) = (V / Vnom) exp(eta (V - Vnom) / (n v_T)).
The coefficients are ASSUMED typical values, not read from a source:
eta = 0.1 V/V (DIBL), n = 1.5 (subthreshold slope factor), v_T = 25.9 mV (300 K).

Clock plausibility: gate delay follows the alpha-power law, t ~ C V / (V - Vth)^alpha
(Sakurai & Newton, "Alpha-power law MOSFET model and its applications to CMOS
inverter delay and other formulas", IEEE JSSC 25(2), 1990), alpha = 1.3
(ASSUMED, velocity-saturated short-channel devices lie between 1 and 2 in that
paper's model). The fastest plausible clock is MIN_FO4_PER_CYCLE fan-out-of-4
inverter delays per cycle: 8 FO4 is the optimal logic depth per pipeline stage
of a high-performance processor found by Hrishikesh et al., "The optimal logic
depth per pipeline stage is 6 to 8 FO4 inverter delays", ISCA 2002 — a design
clocked faster than that at its voltage is implausible. FO4 at the nominal
voltage: FO4_PS_PER_UM x drawn length (the rule of thumb of ~0.36 ns per um of
drawn gate length; ASSUMED, not read from a source here). Threshold voltages
per node are ASSUMED (VTH_V below). Below Vth + NEAR_THRESHOLD_MARGIN_V the
alpha-power law and C V^2 leave their range (near-threshold operation): the
check then warns instead of bounding the clock.
"""

from __future__ import annotations

import math

DIBL_ETA = 0.1  # ASSUMED DIBL coefficient (V/V), typical of 65-22 nm bulk devices
SUBTHRESHOLD_N = 1.5  # ASSUMED subthreshold slope factor
THERMAL_V = 0.0259  # kT/q at 300 K (volts)
ALPHA = 1.3  # ASSUMED velocity-saturation index of the alpha-power law (Sakurai & Newton 1990)
VTH_V = {65: 0.35, 45: 0.35, 28: 0.32, 22: 0.30}  # ASSUMED threshold voltages (V)
FO4_PS_PER_UM = 360.0  # ASSUMED FO4 delay per um of drawn gate length at nominal VDD
MIN_FO4_PER_CYCLE = 8  # Hrishikesh et al., ISCA 2002: optimal 6-8 FO4 per pipeline stage
NEAR_THRESHOLD_MARGIN_V = 0.1  # ASSUMED: V - Vth below this is near-threshold operation
VDD_RANGE_V = (0.3, 1.5)  # accepted technology.vdd_v (validation bounds of the spec)


def leakage_scale(vdd_v: float, vnom_v: float) -> float:
    """P_leak(vdd) / P_leak(vnom): V x exp(DIBL) (module docstring); exactly 1 at vnom."""
    return (vdd_v / vnom_v) * math.exp(DIBL_ETA * (vdd_v - vnom_v) / (SUBTHRESHOLD_N * THERMAL_V))


def delay_factor(vdd_v: float, vth_v: float) -> float:
    """Alpha-power-law gate delay up to a constant: V / (V - Vth)^alpha."""
    return vdd_v / (vdd_v - vth_v) ** ALPHA


def max_clock_mhz(node_nm: int, vdd_v: float, vnom_v: float) -> float | None:
    """Fastest plausible clock (MHz) at ``vdd_v``: MIN_FO4_PER_CYCLE FO4 delays,
    FO4 scaled from the nominal voltage by the alpha-power law. None when the
    supply is near or below threshold (the law does not apply)."""
    vth = VTH_V[node_nm]
    if vdd_v - vth < NEAR_THRESHOLD_MARGIN_V:
        return None
    fo4_ps = FO4_PS_PER_UM * node_nm / 1000 * delay_factor(vdd_v, vth) / delay_factor(vnom_v, vth)
    return 1e6 / (MIN_FO4_PER_CYCLE * fo4_ps)


def clock_warnings(node_nm: int, vdd_v: float, vnom_v: float, clock_mhz: float) -> tuple[str, ...]:
    """Warnings about the clock at this supply (empty when plausible)."""
    bound = max_clock_mhz(node_nm, vdd_v, vnom_v)
    if bound is None:
        msg = (f"technology.vdd_v {vdd_v:g} V is within {NEAR_THRESHOLD_MARGIN_V:g} V of the "
                f"assumed {VTH_V[node_nm]:g} V threshold of the {node_nm} nm table: near-threshold "
                "operation, where the alpha-power delay law (Sakurai & Newton, JSSC 1990) and the "
                f"C V^2 energy rule lose accuracy; clock_mhz {clock_mhz:g} not checked")
        return (msg,)
    if clock_mhz > bound:
        msg = (f"clock_mhz {clock_mhz:g} exceeds {bound:,.0f} MHz, the fastest plausible clock at "
                f"{vdd_v:g} V in {node_nm} nm: {MIN_FO4_PER_CYCLE} FO4 per cycle (Hrishikesh et al., "
                "ISCA 2002) with FO4 scaled to the supply by the alpha-power law (Sakurai & Newton, "
                "JSSC 1990)")
        return (msg,)
    return ()
