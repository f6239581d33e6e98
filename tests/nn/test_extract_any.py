"""bnnarch.nn.extract_any: plain PyTorch, Brevitas and registered binarizers
-> workloads whose golden forward is the model (exact integers)."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnnarch.commands import extract as extract_cmd
from bnnarch.errors import ModelError, WorkloadError
from bnnarch.nn import fx_walk
from bnnarch.nn.extract_any import extract, register_binarizer
from bnnarch.workload.golden import golden_forward
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload
from tests.conftest import need_file, need_module


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.sign(x) - x).detach()


class BinAct(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ste_sign(x)


class BinConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, ste_sign(self.weight), None, self.stride, self.padding)


class BinLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, ste_sign(self.weight))


class PlainBNN(nn.Module):
    """Full-precision stem, two binary convs (one with max-pool between BN
    and sign, one foldable), binary classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.act0 = BinAct()
        self.conv1 = BinConv(8, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = BinAct()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = BinConv(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.act2 = BinAct()
        self.fc = BinLinear(16 * 16, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv0(x)))
        x = self.act1(self.pool(self.bn1(self.conv1(x))))
        x = self.act2(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def _randomise_bn(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=g))  # some gamma < 0: flipped rows
            m.bias.data.copy_(torch.randn(n, generator=g))
    return model.eval()


def _preact(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, np.ndarray]:
    """The model's own +-1 dot products of the named binary layers (float64 copy)."""
    import copy

    m = copy.deepcopy(model).double()
    mods = dict(m.named_modules())
    got: dict[str, np.ndarray] = {}
    hooks = []
    for n in names:
        def hook(mod: nn.Module, args: tuple[torch.Tensor, ...], n: str = n) -> None:
            a, w = torch.sign(args[0]), torch.sign(mod.weight)
            y = F.linear(torch.flatten(a, 1), w)[:, :, None, None] if isinstance(mod, nn.Linear) \
                else F.conv2d(a, w, None, mod.stride, mod.padding)
            got[n] = y.round().long().numpy()
        hooks.append(mods[n].register_forward_pre_hook(hook))
    with torch.no_grad():
        m(x.double())
    for h in hooks:
        h.remove()
    return got


def test_plain_pytorch_bnn_bits_folding_and_exact_golden() -> None:
    torch.manual_seed(0)
    model = _randomise_bn(PlainBNN())
    x = torch.randn(48, 1, 8, 8)
    g = extract(model, x[:1], name="plain", stats_inputs=x)
    bits = {ly.name: (ly.w_bits, ly.a_bits) for ly in g.compute_layers()}
    assert bits == {"conv0": (32, 32), "conv1": (1, 1), "conv2": (1, 1), "fc": (1, 1)}
    assert "maxpool 'pool' between batch-norm 'bn1'" in g["conv1"].fold_reason
    assert g["conv2"].thresholds is not None and g["conv2"].params.flip  # folded, flipped rows
    assert g["conv2"].stats.window is not None and g["conv2"].stats.reuse.frames == 48
    assert "golden.unmodelled" not in dict(g.meta)
    gold = golden_forward(g, x.numpy())
    ref = _preact(model, ["conv1", "conv2", "fc"], x)
    for n, y in ref.items():
        np.testing.assert_array_equal(gold[n], y, err_msg=n)
    with torch.no_grad():  # the binary classifier's outputs are its integers
        np.testing.assert_array_equal(gold["fc"].reshape(48, 10), model(x).numpy())


class MyBinarizer(nn.Module):
    """A binarizer fx cannot read by itself (comparison + where)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class MyBinConv(nn.Conv2d):
    def __init__(self, *a: object, **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.wq = MyBinarizer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.wq(self.weight), None, self.stride, self.padding)


class RegNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.q0 = MyBinarizer()
        self.conv1 = MyBinConv(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        return self.bn1(self.conv1(self.q0(self.bn0(x)))) + x


def test_registered_binarizer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fx_walk, "_BINARIZERS", {})
    model = _randomise_bn(RegNet())
    x = torch.randn(16, 1, 6, 6)
    with pytest.raises(WorkloadError, match=r"op 'ge' in module 'q0'.*no cost model"):
        extract(model, x[:1])
    register_binarizer(MyBinarizer, bits=1)
    g = extract(model, x[:1])
    assert (g["conv1"].w_bits, g["conv1"].a_bits) == (1, 1)
    assert "residual add 'add'" in g["conv1"].fold_reason
    gold = golden_forward(g, x.numpy())
    np.testing.assert_array_equal(gold["conv1"], _preact(model, ["conv1"], x)["conv1"])
    with pytest.raises(ModelError, match=r"not an nn.Module subclass"):
        register_binarizer(ste_sign)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"bits must be one of 1, 2, 4, 8, got 3"):
        register_binarizer(MyBinarizer, bits=3)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3), DataDependent())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # control flow on data: fx cannot trace it
            return x
        return -x


def test_untraceable_control_flow_names_the_module() -> None:
    with pytest.raises(ModelError, match=r"cannot trace module 'block.1' \(TraceError"):
        extract(Untraceable(), torch.randn(1, 1, 6, 6))


def test_unmodelled_op_blocks_the_golden_forward() -> None:
    class WithReLU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.conv(x))

    g = extract(WithReLU(), torch.randn(1, 1, 6, 6), name="r")
    assert g["conv"].out_shape == (4, 4, 4)
    with pytest.raises(WorkloadError, match=r"golden forward of 'r'.*module 'relu' \(ReLU\)"):
        golden_forward(g, np.zeros((1, 1, 6, 6)))

    class SignIntoAdd(nn.Module):  # a sign whose +-1 values an add reads: no layer carries it
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return ste_sign(self.conv(x)) + x

    meta = dict(extract(SignIntoAdd(), torch.randn(1, 1, 6, 6)).meta)
    assert "the 1-bit value of node 'add' (on 'conv') read by 'add_1', not a conv / linear" \
        in meta["golden.unmodelled"]


def test_example_input_must_be_a_batch() -> None:
    with pytest.raises(ModelError, match=r"example_input must be a tensor \(N, C, H, W\)"):
        extract(PlainBNN(), torch.randn(1, 8, 8))


def _brevitas():  # imported lazily: ~2-9 s
    need_module("brevitas")
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    return qnn, SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst


def test_brevitas_bits_from_quantizers() -> None:
    qnn, bin_act, bin_w = _brevitas()

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = qnn.QuantIdentity(bit_width=8)
            self.conv0 = qnn.QuantConv2d(1, 8, 3, padding=1, weight_bit_width=8)
            self.bn0 = nn.BatchNorm2d(8)
            self.act0 = qnn.QuantIdentity(act_quant=bin_act)
            self.conv1 = qnn.QuantConv2d(8, 16, 3, padding=1, bias=False, weight_quant=bin_w)
            self.bn1 = nn.BatchNorm2d(16)
            self.act1 = qnn.QuantHardTanh(bit_width=2, max_val=1.0, min_val=-1.0)
            self.conv2 = qnn.QuantConv2d(16, 16, 3, padding=1, weight_bit_width=4)
            self.bn2 = nn.BatchNorm2d(16)
            self.act2 = qnn.QuantReLU(bit_width=4)
            self.pool = nn.MaxPool2d(2)
            self.fc = qnn.QuantLinear(16 * 16, 10, bias=True, weight_bit_width=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act0(self.bn0(self.conv0(self.inp(x))))
            x = self.act1(self.bn1(self.conv1(x)))
            x = self.pool(self.act2(self.bn2(self.conv2(x))))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    model = _randomise_bn(Mixed())
    x = torch.randn(16, 1, 8, 8)
    g = extract(model, x[:1], name="mixed")
    bits = {ly.name: (ly.w_bits, ly.a_bits) for ly in g.compute_layers()}
    assert bits == {"conv0": (8, 8), "conv1": (1, 1), "conv2": (4, 2), "fc": (2, 4)}
    assert [ly.op for ly in g.layers] == ["conv2d", "threshold", "conv2d", "threshold", "conv2d",
                                        "threshold", "maxpool", "linear"]
    assert g["fc"].macs == 256 * 10 and g["conv1"].packed_weights
    assert "reads batch-norm 'bn1' at 2-bit activations" in g["conv1"].fold_reason
    # k-bit quantizers right before a conv / linear (through max-pooling) ride on it
    assert g["conv2"].params.input_quant[2:] == (2, 1, 0)  # QuantHardTanh: 2-bit signed
    assert g["fc"].params.input_quant[2:] == (4, 0, 0)  # QuantReLU: 4-bit unsigned
    assert "golden.unmodelled" not in dict(g.meta)
    gold = golden_forward(g, x.numpy())["fc"].reshape(16, 10)
    with torch.no_grad():
        np.testing.assert_array_equal(gold.argmax(1), model(x).numpy().argmax(1))


def test_brevitas_binary_model_golden_exact() -> None:
    qnn, bin_act, bin_w = _brevitas()

    class Bin(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv0 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn0 = nn.BatchNorm2d(8)
            self.act0 = qnn.QuantIdentity(act_quant=bin_act)
            self.conv1 = qnn.QuantConv2d(8, 16, 3, padding=1, bias=False, weight_quant=bin_w)
            self.bn1 = nn.BatchNorm2d(16)  # a QuantTensor flows from act1 to fc:
            self.act1 = qnn.QuantIdentity(act_quant=bin_act, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(16 * 64, 10, bias=False, weight_quant=bin_w)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act0(self.bn0(self.conv0(x)))
            x = self.act1(self.bn1(self.conv1(x)))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    model = _randomise_bn(Bin())
    x = torch.randn(32, 1, 8, 8)
    g = extract(model, x[:1], name="bin")
    assert g["conv1"].thresholds is not None  # BN + binary QuantIdentity fold
    scale = g["fc"].params.weight_scale[0]
    assert scale == pytest.approx(0.1)  # SignedBinaryWeightPerTensorConst: +-0.1
    gold = golden_forward(g, x.numpy())
    with torch.no_grad():
        out = model(x).numpy().astype(np.float64)
    np.testing.assert_array_equal(gold["fc"].reshape(32, 10), np.round(out / scale).astype(int))


def _ns(**kw: object) -> argparse.Namespace:
    base = {"model": None, "module": None, "input_shape": None, "stats_inputs": None,
            "checkpoint": None, "small": False, "width": None, "name": None, "images": 16,
            "no_weights": False, "threads": 1, "out": "w.json"}
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_module_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mynet.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3, padding=1)
                self.bn = nn.BatchNorm2d(4)
                self.fc = nn.Linear(4 * 16 * 16, 10)

            def forward(self, x):
                return self.fc(torch.flatten(torch.sign(self.bn(self.conv(x))), 1))

        def make():
            return Net()

        NOT_A_MODULE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "w.json"
    assert extract_cmd.run(_ns(module="mynet:make", input_shape="1,1,16,16", out=str(out))) == 0
    g = load_workload(out)
    assert (g["fc"].w_bits, g["fc"].a_bits) == (32, 1)
    assert json.loads(out.read_text())["meta"]["source"] == "Net"
    bad = [({"module": "mynet"}, r"expected package.module:factory"),
           ({"module": "nosuchpkg:make"}, r"cannot import 'nosuchpkg'"),
           ({"module": "mynet:nothing"}, r"'mynet' has no attribute 'nothing'"),
           ({"module": "mynet:NOT_A_MODULE"}, r"NOT_A_MODULE gave a int, not a torch.nn.Module"),
           ({"module": "mynet:make", "input_shape": "1,x"}, r"expected N,C,H,W or N,F"),
           ({"module": "mynet:make"}, r"--module needs --input-shape"),
           ({"model": "bireal18", "module": "mynet:make"}, r"give a zoo MODEL or --module")]
    for kw, msg in bad:
        kw.setdefault("input_shape", "1,1,16,16")
        if msg.startswith("--module needs"):
            kw["input_shape"] = None
        target = tmp_path / "bad.json"
        with pytest.raises(ModelError, match=msg):
            extract_cmd.run(_ns(out=str(target), **kw))
        assert not target.exists()


def test_transposed_convs_golden_exact_and_bilinear_flagged() -> None:
    class Up(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.act = BinAct()
            self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
            self.bin_up = BinConvT(6, 4, 4, stride=2, padding=1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bin_up(self.act(self.up(self.act(self.bn(self.conv(x))))))

    torch.manual_seed(0)
    model = _randomise_bn(Up())
    x = torch.randn(8, 1, 5, 5)
    g = extract(model, x[:1], name="up")
    assert [(ly.op, ly.w_bits, ly.a_bits) for ly in g.compute_layers()] == [
        ("conv2d", 32, 32), ("conv_transpose2d", 32, 1), ("conv_transpose2d", 1, 1)]
    assert g["up"].out_shape == (6, 10, 10) and g["bin_up"].out_shape == (4, 20, 20)
    gold = golden_forward(g, x.numpy())
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    np.testing.assert_array_equal(gold["bin_up"], ref)  # +-1 x +-1 sums: exact in float64
    bil = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2, mode="bilinear"))
    g2 = extract(bil, torch.randn(1, 1, 6, 6), name="bil")
    assert g2["1"].out_shape == (2, 8, 8)
    assert dict(g2.meta)["golden.unmodelled"] == "module '1' (Upsample): bilinear upsampling"


class BinConvT(nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, ste_sign(self.weight), None, self.stride, self.padding)


BREVITAS_DIGITS = Path(__file__).resolve().parents[2] / "checkpoints" / "brevitas_digits.pth"


def test_trained_brevitas_digits_pytorch_route_equals_import_and_model() -> None:
    """The shipped Brevitas BNN (binarized BN outputs summed in residual adds,
    8-bit input and classifier) through the PyTorch route: the same layers,
    bits and MACs as its imported QONNX workload, thresholds on every binary
    layer, and a golden forward equal to the torch model on all 360 test
    digits (integers of every binary conv, predictions)."""
    need_file(BREVITAS_DIGITS)
    _brevitas()
    from bnnarch.nn import brevitas_zoo
    from bnnarch.nn.data import digits

    model, _ = brevitas_zoo.load(BREVITAS_DIGITS)
    x = digits("test", 16)[0]
    g = extract(model, x[:1], name="brevitas_digits")
    imp = load_workload(BREVITAS_DIGITS.parents[1] / "workloads" / "brevitas_digits.json")
    def key(w: WorkloadGraph) -> list[tuple]:
        return [(ly.name, ly.op, ly.w_bits, ly.a_bits, ly.in_shape, ly.out_shape, ly.macs)
                for ly in w.layers]

    assert key(g) == key(imp)
    assert "golden.unmodelled" not in dict(g.meta)
    binary = [ly.name for ly in g.compute_layers() if ly.is_binary]
    assert binary == ["conv1", "conv2", "conv3", "conv4"]
    assert all(g[n].thresholds is not None for n in binary)  # BN -> binary QuantIdentity
    assert g["fc"].params.input_quant[2:] == (8, 1, 0)  # 8-bit signed input of the classifier
    got: dict[str, torch.Tensor] = {}
    hooks = [getattr(model, n).register_forward_hook(
        lambda m, a, o, n=n: got.__setitem__(n, o.detach())) for n in binary]
    with torch.no_grad():
        out = model(x).numpy()
    for h in hooks:
        h.remove()
    gold = golden_forward(g, x.numpy())
    for n in binary:  # +-1 weights (scale 1) x +-1 inputs: the conv outputs are the integers
        np.testing.assert_array_equal(gold[n], got[n].numpy().astype(np.int64), err_msg=n)
    np.testing.assert_array_equal(gold["fc"].reshape(out.shape).argmax(1), out.argmax(1))
