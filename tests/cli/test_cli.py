"""The CLI end to end: the README's commands, the JSON contract, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bnnarch.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"design", "workload", "clock_mhz", "total_cycles", "latency_s", "fps", "energy_pj",
            "energy_breakdown_pj", "tops_per_w", "area_mm2", "layers"}
LAYER_KEYS = {"name", "op", "w_bits", "a_bits", "cycles", "compute_cycles", "stall_cycles",
              "utilization", "energy_pj"}


def test_simulate_json_contract_and_plot(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["simulate", str(ROOT / "designs/xnor32.yaml"), "--workload",
               str(ROOT / "workloads/resnet18.json"), "--json", str(out), "--plot", str(png)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "layer1.0.conv1" in text and "TOPS/W" in text
    d = json.loads(out.read_text())
    assert CONTRACT <= set(d)
    assert d["design"] == "xnor32" and d["workload"] == "resnet18"
    assert len(d["layers"]) == 42
    for layer in d["layers"]:
        assert LAYER_KEYS <= set(layer)
        assert layer["cycles"] == layer["compute_cycles"] + layer["stall_cycles"]
    assert d["total_cycles"] == sum(x["cycles"] for x in d["layers"])
    assert abs(sum(d["energy_breakdown_pj"].values()) - d["energy_pj"]) < 1e-6 * d["energy_pj"]
    assert abs(d["latency_s"] - d["total_cycles"] / (d["clock_mhz"] * 1e6)) < 1e-12
    assert png.stat().st_size > 1000


def test_simulate_with_precision_map(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("layers:\n  layer1.0.conv1: {w_bits: 4, a_bits: 4}\n")
    base, mixed = tmp_path / "a.json", tmp_path / "b.json"
    args = ["simulate", str(ROOT / "designs/xnor32.yaml"), "-w", str(ROOT / "workloads/resnet18.json"), "-q"]
    assert main([*args, "--json", str(base)]) == 0
    assert main([*args, "--precision", str(p), "--json", str(mixed)]) == 0
    a = {x["name"]: x for x in json.loads(base.read_text())["layers"]}
    b = {x["name"]: x for x in json.loads(mixed.read_text())["layers"]}
    assert b["layer1.0.conv1"]["w_bits"] == 4
    assert b["layer1.0.conv1"]["compute_cycles"] > 10 * a["layer1.0.conv1"]["compute_cycles"]
    assert b["layer1.0.conv2"] == a["layer1.0.conv2"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnnarch.cli", *args], check=False,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_bad_design_exits_nonzero_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "designs/xnor32.yaml").read_text().replace("rows: 32", "rows: -1")
                   .replace("clock_mhz: 500", "clock_mhz: 500\nturbo: true"))
    out = tmp_path / "r.json"
    r = _run("simulate", str(bad), "--workload", "workloads/cnv.json", "--json", str(out))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "2 error(s)" in r.stderr
    assert "array.rows (line" in r.stderr and "turbo (line 5): unknown key" in r.stderr
    assert not out.exists()


def test_validate_lists_errors_and_unmappable_layers(tmp_path):
    r = _run("validate", "designs/xnor32.yaml", "designs/edge16_ws.yaml")
    assert r.returncode == 0 and r.stdout.count(": ok") == 2
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text((ROOT / "designs/xnor32.yaml").read_text()
                    .replace("activations: {capacity_kib: 256", "activations: {capacity_kib: 1"))
    r = _run("validate", str(tiny), "--workload", "workloads/resnet18.json")
    assert r.returncode == 2
    assert "cannot be mapped" in r.stdout and "layer 'conv1'" in r.stdout


def test_unmappable_layer_names_layer(tmp_path):
    from bnnarch.array.simulate import simulate
    from bnnarch.errors import MappingError
    from bnnarch.template import parse_design
    from bnnarch.workload.io import load_workload

    text = (ROOT / "designs/xnor32.yaml").read_text().replace(
        "activations: {capacity_kib: 256", "activations: {capacity_kib: 1")
    with pytest.raises(MappingError, match=r"layer 'conv1' \(conv2d.*cannot be mapped"):
        simulate(parse_design(text), load_workload(ROOT / "workloads/resnet18.json"))


def test_missing_workload_and_bad_precision(tmp_path):
    r = _run("simulate", "designs/xnor32.yaml", "--workload", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "no such workload file" in r.stderr
    p = tmp_path / "p.yaml"
    p.write_text("layers:\n  nolayer: [2, 2]\n")
    r = _run("simulate", "designs/xnor32.yaml", "-w", "workloads/cnv.json", "--precision", str(p))
    assert r.returncode == 2 and "layers.nolayer: no layer 'nolayer' in workload 'cnv'" in r.stderr


def test_workloads_command_rewrites_published(tmp_path):
    assert main(["workloads", "--out", str(tmp_path)]) == 0
    for name in ("resnet18", "vgg_small", "sfc", "lfc", "cnv"):
        assert (tmp_path / f"{name}.json").read_text() == (ROOT / "workloads" / f"{name}.json").read_text()


def test_validate_dataflow_against_workload():
    r = _run("validate", "designs/finn_cnv.yaml", "--workload", "workloads/cnv.json")
    assert r.returncode == 0 and "compute layers of cnv fold" in r.stdout
    # residual nets run on the dataflow template since it handles DAGs
    r = _run("validate", "designs/finn_cnv.yaml", "--workload", "workloads/resnet18.json")
    assert r.returncode == 0 and "all 21 compute layers of resnet18 fold" in r.stdout


def test_batch_only_for_dataflow():
    r = _run("simulate", "designs/xnor32.yaml", "-w", "workloads/sfc.json", "--batch", "4")
    assert r.returncode == 2 and "--batch applies to designs that stream frames" in r.stderr
    r = _run("simulate", "designs/finn_sfc.yaml", "-w", "workloads/sfc.json", "--batch", "3", "-q")
    assert r.returncode == 0 and "batch" in r.stdout
