"""QONNX exported by Brevitas (brevitas.export.export_qonnx) -> workload:
the FINN topologies equal our published workloads; a mixed-precision net
with residual add, concat and upsample has the right shapes, bits and ops;
the shipped Brevitas digits BNN imports to the shipped workload and its
onnxruntime run reproduces the Brevitas model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bnnarch.nn import brevitas_zoo as bz
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import graph_to_dict, load_workload
from bnnarch.workload.onnx_graph import read_view
from bnnarch.workload.onnx_import import import_onnx
from bnnarch.workload.onnx_run import run
from tests.conftest import need_file

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("op", "in_shape", "out_shape", "kernel", "stride", "padding", "groups", "w_bits",
        "a_bits", "macs", "binary_ops")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> exported QONNX path (each model exported once per module)."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("qonnx")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            torch.manual_seed(0)
            model, shape = bz.build(name)
            cache[name] = bz.export(model, shape, d / f"{name}.onnx")
        return cache[name]

    return get


def _compute(g: WorkloadGraph) -> list[tuple]:
    return [tuple(getattr(la, k) for k in KEYS) for la in g.compute_layers()]


@pytest.mark.parametrize("name", ["sfc", "lfc", "cnv"])
def test_finn_topologies_equal_published_workloads(exported, name):
    g = import_onnx(exported(name))
    ref = load_workload(ROOT / f"workloads/{name}.json")
    assert _compute(g) == _compute(ref)
    assert g.macs == ref.macs
    binary = [la for la in g.compute_layers() if la.is_binary]
    assert all(la.packed_weights for la in binary)
    # every binary layer but the classifier ends in BN + sign: thresholds fold
    assert [la.thresholds is not None for la in binary] == [True] * (len(binary) - 1) + [False]


def test_mixed_precision_net(exported):
    g = import_onnx(exported("mixed"))
    bits = {la.name: (la.w_bits, la.a_bits) for la in g.compute_layers()}
    assert bits == {"conv0": (8, 8), "conv1": (4, 4), "conv2": (2, 2), "conv3": (1, 1),
                    "conv4": (8, 8), "fc": (8, 8)}
    ops = {la.name: la.op for la in g.layers if not la.is_compute}
    assert ops == {"bn0": "threshold", "bn1": "threshold", "bn2": "threshold",
                   "bn3": "threshold", "add": "add", "up": "upsample", "cat": "concat",
                   "bn4": "threshold", "pool": "avgpool"}
    assert g["add"].inputs == ("bn2", "bn3")
    assert g["cat"].inputs == ("up", "bn0") and g["cat"].out_shape == (24, 16, 16)
    assert g["up"].stride == (2, 2) and g["up"].out_shape == (16, 16, 16)
    assert g["conv2"].out_shape == (16, 8, 8) and g["conv2"].stride == (2, 2)
    assert g["conv4"].in_shape == (24, 16, 16) and g["conv4"].kernel == (1, 1)
    macs = {la.name: la.macs for la in g.compute_layers()}
    assert macs == {"conv0": 8 * 9 * 256, "conv1": 8 * 72 * 256, "conv2": 16 * 72 * 64,
                    "conv3": 16 * 144 * 64, "conv4": 16 * 24 * 256, "fc": 160}
    assert g["conv3"].binary_ops == 2 * macs["conv3"] and g["conv2"].binary_ops == 0
    assert g["conv3"].thresholds is not None


DIGITS_PTH = ROOT / "checkpoints/brevitas_digits.pth"
DIGITS_ONNX = ROOT / "checkpoints/brevitas_digits.onnx"


def test_shipped_digits_workload_is_the_import_of_the_shipped_qonnx():
    need_file(DIGITS_ONNX)
    from bnnarch.nn.data import digits

    x, _ = digits("test", 16)
    g = import_onnx(DIGITS_ONNX, name="brevitas_digits", images=x[:256].numpy())
    shipped = load_workload(ROOT / "workloads/brevitas_digits.json")
    assert graph_to_dict(g)["layers"] == graph_to_dict(shipped)["layers"]
    assert [la.packed_weights for la in g.layers] == [la.packed_weights for la in shipped.layers]
    assert [la.thresholds for la in g.layers] == [la.thresholds for la in shipped.layers]


def test_onnxruntime_on_the_qonnx_reproduces_the_brevitas_model():
    """The QONNX file run by onnxruntime (our lowering) and the Brevitas model
    in torch predict the same digit on the whole test set; the shipped
    accuracy is what they reach."""
    need_file(DIGITS_PTH)
    from bnnarch.nn.data import digits

    torch.set_num_threads(1)
    model, meta = bz.load(DIGITS_PTH)
    x, y = digits("test", 16)
    with torch.no_grad():
        ref = model(x).numpy()
    view = read_view(DIGITS_ONNX)
    out = run(view, x.numpy())[view.outputs[0]]
    assert np.array_equal(out.argmax(1), ref.argmax(1))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    acc = float((out.argmax(1) == y.numpy()).mean())
    assert acc == pytest.approx(meta["metrics"]["accuracy"], abs=1e-4) and acc >= 0.9


def test_rtl_verify_runs_on_an_imported_layer_with_its_real_weights(tmp_path):
    need_file(ROOT / "workloads/brevitas_digits.json")
    from bnnarch.rtl.flow import FlowOptions, run_flow
    from bnnarch.template import load_design

    layer = load_workload(ROOT / "workloads/brevitas_digits.json")["conv4"]
    assert layer.is_binary and layer.packed_weights and layer.thresholds
    res = run_flow(load_design(ROOT / "designs/rtl_small.yaml"), tmp_path, [layer],
                   FlowOptions(icarus=False, lint=False, synth=False))
    rep = res.report["layers"][0]
    assert res.ok and rep["bit_exact"] and rep["cycle_match"]
    assert rep["data"] == "packed_weights"


def test_golden_forward_of_the_imported_brevitas_model_is_the_qonnx_model():
    """On the whole digits test set: bit-identical integer pre-activations of
    every binary layer and the same predictions as onnxruntime on the QONNX file."""
    need_file(DIGITS_ONNX)
    from bnnarch.nn.data import digits
    from bnnarch.workload.golden import golden_forward
    from bnnarch.workload.onnx_build import build

    x = digits("test", 16)[0].numpy()
    g = load_workload(ROOT / "workloads/brevitas_digits.json")
    view = read_view(DIGITS_ONNX)
    _, imp = build(view, "brevitas_digits")
    binary = [la for la in g.compute_layers() if la.is_binary]
    assert len(binary) == 4 and all(la.thresholds is not None for la in binary)
    names = [imp.out_tensor[la.name] for la in binary] + view.outputs
    ref = run(view, x, names)
    gold = golden_forward(g, x)
    for la in binary:
        v = ref[imp.out_tensor[la.name]] / np.asarray(la.params.weight_scale)[None, :, None, None]
        y = np.rint(v)
        assert np.array_equal(v, y)  # the model's conv output is an integer (scales are 1)
        assert np.array_equal(gold[la.name], y.astype(np.int64)), la.name
    last = g.compute_layers()[-1].name
    assert np.array_equal(gold[last].reshape(len(x), -1).argmax(1),
                          ref[view.outputs[0]].argmax(1))


def test_torchscript_export_names_and_dynamic_batch(tmp_path):
    """A float model from torch.onnx's TorchScript exporter (node names
    ``/block/block.0/Conv``, dynamic batch): layers named by module path."""
    from torch import nn

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.head = nn.Linear(8 * 4 * 4, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.block(x)
            return self.head(torch.nn.functional.max_pool2d(y + y, 2).flatten(1))

    path = tmp_path / "ts.onnx"
    torch.onnx.export(M().eval(), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "N"}})
    g = import_onnx(path, precision={"block.0": [1, 1]})
    assert [(la.name, la.op) for la in g.layers] == [
        ("block.0", "conv2d"), ("add", "add"), ("maxpool", "maxpool"), ("head", "linear")]
    assert g["block.0"].is_binary and g["head"].in_shape == (8, 4, 4)
