"""Dataflow simulation speed: the compiled engine (bnnarch.dataflow.fast)
against the SimPy-only run of the same pipeline, in one process, CPU time
(time.process_time), results checked equal.

    .venv/bin/python bench/dataflow_speed.py           # prints, writes bench/results/dataflow_speed.json
    .venv/bin/python bench/dataflow_speed.py --full    # SimPy on every case (unet/centernet: minutes)

Cases: every shipped workload the dataflow template accepts, at batch 8 —
with its shipped design where there is one (finn_sfc, finn_lfc, finn_cnv,
finn_resnet_digits), otherwise finn_resnet_digits's settings (folded by the
pass at 2,304 cycles, i.e. each layer as fast as the pass can make it) —
and CNV at batch 1000. The engines run the designs' settings with fixed FIFO
depths (``sizing: fixed``, default depth 2, join FIFOs derived). FIFO sizing
is timed on its own (``bnnarch.dataflow.fifo_sizing.size_fifos`` on the same
stages and frames): ``fifo.sizing: auto`` (``auto_sizing_cpu_s``, its runs),
``minimal`` (``minimal_sizing_cpu_s``, its runs, whether its depths equal the
sizing before; where one run takes <= 0.5 s) against the sizing before
(``bench/fifo_sizing_before.py``, ``before_sizing_cpu_s``, where one run
takes <= 0.1 s: it costs ~FIFOs x log2(peak) runs), and ``finn`` (one run,
``finn_sizing_cpu_s``). ``sized_simulate_cpu_s``: what a user waits for,
``simulate`` with the design's own sizing (``auto`` for the shipped designs:
sizing plus the simulation, which reuses the sizing's last run).
Where SimPy is not run, the result is checked equal to the compiled run
without skipping (``fast.SKIP = False``; tested equal to SimPy on every
shipped design and random pipelines). The compiled kernel is loaded once
before timing (the first simulate, loading it from numba's cache, is reported as
``first_simulate_cpu_s``). Targets: <= 1 CPU s per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fifo_sizing_before import size_fifos_before  # noqa: E402

from bnnarch.dataflow import fast as fast_mod  # noqa: E402
from bnnarch.dataflow.fifo_sizing import size_fifos  # noqa: E402
from bnnarch.dataflow.fold import fold  # noqa: E402
from bnnarch.dataflow.plan import build_stages  # noqa: E402
from bnnarch.dataflow.simulate import simulate_dataflow  # noqa: E402
from bnnarch.dataflow.spec import DataflowSpec  # noqa: E402
from bnnarch.template import load_design  # noqa: E402
from bnnarch.workload.io import apply_precision, load_workload  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_CPU_S = 1.0
SHIPPED = {"sfc": "finn_sfc", "lfc": "finn_lfc", "cnv": "finn_cnv",
           "digits_bnn": "finn_resnet_digits"}
GENERIC = "finn_resnet_digits"
WORKLOADS = ("sfc", "lfc", "cnv", "vgg_small", "digits_bnn", "digits_det", "digits_seg",
             "resnet18", "bireal18", "bireal34", "reactnet_a", "centernet", "unet")
SIMPY_SKIPPED = ("centernet", "unet")  # minutes in SimPy: only with --full
BEFORE_MAX_RUN_S = 0.1  # the sizing before timed only where one run is at most this
MINIMAL_MAX_RUN_S = 0.5  # minimal sizing (~2 + 5 x bypass FIFOs runs) only where one run is at most this


def _cpu(fn: Any) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def _with_sizing(spec: DataflowSpec, sizing: str) -> DataflowSpec:
    return spec.model_copy(update={"fifo": spec.fifo.model_copy(update={"sizing": sizing})})


def sizing_case(spec: DataflowSpec, g: Any, fast_s: float) -> dict[str, Any]:
    """CPU s of auto / finn FIFO sizing on the design's stages, and of the
    sizing before (same depths?) where it is affordable."""
    g = apply_precision(g, {})
    stages = build_stages(spec, g, fold(spec, g).folds())
    frames = max(spec.batch, 3)
    finn, finn_s = _cpu(lambda: size_fifos(_with_sizing(spec, "finn"), stages, frames))
    auto, auto_s = _cpu(lambda: size_fifos(_with_sizing(spec, "auto"), stages, frames))
    row: dict[str, Any] = {"finn_sizing_cpu_s": finn_s, "finn_fifo_bits": sum(
        f.bits for f in finn.fifos), "auto_sizing_cpu_s": auto_s, "auto_sizing_runs": auto.runs,
        "auto_fifo_bits": sum(f.bits for f in auto.fifos)}
    if fast_s > MINIMAL_MAX_RUN_S:
        return row
    mini, mini_s = _cpu(lambda: size_fifos(_with_sizing(spec, "minimal"), stages, frames))
    depths = {f.fifo: f.depth for f in mini.fifos if f.origin == "minimal"}
    row |= {"minimal_sizing_cpu_s": mini_s, "minimal_sizing_runs": mini.runs,
            "minimal_fifo_bits": sum(f.bits for f in mini.fifos)}
    if fast_s <= BEFORE_MAX_RUN_S:
        before, before_s = _cpu(lambda: size_fifos_before(spec, stages, frames))
        row |= {"before_sizing_cpu_s": before_s, "sizing_speedup": before_s / max(mini_s, 1e-6),
                "same_depths_as_before": before == depths}
    return row


def case(workload: str, batch: int, simpy: bool) -> dict[str, Any]:
    own = load_design(ROOT / "designs" / f"{SHIPPED.get(workload, GENERIC)}.yaml")
    own = own.model_copy(update={"batch": batch})
    spec = _with_sizing(own, "fixed")
    g = load_workload(ROOT / "workloads" / f"{workload}.json")
    fast, fast_s = _cpu(lambda: simulate_dataflow(spec, g, engine="fast"))
    row: dict[str, Any] = {"workload": workload, "design": spec.name, "batch": batch,
                           "fast_cpu_s": fast_s, "meets_target": fast_s <= TARGET_CPU_S,
                           "ii_cycles": fast.ii_cycles, "latency_cycles": fast.latency_cycles}
    if simpy:
        slow, slow_s = _cpu(lambda: simulate_dataflow(spec, g, engine="simpy"))
        row |= {"simpy_cpu_s": slow_s, "speedup": slow_s / max(fast_s, 1e-6),
                "equal": slow == fast}
    else:  # SimPy takes minutes: the compiled run without skipping, itself tested equal to SimPy
        fast_mod.SKIP = False
        try:
            full, full_s = _cpu(lambda: simulate_dataflow(spec, g, engine="fast"))
        finally:
            fast_mod.SKIP = True
        row |= {"unskipped_cpu_s": full_s, "speedup_over_unskipped": full_s / max(fast_s, 1e-6),
                "equal": full == fast}
    if batch < 1000:
        sized, sized_s = _cpu(lambda: simulate_dataflow(own, g, engine="fast"))
        row |= {"sizing": own.fifo_sizing, "sized_simulate_cpu_s": sized_s,
                "sized_ii_cycles": sized.ii_cycles, "sized_latency_cycles": sized.latency_cycles}
        row |= sizing_case(spec, g, fast_s)
    return row


def _sizing_text(row: dict[str, Any]) -> str:
    out = (f"simulate ({row['sizing']}) {row['sized_simulate_cpu_s']:.2f} s; sizing: finn "
           f"{row['finn_sizing_cpu_s']:.2f} s, auto {row['auto_sizing_cpu_s']:.2f} s "
           f"({row['auto_sizing_runs']} runs)")
    if "minimal_sizing_cpu_s" in row:
        out += f", minimal {row['minimal_sizing_cpu_s']:.2f} s ({row['minimal_sizing_runs']} runs)"
    if "before_sizing_cpu_s" in row:
        out += (f", before {row['before_sizing_cpu_s']:.2f} s -> "
                f"{row['sizing_speedup']:.1f}x, same depths: {row['same_depths_as_before']}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="dataflow engine speed vs SimPy")
    p.add_argument("--full", action="store_true", help="SimPy on every case, CNV batch 1000 too")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    spec = load_design(ROOT / "designs/finn_sfc.yaml")
    # the first call loads the compiled kernel from numba's cache
    _, first_s = _cpu(lambda: simulate_dataflow(spec, load_workload(ROOT / "workloads/sfc.json")))
    rows = []
    cases = [(w, 8) for w in WORKLOADS] + [("cnv", 1000)]
    for w, batch in cases:
        simpy = args.full or (w not in SIMPY_SKIPPED and batch < 1000)
        row = case(w, batch, simpy)
        rows.append(row)
        sp = (f"SimPy {row['simpy_cpu_s']:.2f} s -> {row['speedup']:.0f}x, equal: {row['equal']}"
              if "simpy_cpu_s" in row else
              f"SimPy not run (--full); unskipped compiled {row['unskipped_cpu_s']:.2f} s -> "
              f"{row['speedup_over_unskipped']:.0f}x, equal: {row['equal']}")
        print(f"{w:<11} batch {batch:<5} fast {row['fast_cpu_s']:.3f} CPU s "
              f"({'met' if row['meets_target'] else 'MISSED'}); {sp}"
              + (f"; {_sizing_text(row)}" if "finn_sizing_cpu_s" in row else ""),
              flush=True)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "dataflow_speed.json"
        out.write_text(json.dumps({"first_simulate_cpu_s": first_s, "cases": rows},
                                  indent=1) + "\n")
        print(f"wrote {out}")
    return 0 if all(r["meets_target"] and r.get("equal", True)
                    and r.get("same_depths_as_before", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
