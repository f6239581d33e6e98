"""Workload format: versioning, op counts, precision maps, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnnarch.errors import SpecError, WorkloadError
from bnnarch.workload.builder import PUBLISHED, finn_cnv, resnet18
from bnnarch.workload.io import (
    apply_precision,
    graph_to_dict,
    load_precision_map,
    load_workload,
    save_workload,
)
from bnnarch.workload.layer import Layer

ROOT = Path(__file__).resolve().parents[2]


def test_resnet18_hand_counts():
    g = resnet18()
    # conv1: 112*112 pixels x 64 filters x 7*7*3 = 118,013,952 MACs
    assert g["conv1"].macs == 112 * 112 * 64 * 147
    # layer1 3x3 64->64 at 56x56
    assert g["layer1.0.conv1"].macs == 56 * 56 * 64 * 576
    assert g["layer1.0.conv1"].binary_ops == 2 * 56 * 56 * 64 * 576
    assert g["fc"].macs == 512 * 1000
    # ResNet-18 is ~1.81 GMAC (He et al. 2016: 1.8 GFLOPs as multiply-adds)
    assert 1.80e9 < g.macs < 1.83e9
    convs = [lyr for lyr in g if lyr.op == "conv2d"]
    assert len(convs) == 20  # 17 3x3/7x7 + 3 downsample 1x1
    assert g["conv1"].is_full_precision and g["layer2.0.down.conv"].is_full_precision


def test_cnv_hand_counts():
    g = finn_cnv()
    assert g["conv0"].out_shape == (64, 30, 30)
    assert g["conv5"].out_shape == (256, 1, 1)
    assert g["conv1"].macs == 28 * 28 * 64 * 64 * 9
    assert g["fc0"].macs == 256 * 512


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_published_workloads_match_builders(name):
    assert load_workload(ROOT / "workloads" / f"{name}.json") == PUBLISHED[name]()


def test_round_trip_and_atomic(tmp_path):
    g = resnet18(size=32, classes=10)
    p = save_workload(g, tmp_path / "r.json")
    assert load_workload(p) == g
    assert not list(tmp_path.glob("*.tmp"))


def _write(tmp_path, data) -> Path:
    p = tmp_path / "w.json"
    p.write_text(json.dumps(data))
    return p


def test_bad_workloads(tmp_path):
    d = graph_to_dict(finn_cnv())
    with pytest.raises(WorkloadError, match="format_version 99 is not supported"):
        load_workload(_write(tmp_path, {**d, "format_version": 99}))
    bad = json.loads(json.dumps(d))
    bad["layers"][1]["macs"] = 5
    with pytest.raises(WorkloadError, match=r"layers\[1\] \(conv1\): macs=5 in file but shapes give"):
        load_workload(_write(tmp_path, bad))
    bad = json.loads(json.dumps(d))
    bad["layers"][0]["op"] = "softmax"
    with pytest.raises(WorkloadError, match="layer 'conv0': unknown op 'softmax'"):
        load_workload(_write(tmp_path, bad))
    bad = json.loads(json.dumps(d))
    bad["layers"][0]["out_shape"] = [64, 31, 31]
    with pytest.raises(WorkloadError, match="out_shape H,W 31x31 does not follow"):
        load_workload(_write(tmp_path, bad))
    bad = json.loads(json.dumps(d))
    bad["layers"][2]["inputs"] = ["nothere"]
    with pytest.raises(WorkloadError, match="input 'nothere' is not an earlier layer"):
        load_workload(_write(tmp_path, bad))
    bad = json.loads(json.dumps(d))
    bad["layers"][0]["w_bits"] = 3
    with pytest.raises(WorkloadError, match="w_bits must be one of 1, 2, 4, 8 or 32"):
        load_workload(_write(tmp_path, bad))
    bad = json.loads(json.dumps(d))
    bad["layers"][0]["flavour"] = 1
    with pytest.raises(WorkloadError, match=r"layers\[0\]: unknown key\(s\) flavour"):
        load_workload(_write(tmp_path, bad))
    p = tmp_path / "broken.json"
    p.write_text("{")
    with pytest.raises(WorkloadError, match="not valid JSON"):
        load_workload(p)
    with pytest.raises(WorkloadError, match="no such workload file"):
        load_workload(tmp_path / "none.json")


def test_duplicate_layer_names():
    from bnnarch.workload.graph import WorkloadGraph

    a = Layer("a", "threshold", ("input",), (1, 2, 2), (1, 2, 2))
    with pytest.raises(WorkloadError, match="duplicate layer name 'a'"):
        WorkloadGraph("x", (1, 2, 2), (a, a))


def test_precision_map(tmp_path):
    g = finn_cnv()
    p = tmp_path / "p.yaml"
    p.write_text("layers:\n  conv1: {w_bits: 2, a_bits: 4}\n  fc0: [8, 8]\n")
    pm = load_precision_map(p, g)
    g2 = apply_precision(g, pm)
    assert (g2["conv1"].w_bits, g2["conv1"].a_bits) == (2, 4)
    assert (g2["fc0"].w_bits, g2["fc0"].a_bits) == (8, 8)
    assert g2["conv2"].w_bits == 1


def test_precision_map_errors_all_at_once(tmp_path):
    g = finn_cnv()
    p = tmp_path / "p.yaml"
    p.write_text("layers:\n  conv1: {w_bits: 3, a_bits: 4}\n  nope: [1, 1]\n"
                 "  pool0: [1, 1]\n  fc0: {w_bits: 1, a_bits: 1, x: 2}\n")
    with pytest.raises(SpecError) as ei:
        load_precision_map(p, g)
    msgs = [str(e) for e in ei.value.errors]
    assert "layers.conv1.w_bits: must be one of 1, 2, 4, 8, 32; got 3" in msgs
    assert "layers.nope: no layer 'nope' in workload 'cnv'" in msgs
    assert "layers.pool0: layer 'pool0' is a maxpool, it has no bit-widths" in msgs
    assert "layers.fc0.x: unknown key (expected w_bits, a_bits)" in msgs


def _cnv() -> dict:
    return json.loads(json.dumps(graph_to_dict(finn_cnv())))


def _set(path, value):
    def edit(d):
        node = d
        for k in path[:-1]:
            node = node[k]
        if value is _DEL:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return d
    return edit


_DEL = object()


@pytest.mark.parametrize("edit,message", [
    (_set(["layers", 1, "kernel"], "3x3"),
     r"layers\[1\] \(conv1\).kernel: expected an int or \[int, int\], got '3x3'"),
    (_set(["layers", 1, "stats"], {"kernel": {"kernels": 1}}),
     r"layers\[1\] \(conv1\).stats: malformed statistics"),
    (_set(["layers", 1], 7), r"layers\[1\]: expected an object"),
    (_set(["layers", 1, "op"], _DEL), r"layers\[1\]: missing required key 'op'"),
    (_set(["layers", 1, "groups"], 3), r"groups=3 must divide in/out channels 64/64"),
    (_set(["layers", 1, "groups"], 0), r"groups must be > 0, got 0"),
    (_set(["layers", 1, "in_shape"], [64, 0, 30]), r"in_shape must be three positive integers"),
    (_set(["layers"], []), r"'layers' must be a non-empty list"),
    (_set(["input_shape"], "big"), r"input_shape must be \[C, H, W\]"),
])
def test_every_workload_error_message(tmp_path, edit, message):
    with pytest.raises(WorkloadError, match=message):
        load_workload(_write(tmp_path, edit(_cnv())))


def test_top_level_must_be_object(tmp_path):
    with pytest.raises(WorkloadError, match="top level must be an object"):
        load_workload(_write(tmp_path, [1, 2]))


def test_unknown_layer_lookup():
    with pytest.raises(WorkloadError, match="no layer named 'zz' in workload 'cnv'"):
        finn_cnv()["zz"]


@pytest.mark.parametrize("text,message", [
    ("- 1\n", "<root>: a precision map must be a mapping layer -> bits"),
    ("layers: {conv1: 2}\nnotes: x\n", "notes: unknown key (expected 'layers')"),
    ("layers: {conv1: 2}\n", "layers.conv1: expected {w_bits, a_bits} or [w, a], got 2"),
    ("layers: [unclosed\n", "not valid YAML"),
])
def test_precision_map_messages(tmp_path, text, message):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as ei:
        load_precision_map(p, finn_cnv())
    assert any(message in str(e) for e in ei.value.errors), ei.value.errors


def test_precision_map_missing_file(tmp_path):
    with pytest.raises(SpecError, match="<root>: no such precision map file"):
        load_precision_map(tmp_path / "none.yaml")
