"""`bnnarch rtl --verify` checks the schedule `simulate` reports: held feature
maps included, computation reuse refused with a message, a mapper failure an
error (never a silent fallback to another schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bnnarch.array.mapper import map_layer
from bnnarch.array.simulate import simulate
from bnnarch.cli import main
from bnnarch.errors import MappingError, RtlError
from bnnarch.rtl.array import build_array
from bnnarch.rtl.sim_schedule import held_maps
from bnnarch.rtl.verify import check_layer
from bnnarch.template import design_from_dict
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]
SEG = ROOT / "workloads" / "digits_seg.json"
NO_TOOLS = ["--no-icarus", "--no-lint", "--no-synth"]


def _rtl_8x8(**update: Any) -> dict[str, Any]:
    d = yaml.safe_load((ROOT / "designs" / "rtl_8x8.yaml").read_text())
    for dotted, value in update.items():
        *path, key = dotted.split(".")
        node = d
        for p in path:
            node = node.setdefault(p, {})
        node[key] = value
    return d


def test_held_feature_maps_verified_against_simulates_schedule() -> None:
    """With a hold region the mapper picks other tiles for some layers; the RTL
    check takes those (the old check mapped every layer as if nothing were held)."""
    spec = design_from_dict(_rtl_8x8(**{"buffers.activations.hold_kib": 16}))
    graph = load_workload(SEG)
    held = held_maps(graph, spec)
    sim = {r.name: r.compute_cycles for r in simulate(spec, graph).layers}
    changed = [lay for lay in graph.compute_layers() if lay.is_binary
               and map_layer(lay, spec).compute_cycles != sim[lay.name]]
    assert changed, "the hold region changes no layer's schedule: the test shows nothing"
    layer = min(changed, key=lambda lay: lay.macs)
    assert held[layer.name] != (False, False)
    lc = check_layer(build_array(spec), layer, np.random.default_rng(0), "FastSimulation",
                     held=held[layer.name])
    assert lc.sim_cycles == sim[layer.name]  # the number simulate reports
    assert lc.failures() == [] and lc.cycle_match and lc.rtl_cycles == sim[layer.name]
    assert "on-chip:" in lc.mapping


def test_reuse_layer_refused_with_what_the_rtl_lacks() -> None:
    spec = design_from_dict(_rtl_8x8(**{"reuse.input_similarity.enabled": True}))
    layer = load_workload(SEG)["enc1.0.conv"]
    with pytest.raises(RtlError, match=r"layer 'enc1\.0\.conv': simulate runs it with "
                                       r"computation reuse \(input_similarity: \d+ instead of "
                                       r"\d+ compute cycles\); the RTL does not implement reuse "
                                       r"schemes \(reuse\.input_similarity\)"):
        check_layer(build_array(spec), layer, np.random.default_rng(0), "FastSimulation")


def test_reuse_refusal_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    design = tmp_path / "reuse.yaml"
    design.write_text(yaml.safe_dump(_rtl_8x8(**{"reuse.input_similarity.enabled": True})))
    out = tmp_path / "out"
    rc = main(["rtl", str(design), "--out", str(out), "--verify", "--workload", str(SEG),
               "--layers", "enc1.0.conv", *NO_TOOLS])
    err = capsys.readouterr().err
    assert rc == 2
    assert "does not implement reuse schemes (reuse.input_similarity)" in err
    assert "Traceback" not in err and not (out / "report.json").exists()


@pytest.mark.parametrize(("exc", "message"), [
    (ValueError("boom"), (r"layer 'c': the simulator's mapper failed \(ValueError: boom\); "
                         r"nothing to verify against")),
    (MappingError("layer 'c': does not fit"),
     (r"layer 'c': the simulator cannot map it, so there is no schedule to verify against "
     r"\(layer 'c': does not fit\)")),
])
def test_mapper_failure_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch,
                                                   exc: Exception, message: str) -> None:
    """The old check caught any mapper exception and compared with the whole
    layer as one closed-form tile instead."""
    from bnnarch.array import mapper
    from bnnarch.rtl import sim_schedule
    from bnnarch.workload.layer import Layer

    def boom(*_a: Any, **_k: Any) -> Any:
        raise exc

    monkeypatch.setattr(mapper, "map_layer", boom)
    monkeypatch.setattr(sim_schedule, "map_layer", boom)
    layer = Layer("c", "conv2d", ("input",), (8, 4, 4), (6, 4, 4), kernel=(3, 3), padding=(1, 1))
    spec = design_from_dict(_rtl_8x8())
    with pytest.raises(RtlError, match=message):
        check_layer(build_array(spec), layer, np.random.default_rng(0), "FastSimulation")
