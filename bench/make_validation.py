"""Generate docs/validation.md: every fidelity check with the command that
reproduces it, the numbers, the difference and the explanation.

    .venv/bin/python bench/make_validation.py          # writes docs/validation.md

Runs the checks that need no peer (bench/validation_checks.py, the same ones
tests/fidelity asserts), the silicon comparison (bench/silicon.py) and
bench/sim_speed.py, and includes the SCALE-Sim
side-by-side results recorded by bench/scalesim_compare.py in
bench/results/scalesim.json when that file exists. Never edit the output by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import silicon
import sim_speed
import validation_checks as vc
from scalesim_compare import COUNT_VS_INDEX, OS_NOTE
from validation_finn import finn_checks

OUT = ROOT / "docs" / "validation.md"
SCALESIM_JSON = ROOT / "bench" / "results" / "scalesim.json"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v).replace("|", "\\|")


def table(columns: tuple[str, ...] | list[str], rows: Any) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]
    return out


def _git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def scalesim_section() -> tuple[list[str], list[tuple[str, str, str, str]]]:
    lines = ["## SCALE-Sim 3.0.0 side by side", "",
             "**Kind:** validation — expected values from SCALE-Sim 3.0.0 run on the same layers.",
             ""]
    summary: list[tuple[str, str, str, str]] = []
    if not SCALESIM_JSON.exists():
        lines += [("No results yet: run `nice -n 19 .venv/bin/python bench/scalesim_compare.py "
                  "--array 32 --layers 4` (installs SCALE-Sim in bench/.venv-scalesim), then "
                  "re-run this script."), ""]
        return lines, summary
    data = json.loads(SCALESIM_JSON.read_text())
    lines += [
        (f"Peer: {data['peer']}. Recorded by `{data['script']}` in "
        "`bench/results/scalesim.json` (this page only renders it)."),
        "",
        ("Configuration on both sides: the conv layers of the workload, all at 1/1 bits; "
        "SCALE-Sim gets its topology CSV from `bnnarch.workload.scalesim` (padded IFMAPs "
        "trimmed to the rows the windows read, so its `ceil((H - Fh + S) / S)` gives our "
        "output size), a R x C array with the same dataflow, CALC (bandwidth-estimating) "
        "mode and 64 MiB SRAMs: no memory stalls. bnnarch gets the equivalent design built in "
        "code: systolic R x C, `simd_bits: 1` (one 1-bit MAC-equivalent per PE per cycle, "
        "SCALE-Sim's PE), buffers holding each layer as one tile, DRAM not limiting. Compared: "
        "compute cycles per layer (SCALE-Sim's 'Total Cycles', its stall cycles were 0 "
        "throughout; our `compute_cycles`)."),
        "",
        "Every difference is explained:",
        "",
        f"* **+1 per layer** — {COUNT_VS_INDEX}.",
        f"* **OS fill/drain convention** — {OS_NOTE}",
        ("* **Mapping** — both map M = output pixels, N = filters, K = kh x kw x cin the same "
        "way (OS: rows <- M, cols <- N; WS: rows <- K, cols <- N; IS: rows <- K, cols <- M), "
        "so no layer differs by more than the convention above."),
        ("* **Speed** — both sides run as child processes measured with `os.wait4` (user + "
        "sys CPU, max RSS) in the same run; our process includes Python start-up and imports "
        "(most of its time). SCALE-Sim also writes its traces (GBs) whatever `-s` says."),
        "",
    ]
    for r in data["runs"]:
        rows_, cols_ = r["array"]
        cmd = (f"nice -n 19 .venv/bin/python bench/scalesim_compare.py --array "
               f"{rows_ if rows_ == cols_ else f'{rows_}x{cols_}'} --dataflows {r['dataflow']}"
               + ("" if r["complete"] else f" --layers {r['n_layers']}")
               + ("" if r["workload"] == "resnet18" else f" --workloads workloads/{r['workload']}"
                  ".json"))
        t, s = r["totals"], r["speed"]
        scope = "whole network" if r["complete"] else f"first {r['n_layers']} conv layers"
        title = f"{r['workload']}, {rows_}x{cols_}, {r['dataflow'].upper()}, {scope}"
        lines += [f"### {title}", "", f"Command: `{cmd}` (measured {r['measured_at']})", ""]
        lines += table(("layer", "M", "N", "K", "folds", "bnnarch", "SCALE-Sim", "diff",
                        "explanation"),
                       [(x["name"], x["M"], x["N"], x["K"], x["folds"],
                         x["ours_compute_cycles"], x["scalesim_cycles"], x["diff"],
                         x["explanation"]) for x in r["layers"]])
        lines += ["", (f"Total: bnnarch {t['ours_compute_cycles']:,} vs SCALE-Sim "
                  f"{t['scalesim_cycles']:,} cycles, difference {t['diff']:+,} "
                  f"({'all explained' if t['all_explained'] else 'NOT all explained'})."), ""]
        if r["dataflow"] == "os":
            paper = sum(x["paper_os"] for x in r["layers"])
            lines += [(f"Under the SCALE-Sim paper's OS formula (2R + C + T - 2 per fold) the "
                      f"same layers would take {paper:,} cycles "
                      f"({paper / t['ours_compute_cycles'] - 1:+.1%})."), ""]
        lines += table(("", "CPU s", "peak RSS MB", "wall s"),
                       [("bnnarch (whole process)", s["ours"]["cpu_s"], s["ours"]["peak_rss_mb"],
                         s["ours"]["wall_s"]),
                        ("SCALE-Sim 3.0.0 (whole process)", s["scalesim"]["cpu_s"],
                         s["scalesim"]["peak_rss_mb"], s["scalesim"]["wall_s"]),
                        ("ratio SCALE-Sim / bnnarch", s["cpu_ratio"], s["rss_ratio"], "")])
        lines += ["", (f"SCALE-Sim wrote {s['scalesim']['output_bytes'] / 1e9:.2f} GB of "
                  f"traces/reports; bnnarch's simulation itself took "
                  f"{s['ours']['simulate_cpu_s']:.3f} CPU s of its process."), ""]
        summary.append((f"SCALE-Sim: {title}", "validation",
                        "explained" if t["all_explained"] else "FAIL",
                        (f"{t['diff']:+,} cycles (+1 per layer); {s['cpu_ratio']:.0f}x less CPU, "
                        f"{s['rss_ratio']:.0f}x less memory")))
    return lines, summary


def speed_section() -> tuple[list[str], tuple[str, str, str, str]]:
    rows, notes = [], []
    ok = True
    for design, array in sim_speed.CASES:
        m = sim_speed.measure(design, "workloads/resnet18.json", 2)
        ok &= m["simulate_cpu_s"] <= sim_speed.TARGET_CPU_S
        ss = sim_speed.scalesim_whole_net(array)
        ratio = (f"{ss['speed']['scalesim']['cpu_s'] / m['process_cpu_s']:.0f}x CPU, "
                 f"{ss['speed']['scalesim']['peak_rss_mb'] / m['peak_rss_mb']:.0f}x RSS "
                 f"(SCALE-Sim {array}x{array} {ss['dataflow']}: "
                 f"{ss['speed']['scalesim']['cpu_s']:.0f} CPU s, "
                 f"{ss['speed']['scalesim']['peak_rss_mb']:.0f} MB)" if ss else
                 "no whole-network SCALE-Sim run of this size recorded")
        rows.append((design, f"{array}x{array}", m["layers"], m["simulate_cpu_s"],
                     m["process_cpu_s"], m["peak_rss_mb"], ratio))
    notes.append(f"Target: simulating the whole network <= {sim_speed.TARGET_CPU_S} CPU s "
                 f"({'met' if ok else 'MISSED'}).")
    lines = ["## Simulation speed", "", "**Kind:** benchmark.", "",
             ("Command: `.venv/bin/python bench/sim_speed.py` (each design in a fresh process, "
             "cold caches; CPU and RSS from `os.wait4`)."), ""]
    lines += table(("design", "array", "layers", "simulate CPU s", "process CPU s",
                    "peak RSS MB", "vs SCALE-Sim (whole processes)"), rows)
    lines += ["", *notes, ("SCALE-Sim models the systolic compute of the conv layers only; "
              "bnnarch simulates every layer (post-processing, full-precision layers), "
              "buffers, DRAM and the energy ledger."), ""]
    return lines, ("Simulation speed (ResNet-18)", "benchmark", "pass" if ok else "FAIL",
                   "; ".join(f"{r[0]} {r[3]:.3f} CPU s" for r in rows))


def check_section(c: vc.Check) -> list[str]:
    lines = [f"## {c.title}", "", f"**Kind:** {c.kind} — expected values from {c.basis}.", "",
             f"Command: `{c.command}`", ""]
    lines += table(c.columns, c.rows)
    lines += ["", (f"**Difference:** {c.difference}. **Result:** {_result(c)}."), "",
              c.explanation, ""]
    lines += [f"* {n}" for n in c.notes]
    return lines


def _result(c: vc.Check) -> str:
    if c.kind == "context":
        return "context"
    if not c.graded:
        return "compared"
    return "pass" if c.passed else "FAIL"


KIND_LINES = [
    "Each check says what its expected values are compared with:", "",
    *(f"* **{k}** — {v}." for k, v in vc.KINDS.items()),
    "* **benchmark** — speed and memory measured against a peer in the same run.", "",
    ("Only the validation rows can show the model is right about something it was not built "
     "from; the consistency rows guard the implementation against slips."), "",
]


def render() -> str:
    checks = vc.all_checks() + finn_checks()
    ss_lines, ss_summary = scalesim_section()
    sp_lines, sp_summary = speed_section()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Validation and consistency: bnnarch against peers and published numbers", "",
        "<!-- GENERATED by bench/make_validation.py — do not edit by hand. -->",
        (f"Generated {now} at commit `{_git_head()}` by "
        "`.venv/bin/python bench/make_validation.py`. The checks that need no peer are the "
        "ones `tests/fidelity` asserts in CI; the SCALE-Sim runs are on-demand benchmarks "
        "(`bench/scalesim_compare.py`)."), "",
        "## Summary", "",
    ]
    summary = [(c.title, c.kind, _result(c), c.difference) for c in checks]
    si = silicon.compute()
    e = si["summary"]["energy"]
    si_diff = (f"median {e['median_abs_error']:.0%}, worst {e['worst_abs_error']:.0%} absolute "
               "error on peak TOPS/W and energy/frame (goal 25% / 50%: "
               f"{'met' if si['summary']['goal_met'] else 'not met'})")
    si_summary = ("Energy against silicon (5 chips)", "validation", "reported", si_diff)
    order = {"validation": 0, "consistency": 1, "context": 2, "benchmark": 3}
    summary = sorted(ss_summary + [sp_summary, si_summary] + summary, key=lambda r: order[r[1]])
    body = head + KIND_LINES + table(("check", "kind", "result", "difference"), summary) + [""]
    si_lines = silicon.markdown(si)
    si_lines[2:2] = [("**Kind:** validation — expected values from measurements of published "
                      "chips; nothing is fitted."), ""]
    body += ss_lines + sp_lines + si_lines
    for c in checks:
        body += check_section(c)
    return "\n".join(body).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="generate docs/validation.md")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    text = render()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
