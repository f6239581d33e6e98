"""Whole-workload reuse figures, side by side with the published ones (the
tables of docs/reuse.md):

    python -m bnnarch.report.reuse_summary workloads/digits_bnn.json ... [--design D ...]

For each workload: the measured similarity statistics (from ``stats.reuse``)
and, for each design, what its reuse schemes skip and what they change in
cycles and energy against the same design with reuse disabled.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bnnarch.array.reuse.hook import without_reuse
from bnnarch.array.simulate import simulate
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import BnnarchError, FieldError, SpecError
from bnnarch.result import SimResult
from bnnarch.template import load_design
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload

DEFAULT_DESIGNS = ("designs/xnor32_reuse_kernel.yaml", "designs/xnor32_reuse_window.yaml",
                   "designs/xnor32_reuse.yaml", "designs/xnor32_reuse_energy.yaml")

# Ledger components a reuse scheme acts on. The weight / activation SRAM
# components include tile loads from DRAM, which reuse does not change.
DATAPATH = ("xnor", "popcount", "accumulate", "operand_regs", "sram_weights", "sram_activations")

PUBLISHED = (
    ("Fu et al. 2018 (arXiv 1810.02068)", ("neighbouring input windows ~78% similar; kernels "
                                            "59% similar; ~80% of computation and ~40% of "
                                            "buffer accesses skipped")),
    ("Chang et al. DATE 2020", ("~60% fewer operations by sharing repeated and sign-inverted "
                                "2-D filters")),
)


@dataclass(frozen=True)
class Similarity:
    """Measured on the workload's real weights / activations (binary convs)."""

    layers: int
    kernels_shared_pct: float  # 2-D kernels equal to an earlier filter's (same channel)
    kernels_shared_signfolded_pct: float  # ... or to its complement
    window_bits_equal_pct: float  # receptive-field positions equal to the left neighbour's
    windows_identical_pct: float  # whole receptive fields identical to the left neighbour's


def _pct(part: float, whole: float) -> float:
    """`part` as a percentage of `whole` (0 when `whole` is 0)."""
    return 100 * part / whole if whole else 0.0


def similarity(g: WorkloadGraph) -> Similarity:
    kern = rep = rep_f = 0
    pairs = same_pairs = 0
    pos = pos_diff = 0
    n = 0
    for la in g:
        st = la.stats.reuse if la.stats is not None else None
        if st is None:
            continue
        n += 1
        cin_g = la.in_shape[0] // la.groups
        kern += cin_g * len(st.rep_slices)
        rep += sum(st.rep_slices)
        rep_f += sum(st.rep_slices_signfolded)
        k = cin_g * la.kernel[0] * la.kernel[1]
        for d, c in st.diff_hist:
            pairs += c
            same_pairs += c if d == 0 else 0
            pos += c * k
            pos_diff += c * d
    return Similarity(n, _pct(kern - rep, kern), _pct(kern - rep_f, kern), _pct(pos - pos_diff, pos),
                      _pct(same_pairs, pairs))


@dataclass(frozen=True)
class DesignFigures:
    design: str
    xnor_bits_skipped_pct: float
    word_ops_skipped_pct: float
    operand_sram_saved_pct: float
    conv_compute_cycles_pct: float  # binary convs' compute cycles
    compute_cycles_pct: float
    cycles_pct: float
    energy_net_pct: float
    datapath_energy_pct: float  # binary convs: array logic + operand SRAM reads + reuse, net
    dynamic_saved_uj: float
    own_uj: float
    area_mm2: float


def figures(spec_path: str | Path, g: WorkloadGraph) -> DesignFigures:
    spec = load_design(spec_path)
    if not isinstance(spec, ArraySpec):
        raise SpecError(str(spec_path), [FieldError(
            "template", "the reuse summary compares 'array' designs (reuse is an array option)")])
    on = simulate(spec, g)
    off = simulate(without_reuse(spec), g)
    return _figures(spec.name, on, off)


