"""bnnarch sweep STUDY [--storage URL] [--workers N] [--report [--out DIR]]

Grid or random sweep over hardware parameters at a fixed precision, with the
same storage, resume and report as ``bnnarch explore``."""

from __future__ import annotations

import argparse

from bnnarch.commands.explore import add_common, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="grid/random sweep over hardware parameters",
                       description="Grid or random sweep over hardware parameters at a fixed "
                       "precision. Resumable: rerun the same command to continue until the "
                       "trial budget is met.")
    add_common(p)
    p.set_defaults(func=lambda a: run(a, sweep=True))
