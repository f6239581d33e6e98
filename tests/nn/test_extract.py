"""Extraction of every zoo model: shapes and op counts against hand-computed
values and the hand-written layer lists of bnnarch.workload.builder."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from bnnarch.errors import ModelError, WorkloadError
from bnnarch.nn.extract import _Extraction, extract
from bnnarch.nn.layers import quant_layers
from bnnarch.nn.zoo import ZOO, build_model, input_shape
from bnnarch.workload import builder
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import graph_from_dict, graph_to_dict


def _compute(g: WorkloadGraph) -> list[tuple[object, ...]]:
    return [(ly.name, ly.op, ly.in_shape, ly.out_shape, ly.kernel, ly.stride, ly.padding, ly.macs,
             ly.w_bits, ly.a_bits) for ly in g.compute_layers()]


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("small", [False, True])
def test_every_zoo_model_extracts(name: str, small: bool) -> None:
    model = build_model(name, small=small)
    g = extract(model, input_shape(name, small), name=name)
    assert g.compute_layers()
    # precision-map names == workload compute-layer names
    assert sorted(ly.name for ly in g.compute_layers()) == sorted(quant_layers(model))
    assert graph_from_dict(graph_to_dict(g)) == g  # JSON round trip


@pytest.mark.parametrize("name", ["cnv", "vgg_small", "sfc", "lfc"])
def test_matches_builder_layer_lists(name: str) -> None:
    ref = builder.PUBLISHED[name]()
    g = extract(build_model(name), ref.input_shape, name=name)
    assert _compute(g) == _compute(ref)
    assert g.macs == ref.macs


def test_bireal18_matches_builder_resnet18() -> None:
    ref = builder.resnet18()
    g = extract(build_model("bireal18"), (3, 224, 224), name="bireal18")
    assert _compute(g) == _compute(ref)

    def ops(gr: WorkloadGraph, op: str) -> int:
        return sum(ly.op == op for ly in gr.layers)

    for op in ("add", "maxpool", "avgpool"):
        assert ops(g, op) == ops(ref, op)


def test_cnv_hand_computed() -> None:
    g = extract(build_model("cnv"), (3, 32, 32), name="cnv")
    # unpadded 3x3: 32->30->28 (pool 14) ->12->10 (pool 5) ->3->1
    expect = {"conv0": 30 * 30 * 64 * 27, "conv1": 28 * 28 * 64 * 576,
              "conv2": 12 * 12 * 128 * 576, "conv3": 10 * 10 * 128 * 1152,
              "conv4": 3 * 3 * 256 * 1152, "conv5": 1 * 1 * 256 * 2304,
              "fc0": 256 * 512, "fc1": 512 * 512, "fc2": 512 * 10}
    assert {ly.name: ly.macs for ly in g.compute_layers()} == expect
    assert g["conv0"].a_bits == 8 and g["conv1"].is_binary
    assert sum(ly.op == "threshold" for ly in g.layers) == 9


def test_xnor_resnet18_hand_computed() -> None:
    g = extract(build_model("resnet18"), (3, 224, 224), name="resnet18")
    macs = {ly.name: ly.macs for ly in g.compute_layers()}
    assert macs["conv1"] == 112 * 112 * 64 * 7 * 7 * 3
    assert macs["layer1.0.conv1"] == 56 * 56 * 64 * 9 * 64
    assert macs["layer2.0.conv1"] == 28 * 28 * 128 * 9 * 64
    assert macs["layer2.0.down.conv"] == 28 * 28 * 128 * 64
    assert macs["layer4.1.conv2"] == 7 * 7 * 512 * 9 * 512
    assert macs["fc"] == 512 * 1000
    assert sum(macs.values()) == 1_814_073_344  # same convs as the builder's ResNet-18
    assert sum(ly.op == "add" for ly in g.layers) == 8  # one shortcut per basic block
    binary = [ly for ly in g.compute_layers() if ly.is_binary]
    assert len(binary) == 16


def test_reactnet_a_structure() -> None:
    g = extract(build_model("reactnet_a"), (3, 224, 224), name="reactnet_a")
    assert sum(ly.op == "concat" for ly in g.layers) == 5  # channel-doubling blocks
    assert g["blocks.12.pw"].out_shape == (1024, 7, 7)
    assert g["fc"].w_bits == 32


def test_dense_models_capture_upsample_and_concat() -> None:
    g = extract(build_model("unet", small=True), (1, 64, 64), name="unet")
    assert sum(ly.op == "upsample" for ly in g.layers) == 3
    assert sum(ly.op == "concat" for ly in g.layers) == 3
    assert g["head"].out_shape == (11, 64, 64)
    d = extract(build_model("centernet", small=True), (1, 64, 64), name="det")
    assert d["hm"].out_shape == (10, 16, 16)  # stride 4
    assert sum(ly.op == "upsample" for ly in d.layers) == 2


class _SteNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.sign(x)
        x = x + (q - x).detach()  # STE: a quantizer, not an add
        return self.conv(x) + 1.0


def test_ste_counts_as_quantizer_not_add() -> None:
    g = extract(_SteNet(), (2, 8, 8), name="ste")
    assert [ly.op for ly in g.layers] == ["conv2d"]
    assert g["conv"].inputs == ("input",)
    assert dict(g.meta)["quantizers_folded"] == "1"


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _Branchy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


def test_untraceable_module_named() -> None:
    with pytest.raises(ModelError, match=r"cannot trace module 'body'"):
        extract(_Untraceable(), (1, 4, 4), name="bad")


class _NoCost(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def test_module_without_cost_model_named() -> None:
    with pytest.raises((WorkloadError, ModelError), match=r"lstm"):
        extract(_NoCost(), (1, 4, 4), name="bad")


def test_unknown_model_lists_known() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'resnet99' \(known: .*bireal18.*unet"):
        build_model("resnet99")



class _CatOfTensor(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(x, 1)  # type: ignore[call-overload]  # deliberately not a list


def test_concat_of_a_tensor_not_a_list() -> None:
    # a traced model fails shape propagation first ...
    with pytest.raises(ModelError, match=r"'bad': shape propagation failed .*cat"):
        extract(_CatOfTensor(), (1, 4, 4), name="bad")
    # ... and a hand-built fx graph is refused by the concat rule itself
    graph = fx.Graph()
    x = graph.placeholder("x")
    cat = graph.call_function(torch.cat, (x, 1))
    graph.output(cat)
    state = _Extraction(fx.GraphModule(nn.Module(), graph), "bad")
    state.visit(x)
    with pytest.raises(WorkloadError, match=r"op 'cat' in module '<top>'.*not of a list of tensors"):
        state.visit(cat)
