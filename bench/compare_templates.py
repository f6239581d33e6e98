"""Same workload on a shared-array design and on a dataflow design, side by side.

    python bench/compare_templates.py                       # the shipped pairs
    python bench/compare_templates.py --pair designs/xnor32.yaml designs/finn_cnv.yaml \
        --workload workloads/cnv.json [--markdown]

Columns: frames/s (array: 1 / latency, layers run one after another;
dataflow: clock / II, frames overlap in the pipeline), first-frame latency,
energy per frame, TOPS/W, area. Both designs at the same technology node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnarch.api import simulate
from bnnarch.errors import BnnarchError
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload

DEFAULT = (
    ("workloads/sfc.json", "designs/xnor32.yaml", "designs/finn_sfc.yaml"),
    ("workloads/lfc.json", "designs/xnor32.yaml", "designs/finn_lfc.yaml"),
    ("workloads/cnv.json", "designs/xnor32.yaml", "designs/finn_cnv.yaml"),
    ("workloads/cnv.json", "designs/xnor32.yaml", "designs/finn_cnv_pynq.yaml"),
    ("workloads/digits_bnn.json", "designs/xnor32.yaml", "designs/finn_resnet_digits.yaml"),
)
HEADER = ("workload", "design", "template", "MHz", "frames/s", "latency us", "energy uJ/frame",
          "TOPS/W", "area mm2")


def row(design: str, workload: str) -> tuple[str, ...]:
    spec = load_design(ROOT / design if not Path(design).is_absolute() else design)
    g = load_workload(ROOT / workload if not Path(workload).is_absolute() else workload)
    r = simulate(spec, g)
    return (g.name, spec.name, r.template, f"{r.clock_mhz:g}", f"{r.fps:,.0f}",
            f"{r.latency_s * 1e6:,.2f}", f"{r.energy_pj / 1e6:.3f}", f"{r.tops_per_w:.1f}",
            f"{r.area_mm2:.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", nargs=2, metavar=("ARRAY", "DATAFLOW"), help="two design YAMLs")
    p.add_argument("--workload", "-w", help="workload JSON (with --pair)")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    a = p.parse_args(argv)
    if a.pair and not a.workload:
        p.error("--pair needs --workload")
    jobs = ((a.workload, *a.pair),) if a.pair else DEFAULT
    try:
        seen: set[tuple[str, str]] = set()
        rows = []
        for w, *ds in jobs:
            for d in ds:
                if (w, d) not in seen:
                    seen.add((w, d))
                    rows.append(row(d, w))
    except BnnarchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(HEADER))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="shared array vs dataflow pipeline", header_style="bold")
    for i, h in enumerate(HEADER):
        t.add_column(h, justify="left" if i < 3 else "right")
    for r in rows:
        t.add_row(*r)
    Console(width=160).print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
