"""Readable tables of simulation results (rich)."""

from __future__ import annotations

from rich.console import Console, JustifyMethod
from rich.table import Table

from bnnarch.result import SimResult


def _si(x: float, unit: str) -> str:
    for scale, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {p}{unit}"
    return f"{x:.2f} {unit}"


def layer_table(r: SimResult, max_rows: int | None = None) -> Table:
    t = Table(title=f"{r.design} on {r.workload} ({r.template}, {r.clock_mhz:g} MHz)",
              show_lines=False, header_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("layer", "left"), ("op", "left"), ("w/a", "right"), ("engine", "left"),
        ("cycles", "right"), ("compute", "right"), ("stall", "right"),
        ("util %", "right"), ("energy uJ", "right"), ("DRAM kB", "right"))
    for col, just in columns:
        t.add_column(col, justify=just)
    rows = r.layers if max_rows is None else r.layers[:max_rows]
    for lr in rows:
        wa = f"{lr.w_bits}/{lr.a_bits}" if lr.engine in ("array", "mac_unit", "mvtu") else "-"
        t.add_row(lr.name, lr.op, wa, lr.engine, f"{lr.cycles:,}", f"{lr.compute_cycles:,}",
                  f"{lr.stall_cycles:,}", f"{100 * lr.utilization:.1f}",
                  f"{lr.energy_pj / 1e6:.3f}",
                  f"{(lr.dram_read_bits + lr.dram_write_bits) / 8000:.1f}")
    return t


def totals_table(r: SimResult) -> Table:
    t = Table(title="totals", show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("total cycles", f"{r.total_cycles:,}")
    t.add_row("  compute / stall cycles", f"{r.compute_cycles:,} / {r.stall_cycles:,}")
    t.add_row("latency", f"{r.latency_s * 1e3:.4f} ms")
    t.add_row("throughput", f"{r.fps:,.1f} frames/s")
    t.add_row("energy / frame", f"{r.energy_pj / 1e6:.3f} uJ")
    t.add_row("ops / frame (2 per MAC)", _si(r.ops, "op"))
    t.add_row("efficiency", f"{r.tops_per_w:.2f} TOPS/W")
    extra = dict(r.extra)
    if "steady_state_power_mw" in extra:  # a pipeline overlaps frames
        t.add_row("average power (steady state)", f"{extra['steady_state_power_mw']:.2f} mW")
    else:
        t.add_row("average power", f"{r.energy_pj * 1e-12 / r.latency_s * 1e3:.2f} mW"
                  if r.total_cycles else "-")
    t.add_row("area", f"{r.area_mm2:.3f} mm^2")
    eb = r.energy_breakdown_pj
    tot = sum(eb.values()) or 1.0
    for k, v in sorted(eb.items(), key=lambda kv: -kv[1]):
        if v > 0:
            t.add_row(f"  energy: {k}", f"{v / 1e6:.3f} uJ ({100 * v / tot:.1f}%)")
    for k, v in r.extra:
        if k == "steady_state_power_mw":
            continue
        if isinstance(v, int | float | str):
            t.add_row(k, f"{v:,.4g}" if isinstance(v, float) else str(v))
    return t


def print_result(r: SimResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(layer_table(r))
    console.print(totals_table(r))
