"""The public front (``import bnnarch``) and area as an explicit input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bnnarch
from bnnarch.array.simulate import simulate as array_simulate
from bnnarch.errors import SimError
from bnnarch.rtl.synth import SynthResult, cache_key, default_cache_path, store_cached
from tests.rtl.helpers import small_spec

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_lazy() -> None:
    code = ("import sys, bnnarch; heavy = [m for m in ('torch', 'numba', 'simpy', 'pyrtl', "
            "'optuna', 'bnnarch.array') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_front_names_resolve() -> None:
    for name in ("load_design", "load_workload", "load_precision_map", "simulate", "SimResult",
                 "BnnarchError", "register_template"):
        assert getattr(bnnarch, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = bnnarch.nope  # type: ignore[attr-defined]


def test_front_simulates_both_templates() -> None:
    g = bnnarch.load_workload(ROOT / "workloads" / "sfc.json")
    for d in ("xnor32.yaml", "finn_sfc.yaml"):
        r = bnnarch.simulate(bnnarch.load_design(ROOT / "designs" / d), g)
        assert isinstance(r, bnnarch.SimResult) and r.total_cycles > 0


def _warm_cache_with_a_different_area(spec) -> None:
    # what `bnnarch rtl` leaves behind: a synthesised PE for this configuration
    store_cached(SynthResult(cache_key(spec), 10, 999.0, 5000.0, spec.array.pes, 10 * spec.array.pes,
                             5000.0 * spec.array.pes / 1e6, {"$_AND_": 10}, 1.0))


def test_model_area_ignores_a_warm_rtl_cache(tmp_path, monkeypatch) -> None:
    """Area is an input: a design that says ``area.source: model`` (the default)
    gives byte-identical JSON with a cold and a warm synthesis cache."""
    monkeypatch.setenv("BNNARCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = bnnarch.load_design(ROOT / "designs" / "xnor32.yaml")
    g = bnnarch.load_workload(ROOT / "workloads" / "cnv.json")
    cold = json.dumps(bnnarch.simulate(spec, g).to_dict(), sort_keys=True)
    _warm_cache_with_a_different_area(spec)
    assert default_cache_path().exists()
    warm = json.dumps(bnnarch.simulate(spec, g).to_dict(), sort_keys=True)
    assert cold == warm
    assert '"array_area_source": "gate model"' in warm


def test_yosys_area_needs_the_synthesised_number() -> None:
    spec = small_spec(area={"source": "yosys"})
    g = bnnarch.load_workload(ROOT / "workloads" / "sfc.json")
    with pytest.raises(SimError, match="area.source: yosys needs the array's synthesised area"):
        array_simulate(spec, g)
    r = array_simulate(spec, g, array_logic_mm2=0.125)
    assert dict(r.area_breakdown_mm2)["array"] == 0.125
    assert dict(r.extra)["array_area_source"] == "yosys"


def test_yosys_area_from_a_cached_synthesis(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BNNARCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = small_spec(area={"source": "yosys"})
    _warm_cache_with_a_different_area(spec)
    r = bnnarch.simulate(spec, bnnarch.load_workload(ROOT / "workloads" / "sfc.json"))
    assert dict(r.area_breakdown_mm2)["array"] == pytest.approx(5000.0 * spec.array.pes / 1e6)
    assert dict(r.extra)["array_area_source"] == "yosys"


@pytest.mark.tools
def test_yosys_area_synthesises_on_a_miss(tmp_path) -> None:
    env = dict(os.environ, BNNARCH_CACHE_DIR=str(tmp_path / "cache"))
    design = tmp_path / "d.yaml"
    text = (ROOT / "designs" / "rtl_small.yaml").read_text() + "\narea:\n  source: yosys\n"
    design.write_text(text)
    out = tmp_path / "r.json"
    subprocess.run([sys.executable, "-m", "bnnarch.cli", "simulate", str(design), "--workload",
                    str(ROOT / "workloads" / "sfc.json"), "--json", str(out), "--quiet"],
                   env=env, check=True, capture_output=True)
    r = json.loads(out.read_text())
    assert r["array_area_source"] == "yosys"
    assert (tmp_path / "cache" / "rtl_area.json").exists()
