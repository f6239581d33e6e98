"""RTL verification benchmark: an 8x8 x 64-bit broadcast design
(designs/rtl_8x8.yaml) on a real layer — the first 1-bit conv layer of a
trained digits workload when one is shipped (workloads/digits_*.json, packed
weights), else CNV's conv2 (FINN CNV, 144 px x 128 filters x 576 bits).
Target: the whole check (PyRTL bit-/cycle-exact, Icarus replay, Verilator
lint, Yosys PE synthesis) in <= 60 s. Prints the time of each phase.

    .venv/bin/python bench/rtl_bench.py [--design D] [--workload W --layer L]
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from bnnarch.rtl import export
from bnnarch.rtl.array import build_array
from bnnarch.rtl.synth import area_for
from bnnarch.rtl.verify import check_layer
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload


def pick_layers(workload: str | None, layer: str | None) -> list[tuple[str, object]]:
    """(workload, layer) pairs to time: the given one, else the largest 1-bit
    layer with packed weights of a shipped digits workload (if any) and CNV's
    conv2 (2598 cycles on 8x8 x 64)."""
    if workload:
        g = load_workload(workload)
        return [(workload, g[layer] if layer else next(
            x for x in g.compute_layers() if x.is_binary))]
    picks: list[tuple[str, object]] = []
    for path in sorted(glob.glob(str(ROOT / "workloads" / "digits_*.json"))):
        real = [x for x in load_workload(path).compute_layers()
                if x.is_binary and x.packed_weights]
        if real:
            picks.append((Path(path).name, max(real, key=lambda x: x.macs)))
            break
    picks.append(("cnv.json", load_workload(ROOT / "workloads" / "cnv.json")["conv2"]))
    return picks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default=str(ROOT / "designs" / "rtl_8x8.yaml"))
    ap.add_argument("--workload")
    ap.add_argument("--layer")
    args = ap.parse_args()
    spec = load_design(args.design)
    ok = True
    for wl, layer in pick_layers(args.workload, args.layer):
        ok &= bench_one(spec, wl, layer)
    return 0 if ok else 1


def bench_one(spec, wl: str, layer) -> bool:
    times: dict[str, float] = {}
    t_all = time.monotonic()
    t = time.monotonic()
    arr = build_array(spec)
    times["build"] = time.monotonic() - t
    t = time.monotonic()
    lc = check_layer(arr, layer, np.random.default_rng(0), keep=True)
    times["pyrtl_verify"] = time.monotonic() - t
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t = time.monotonic()
        (out / "design.v").write_text(export.verilog_text(arr))
        rc = lc.whole if lc.whole and lc.whole.run else lc.tiles[0][0]
        export.write_testbench(out, "tb", arr, [(rc.prog, rc.run)], "design.v")
        times["verilog_export"] = time.monotonic() - t
        t = time.monotonic()
        diff = export.compare_icarus(arr, rc.run, export.run_icarus(out, "tb.v"))
        times["icarus"] = time.monotonic() - t
        t = time.monotonic()
        lint = export.verilator_lint(out / "design.v")
        times["verilator_lint"] = time.monotonic() - t
        t = time.monotonic()
        res, _ = area_for(spec, out / "cache.json")
        times["yosys_pe"] = time.monotonic() - t
    total = time.monotonic() - t_all
    a = spec.array
    print(f"design {spec.name}: {a.rows}x{a.cols} x {a.simd_bits} bits {a.interconnect}; "
          f"layer {layer.name} of {wl} ({lc.data} weights), gemm {layer.gemm()}")
    print(f"  rtl_cycles {lc.rtl_cycles} sim_cycles {lc.sim_cycles} ({lc.mapping}); whole layer "
          f"{lc.whole.rtl_cycles if lc.whole else None}; simulator "
          f"{lc.whole.simulator if lc.whole else lc.tiles[0][0].simulator}")
    print(f"  bit_exact {lc.bit_exact} cycle_match {lc.cycle_match} icarus "
          f"{'match' if diff is None else diff} lint {'clean' if lint.ok else 'FAILED'}")
    print(f"  area {res.area_mm2:.4f} mm^2 ({res.cells} cells, {res.ge_per_pe} GE per PE)")
    for k, v in times.items():
        print(f"  {k:<16} {v:6.2f} s")
    print(f"  {'total':<16} {total:6.2f} s  (target <= 60 s)")
    return lc.ok and diff is None and lint.ok


if __name__ == "__main__":
    sys.exit(main())
