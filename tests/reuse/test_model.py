"""Reuse options in the spec, statistics in the workload JSON, the
simulator's report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnnarch.array.simulate import simulate
from bnnarch.cli import main
from bnnarch.errors import SpecError
from bnnarch.nn.reuse_stats import reuse_stats
from bnnarch.template import design_from_dict
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.io import graph_from_dict, graph_to_dict, save_workload
from tests.conftest import not_applicable

from .helpers import ROOT, random_bits, with_stats


def toy_graph(seed: int = 0):  # type: ignore[no-untyped-def]
    b = GraphBuilder("toy", (1, 12, 12))
    b.conv("c0", 16, 3, bits=(32, 32))
    b.conv("c1", 32, 3)
    b.conv("c2", 32, 3, s=2)
    b.conv("c3", 32, 1)
    g = b.build()
    rng = np.random.default_rng(seed)
    layers = []
    for la in g.layers:
        if la.op == "conv2d" and la.is_binary:
            w = random_bits(rng, (la.out_shape[0], la.in_shape[0], *la.kernel))
            w[1::2] = w[::2]
            x = random_bits(rng, (2, *la.in_shape))
            x[..., 1::2] = x[..., ::2]
            la = with_stats(la, reuse_stats(la, w, x))
        layers.append(la)
    return g.with_layers(tuple(layers))


def test_stats_roundtrip_json_and_old_files_load() -> None:
    g = toy_graph()
    d = graph_to_dict(g)
    assert graph_from_dict(json.loads(json.dumps(d))) == g
    for la in d["layers"]:
        la.pop("stats", None)  # a workload without reuse statistics still loads
    assert all(la.stats is None for la in graph_from_dict(d))


def test_malformed_reuse_stats_named() -> None:
    d = graph_to_dict(toy_graph())
    del d["layers"][1]["stats"]["reuse"]["rep_slices"]
    with pytest.raises(Exception, match=r"c1.*stats: malformed statistics"):
        graph_from_dict(d, "w.json")


@pytest.mark.parametrize("field,value,msg", [
    ("kernel_pattern.share_ports", 0, "share_ports"),
    ("input_similarity.max_diff_bits", -1, "max_diff_bits"),
    ("input_similarity.window_bits", 0, "window_bits"),
    ("kernel_pattern.colour", 1, "colour"),
])
def test_spec_errors_name_the_field(field: str, value: int, msg: str) -> None:
    import yaml

    d = yaml.safe_load((ROOT / "designs" / "xnor32_reuse.yaml").read_text())
    a, b = field.split(".")
    d["reuse"][a][b] = value
    with pytest.raises(SpecError, match=msg):
        design_from_dict(d, "x.yaml")


def test_simulate_reports_reuse_totals_and_no_reuse_design_unchanged() -> None:
    from bnnarch.template import load_design

    g = toy_graph()
    on = simulate(load_design(ROOT / "designs" / "xnor32_reuse.yaml"), g)
    off = simulate(load_design(ROOT / "designs" / "xnor32.yaml"), g)
    ex = dict(on.extra)
    assert ex["reuse: cycles vs no reuse %"] <= 0
    assert "reuse input_similarity: word-ops skipped %" in ex
    assert ex["reuse: area mm2"] > 0
    assert on.area_mm2 > off.area_mm2
    assert not any(k.startswith("reuse") for k, _ in off.extra)
    assert all("reuse_scheme" not in dict(lr.extra) for lr in off.layers)
    j = on.to_dict()
    assert j["layers"][1]["reuse_scheme"] in ("kernel_pattern", "input_similarity")


def test_cli_reuse_table_plot_and_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = save_workload(toy_graph(), tmp_path / "toy.json")
    png = tmp_path / "r.png"
    assert main(["simulate", str(ROOT / "designs" / "xnor32_reuse.yaml"), "-w", str(w),
                 "--reuse-plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "computation reuse" in out and png.stat().st_size > 0
    rc = main(["simulate", str(ROOT / "designs" / "xnor32.yaml"), "-w", str(w), "-q",
               "--reuse-plot", str(png)])
    assert rc != 0
    assert "the design enables no reuse scheme" in capsys.readouterr().err


def test_layer_without_stats_is_reported_not_guessed() -> None:
    from bnnarch.template import load_design

    b = GraphBuilder("bare", (8, 8, 8))
    b.conv("c", 16, 3)
    r = simulate(load_design(ROOT / "designs" / "xnor32_reuse.yaml"), b.build())
    ex = dict(r.layers[0].extra)
    assert ex["reuse_scheme"] == "none"
    assert ex["reuse_kernel_pattern_reason"] == "no reuse statistics in the workload"


def test_both_engines_agree_with_reuse() -> None:
    import inspect

    from bnnarch.template import load_design

    if "engine" not in inspect.signature(simulate).parameters:
        not_applicable("simulate() has a single engine")
    spec = load_design(ROOT / "designs" / "xnor32_reuse.yaml")
    g = toy_graph(3)
    a = simulate(spec, g, engine="simpy")  # type: ignore[call-arg]
    b = simulate(spec, g, engine="recurrence")  # type: ignore[call-arg]
    assert [la.cycles for la in a.layers] == [la.cycles for la in b.layers]
    assert a.extra == b.extra


def test_energy_policy_never_applies_a_losing_scheme() -> None:
    from bnnarch.template import load_design

    spec = load_design(ROOT / "designs" / "xnor32_reuse.yaml")
    energy = spec.model_copy(update={"reuse": spec.reuse.model_copy(update={"policy": "energy"})})
    g = toy_graph(5)
    r = simulate(energy, g)
    applied = [dict(lr.extra) for lr in r.layers if dict(lr.extra).get("reuse_scheme", "none")
               != "none"]
    assert applied
    for x in applied:
        assert x["reuse_saved_pj"] > x["reuse_overhead_pj"]
    cyc = simulate(spec, g)

    def dyn(res) -> float:  # noqa: ANN001
        return sum(lr.energy_pj - dict(lr.energy_breakdown_pj).get("leakage", 0.0)
                   for lr in res.layers)

    assert dyn(r) <= dyn(cyc) + 1e-6
