"""Record totals and per-layer cycles/energy of every shipped design x workload
(model area) into tests/data/numbers_before_redesign.json, the reference
tests/test_numbers_unchanged.py holds the simulator to.

    python bench/record_numbers.py                 # every pair (~3 CPU min)
    python bench/record_numbers.py --only digits_seg.json   # re-record one workload's rows

Re-record only after a deliberate change of the model or of a shipped file, and
say which in the commit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnarch.api import simulate  # noqa: E402
from bnnarch.errors import BnnarchError  # noqa: E402
from bnnarch.template import load_design  # noqa: E402
from bnnarch.workload.io import load_workload  # noqa: E402

OUT = ROOT / "tests" / "data" / "numbers_before_redesign.json"
# dataflow pipelines on these simulate pixel by pixel for minutes
SKIP_DATAFLOW = {"unet.json", "centernet.json", "digits_seg.json", "reactnet_a.json",
                 "bireal34.json"}


def record(design: Path, workload: Path) -> dict:
    spec = load_design(design)
    if spec.template == "dataflow" and workload.name in SKIP_DATAFLOW:  # type: ignore[attr-defined]
        return {}
    try:
        d = simulate(spec, load_workload(workload)).to_dict()
    except BnnarchError as e:
        return {"error": type(e).__name__}
    return {"total_cycles": d["total_cycles"], "energy_pj": d["energy_pj"],
            "area_mm2": d["area_mm2"], "layer_cycles": [r["cycles"] for r in d["layers"]],
            "layer_energy_pj": [r["energy_pj"] for r in d["layers"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[],
                    help="re-record the rows of these workload or design file names only")
    args = ap.parse_args()
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    out = dict(old)
    for d in sorted((ROOT / "designs").glob("*.yaml")):
        for w in sorted((ROOT / "workloads").glob("*.json")):
            key = f"{d.name}|{w.name}"
            if args.only and not {d.name, w.name} & set(args.only):
                continue
            row = record(d, w)
            if row:
                out[key] = row
                print(key, row.get("total_cycles", row.get("error")), flush=True)
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
