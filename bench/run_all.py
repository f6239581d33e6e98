"""Run the benchmarks that need no peer install, one after another
(``make bench``). The SCALE-Sim side-by-side installs its own venv and takes
minutes of CPU per network; run it on its own:

    .venv/bin/python bench/scalesim_compare.py --array 32 --layers 4
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BENCHES = (
    ["sim_speed.py"],          # simulate ResNet-18 on 32x32 and 128x128 (target <= 0.5 CPU s)
    ["dataflow_speed.py"],     # compiled dataflow engine vs SimPy (target <= 1 CPU s per workload)
    ["dse_bench.py", "--trials", "60", "--joint-trials", "4"],  # trials/s, s per joint trial
    ["rtl_bench.py"],          # verify an 8x8 x 64-bit design on a real layer (target <= 60 s)
    ["rtl_system_bench.py"],   # system RTL on digits_bnn: per layer <= 2 min, network <= 10 min
    ["import_bench.py"],       # import a ResNet-18 QONNX (target <= 10 CPU s, <= 1 GB)
    ["compare_templates.py", "--markdown"],  # shared array vs dataflow on the same workloads
    ["make_validation.py"],    # regenerate docs/validation.md
)


def main() -> int:
    status = 0
    for args in BENCHES:
        print(f"\n=== bench/{' '.join(args)}", flush=True)
        rc = subprocess.call([sys.executable, str(ROOT / args[0]), *args[1:]], cwd=ROOT.parent)
        if rc:
            print(f"=== bench/{args[0]} exited {rc}", flush=True)
            status = rc
    return status


if __name__ == "__main__":
    sys.exit(main())
