"""bnnarch sweep STUDY [--storage URL] [--workers N] [--report [--out DIR]]

Grid or random sweep over hardware parameters at a fixed precision, with the
same storage, resume and report as ``bnnarch explore``."""

from __future__ import annotations

import argparse

from bnnarch.commands.explore import EXAMPLES, add_common, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="grid/random sweep over hardware parameters",
                       description="Grid or random sweep over hardware parameters at a fixed "
                       "precision. Resumable: rerun the same command to continue until the "
                       "trial budget is met.",
                       epilog=EXAMPLES.format(cmd="sweep").replace("ci_tiny", "resnet18_hw_grid"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.set_defaults(func=lambda a: run(a, sweep=True))
