"""System RTL benchmark (memory system + array + DRAM model) on an 8x8 x
64-bit broadcast design (designs/rtl_8x8.yaml) and digits_bnn:

* the per-layer system check (``bnnarch rtl --system``: every array layer,
  PyRTL lockstep run, Icarus replay); target <= 2 min;
* the whole network from digits test image 0 (``--network``: the array
  layers in the system RTL, the others on the host side), replayed in a
  Verilator-built simulation; target <= 10 min.

Each phase runs the CLI in a fresh process (what a user pays, including the
FastSimulation code generation and the Verilator C++ build) and prints its
wall time, CPU time and the report's numbers.

    .venv/bin/python bench/rtl_system_bench.py [--design D] [--workload W]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> tuple[int, float, float]:
    """(exit code, wall seconds, child CPU seconds) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "bnnarch.cli", *args], env=env, check=False,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode:
        print(p.stdout[-2000:], p.stderr[-2000:])
    return p.returncode, wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default=str(ROOT / "designs" / "rtl_8x8.yaml"))
    ap.add_argument("--workload", default=str(ROOT / "workloads" / "digits_bnn.json"))
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        base = ["rtl", args.design, "--workload", args.workload, "--no-lint", "--no-synth"]
        for what, extra, target_s in (("per-layer system check", ["--system"], 120),
                                      ("network, Verilator", ["--network", "--no-icarus",
                                                              "--verilator-sim"], 600)):
            out = Path(tmp) / what.split(",")[0].replace(" ", "_")
            rc, wall, cpu = _run([*base, "--out", str(out), *extra])
            rep = json.loads((out / "report.json").read_text())["system"]
            rows = [r for r in rep.get("layers") or rep["network"]["layers"]
                    if r.get("source", "rtl") == "rtl"]
            cycles = sum(r["rtl_cycles"] or 0 for r in rows)
            fine = rc == 0 and wall <= target_s
            ok &= fine
            net = rep.get("network")
            if net:
                print(f"network from image {net['image']}: {net['layers_run']} layers in RTL, "
                      f"{net['host_layers']} on the host, simulate {net['sim_cycles']} cycles, "
                      f"local_match={net['local_match']} golden_match="
                      f"{net['golden_match']} predicted {net['predicted']} (golden "
                      f"{net['golden_predicted']})")
            print(f"{what}: {len(rows)} RTL layers, {cycles} RTL cycles, exit {rc}, "
                  f"{wall:.1f} s wall, {cpu:.1f} s CPU (target {target_s} s) "
                  f"{'ok' if fine else 'SLOW/FAILED'}; verilator build+run "
                  f"{rep['tools'].get('verilator_sim_seconds', {})}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
