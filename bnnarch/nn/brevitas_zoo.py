"""BNNs written in Brevitas: the worked example of ``bnnarch import`` and the
FINN topologies as a user would write them.

- ``sfc`` / ``lfc`` / ``cnv``: our definitions of FINN's SFC, LFC and CNV
  (Umuroglu et al., FPGA 2017, sec. 5; the layer lists of
  ``workloads/{sfc,lfc,cnv}.json``): binary weights and activations, SFC/LFC
  on a binarized 28x28 input, CNV with an 8-bit input to its first layer.
- ``mixed``: a test net with conv, residual add, concat, upsample and 1/2/4/8-bit
  layers (8-bit first and last layers).
- ``digits``: a small Brevitas BNN for the 16x16 digits (8-bit first and last
  layers, binary body with two residual adds), trained and exported by

      python -m bnnarch.nn.brevitas_zoo train --out checkpoints/brevitas_digits.pth \\
          --onnx checkpoints/brevitas_digits.onnx --epochs 40 --seed 0

  ``export`` re-exports a saved checkpoint to QONNX (``brevitas.export.export_qonnx``);
  ``images --out X.npy`` writes the digits test images for ``bnnarch import --images``.

Binary quantizers use a constant scale of 1 (Brevitas ``SignedBinary*PerTensorConst``),
so a binary layer's output is the integer +-1 dot product itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from brevitas import nn as qnn
from brevitas.core.scaling import ScalingImplType
from brevitas.quant import (
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFloat,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFloat,
)
from torch import Tensor, nn

from bnnarch.errors import ModelError
from bnnarch.fsio import atomic_write


class BinaryWeight(SignedBinaryWeightPerTensorConst):
    """+-1 weights (Brevitas' default constant scale is 0.1)."""

    scaling_const = 1.0


class InputQuant(Uint8ActPerTensorFloat):
    """8-bit unsigned input on a fixed grid: inputs in [0, 1], scale 1/255."""

    scaling_impl_type = ScalingImplType.CONST
    max_val = 1.0


def act(bits: int, signed: bool = True) -> qnn.QuantIdentity:
    """Activation quantizer: 1 bit = sign (+-1, constant scale 1); k bits = signed int."""
    if bits == 1:
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
    q = Int8ActPerTensorFloat if signed else Uint8ActPerTensorFloat
    return qnn.QuantIdentity(act_quant=q, bit_width=bits)


def conv(cin: int, cout: int, bits: int, k: int = 3, stride: int = 1, padding: int = 1,
         bias: bool = False) -> qnn.QuantConv2d:
    if bits == 1:
        return qnn.QuantConv2d(cin, cout, k, stride=stride, padding=padding, bias=bias,
                               weight_quant=BinaryWeight)
    return qnn.QuantConv2d(cin, cout, k, stride=stride, padding=padding, bias=bias,
                           weight_quant=Int8WeightPerTensorFloat, weight_bit_width=bits)


def linear(cin: int, cout: int, bits: int, bias: bool = False) -> qnn.QuantLinear:
    if bits == 1:
        return qnn.QuantLinear(cin, cout, bias=bias, weight_quant=BinaryWeight)
    return qnn.QuantLinear(cin, cout, bias=bias, weight_quant=Int8WeightPerTensorFloat,
                           weight_bit_width=bits)


class FC(nn.Module):
    """FINN SFC (hidden 256) / LFC (hidden 1024): 3 binary hidden layers + binary classifier."""

    def __init__(self, hidden: int, layers: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.inp = act(1)
        mods: list[nn.Module] = []
        cin = 28 * 28
        for _ in range(layers):
            mods += [linear(cin, hidden, 1), nn.BatchNorm1d(hidden), act(1)]
            cin = hidden
        self.features = nn.Sequential(*mods)
        self.fc = linear(cin, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(self.inp(x).flatten(1)))


class CNV(nn.Module):
    """FINN CNV: 6 binary convs (3x3, no padding, max-pools after the 2nd and
    4th), 3 binary FC layers; 8-bit input to the first conv."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.inp = act(8)
        mods: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
            mods += [conv(cin, cout, 1, padding=0), nn.BatchNorm2d(cout), act(1)]
            if i in (1, 3):
                mods.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*mods)
        self.fc0, self.bn0, self.a0 = linear(256, 512, 1), nn.BatchNorm1d(512), act(1)
        self.fc1, self.bn1, self.a1 = linear(512, 512, 1), nn.BatchNorm1d(512), act(1)
        self.fc2 = linear(512, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.inp(x)).flatten(1)
        x = self.a0(self.bn0(self.fc0(x)))
        return self.fc2(self.a1(self.bn1(self.fc1(x))))


class Mixed(nn.Module):
    """Conv, residual add, concat, upsample; 8/4/2/1-bit layers; 8-bit first and last."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = act(8, signed=False)
        self.conv0, self.bn0, self.q0 = conv(1, 8, 8), nn.BatchNorm2d(8), act(4)
        self.conv1, self.bn1, self.q1 = conv(8, 8, 4), nn.BatchNorm2d(8), act(2)
        self.conv2, self.bn2, self.q2 = conv(8, 16, 2, stride=2), nn.BatchNorm2d(16), act(1)
        self.conv3, self.bn3, self.q3 = conv(16, 16, 1), nn.BatchNorm2d(16), act(1)
        self.qres = act(1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.qcat = act(8)
        self.conv4, self.bn4, self.q4 = conv(24, 16, 8, k=1, padding=0), nn.BatchNorm2d(16), act(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.qpool = act(8)
        self.fc = linear(16, 10, 8, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        a0 = self.q0(self.bn0(self.conv0(self.inp(x))))  # 4-bit, 16x16
        a1 = self.q1(self.bn1(self.conv1(a0)))  # 2-bit
        a2 = self.q2(self.bn2(self.conv2(a1)))  # 1-bit, 8x8
        a3 = self.q3(self.bn3(self.conv3(a2)))
        r = self.qres(a2 + a3)
        u = self.up(r)  # 16x16
        c = self.qcat(torch.cat([u, a0], dim=1))  # 24 channels, 8-bit
        y = self.q4(self.bn4(self.conv4(c)))
        return self.fc(self.qpool(self.pool(y)).flatten(1))


class Digits(nn.Module):
    """16x16 digits: 8-bit conv0 (1->w), binary body w->2w->4w (stride 2) with
    two residual adds of +-1 activations (the first re-binarized as conv3's
    input, the second average-pooled as it is), 8-bit classifier. Every
    quantizer sits right before a compute layer, so the workload's layers
    carry them all (a quantizer between an add and a pooling would have no
    layer to live in)."""

    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        w = width
        self.inp = qnn.QuantIdentity(act_quant=InputQuant)
        self.conv0, self.bn0, self.a0 = conv(1, w, 8), nn.BatchNorm2d(w), act(1)
        self.conv1, self.bn1, self.a1 = conv(w, 2 * w, 1, stride=2), nn.BatchNorm2d(2 * w), act(1)
        self.conv2, self.bn2, self.a2 = conv(2 * w, 2 * w, 1), nn.BatchNorm2d(2 * w), act(1)
        self.res1 = act(1)
        self.conv3 = conv(2 * w, 4 * w, 1, stride=2)
        self.bn3, self.a3 = nn.BatchNorm2d(4 * w), act(1)
        self.conv4, self.bn4, self.a4 = conv(4 * w, 4 * w, 1), nn.BatchNorm2d(4 * w), act(1)
        self.pool = nn.AvgPool2d(4)
        self.qpool = act(8)
        self.fc = linear(4 * w, classes, 8, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a0(self.bn0(self.conv0(self.inp(x))))  # w x 16 x 16
        x1 = self.a1(self.bn1(self.conv1(x)))  # 2w x 8 x 8
        x = self.res1(x1 + self.a2(self.bn2(self.conv2(x1))))
        x3 = self.a3(self.bn3(self.conv3(x)))  # 4w x 4 x 4
        x = x3 + self.a4(self.bn4(self.conv4(x3)))
        return self.fc(self.qpool(self.pool(x)).flatten(1))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "sfc": (lambda: FC(256), (1, 28, 28)),
    "lfc": (lambda: FC(1024), (1, 28, 28)),
    "cnv": (lambda: CNV(), (3, 32, 32)),
    "mixed": (lambda: Mixed(), (1, 16, 16)),
    "digits": (lambda: Digits(), (1, 16, 16)),
}


def build(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    """(model in eval mode, input shape C x H x W)."""
    if name not in MODELS:
        raise ModelError(f"unknown Brevitas model {name!r} (known: {', '.join(MODELS)})")
    factory, shape = MODELS[name]
    return factory().eval(), shape


def export(model: nn.Module, shape: tuple[int, int, int], path: str | Path) -> Path:
    """QONNX export (brevitas.export.export_qonnx) of ``model`` on a batch-1
    input, as one self-contained file written atomically (the exporter leaves
    side files, e.g. ``<name>.data``, in a temporary directory)."""
    from brevitas.export import export_qonnx

    model.eval()
    with tempfile.TemporaryDirectory(prefix="bnnarch-qonnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        with torch.no_grad():
            export_qonnx(model, torch.zeros(1, *shape), str(out))
        data = onnx.load(str(out)).SerializeToString()  # external data folded in
    return atomic_write(path, lambda t: t.write_bytes(data))


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


def train_digits(epochs: int, seed: int, lr: float = 0.005, batch: int = 64,
                 width: int = 16) -> tuple[nn.Module, dict[str, float]]:
    """Adam + cosine schedule on the digits train split; accuracy on the test split."""
    from bnnarch.nn.data import digits

    torch.manual_seed(seed)
    xtr, ytr = digits("train", 16)
    xte, yte = digits("test", 16)
    model = Digits(width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    t0, c0 = time.time(), time.process_time()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    metrics = {"accuracy": round(accuracy(model, xte, yte), 4),
               "train_seconds": round(time.time() - t0, 1),
               "train_cpu_seconds": round(time.process_time() - c0, 1)}
    return model.eval(), metrics


def save(model: nn.Module, path: str | Path, meta: dict) -> Path:
    body = {"format": "bnnarch-brevitas-1", **meta, "state_dict": model.state_dict()}
    return atomic_write(path, lambda tmp: torch.save(body, tmp))


def load(path: str | Path) -> tuple[nn.Module, dict]:
    """(Digits model, metadata) of a checkpoint written by ``save``."""
    p = Path(path)
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise ModelError(f"{p}: not a readable Brevitas checkpoint ({e})") from None
    if not isinstance(ck, dict) or ck.get("format") != "bnnarch-brevitas-1":
        raise ModelError(f"{p}: not a bnnarch Brevitas checkpoint")
    model = Digits(int(ck.get("kwargs", {}).get("width", 16)))
    model.load_state_dict(ck["state_dict"])
    return model.eval(), {k: v for k, v in ck.items() if k != "state_dict"}


def _save_npy(path: Path, x: np.ndarray) -> None:
    with path.open("wb") as f:  # np.save on a path would append ".npy" to the temp name
        np.save(f, x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnnarch.nn.brevitas_zoo",
                                description="Train / export the Brevitas digits BNN (QONNX).")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train on digits, save, export QONNX")
    t.add_argument("--out", required=True, help="checkpoint (.pth)")
    t.add_argument("--onnx", help="also export QONNX here")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--width", type=int, default=16)
    t.add_argument("--threads", type=int, default=1)
    e = sub.add_parser("export", help="export a model to QONNX")
    e.add_argument("model", help=f"a checkpoint (.pth) or an untrained model ({', '.join(MODELS)})")
    e.add_argument("--out", required=True, help="QONNX file to write")
    i = sub.add_parser("images", help="write the first N digits test images as .npy "
                       "(for bnnarch import --images)")
    i.add_argument("--out", required=True, help=".npy file to write")
    i.add_argument("--count", type=int, default=256)
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, getattr(a, "threads", 1)))
    try:
        if a.cmd == "train":
            model, metrics = train_digits(a.epochs, a.seed, width=a.width)
            cmd = "python -m bnnarch.nn.brevitas_zoo " + " ".join(
                argv if argv is not None else sys.argv[1:])
            meta = {"model_name": "brevitas_digits", "task": "classify",
                    "kwargs": {"width": a.width}, "metrics": metrics,
                    "train": {"command": cmd.strip(), "seed": a.seed, "epochs": a.epochs}}
            save(model, a.out, meta)
            print(f"wrote {a.out}: accuracy {metrics['accuracy']} ({metrics['train_seconds']} s)")
            if a.onnx:
                export(model, (1, 16, 16), a.onnx)
                print(f"wrote {a.onnx}")
        elif a.cmd == "images":
            from bnnarch.nn.data import digits

            x = digits("test", 16)[0][:a.count].numpy()
            atomic_write(a.out, lambda tmp: _save_npy(tmp, x))
            print(f"wrote {a.out}: {len(x)} test images {list(x.shape[1:])}")
        else:
            if a.model in MODELS:
                model, shape = build(a.model)
            else:
                model, shape = load(a.model)[0], (1, 16, 16)
            export(model, shape, a.out)
            print(f"wrote {a.out}")
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
