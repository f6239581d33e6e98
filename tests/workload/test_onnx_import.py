"""ONNX / QONNX import on hand-built models (onnx.helper; no torch, fast)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bnnarch.errors import SpecError, WorkloadError
from bnnarch.workload.onnx_graph import read_view
from bnnarch.workload.onnx_import import import_onnx
from bnnarch.workload.onnx_run import lower, run
from tests.workload.onnx_models import Builder, binary_conv_net, float_net, unsupported_net


def _unpack(hexs: str, rows: int, k: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hexs), np.uint8), bitorder="big")
    return bits[: rows * k].reshape(rows, k).astype(np.int64) * 2 - 1


def _conv_int(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer 3x3 pad-1 convolution of x (C, H, W) with w (O, C, 3, 3)."""
    c, h, wd = x.shape
    xp = np.zeros((c, h + 2, wd + 2), np.int64)
    xp[:, 1:-1, 1:-1] = x
    out = np.zeros((w.shape[0], h, wd), np.int64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], xp[:, i:i + h, j:j + wd])
    return out


def test_binary_layer_thresholds_reproduce_the_model(tmp_path):
    """Packed weights + thresholds (with the sign flip of negative BN gamma)
    give exactly the bits the model's BipolarQuant produces, on random inputs
    run through onnxruntime."""
    path, p = binary_conv_net(tmp_path / "b.onnx")
    g = import_onnx(path)
    conv0 = g["conv0"]
    assert (conv0.w_bits, conv0.a_bits) == (1, 1) and conv0.thresholds is not None
    view = read_view(path)
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(20, 4, 6, 6)).astype(np.float32)
    t = next(n.output[0] for n in view.nodes if n.name == "act0")  # the sign after bn0
    act = run(view, xs, [t])[t]
    w = _unpack(conv0.packed_weights, 6, 36).reshape(6, 4, 3, 3)
    thr = np.asarray(conv0.thresholds)[:, None, None]
    for x, a in zip(xs, act, strict=True):
        y = _conv_int(np.where(x >= 0, 1, -1), w)
        assert np.array_equal(y >= thr, a >= 0)
    signs = (p["w"] >= 0).reshape(6, -1)
    packed = _unpack(conv0.packed_weights, 6, 36) > 0
    neg = p["gamma"] < 0
    assert np.array_equal(packed[neg], ~signs[neg]) and np.array_equal(packed[~neg], signs[~neg])
    assert g["conv1"].thresholds is None
    assert g["conv1"].fold_reason.startswith("its output is a model output")


