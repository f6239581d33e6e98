"""Thin command-line interface; the only place that configures logging.

Each subcommand lives in ``bnnarch.commands.<name>`` and exposes
``register(subparsers)`` which adds its parser and sets ``func`` (args -> int).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bnnarch.errors import BnnarchError

COMMANDS = (
    "simulate",
    "validate",
    "workloads",
    "train",
    "extract",
    "rtl",
    "sweep",
    "explore",
    "studies",
    "fold",
    "import_",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bnnarch",
        description="Cycle-accurate simulator and design-space explorer for BNN accelerators.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"bnnarch.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"bnnarch.commands.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except BnnarchError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
