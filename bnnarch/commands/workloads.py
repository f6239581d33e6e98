"""bnnarch workloads: write the published-topology workloads from layer lists,
or import a SCALE-Sim topology CSV."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workloads", help="write the published-topology workload JSONs")
    p.add_argument("--out", default="workloads", help="output folder")
    p.add_argument("--from-csv", help="convert this SCALE-Sim topology CSV instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from bnnarch.fsio import check_writable
    from bnnarch.workload.builder import PUBLISHED
    from bnnarch.workload.io import load_workload, save_workload

    out = check_writable(args.out, "--out directory", directory=True)
    if args.from_csv:
        g = load_workload(args.from_csv)
        print(f"wrote {save_workload(g, out / (g.name + '.json'))}")
        return 0
    for name, build in PUBLISHED.items():
        g = build()
        print(f"wrote {save_workload(g, out / f'{name}.json')} ({len(g)} layers, {g.macs / 1e6:.1f} MMAC)")
    return 0
