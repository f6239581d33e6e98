"""bnnarch.nn.fx_walk on fx graphs whose ops read something other than a tensor
(hand-built: a traced model fails shape propagation first)."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from bnnarch.errors import WorkloadError
from bnnarch.nn.fx_walk import Walk


def _walk(graph: fx.Graph, root: nn.Module) -> Walk:
    return Walk(fx.GraphModule(root, graph), {}, "bad")


def test_module_on_a_constant_is_named() -> None:
    root = nn.Module()
    root.bn = nn.BatchNorm2d(2)
    graph = fx.Graph()
    graph.placeholder("x")
    call = graph.call_module("bn", (3.0,))
    graph.output(call)
    with pytest.raises(WorkloadError, match=r"module 'bn' \(BatchNorm2d\): input 3.0 is not a "
                                            r"tensor computed from the model input"):
        _walk(graph, root).module(call)


def test_concat_of_a_tensor_not_a_list() -> None:
    graph = fx.Graph()
    x = graph.placeholder("x")
    cat = graph.call_function(torch.cat, (x, 1))
    graph.output(cat)
    walk = _walk(graph, nn.Module())
    walk.producer["x"] = "input"
    with pytest.raises(WorkloadError, match=r"concat of x, not of a list of tensors"):
        walk.post_op(cat, torch.cat, [x], "", "op 'cat'")