def _figures(name: str, on: SimResult, off: SimResult) -> DesignFigures:
    rows = [dict(lr.extra) for lr in on.layers if "reuse_scheme" in dict(lr.extra)]
    pw = sum(x["reuse_plain_word_ops"] for x in rows)
    pb = sum(x["reuse_plain_xnor_bits"] for x in rows)
    sw = sum(x["reuse_skipped_word_ops"] for x in rows)
    sb = sum(x.get(f"reuse_{x['reuse_scheme']}_skipped_xnor_bits", 0.0) for x in rows)
    ob = sum(x["reuse_operand_sram_bits"] for x in rows)
    osb = sum(x["reuse_sram_bits_saved"] for x in rows)
    dp_on = dp_off = 0.0
    cc_on = cc_off = 0
    for a, b in zip(on.layers, off.layers, strict=True):
        if "reuse_scheme" in dict(a.extra):
            cc_on += a.compute_cycles
            cc_off += b.compute_cycles
            ea, eb = dict(a.energy_breakdown_pj), dict(b.energy_breakdown_pj)
            dp_on += sum(ea.get(k, 0.0) for k in DATAPATH) + ea.get("reuse", 0.0)
            dp_off += sum(eb.get(k, 0.0) for k in DATAPATH)
    return DesignFigures(
        name, _pct(sb, pb), _pct(sw, pw), _pct(osb, ob), _pct(cc_on - cc_off, cc_off),
        _pct(on.compute_cycles - off.compute_cycles, off.compute_cycles),
        _pct(on.total_cycles - off.total_cycles, off.total_cycles),
        _pct(on.energy_pj - off.energy_pj, off.energy_pj), _pct(dp_on - dp_off, dp_off),
        sum(x["reuse_saved_pj"] for x in rows) / 1e6, sum(x["reuse_overhead_pj"] for x in rows) / 1e6,
        dict(on.area_breakdown_mm2).get("reuse", 0.0))


def markdown(workloads: list[str], designs: list[str]) -> str:
    out = [("| workload | binary convs | kernels shared (exact / with sign-inverted) | "
            "neighbour-window positions equal | neighbour windows identical |"),
           "|---|---|---|---|---|"]
    graphs = [(w, load_workload(w)) for w in workloads]
    for _w, g in graphs:
        s = similarity(g)
        out.append(f"| {g.name} | {s.layers} | {s.kernels_shared_pct:.1f}% / "
                   f"{s.kernels_shared_signfolded_pct:.1f}% | {s.window_bits_equal_pct:.1f}% | "
                   f"{s.windows_identical_pct:.2f}% |")
    out += ["", ("| workload | design | XNOR bits skipped | word-ops skipped | operand SRAM "
                 "reads saved | binary-conv compute cycles | all compute cycles | total cycles | "
                 "energy (net) | binary-conv datapath energy (net) | saved / own uJ | "
                 "reuse area mm2 |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, g in graphs:
        for d in designs:
            f = figures(d, g)
            out.append(f"| {g.name} | {f.design} | {f.xnor_bits_skipped_pct:.1f}% | "
                       f"{f.word_ops_skipped_pct:.1f}% | {f.operand_sram_saved_pct:.1f}% | "
                       f"{f.conv_compute_cycles_pct:+.1f}% | "
                       f"{f.compute_cycles_pct:+.1f}% | {f.cycles_pct:+.1f}% | "
                       f"{f.energy_net_pct:+.2f}% | {f.datapath_energy_pct:+.1f}% | "
                       f"{f.dynamic_saved_uj:.4f} / {f.own_uj:.4f} | "
                       f"{f.area_mm2:.3f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnnarch.report.reuse_summary")
    p.add_argument("workloads", nargs="+")
    p.add_argument("--design", action="append", help="design YAML (repeatable)")
    a = p.parse_args(argv)
    try:
        print(markdown(a.workloads, a.design or list(DEFAULT_DESIGNS)))
    except BnnarchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
