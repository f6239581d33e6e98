"""A whole workload in RTL from a digits image (bnnarch.rtl.network): the
array layers run in the system RTL on the real maps, the rest on the host
with the golden per-layer function; outputs against golden_forward, cycles
and DRAM bits against simulate; multi-bit layers in the system RTL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import bnnarch.rtl.network as network
from bnnarch.array.engine import run_tiles
from bnnarch.array.simulate import simulate
from bnnarch.cli import main
from bnnarch.rtl.network import run_image_network
from bnnarch.rtl.sim_schedule import simulated_schedule
from bnnarch.rtl.syscheck import check_layer_system, plan_layers
from bnnarch.rtl.sysrun import system_array
from bnnarch.rtl.system import build_system
from bnnarch.template import load_design
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]


def _spec(acc_bits: int = 16):
    spec = load_design(ROOT / "designs" / "rtl_8x8.yaml")
    return spec.model_copy(update={"array": spec.array.model_copy(update={"acc_bits": acc_bits})})


def _image(index: int) -> np.ndarray:
    from bnnarch.nn.data import digits

    return digits("test", 16)[0][index].numpy()


def _build(spec, graph: WorkloadGraph):
    plans = plan_layers(spec, graph)
    arr = system_array(spec, [simulated_schedule(p.layer, spec, p.held) for p in plans],
                       [(p.layer.w_bits, p.layer.a_bits) for p in plans])
    return plans, arr, build_system(spec)


@pytest.fixture(scope="module")
def bnn() -> WorkloadGraph:
    return load_workload(ROOT / "workloads" / "digits_bnn.json")


@pytest.fixture(scope="module")
def brevitas() -> WorkloadGraph:
    return load_workload(ROOT / "workloads" / "brevitas_digits.json")


def _check_network(rows, summary, spec, graph: WorkloadGraph) -> None:
    """Cycles and DRAM bits equal simulate's per RTL layer and in sum; RTL
    outputs equal the RTL golden model, the golden layer on their input and
    golden_forward on the image, on the whole map."""
    sim = {r.name: r for r in simulate(spec, graph).layers}
    rtl = [r for r in rows if r.source == "rtl"]
    assert rtl and [r.layer.name for r in rows] == [x.name for x in graph]
    for r in rtl:
        c = r.check
        assert (c.rtl.cycles, c.rtl.compute_cycles, c.rtl.dram_read_bits,
                c.rtl.dram_write_bits) == (sim[c.name].cycles, sim[c.name].compute_cycles,
                                           sim[c.name].dram_read_bits,
                                           sim[c.name].dram_write_bits), c.name
        assert c.bit_exact and r.local_match and r.golden_match, r.failures()
        assert not r.failures()
    assert summary["rtl_cycles"] == sum(sim[r.layer.name].cycles for r in rtl)
    assert summary["cycle_match"] and summary["bit_exact"] and summary["local_match"]
    assert summary["golden_match"] and summary["last_binary_golden_match"]


def test_digits_bnn_from_an_image(bnn: WorkloadGraph) -> None:
    """digits_bnn (non-foldable batch-norms: its binary layers output their
    dot products at acc_bits, as simulate counts them) on rtl_8x8: the six
    binary convs in RTL, everything else on the host, from test image 3."""
    spec = _spec()
    _plans, arr, sys = _build(spec, bnn)
    rows, summary = run_image_network(arr, sys, bnn, _image(3), 3, np.random.default_rng(0))
    _check_network(rows, summary, spec, bnn)
    rtl = [r.layer.name for r in rows if r.source == "rtl"]
    assert rtl == [x.name for x in bnn if x.is_compute and x.is_binary]
    assert summary["fed_by_rtl"] == 5 and summary["image"] == 3
    # each binary layer stored acc_bits per output (simulate's count, not 1 bit)
    first = next(r for r in rows if r.source == "rtl")
    assert first.check.rtl.dram_write_bits == 16 * int(np.prod(first.layer.out_shape))
    host = {r.layer.name: r.reason for r in rows if r.source == "host"}
    assert "MAC unit" in host["conv1"] and host["layer1.0.add"] == ""
    assert summary["predicted"] == summary["golden_predicted"]


@pytest.mark.slow
def test_brevitas_digits_multibit_layers_from_an_image(brevitas: WorkloadGraph) -> None:
    """brevitas_digits on the shipped rtl_8x8_acc24: the w8a8 first layer runs
    in the system RTL on the image's 8-bit codes and its dot products equal
    golden_forward's outputs on the whole map; the folded binary layers
    output threshold bits equal to golden_forward's; the classifier fc (signed
    8-bit inputs: the MSB activation plane negative) runs in RTL too and its
    logits equal golden_forward's; the class is the model's."""
    spec = load_design(ROOT / "designs" / "rtl_8x8_acc24.yaml")
    assert spec.model_dump(exclude={"name", "description"}) == _spec(24).model_dump(
        exclude={"name", "description"})
    _plans, arr, sys = _build(spec, brevitas)
    rows, summary = run_image_network(arr, sys, brevitas, _image(0), 0,
                                      np.random.default_rng(0))
    _check_network(rows, summary, spec, brevitas)
    by = {r.layer.name: r for r in rows}
    assert by["conv0"].source == "rtl" and by["conv0"].golden_match
    assert by["conv0"].check.rtl.dram_write_bits == 24 * 16 * 16 * 16  # dot products out
    assert by["conv1"].source == "rtl" and by["conv1"].check.rtl.dram_write_bits == 32 * 8 * 8
    assert by["fc"].source == "rtl" and by["fc"].golden_match and by["fc"].local_match
    assert summary["layers_run"] == 6
    fc_in = brevitas["fc"].params.input_quant  # type: ignore[union-attr]
    assert fc_in is not None and fc_in[3] == 1  # signed
    assert summary["predicted"] == summary["golden_predicted"]
    # one cycle more per multi-bit tile in the engine would not match the RTL
    c = by["conv0"].check
    s = simulated_schedule(by["conv0"].layer, spec, c.held)
    assert run_tiles(s.tiles, spec).cycles == c.rtl.cycles
    slower = [replace(t, compute_cycles=t.compute_cycles + 1) for t in s.tiles]
    assert run_tiles(slower, spec).cycles != c.rtl.cycles


def test_multibit_layer_overflowing_the_accumulator_runs_on_the_host(
        brevitas: WorkloadGraph) -> None:
    spec = _spec()
    assert [p.layer.name for p in plan_layers(spec, brevitas)] == [
        "conv1", "conv2", "conv3", "conv4"]
    from bnnarch.errors import RtlError

    with pytest.raises(RtlError, match=r"layer 'conv0' \(conv2d, 8/8 bits\): dot products up "
                                       "to 293760 overflow acc_bits=16"):
        plan_layers(spec, brevitas, ["conv0"])


def test_multibit_system_layers_match_simulate(brevitas: WorkloadGraph, monkeypatch) -> None:
    """--system on a w8a8 layer (random operands): bit-plane DRAM streams,
    cycles, stalls and DRAM bits equal simulate's, outputs bit-exact. Mutation:
    one cycle more per multi-bit tile in the engine's compute timing (the
    mapper's tiles, so simulate's numbers) is caught."""
    import bnnarch.array.mapper as mapper
    from bnnarch.array.simulate import clear_caches

    spec = _spec(24)
    plans = [p for p in plan_layers(spec, brevitas) if p.layer.name == "fc"]
    arr = system_array(spec, [simulated_schedule(p.layer, spec, p.held) for p in plans],
                       [(8, 8)])
    sys = build_system(spec)
    c = check_layer_system(arr, sys, plans[0], np.random.default_rng(1))
    assert not c.diffs() and c.bit_exact and c.rtl.cycles == plans[0].sim.cycles
    assert c.rtl.dram_read_bits == plans[0].sim.dram_read_bits > 64 * 10 * 8
    real = mapper.tile_compute_cycles
    monkeypatch.setattr(mapper, "tile_compute_cycles",
                        lambda gem, *a: real(gem, *a) + (gem.passes > 1))
    clear_caches()
    try:
        slow = [p for p in plan_layers(spec, brevitas) if p.layer.name == "fc"][0]
        bad = check_layer_system(arr, sys, slow, np.random.default_rng(1))
    finally:
        monkeypatch.undo()
        clear_caches()
    assert ("compute_cycles", c.rtl.compute_cycles, c.rtl.compute_cycles + 1) in bad.diffs()


def test_host_feeding_a_wrong_map_fails(bnn: WorkloadGraph, monkeypatch) -> None:
    """Mutation: the host hands one RTL layer a map with one flipped
    activation: its outputs no longer equal the golden layer on the input the
    host computed (the layers after it compute right on what they get, but
    differ from golden_forward)."""
    real = network.input_codes

    def wrong(layer, x):
        got = real(layer, x)
        if layer.name != "layer2.0.conv1" or isinstance(got, str):
            return got
        codes = got[0].copy()
        codes[0, 3, 3] ^= 1
        return codes, got[1]

    monkeypatch.setattr(network, "input_codes", wrong)
    spec = _spec()
    _plans, arr, sys = _build(spec, bnn)
    rows, summary = run_image_network(arr, sys, bnn, _image(0), 0, np.random.default_rng(0))
    local = [r.layer.name for r in rows if r.local_match is False]
    assert local == ["layer2.0.conv1"] and not summary["local_match"]
    assert ("layer 'layer2.0.conv1' (network): outputs differ from the golden layer on the "
            "RTL's input") in rows[[r.layer.name for r in rows].index("layer2.0.conv1")].failures()
    assert not summary["golden_match"]


def test_cli_network_report_and_bad_image(tmp_path: Path, capsys) -> None:
    out = tmp_path / "net"
    args = ["rtl", str(ROOT / "designs" / "rtl_8x8.yaml"), "--out", str(out), "--network",
            "--workload", str(ROOT / "workloads" / "digits_bnn.json"), "--no-synth",
            "--no-lint", "--no-icarus"]
    assert main(args + ["--image", "360"]) == 2
    err = capsys.readouterr().err
    assert "--image 360: the digits test split has 360 images (0 .. 359)" in err
    assert not (out / "report.json").exists()
    assert main(args + ["--image", "5", "--system"]) == 0
    text = capsys.readouterr().out
    assert "network digits_bnn from image 5: 6 layers in RTL, 25 on the host" in text
    assert "host   layer1.0.add" in text
    assert "skip system conv1                the system check runs conv2d and linear" in text
    system = json.loads((out / "report.json").read_text())["system"]
    assert [x["name"] for x in system["skipped"]] == [
        x.name for x in load_workload(ROOT / "workloads" / "digits_bnn.json")
        if x.is_compute and not x.is_binary]
    net = system["network"]
    assert net["image"] == 5 and net["cycle_match"] and net["golden_match"]
    assert {r["source"] for r in net["layers"]} == {"rtl", "host"}
    assert all("golden_match" in r for r in net["layers"])


def test_old_minus_one_padding_fails_the_network_check(bnn: WorkloadGraph,
                                                       monkeypatch) -> None:
    """Mutation: the window unit sends an all-ones valid-tap mask (the array
    pads with -1 as before the mask): border outputs differ from the model's
    and the network check fails naming golden_forward."""
    import bnnarch.rtl.sysrun as sysrun

    monkeypatch.setattr(sysrun, "tile_valid_map",
                        lambda layer, ti, shape: np.ones(shape, dtype=np.uint8))
    spec = _spec()
    _plans, arr, sys = _build(spec, bnn)
    rows, summary = run_image_network(arr, sys, bnn, _image(11), 11, np.random.default_rng(0))
    assert summary["cycle_match"] and not summary["golden_match"]
    first = next(r for r in rows if r.source == "rtl")
    assert any("outputs differ from golden_forward on the image" in f for f in first.failures())


def test_image_for_a_workload_without_a_digits_input_is_refused(tmp_path: Path,
                                                               capsys) -> None:
    rc = main(["rtl", str(ROOT / "designs" / "rtl_8x8.yaml"), "--out", str(tmp_path / "o"),
               "--network", "--workload", str(ROOT / "workloads" / "cnv.json"), "--image", "2"])
    assert rc == 2
    assert ("--image 2: workload 'cnv' does not take a digits image (input [3, 32, 32]); its "
            "network run uses random maps") in capsys.readouterr().err
    assert not (tmp_path / "o" / "report.json").exists()
