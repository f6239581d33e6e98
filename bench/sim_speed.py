"""Simulation speed: the shipped ResNet-18 workload on a 32x32 and a 128x128
design, each in a fresh child process (cold caches), measured like the peer in
bench/scalesim_compare.py (os.wait4: user+sys CPU seconds, max RSS).

    .venv/bin/python bench/sim_speed.py            # prints, writes bench/results/sim_speed.json

Target: <= 0.5 CPU s to simulate the whole network. When
bench/results/scalesim.json holds a whole-network SCALE-Sim run of the same
array size, the ratio against it is printed too (SCALE-Sim models only the
systolic compute of the conv layers; we simulate every layer, buffers, DRAM
and energy, so the ratio understates the work per second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CASES = (("xnor32", 32), ("systolic128_os", 128))
TARGET_CPU_S = 0.5


def child(design: str, workload: str, repeats: int) -> int:
    """Child mode: import, load, simulate; print JSON with the in-process times."""
    t0 = time.process_time()
    sys.path.insert(0, str(ROOT))
    from bnnarch.array.simulate import clear_caches, simulate
    from bnnarch.template import load_design
    from bnnarch.workload.io import load_workload

    spec = load_design(ROOT / "designs" / f"{design}.yaml")
    graph = load_workload(ROOT / workload)
    t1 = time.process_time()
    res = simulate(spec, graph)
    t2 = time.process_time()
    warm = []
    for _ in range(repeats):
        clear_caches()
        a = time.process_time()
        simulate(spec, graph)
        warm.append(time.process_time() - a)
    print(json.dumps({"import_load_cpu_s": t1 - t0, "simulate_cpu_s": t2 - t1,
                      "simulate_cpu_s_repeats": warm, "total_cycles": res.total_cycles,
                      "layers": len(res.layers)}))
    return 0


def measure(design: str, workload: str, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", design, "--workload",
           workload, "--repeats", str(repeats)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read() if p.stdout else ""
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{design}: child failed")
    d = json.loads(out.strip().splitlines()[-1])
    d.update({"design": design, "process_cpu_s": ru.ru_utime + ru.ru_stime,
              "peak_rss_mb": ru.ru_maxrss / 1024})
    return d


def scalesim_whole_net(array: int) -> dict[str, Any] | None:
    path = RESULTS / "scalesim.json"
    if not path.exists():
        return None
    runs = [r for r in json.loads(path.read_text())["runs"]
            if r["workload"] == "resnet18" and r["array"] == [array, array] and r["complete"]]
    return min(runs, key=lambda r: r["dataflow"] != "os") if runs else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bnnarch simulation speed on ResNet-18")
    p.add_argument("--workload", default="workloads/resnet18.json")
    p.add_argument("--repeats", type=int, default=3, help="cold-cache re-runs in the child")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.workload, args.repeats)
    rows = []
    for design, array in CASES:
        m = measure(design, args.workload, args.repeats)
        best = min([m["simulate_cpu_s"], *m["simulate_cpu_s_repeats"]])
        m.update({"array": array, "best_simulate_cpu_s": best,
                  "meets_target": m["simulate_cpu_s"] <= TARGET_CPU_S})
        ss = scalesim_whole_net(array)
        if ss:
            s = ss["speed"]["scalesim"]
            m["scalesim"] = {"dataflow": ss["dataflow"], "cpu_s": s["cpu_s"],
                             "peak_rss_mb": s["peak_rss_mb"], "measured_at": ss["measured_at"]}
            m["cpu_ratio_vs_scalesim"] = s["cpu_s"] / m["process_cpu_s"]
            m["rss_ratio_vs_scalesim"] = s["peak_rss_mb"] / m["peak_rss_mb"]
        rows.append(m)
        print(f"{design:<16} {array}x{array}: simulate {m['simulate_cpu_s']:.3f} CPU s cold "
              f"(best of repeats {best:.3f}; target <= {TARGET_CPU_S} s: "
              f"{'met' if m['meets_target'] else 'MISSED'}), whole process "
              f"{m['process_cpu_s']:.2f} CPU s, peak RSS {m['peak_rss_mb']:.0f} MB, "
              f"{m['layers']} layers, {m['total_cycles']:,} cycles")
        if ss:
            print(f"{'':<16} SCALE-Sim {array}x{array} {ss['dataflow']} whole ResNet-18 (conv "
                  f"layers only): {m['scalesim']['cpu_s']:.1f} CPU s, "
                  f"{m['scalesim']['peak_rss_mb']:.0f} MB -> {m['cpu_ratio_vs_scalesim']:.0f}x "
                  f"less CPU, {m['rss_ratio_vs_scalesim']:.0f}x less memory (whole processes)")
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "sim_speed.json"
        out.write_text(json.dumps({"workload": args.workload, "cases": rows}, indent=1) + "\n")
        print(f"wrote {out}")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
