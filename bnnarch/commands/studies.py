"""bnnarch studies [STORAGE | STUDY.yaml] [--storage URL] [--json]

List the studies of an Optuna storage with their trial counts and fronts."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studies", help="list the studies of a storage",
                       description="List every study of an Optuna storage: trials per state, "
                       "budget, objectives and the size of the feasible Pareto front. Works "
                       "on any Optuna storage, not only bnnarch's.",
                       epilog="examples:\n"
                       "  bnnarch studies explore/runs/ci_tiny.db\n"
                       "  bnnarch studies explore/ci_tiny.yaml         (the study file's storage)\n"
                       "  bnnarch studies --storage postgresql://user:pw@host/db --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("where", nargs="?", help="an SQLite file, a storage URL, or a study YAML "
                   "(its storage)")
    p.add_argument("--storage", help="storage URL or path (same as WHERE)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bnnarch.dse import get_storage, list_studies, load_study_spec, studies_table
    from bnnarch.errors import StudyError

    where = args.storage or args.where
    if where is None:
        raise StudyError("name a storage: bnnarch studies runs/x.db (or --storage URL)")
    if where.endswith((".yaml", ".yml")):
        spec = load_study_spec(where)
        if spec.storage is None and not spec.default_storage_path.exists():
            raise StudyError(f"{spec.default_storage_path} does not exist: no study run yet")
        storage = get_storage(spec.storage, default_path=spec.default_storage_path)
    else:
        if "://" not in where and not Path(where).exists():
            raise StudyError(f"no such storage file: {where}")
        storage = get_storage(where)
    rows = list_studies(storage)
    print(json.dumps(rows, indent=1) if args.json else studies_table(rows))
    return 0
