"""Reuse report: per-layer table of what each enabled reuse scheme skipped and
saved (from LayerResult.extra, written by bnnarch.reuse.hook), and a plot of
the savings per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from bnnarch.reuse.effect import SCHEMES
from bnnarch.sim.result import LayerResult, SimResult


def reuse_rows(r: SimResult) -> list[tuple[LayerResult, dict[str, Any]]]:
    return [(lr, dict(lr.extra)) for lr in r.layers if "reuse_scheme" in dict(lr.extra)]


def has_reuse(r: SimResult) -> bool:
    return bool(reuse_rows(r))


def reuse_table(r: SimResult) -> Table:
    """One row per binary conv layer: scheme applied, word-ops and XNOR bits
    skipped (% of the layer's plain work), energy saved, the scheme's own
    energy, net, and why a scheme was not applied."""
    t = Table(title=f"computation reuse: {r.design} on {r.workload} (per frame)",
              header_style="bold")
    for col, just in (("layer", "left"), ("scheme", "left"), ("word-ops skipped %", "right"),
                      ("XNOR bits skipped %", "right"), ("saved nJ", "right"),
                      ("own nJ", "right"), ("net nJ", "right"), ("not applied because", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    tot = {"w": 0.0, "pw": 0.0, "b": 0.0, "pb": 0.0, "s": 0.0, "o": 0.0}
    for lr, x in reuse_rows(r):
        pw, pb = x["reuse_plain_word_ops"], x["reuse_plain_xnor_bits"]
        sch = x["reuse_scheme"]
        w = x["reuse_skipped_word_ops"]
        b = x.get(f"reuse_{sch}_skipped_xnor_bits", 0.0)
        s, o = x["reuse_saved_pj"], x["reuse_overhead_pj"]
        why = "; ".join(f"{k}: {x[f'reuse_{k}_reason']}" for k in SCHEMES
                        if f"reuse_{k}_reason" in x and x[f"reuse_{k}_reason"] not in
                        ("applied", "other scheme has fewer slots"))
        t.add_row(lr.name, sch, f"{100 * w / pw:.1f}" if pw else "-",
                  f"{100 * b / pb:.1f}" if pb else "-", f"{s / 1e3:.2f}", f"{o / 1e3:.2f}",
                  f"{(s - o) / 1e3:.2f}", why)
        for k, v in (("w", w), ("pw", pw), ("b", b), ("pb", pb), ("s", s), ("o", o)):
            tot[k] += v
    t.add_row("total", "", f"{100 * tot['w'] / tot['pw']:.1f}" if tot["pw"] else "-",
              f"{100 * tot['b'] / tot['pb']:.1f}" if tot["pb"] else "-", f"{tot['s'] / 1e3:.2f}",
              f"{tot['o'] / 1e3:.2f}", f"{(tot['s'] - tot['o']) / 1e3:.2f}", "", style="bold")
    return t


def plot_reuse(r: SimResult, path: str | Path) -> Path:
    """Per layer: % of XNOR bits and word-ops skipped (top), dynamic energy
    saved vs the schemes' own energy (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rows = reuse_rows(r)
    names = [lr.name for lr, _ in rows]
    x = list(range(len(rows)))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 0.4 * len(rows)), 7), sharex=True)
    for i, sch in enumerate(SCHEMES):
        bits = [100 * e.get(f"reuse_{sch}_skipped_xnor_bits", 0.0) / e["reuse_plain_xnor_bits"]
                for _, e in rows]
        wops = [100 * e.get(f"reuse_{sch}_skipped_word_ops", 0.0) / e["reuse_plain_word_ops"]
                for _, e in rows]
        if not any(bits):
            continue
        off = -0.2 + 0.4 * i
        ax1.bar([v + off - 0.1 for v in x], bits, width=0.2, label=f"{sch}: XNOR bits")
        ax1.bar([v + off + 0.1 for v in x], wops, width=0.2, label=f"{sch}: word-ops")
    ax1.set_ylabel("% of plain work skipped")
    ax1.set_title(f"computation reuse: {r.design} on {r.workload}")
    ax1.legend(fontsize=7)
    ax2.bar([v - 0.2 for v in x], [e["reuse_saved_pj"] / 1e3 for _, e in rows], width=0.4,
            label="dynamic energy saved")
    ax2.bar([v + 0.2 for v in x], [e["reuse_overhead_pj"] / 1e3 for _, e in rows], width=0.4,
            label="reuse hardware's own energy")
    ax2.set_ylabel("nJ / frame")
    ax2.set_xticks(x)
    ax2.set_xticklabels(names, rotation=90, fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
