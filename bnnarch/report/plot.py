"""Per-layer plot: cycles split compute/stall, energy by component."""

from __future__ import annotations

from pathlib import Path

from bnnarch.fsio import atomic_write
from bnnarch.result import SimResult


def plot_result(r: SimResult, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    layers = [lr for lr in r.layers if lr.cycles > 0]
    names = [lr.name for lr in layers]
    x = range(len(layers))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 0.35 * len(layers)), 8), sharex=True)
    comp = [lr.compute_cycles for lr in layers]
    stall = [lr.stall_cycles for lr in layers]
    ax1.bar(x, comp, label="compute")
    ax1.bar(x, stall, bottom=comp, label="stall")
    ax1.set_ylabel("cycles")
    ax1.set_title(f"{r.design} on {r.workload}")
    ax1.legend()
    comps = sorted({k for lr in layers for k, _ in lr.energy_breakdown_pj})
    bottom = [0.0] * len(layers)
    for c in comps:
        vals = [dict(lr.energy_breakdown_pj).get(c, 0.0) / 1e6 for lr in layers]
        if sum(vals) == 0:
            continue
        ax2.bar(x, vals, bottom=bottom, label=c)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax2.set_ylabel("energy (uJ)")
    ax2.set_xticks(list(x))
    ax2.set_xticklabels(names, rotation=90, fontsize=7)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=path.suffix[1:] or "png"))
    finally:
        plt.close(fig)