def test_lowering_matches_qonnx_reference(tmp_path):
    """Our onnxruntime lowering of Quant / BipolarQuant equals qonnx's own executor."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    b = Builder([1, 3, 5, 5])
    y = b.quant("x", 4, scale=0.25, name="q_in")
    y = b.node("Conv", [y, b.quant(b.const(np.linspace(-1, 1, 54).reshape(2, 3, 3, 3)), 2,
                                   scale=0.5)], name="conv", kernel_shape=[3, 3])
    out = b.bipolar(b.node("Mul", [y, b.const(1.5)]), scale=0.5)
    path = b.save(out, tmp_path / "q.onnx")
    xs = np.random.default_rng(0).normal(size=(4, 3, 5, 5)).astype(np.float32) * 2
    ours = run(read_view(path), xs)[out]
    mw = ModelWrapper(str(path)).transform(InferShapes())
    for x, o in zip(xs, ours, strict=True):
        ref = execute_onnx(mw, {"x": x[None]})[out]
        assert np.array_equal(ref[0], o)


def test_float_model_needs_precision(tmp_path):
    path = float_net(tmp_path / "f.onnx")
    with pytest.raises(WorkloadError, match=r"float ONNX model .* pass --precision P.yaml .*"
                       r"\(conv, fc\)"):
        import_onnx(path)
    g = import_onnx(path, precision={"conv": [8, 8]})
    assert (g["conv"].w_bits, g["conv"].a_bits) == (8, 8)
    assert (g["fc"].w_bits, g["fc"].a_bits) == (32, 32)
    assert g["fc"].in_shape == (8, 1, 1) and g["gap"].op == "avgpool"
    assert g["conv"].macs == 8 * 27 * 64
    with pytest.raises(SpecError, match="no layer 'nope'"):
        import_onnx(path, precision={"nope": [1, 1]})


def test_dynamic_batch_is_fixed_and_dynamic_size_is_an_error(tmp_path):
    g = import_onnx(float_net(tmp_path / "b.onnx", batch="N"), precision={})
    assert g.input_shape == (3, 8, 8)
    with pytest.raises(WorkloadError, match=r"dynamic dimension 2 \('H'\).*fixed input shape"):
        import_onnx(float_net(tmp_path / "d.onnx", hw="H"), precision={})


def test_unsupported_op_names_node_and_fix(tmp_path):
    with pytest.raises(WorkloadError, match=r"node 'lpnorm' \(LpNormalization\): op "
                       r"'LpNormalization' .* is not supported\. Supported: Conv.*qonnx-cleanup"):
        import_onnx(unsupported_net(tmp_path / "u.onnx"))


def test_asymmetric_padding_and_data_moving_transpose(tmp_path):
    b = Builder([1, 2, 8, 8])
    y = b.quant("x", 8)
    y = b.node("Conv", [y, b.quant(b.const(np.ones((4, 2, 3, 3))), 8)], name="c",
               kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])
    g = import_onnx(b.save(y, tmp_path / "p.onnx"))
    assert g["c"].out_shape == (4, 4, 4) and g["c"].padding == (1, 1)
    assert "asymmetric padding" in dict(g.meta)["padding.c"]
    b = Builder([1, 2, 4, 4])
    y = b.node("Transpose", [b.quant("x", 8)], name="tr", perm=[0, 2, 3, 1])
    y = b.node("Flatten", [y], axis=1)
    y = b.node("Gemm", [y, b.quant(b.const(np.ones((3, 32))), 8)], transB=1)
    with pytest.raises(WorkloadError, match=r"node 'tr' \(Transpose\): .* moves data"):
        import_onnx(b.save(y, tmp_path / "t.onnx"))


def test_residual_add_before_sign_is_reported_not_folded(tmp_path):
    b = Builder([1, 4, 4, 4])
    x = b.bipolar("x")
    w = b.bipolar(b.const(np.random.default_rng(0).normal(size=(4, 4, 3, 3))))
    y = b.node("Conv", [x, w], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    one = np.ones(4, np.float32)
    y = b.bn(y, one, one * 0, one * 0, one, name="bn")
    y = b.node("Add", [y, "x"], name="res")
    out = b.bipolar(y)
    g = import_onnx(b.save(out, tmp_path / "r.onnx"))
    assert g["conv"].thresholds is None and g["conv"].packed_weights
    assert "residual add" in g["conv"].fold_reason
    assert g["res"].op == "add" and g["res"].inputs == ("bn", "input")


def test_images_give_window_and_reuse_statistics(tmp_path):
    path, _ = binary_conv_net(tmp_path / "b.onnx")
    xs = np.random.default_rng(0).normal(size=(5, 4, 6, 6)).astype(np.float32)
    g = import_onnx(path, images=xs)
    st = g["conv0"].stats
    assert st.kernel is not None and st.window is not None and st.reuse is not None
    assert st.reuse.frames == 5 and st.reuse.windows == 5 * 36
    assert st.window.pairs == 5 * 4 * 6 * 5  # frames x channels x rows x neighbour pairs
    with pytest.raises(WorkloadError, match=r"is not N images of the model input \[4, 6, 6\]"):
        import_onnx(path, images=np.zeros((2, 3, 6, 6)))


def test_lowered_model_is_plain_onnx(tmp_path):
    path, _ = binary_conv_net(tmp_path / "b.onnx")
    m = lower(read_view(path))
    onnx.checker.check_model(m)
    assert not any(n.domain for n in m.graph.node)


def test_golden_forward_of_the_import_equals_onnxruntime(tmp_path):
    """The imported workload's golden forward gives the integer pre-activations
    onnxruntime computes on the model (conv0 folds with flipped channels; conv1
    reads conv0's threshold bits)."""
    from bnnarch.workload.golden import golden_forward

    path, p = binary_conv_net(tmp_path / "b.onnx")
    g = import_onnx(path)
    assert g["conv0"].params.flip == tuple(np.flatnonzero(p["gamma"] < 0))
    xs = np.random.default_rng(5).normal(size=(16, 4, 6, 6)).astype(np.float32)
    view = read_view(path)
    outs = {n.name: n.output[0] for n in view.nodes if n.name in ("conv0", "conv1")}
    ref = run(view, xs, list(outs.values()))
    gold = golden_forward(g, xs)
    y0 = ref[outs["conv0"]] - p["bias"][None, :, None, None]
    assert np.array_equal(gold["conv0"], np.rint(y0).astype(np.int64))
    assert np.array_equal(gold["conv1"], ref[outs["conv1"]].astype(np.int64))


def test_unsupported_bit_width_needs_a_precision_map(tmp_path):
    b = Builder([1, 2, 4, 4])
    y = b.quant("x", 3, name="q3")
    y = b.node("Conv", [y, b.quant(b.const(np.ones((4, 2, 3, 3))), 8)], name="c",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    path = b.save(y, tmp_path / "q3.onnx")
    with pytest.raises(WorkloadError, match=r"node 'c' \(Conv\): a_bits=3: bnnarch models 1, 2, "
                       r"4 or 8 bits or full precision; pass --precision"):
        import_onnx(path)
    g = import_onnx(path, precision={"c": [8, 4]})
    assert (g["c"].w_bits, g["c"].a_bits) == (8, 4)


def test_qdq_model_bits_and_golden_forward(tmp_path):
    """Standard ONNX integer quantization (QuantizeLinear / DequantizeLinear):
    8-bit layers; onnxruntime runs it as it is and the golden forward of the
    import gives the same outputs (float rounding aside)."""
    from onnx import numpy_helper

    from bnnarch.workload.golden import golden_forward

    rng = np.random.default_rng(2)
    b = Builder([1, 2, 5, 5])

    def qdq(x: str, scale: float, zp: np.ndarray) -> str:
        s, z = b.const(scale), f"zp{b.k}"
        b.inits.append(numpy_helper.from_array(zp, z))
        return b.node("DequantizeLinear", [b.node("QuantizeLinear", [x, s, z]), s, z])

    def wq(w: np.ndarray, scale: float) -> str:
        name = f"w{b.k}"
        b.inits.append(numpy_helper.from_array(w.astype(np.int8), name))
        return b.node("DequantizeLinear", [name, b.const(scale)])

    y = qdq("x", 0.05, np.array(128, np.uint8))
    y = b.node("Conv", [y, wq(rng.integers(-127, 128, (4, 2, 3, 3)), 0.01)], name="conv",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = qdq(b.node("Relu", [y]), 0.0217, np.array(0, np.uint8))  # no ties at 0.5
    y = b.node("Flatten", [y], axis=1)
    out = b.node("Gemm", [y, wq(rng.integers(-127, 128, (3, 100)), 0.02)], name="fc", transB=1)
    path = b.save(out, tmp_path / "qdq.onnx")
    g = import_onnx(path)
    assert dict(g.meta)["format"] == "onnx-qdq"
    assert [(la.w_bits, la.a_bits) for la in g.compute_layers()] == [(8, 8), (8, 8)]
    assert g["conv"].params.input_quant == (0.05000000074505806, 128.0, 8, 0, 0)
    xs = rng.normal(size=(6, 2, 5, 5)).astype(np.float32)
    ref = run(read_view(path), xs)[out]
    gold = golden_forward(g, xs)["fc"].reshape(6, 3)
    np.testing.assert_allclose(gold, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("version", [1, 2])
def test_trunc_bits_and_lowering_match_qonnx(tmp_path, version):
    """Trunc (after an average pool, as Brevitas' QuantAvgPool2d exports it):
    output bits read from its last input; our lowering equals qonnx's executor."""
    from onnx import helper as oh
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    b = Builder([1, 2, 4, 4])
    y = b.quant("x", 8, scale=0.125, name="q")
    y = b.node("AveragePool", [y], name="pool", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Mul", [y, b.const(4.0)])
    ins = [y, b.const(0.125), b.const(0.0), b.const(10.0)]
    ins += [b.const(0.5), b.const(4.0)] if version == 2 else [b.const(4.0)]
    out = b.node("Trunc", ins, name="trunc", domain="qonnx.custom_op.general",
                 rounding_mode="FLOOR", **({"signed": 1, "narrow": 0} if version == 2 else {}))
    y = b.node("Conv", [out, b.quant(b.const(np.ones((3, 2, 1, 1))), 8)], name="c",
               kernel_shape=[1, 1])
    m = b.model(y)
    del m.opset_import[:]
    m.opset_import.extend([oh.make_opsetid("", 17),
                           oh.make_opsetid("qonnx.custom_op.general", version)])
    path = tmp_path / "t.onnx"
    onnx.save(m, str(path))
    g = import_onnx(path)
    assert (g["c"].w_bits, g["c"].a_bits) == (8, 4)
    xs = np.random.default_rng(1).normal(size=(3, 2, 4, 4)).astype(np.float32) * 4
    ours = run(read_view(path), xs, [out])[out]
    mw = ModelWrapper(str(path)).transform(InferShapes())
    assert np.abs(ours).max() > 0
    for x, o in zip(xs, ours, strict=True):
        ref = execute_onnx(mw, {"x": x[None]}, return_full_exec_context=True)[out]
        assert np.array_equal(ref[0], o)


def test_op_coverage_shapes_and_macs(tmp_path):
    """Grouped + dilated conv, auto_pad SAME_UPPER, ConvTranspose, Resize,
    MaxPool, Concat, Add, GlobalAveragePool, MatMul on a float model."""
    rng = np.random.default_rng(0)

    def w(*shape: int) -> str:
        return b.const(rng.normal(size=shape))

    b = Builder([1, 4, 8, 8])
    g = b.node("Conv", ["x", w(8, 2, 3, 3)], name="gconv", kernel_shape=[3, 3], group=2,
               dilations=[2, 2], pads=[2, 2, 2, 2])  # 8 x 8 x 8
    s = b.node("Conv", [g, w(8, 8, 3, 3)], name="same", kernel_shape=[3, 3], strides=[2, 2],
               auto_pad="SAME_UPPER")  # 8 x 4 x 4
    t = b.node("ConvTranspose", [s, w(8, 4, 2, 2)], name="tconv", kernel_shape=[2, 2],
               strides=[2, 2])  # 4 x 8 x 8
    r = b.node("Resize", [s, "", b.const([1.0, 1.0, 2.0, 2.0])], name="resize",
               mode="nearest")  # 8 x 8 x 8
    c = b.node("Concat", [t, r], name="cat", axis=1)  # 12 x 8 x 8
    m = b.node("MaxPool", [c], name="mp", kernel_shape=[2, 2], strides=[2, 2])  # 12 x 4 x 4
    a = b.node("Add", [m, b.node("Relu", [m])], name="res")
    p = b.node("GlobalAveragePool", [a], name="gap")
    f = b.node("Flatten", [p], axis=1)
    out = b.node("MatMul", [f, w(12, 5)], name="mm")
    gr = import_onnx(b.save(out, tmp_path / "ops.onnx"), precision={})
    L = {la.name: la for la in gr.layers}
    assert (L["gconv"].groups, L["gconv"].dilation, L["gconv"].out_shape) == (2, (2, 2), (8, 8, 8))
    assert L["gconv"].macs == 8 * 64 * 2 * 9
    assert (L["same"].out_shape, L["same"].padding) == ((8, 4, 4), (1, 1))
    assert "padding.same" in dict(gr.meta)  # SAME_UPPER 0/1 stored as symmetric 1
    assert L["tconv"].op == "conv_transpose2d" and L["tconv"].out_shape == (4, 8, 8)
    assert L["resize"].op == "upsample" and L["resize"].stride == (2, 2)
    assert L["cat"].inputs == ("tconv", "resize") and L["cat"].out_shape == (12, 8, 8)
    assert L["mp"].op == "maxpool" and L["res"].inputs == ("mp", "mp")
    assert L["gap"].kernel == (4, 4) and L["mm"].op == "linear" and L["mm"].macs == 60


def test_multithreshold_gives_bits_and_folds(tmp_path):
    """FINN's streamlined form: MultiThreshold (bipolar, one threshold per
    channel) after a binary conv folds into integer thresholds."""
    b = Builder([1, 3, 4, 4])
    x = b.bipolar("x")
    wq = b.bipolar(b.const(np.random.default_rng(4).normal(size=(4, 3, 3, 3))))
    y = b.node("Conv", [x, wq], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    thr = np.array([[-3.5], [0.5], [2.0], [30.0]], np.float32)
    mt = b.node("MultiThreshold", [y, b.const(thr)], name="mt",
                domain="qonnx.custom_op.general", out_scale=2.0, out_bias=-1.0)
    out = b.node("Conv", [mt, b.bipolar(b.const(np.ones((2, 4, 1, 1))))], name="conv2",
                 kernel_shape=[1, 1])
    g = import_onnx(b.save(out, tmp_path / "mt.onnx"))
    assert g["mt"].op == "threshold" and g["conv2"].a_bits == 1
    assert g["conv"].thresholds == (-3, 1, 2, 28)  # ceil(thr); 30 > K=27: never (K+1)
