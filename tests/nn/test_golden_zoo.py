"""The golden forward of each shipped trained workload is its torch model.

For the zoo's trained digits models (classification, detection,
segmentation) and their shipped workloads:

* against the model evaluated in float64 (the same float32 parameters,
  without float32 rounding): every 1-bit layer's integer pre-activations are
  bit-identical end to end, and so are the predictions (class / per-pixel
  argmax of the output maps);
* against the float32 model, layer by layer: fed the model's own real-valued
  input, every binary layer's integers are bit-identical; end to end the
  classifier's predictions are identical on the whole test set.

Whole detection / segmentation test sets are ``slow``; the fast tests use
the first canvases.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnarch.nn.checkpoint import load_checkpoint
from bnnarch.nn.compare import TorchRun, torch_run
from bnnarch.nn.train import task_data
from bnnarch.nn.zoo import input_shape
from bnnarch.workload.golden import golden_forward, layer_forward
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"digits_bnn": 360, "digits_det": 200, "digits_seg": 200}  # whole test sets


@cache
def _case(name: str) -> tuple[torch.nn.Module, WorkloadGraph, torch.Tensor]:
    torch.set_num_threads(1)
    ck = load_checkpoint(ROOT / "checkpoints" / f"{name}.pt")
    shape = input_shape(ck.model_name, small=True)
    return ck.build(), load_workload(ROOT / "workloads" / f"{name}.json"), \
        task_data(ck.task, shape[-1]).x_test


def _check_exact(graph: WorkloadGraph, x: torch.Tensor, ref: TorchRun) -> np.ndarray:
    gold = golden_forward(graph, x.numpy())
    assert ref.preact, "the model has binary layers"
    for name, y in ref.preact.items():
        assert gold[name].dtype == np.int64
        np.testing.assert_array_equal(gold[name], y, err_msg=name)
    out = gold[graph.layers[-1].name].reshape(ref.output.shape)
    np.testing.assert_array_equal(out.argmax(1), ref.output.argmax(1))
    return out


def _run(name: str, n: int | None) -> None:
    model, graph, x = _case(name)
    x = x[:n] if n else x
    ref = torch_run(model, x, double=True)
    out = _check_exact(graph, x, ref)
    if name == "digits_det":  # the same detections: classes and peak positions, in order
        from bnnarch.nn.tasks import det_decode

        got = det_decode(torch.from_numpy(out), 10)
        want = det_decode(torch.from_numpy(ref.output), 10)
        for (_, s1, c1), (_, s2, c2) in zip(got, want, strict=True):
            np.testing.assert_array_equal(c1, c2)
            np.testing.assert_array_equal(np.argsort(-s1, kind="stable"),
                                          np.argsort(-s2, kind="stable"))


def test_every_binary_layer_of_the_shipped_workloads_is_not_folded_or_exact() -> None:
    """Bi-Real units add the shortcut between batch-norm and sign: no layer of
    the shipped trained workloads may claim integer thresholds."""
    for name in MODELS:
        g = _case(name)[1]
        binary = [ly for ly in g.layers if ly.is_binary and ly.is_compute]
        assert binary and all(ly.thresholds is None for ly in binary)
        assert all("residual add" in (ly.fold_reason or "") for ly in binary)
        assert "golden.unmodelled" not in dict(g.meta)


def test_classifier_whole_test_set_float64_exact() -> None:
    _run("digits_bnn", None)


def test_classifier_whole_test_set_float32_predictions_and_layers() -> None:
    model, graph, x = _case("digits_bnn")
    ref = torch_run(model, x, capture_inputs=True)
    gold = golden_forward(graph, x.numpy())
    out = gold["fc"].reshape(ref.output.shape)
    np.testing.assert_array_equal(out.argmax(1), ref.output.argmax(1))
    for name, y in ref.preact.items():
        np.testing.assert_array_equal(layer_forward(graph[name], ref.inputs[name]), y,
                                      err_msg=name)


@pytest.mark.parametrize("name", ["digits_det", "digits_seg"])
def test_dense_first_canvases_float64_exact(name: str) -> None:
    _run(name, 6)


@pytest.mark.parametrize("name", ["digits_det", "digits_seg"])
def test_dense_layers_match_float32_model_layer_by_layer(name: str) -> None:
    model, graph, x = _case(name)
    ref = torch_run(model, x[:4], capture_inputs=True)
    for lname, y in ref.preact.items():
        np.testing.assert_array_equal(layer_forward(graph[lname], ref.inputs[lname]), y,
                                      err_msg=lname)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_det", "digits_seg"])
def test_dense_whole_test_set_float64_exact(name: str) -> None:
    _run(name, None)


def test_xnor_net_activation_scale_k_is_exact_and_flagged() -> None:
    """XNOR-Net (resnet18 of the zoo) scales each binary conv by K: the
    workload flags those layers as not foldable and the golden forward
    computes K from the real-valued input, bit-exact against the model."""
    from bnnarch.nn.extract_any import extract
    from bnnarch.nn.zoo import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", small=True, width=4).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    x = _case("digits_bnn")[2][:32]
    graph = extract(model, x[:1], name="xnor")
    binary = [ly for ly in graph.compute_layers() if ly.is_binary]
    assert binary and all(ly.params.act_scale == "xnor_k" for ly in binary)
    assert graph["layer1.0.conv1"].fold_reason.startswith("XNOR-Net activation scale K")
    _check_exact(graph, x, torch_run(model, x, double=True))
