"""Energy against silicon: the published chips' designs recompute the rows that
bench/results/silicon.json records; any signed error that moves by more than
silicon.TOLERANCE fails (a model change is visible, not silent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import silicon
import yaml

from bnnarch.tech import tech_for
from bnnarch.template import load_design

ROOT = Path(__file__).resolve().parents[2]
CHIPS = sorted((ROOT / "designs" / "silicon").glob("*.yaml"))


@pytest.fixture(scope="module")
def result() -> dict:
    return silicon.compute()


def test_rows_match_the_record(result: dict) -> None:
    rec = silicon.recorded()
    assert rec is not None, "run: .venv/bin/python bench/silicon.py --write"
    recorded = {(r["chip"], r["metric"], r["point"]): r for r in rec["rows"]}
    now = {(r.chip, r.metric, r.point): r for r in result["rows"]}
    assert now.keys() == recorded.keys()
    moved = {k: (recorded[k]["error"], r.error) for k, r in now.items()
             if abs(r.error - recorded[k]["error"]) > silicon.TOLERANCE}
    assert not moved, f"errors moved by more than {silicon.TOLERANCE:.0%}: {moved}"
    for k, r in now.items():  # the published side never changes silently either
        assert r.published == recorded[k]["published"], k


def test_at_least_five_chips_each_with_rows(result: dict) -> None:
    assert len(CHIPS) >= 5
    chips = {r.chip for r in result["rows"]}
    assert chips == {"XNE", "BinarEye", "UNPU", "YodaNN", "XNORBIN"}
    assert all(r.source and r.published > 0 for r in result["rows"])
    assert {r.metric for r in result["rows"]} >= {"peak TOPS/W", "energy/frame uJ", "frames/s",
                                                  "peak GOPS", "area mm2"}


def test_summary_is_the_rows_statistics(result: dict) -> None:
    s = result["summary"]["energy"]
    errs = sorted(abs(r.error) for r in result["rows"]
                  if r.in_summary and r.metric in silicon.ENERGY_METRICS)
    assert s["n"] == len(errs) and s["worst_abs_error"] == errs[-1]
    text = "\n".join(silicon.markdown(result))
    assert f"median absolute error {s['median_abs_error']:.0%}" in text
    assert "Which component is off" in text


def test_voltage_row(result: dict) -> None:
    (v,) = result["voltage"]
    assert v["published_ratio"] == pytest.approx(61.2 / (1510 / 153))
    assert v["cv2_ratio"] == 4.0
    assert 1.0 < v["modelled_ratio"] < v["cv2_ratio"]  # leakage eats part of the V^2 gain


@pytest.mark.parametrize("path", CHIPS, ids=lambda p: p.name)
def test_design_headers_cite_or_mark_assumed(path: Path) -> None:
    text = path.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for word in ("Source", "Published", "Differences", "Workload"):
        assert word in header, word
    spec = load_design(path)
    data = yaml.safe_load(text)
    # every top-level section the design sets is named in its header's parameter list
    for key in ("clock_mhz", "array", "buffers", "dram"):
        assert key in data and key.split("_")[0] in header, key
    assert spec.technology.node_nm and "ASSUMED" in header


def test_binareye_on_chip_weight_memory_is_priced_from_the_table() -> None:
    spec = load_design(ROOT / "designs" / "silicon" / "binareye.yaml")
    t = tech_for(spec.technology.node_nm, spec.technology.vdd_v)
    assert spec.dram.energy_pj_per_bit == pytest.approx(t.sram_access_pj_per_bit(32), abs=5e-5)


def test_readme_states_the_current_summary(result: dict) -> None:
    s = result["summary"]["energy"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"the median absolute error is {s['median_abs_error']:.0%}, the worst "
            f"{s['worst_abs_error']:.0%}") in readme
    assert ("is not met" if not result["summary"]["goal_met"] else "is met") in readme
