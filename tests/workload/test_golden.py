"""Golden forward (numpy): XNOR-popcount integers, integer thresholds with
flipped rows, post-processing ops, workload params in JSON, and the errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bnnarch.errors import WorkloadError
from bnnarch.workload.foldable import fold_blocker
from bnnarch.workload.golden import golden_forward, im2col, layer_forward, xnor_popcount
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import graph_from_dict, graph_to_dict, load_workload, save_workload
from bnnarch.workload.layer import Layer, LayerParams

RNG = np.random.default_rng(0)


def _pack(bits: np.ndarray) -> str:
    return np.packbits(bits.reshape(-1).astype(np.uint8)).tobytes().hex()


def _conv_ref(a: np.ndarray, w: np.ndarray, stride: int, pad: int, dil: int, groups: int
              ) -> np.ndarray:
    """Direct (loop) convolution with zero padding: (N,C,H,W) x (O,C/g,kh,kw)."""
    n, c, h, wd = a.shape
    o, cg, kh, kw = w.shape
    ap = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=np.int64)
    ap[:, :, pad:pad + h, pad:pad + wd] = a
    ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    for oc in range(o):
        g = oc // (o // groups)
        for i in range(ho):
            for j in range(wo):
                win = ap[:, g * cg:(g + 1) * cg, i * stride: i * stride + dil * (kh - 1) + 1: dil,
                         j * stride: j * stride + dil * (kw - 1) + 1: dil]
                out[:, oc, i, j] = (win * w[oc]).sum((1, 2, 3))
    return out


@pytest.mark.parametrize(("stride", "pad", "dil", "groups", "k"),
                         [(1, 1, 1, 1, 3), (2, 1, 1, 2, 3), (1, 2, 2, 1, 3), (1, 0, 1, 1, 1)])
def test_binary_conv_is_the_integer_conv(stride: int, pad: int, dil: int, groups: int, k: int
                                         ) -> None:
    cin, cout, h = 4, 6, 9
    x = RNG.standard_normal((3, cin, h, h))
    wbits = RNG.integers(0, 2, (cout, cin // groups, k, k))
    ho = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    layer = Layer("c", "conv2d", ("input",), (cin, h, h), (cout, ho, ho), (k, k), (stride, stride),
                  (pad, pad), (dil, dil), groups, packed_weights=_pack(wbits),
                  params=LayerParams(weight_scale=(1.0,) * cout))
    y = layer_forward(layer, x)
    ref = _conv_ref(np.where(x >= 0, 1, -1), wbits * 2 - 1, stride, pad, dil, groups)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, ref)


def test_xnor_popcount_counts_only_valid_taps() -> None:
    a = RNG.integers(0, 2, (2, 1, 5, 130)).astype(np.uint8)  # K = 130: three 64-bit words
    w = RNG.integers(0, 2, (1, 3, 130)).astype(np.uint8)
    valid = RNG.integers(0, 2, (5, 130)).astype(np.uint8)
    ref = np.einsum("ngmk,gok,mk->ngmo", a.astype(int) * 2 - 1, w.astype(int) * 2 - 1, valid)
    np.testing.assert_array_equal(xnor_popcount(a, valid, w), ref)


def _f32(v: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in v.astype(np.float32))


def _chain(thresholds: bool, seed: int = 0) -> WorkloadGraph:
    """binary conv -> BN -> binary conv, with the first BN folded into integer
    thresholds (rows of channels with gamma < 0 negated) or kept as floats."""
    rng = np.random.default_rng(seed)
    c, h = 8, 6
    w1 = rng.integers(0, 2, (c, 4, 3, 3))
    w2 = rng.integers(0, 2, (c, c, 3, 3))
    gamma = np.asarray(_f32(rng.standard_normal(c)))
    bn = LayerParams(mean=_f32(rng.standard_normal(c) * 3), var=_f32(rng.random(c) + 0.5),
                     gamma=tuple(gamma), beta=_f32(rng.standard_normal(c)), eps=1e-5)
    thr = flip = None
    packed = _pack(w1)
    if thresholds:
        sg = np.sqrt(np.float32(np.asarray(bn.var, np.float32) + np.float32(1e-5)))
        t = np.asarray(bn.mean) - np.asarray(bn.beta) * sg / gamma
        thr = tuple(math.ceil(v if g > 0 else -v) for v, g in zip(t, gamma, strict=True))
        flip = tuple(int(i) for i in np.flatnonzero(gamma < 0))
        packed = _pack(np.where((gamma < 0)[:, None, None, None], 1 - w1, w1))
    return WorkloadGraph("chain", (4, h, h), (
        Layer("c1", "conv2d", ("input",), (4, h, h), (c, h, h), (3, 3), padding=(1, 1),
              packed_weights=packed, thresholds=thr,
              params=LayerParams(weight_scale=(1.0,) * c, flip=flip or ())),
        Layer("bn1", "threshold", ("c1",), (c, h, h), (c, h, h), params=bn),
        Layer("c2", "conv2d", ("bn1",), (c, h, h), (c, h, h), (3, 3), padding=(1, 1),
              packed_weights=_pack(w2), params=LayerParams(weight_scale=(1.0,) * c)),
    ))


def test_integer_thresholds_with_flipped_rows_equal_the_float_batch_norm() -> None:
    g_float, g_int = _chain(False), _chain(True)
    assert g_int["c1"].params.flip and g_int["c1"].thresholds
    x = RNG.standard_normal((5, 4, 6, 6))
    ref, got = golden_forward(g_float, x), golden_forward(g_int, x)
    np.testing.assert_array_equal(got["c1"], ref["c1"])  # the model's y (flips undone)
    assert got["bn1"].dtype == np.int8
    np.testing.assert_array_equal(got["bn1"], np.where(ref["bn1"] >= 0, 1, -1))
    np.testing.assert_array_equal(got["c2"], ref["c2"])


def test_post_processing_ops() -> None:
    x = RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)
    g = WorkloadGraph("p", (3, 4, 4), (
        Layer("mp", "maxpool", ("input",), (3, 4, 4), (3, 2, 2), (3, 3), (2, 2), (1, 1)),
        Layer("ap", "avgpool", ("input",), (3, 4, 4), (3, 2, 2), (2, 2), (2, 2)),
        Layer("add", "add", ("mp", "ap"), (3, 2, 2), (3, 2, 2)),
        Layer("up", "upsample", ("add",), (3, 2, 2), (3, 4, 4), stride=(2, 2)),
        Layer("cat", "concat", ("up", "input"), (3, 4, 4), (6, 4, 4)),
    ))
    out = golden_forward(g, x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    mp = np.array([[[[xp[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(2)]
                     for i in range(2)] for c in range(3)] for n in range(2)])
    ap = x.astype(np.float64).reshape(2, 3, 2, 2, 2, 2).mean((3, 5))
    np.testing.assert_array_equal(out["mp"], mp)
    np.testing.assert_allclose(out["ap"], ap, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out["up"][:, :, ::2, ::2], out["add"])
    np.testing.assert_array_equal(out["up"][:, :, 1::2, 1::2], out["add"])
    np.testing.assert_array_equal(out["cat"][:, 3:], x)
    assert list(golden_forward(g, x, upto="ap")) == ["mp", "ap"]


def test_full_precision_conv_and_linear_match_numpy() -> None:
    x = RNG.standard_normal((2, 3, 5, 5))
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    fw = RNG.standard_normal((2, 4 * 25)).astype(np.float32)
    g = WorkloadGraph("fp", (3, 5, 5), (
        Layer("c", "conv2d", ("input",), (3, 5, 5), (4, 5, 5), (3, 3), padding=(1, 1), w_bits=32,
              a_bits=32, params=LayerParams(weight=tuple(w.reshape(-1).tolist()),
                                            bias=(0.5, 0.0, -1.0, 2.0))),
        Layer("fc", "linear", ("c",), (4, 5, 5), (2, 1, 1), w_bits=32, a_bits=32,
              params=LayerParams(weight=tuple(fw.reshape(-1).tolist()))),
    ))
    out = golden_forward(g, x)
    ref = _conv_ref(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)), 1, 0, 1, 1)  # shape sanity
    assert ref.shape == (1, 1, 1, 1)
    cols = im2col(x.astype(np.float32).astype(np.float64), (3, 3), (1, 1), (1, 1), (1, 1),
                  (5, 5), 1)[:, 0]
    conv = np.einsum("nmk,ok->nom", cols, w.reshape(4, -1).astype(np.float64)).reshape(2, 4, 5, 5)
    conv += np.array([0.5, 0.0, -1.0, 2.0]).reshape(1, 4, 1, 1)
    np.testing.assert_allclose(out["c"], conv, rtol=1e-12)
    np.testing.assert_allclose(out["fc"].reshape(2, 2), conv.reshape(2, -1) @ fw.T, rtol=1e-12)


def test_params_round_trip_exactly(tmp_path: Path) -> None:
    g = _chain(True)
    g = g.with_layers(tuple(replace(ly, params=replace(ly.params, weight_scale=(0.1,) * 8))
                            if ly.op == "conv2d" else ly for ly in g.layers))
    path = save_workload(g, tmp_path / "g.json")
    back = load_workload(path)
    for a, b in zip(g.layers, back.layers, strict=True):
        assert b.thresholds == a.thresholds
        if a.op == "threshold":  # float32 values survive exactly
            assert b.params.mean == tuple(float(np.float32(v)) for v in a.params.mean)
        else:
            assert b.params.weight_scale == (0.1,) * 8  # float64 kept
            assert b.params.flip == a.params.flip


def _layer_dict(**kw: object) -> dict:
    g = _chain(False)
    d = graph_to_dict(g)
    d["layers"][0].update(kw)
    return d


@pytest.mark.parametrize(("kw", "msg"), [
    ({"params": {"weight_scale": "00"}}, (r"params.weight_scale: expected hex of little-endian "
                                         r"float64 values \(16 hex digits each\)")),
    ({"params": {"bias": "zz" * 4}}, r"params.bias: not a hex string"),
    ({"params": {"bias": "00000000"}}, r"params.bias has 1 values, the layer needs 8"),
    ({"params": {"colour": "00"}}, r"params: unknown key\(s\) colour"),
    ({"params": {"act_scale": "magic"}}, r"params.act_scale must be one of xnor_k"),
    ({"params": {"flip": [9]}}, r"params.flip holds a channel outside 0..7"),
    ({"params": {"mean": "00000000" * 8}}, r"batch-norm params .* belong to a threshold layer"),
    ({"foldable": False}, r"foldable: false needs a fold_reason"),
    ({"foldable": "no"}, r"foldable: expected true or false"),
    ({"fold_reason": "x"}, r"fold_reason given but foldable is not false"),
    ({"foldable": False, "fold_reason": "x", "thresholds": [1] * 8},
     r"a layer with thresholds cannot be foldable: false"),
])
def test_bad_params_and_fold_fields_are_named(kw: dict, msg: str) -> None:
    with pytest.raises(WorkloadError, match=r"layers\[0\] \(c1\).*" + msg):
        graph_from_dict(json.loads(json.dumps(_layer_dict(**kw))), "w.json")


def test_golden_errors_name_the_problem() -> None:
    g = _chain(False)
    with pytest.raises(WorkloadError, match=r"inputs have shape \[4, 5, 5\] per image, the "
                                            r"workload takes \[4, 6, 6\]"):
        golden_forward(g, np.zeros((1, 4, 5, 5)))
    with pytest.raises(WorkloadError, match=r"no layer named 'nope'"):
        golden_forward(g, np.zeros((1, 4, 6, 6)), upto="nope")
    bare = g.with_layers(tuple(replace(ly, params=None) for ly in g.layers))
    with pytest.raises(WorkloadError, match=r"layer 'c1' \(conv2d\) has no params: the golden "
                                            r"forward needs a workload extracted with its weights"):
        golden_forward(bare, np.zeros((4, 6, 6)))
    nopack = g.with_layers((replace(g.layers[0], packed_weights=None),) + g.layers[1:])
    with pytest.raises(WorkloadError, match=r"layer 'c1': 1-bit weights need packed_weights"):
        golden_forward(nopack, np.zeros((4, 6, 6)))
    short = g.with_layers((replace(g.layers[0], packed_weights="ff"),) + g.layers[1:])
    with pytest.raises(WorkloadError, match=r"packed_weights holds 8 bits, needs 8 x 36"):
        golden_forward(short, np.zeros((4, 6, 6)))
    flagged = replace(g, meta=(("golden.unmodelled", "module 'relu' (ReLU)"),))
    with pytest.raises(WorkloadError, match=r"golden forward of 'chain': the workload does not "
                                            r"record .*module 'relu' \(ReLU\)"):
        golden_forward(flagged, np.zeros((4, 6, 6)))


def test_fold_blocker_reasons() -> None:
    g = _chain(False)
    assert fold_blocker(g, "c1") is None
    assert fold_blocker(g, "c2") == "not followed by exactly one batch-norm"
    out = WorkloadGraph("o", g.input_shape, g.layers[:2])
    assert fold_blocker(out, "c1") == "batch-norm 'bn1' is a network output (real-valued)"
    two_bit = g.with_layers(g.layers[:2] + (replace(g.layers[2], a_bits=2),))
    assert fold_blocker(two_bit, "c1") == "'c2' reads batch-norm 'bn1' at 2-bit activations, not a sign"
    res = g.with_layers(g.layers[:2] + (
        Layer("add", "add", ("bn1", "bn1"), (8, 6, 6), (8, 6, 6)),))
    assert "residual add 'add' between batch-norm 'bn1' and the sign" in fold_blocker(res, "c1")
    k = g.with_layers((replace(g.layers[0], params=LayerParams(act_scale="xnor_k")),) + g.layers[1:])
    assert fold_blocker(k, "c1").startswith("XNOR-Net activation scale K")
