"""Every shipped design x workload gives the numbers recorded before the
package was reorganised (templates as plug-ins, the array template in one
package): total and per-layer cycles exactly, energy and area to the last
printed digit. Recorded with the SimPy engine and model area; array designs
are re-run here with the recurrence engine (equal results, tested in
tests/sim) to keep this fast. A deliberate change of the model or of a shipped
file re-records its rows with ``python bench/record_numbers.py --only NAME``
and says why in the commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnnarch.api import simulate
from bnnarch.errors import BnnarchError
from bnnarch.template import load_design
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[1]
RECORDED = json.loads((ROOT / "tests" / "data" / "numbers_before_redesign.json").read_text())
# dataflow pipelines on ImageNet-size nets take ~10 s each: covered by the smaller ones
SLOW_DATAFLOW = {"bireal18.json", "resnet18.json"}
# 5-80 s each (the mapper's exact search over the 512x512 U-Net's layers; the
# pixel-level pipeline on the detector): run in CI, not in `make test-fast`
SLOW = {"unet.json", "digits_det.json"}


def _cases() -> list:
    out = []
    for key in sorted(RECORDED):
        design, workload = key.split("|")
        dataflow = design.startswith("finn_")
        if dataflow and workload in SLOW_DATAFLOW:
            continue
        slow = workload == "unet.json" and design != "xnor32.yaml" or (
            dataflow and workload in SLOW)
        out.append(pytest.param(design, workload, marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize(("design", "workload"), _cases())
def test_numbers_unchanged(design: str, workload: str) -> None:
    rec = RECORDED[f"{design}|{workload}"]
    spec = load_design(ROOT / "designs" / design)
    graph = load_workload(ROOT / "workloads" / workload)
    if "error" in rec:
        with pytest.raises(BnnarchError) as e:
            simulate(spec, graph, engine="recurrence")
        assert type(e.value).__name__ == rec["error"]
        return
    d = simulate(spec, graph, engine="recurrence").to_dict()
    assert d["total_cycles"] == rec["total_cycles"]
    assert [lr["cycles"] for lr in d["layers"]] == rec["layer_cycles"]
    assert d["energy_pj"] == pytest.approx(rec["energy_pj"], rel=1e-12)
    assert [lr["energy_pj"] for lr in d["layers"]] == pytest.approx(rec["layer_energy_pj"],
                                                                     rel=1e-12)
    assert d["area_mm2"] == pytest.approx(rec["area_mm2"], rel=1e-12)
