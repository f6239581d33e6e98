"""Reuse report: per-layer table of what each enabled reuse scheme skipped and
saved (from LayerResult.extra, written by bnnarch.array.reuse.hook), and a plot of
the savings per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from bnnarch.array.reuse.effect import SCHEMES
from bnnarch.fsio import atomic_write
from bnnarch.result import LayerResult, SimResult


def reuse_rows(r: SimResult) -> list[tuple[LayerResult, dict[str, Any]]]:
    return [(lr, dict(lr.extra)) for lr in r.layers if "reuse_scheme" in dict(lr.extra)]


def has_reuse(r: SimResult) -> bool:
    return bool(reuse_rows(r))


def reuse_table(r: SimResult) -> Table:
    """One row per binary conv layer: for each enabled scheme the % of the
    layer's plain word-ops / XNOR bits it skips when run alone (``*`` = the
    scheme the layer runs with), the dynamic energy the applied scheme saves,
    its own energy, net, and why a scheme is not applicable."""
    rows = reuse_rows(r)
    schemes = [s for s in SCHEMES if any(f"reuse_{s}_reason" in x for _, x in rows)]
    t = Table(title=f"computation reuse: {r.design} on {r.workload} (per frame; "
                    "skipped % = word-ops / XNOR bits)", header_style="bold")
    t.add_column("layer")
    for s in schemes:
        t.add_column(f"{s} skipped %", justify="right")
    for col in ("saved nJ", "own nJ", "net nJ", "not applicable because"):
        t.add_column(col, justify="left" if col.startswith("not") else "right")
    tot: dict[str, float] = {}

    def add(k: str, v: float) -> None:
        tot[k] = tot.get(k, 0.0) + v

    for lr, x in rows:
        pw, pb = x["reuse_plain_word_ops"], x["reuse_plain_xnor_bits"]
        add("pw", pw)
        add("pb", pb)
        cells = []
        for s in schemes:
            w, b = x.get(f"reuse_{s}_alone_word_ops", 0.0), x.get(f"reuse_{s}_alone_xnor_bits", 0.0)
            mark = "*" if x["reuse_scheme"] == s else " "
            cells.append(f"{100 * w / pw:.1f} / {100 * b / pb:.1f}{mark}" if pw else "-")
            add(f"{s}w", x.get(f"reuse_{s}_skipped_word_ops", 0.0))
            add(f"{s}b", x.get(f"reuse_{s}_skipped_xnor_bits", 0.0))
        sv, o = x["reuse_saved_pj"], x["reuse_overhead_pj"]
        add("s", sv)
        add("o", o)
        why = "; ".join(f"{k}: {x[f'reuse_{k}_reason']}" for k in schemes
                        if x.get(f"reuse_{k}_reason", "applied") not in
                        ("applied", "other scheme has fewer slots",
                         "other scheme saves more energy"))
        t.add_row(lr.name, *cells, f"{sv / 1e3:.2f}", f"{o / 1e3:.2f}", f"{(sv - o) / 1e3:.2f}", why)
    pw, pb = tot.get("pw", 0.0), tot.get("pb", 0.0)
    t.add_row("total (as applied)",
              *[f"{100 * tot[s + 'w'] / pw:.1f} / {100 * tot[s + 'b'] / pb:.1f}" if pw else "-"
                for s in schemes],
              f"{tot.get('s', 0.0) / 1e3:.2f}", f"{tot.get('o', 0.0) / 1e3:.2f}",
              f"{(tot.get('s', 0.0) - tot.get('o', 0.0)) / 1e3:.2f}", "", style="bold")
    return t


def plot_reuse(r: SimResult, path: str | Path) -> Path:
    """Per layer: % of XNOR bits and word-ops each scheme skips when run alone
    (faded where the layer runs the other scheme; top), dynamic energy saved
    vs the applied scheme's own energy (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rows = reuse_rows(r)
    names = [lr.name for lr, _ in rows]
    x = list(range(len(rows)))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 0.4 * len(rows)), 7), sharex=True)
    colors = {"kernel_pattern": ("tab:blue", "tab:cyan"), "input_similarity": ("tab:green", "tab:olive")}
    for i, sch in enumerate(SCHEMES):
        if not any(f"reuse_{sch}_reason" in e for _, e in rows):
            continue
        on = [e["reuse_scheme"] == sch for _, e in rows]
        bits = [100 * e.get(f"reuse_{sch}_alone_xnor_bits", 0.0) / e["reuse_plain_xnor_bits"]
                for _, e in rows]
        wops = [100 * e.get(f"reuse_{sch}_alone_word_ops", 0.0) / e["reuse_plain_word_ops"]
                for _, e in rows]
        off = -0.2 + 0.4 * i
        for j, (vals, lab) in enumerate(((bits, "XNOR bits"), (wops, "word-ops"))):
            xs = [v + off + (0.1 if j else -0.1) for v in x]
            ax1.bar(xs, vals, width=0.2, color=colors[sch][j], label=f"{sch}: {lab}",
                    alpha=None)
            for xx, vv, o in zip(xs, vals, on, strict=True):
                if not o and vv:  # potential on a layer that runs the other scheme
                    ax1.bar([xx], [vv], width=0.2, color="white", alpha=0.55)
    ax1.set_ylabel("% of plain work skipped\n(faded: not the layer's scheme)")
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
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=path.suffix[1:] or "png"))
    finally:
        plt.close(fig)
