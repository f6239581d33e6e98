"""Classification models of the zoo, at published size and small (digits) size.

Layer names follow the papers' reference code (``conv1``, ``layer1.0.conv1``,
``fc``) so that extracted workloads match bnnarch.workload.builder.
"""

from __future__ import annotations

from torch import Tensor, nn

from bnnarch.nn.blocks import BiRealBackbone, BiRealBlock, XnorBlock
from bnnarch.nn.layers import FP, QConv2d, QLinear


class ResNetBNN(BiRealBackbone):
    """Binary ResNet for classification: XNOR-Net ResNet-18 (``XnorBlock``)
    or Bi-Real-18/34 (``BiRealBlock``); full-precision stem and classifier."""

    def __init__(self, in_ch: int, classes: int, widths: tuple[int, ...], depths: tuple[int, ...],
                 *, stem_k: int = 7, stem_stride: int = 2, maxpool: bool = True,
                 method: str = "bireal", block: type[nn.Module] = BiRealBlock) -> None:
        super().__init__(in_ch, widths, depths, stem_k=stem_k, stem_stride=stem_stride,
                         maxpool=maxpool, method=method, block=block)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = QLinear(widths[-1], classes, w_bits=FP, a_bits=FP, method=method)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]  # logits, not a feature list
        x = super().forward(x)[-1]
        return self.fc(self.avgpool(x))


def _resnet(block: type[nn.Module], depths: tuple[int, ...], method: str, small: bool,
            width: int, in_ch: int | None, classes: int | None) -> ResNetBNN:
    if small:  # digits 1x16x16: 3x3 stem, no max-pool, three stages
        return ResNetBNN(in_ch or 1, classes or 10, (width, 2 * width, 4 * width), depths[:3],
                         stem_k=3, stem_stride=1, maxpool=False, method=method, block=block)
    return ResNetBNN(in_ch or 3, classes or 1000, (64, 128, 256, 512), depths, method=method,
                     block=block)


def resnet18(small: bool = False, width: int = 8, in_ch: int | None = None,
             classes: int | None = None, depth: int = 1) -> ResNetBNN:
    """XNOR-Net ResNet-18 (Rastegari et al. 2016), ImageNet 3x224x224."""
    d = (2, 2, 2, 2) if not small else (depth,) * 3
    return _resnet(XnorBlock, d, "xnor", small, width, in_ch, classes)


def bireal18(small: bool = False, width: int = 8, in_ch: int | None = None,
             classes: int | None = None, depth: int = 1, method: str = "bireal") -> ResNetBNN:
    """Bi-Real-18 (Liu et al. 2018), ImageNet 3x224x224."""
    d = (2, 2, 2, 2) if not small else (depth,) * 3
    return _resnet(BiRealBlock, d, method, small, width, in_ch, classes)


def bireal34(small: bool = False, width: int = 8, in_ch: int | None = None,
             classes: int | None = None, depth: int = 1, method: str = "bireal") -> ResNetBNN:
    """Bi-Real-34 (Liu et al. 2018), ImageNet 3x224x224, blocks 3-4-6-3."""
    d = (3, 4, 6, 3) if not small else (depth + 1,) * 3
    return _resnet(BiRealBlock, d, method, small, width, in_ch, classes)


class ReActBlock(nn.Module):
    """ReActNet-A block (Liu et al. 2020, Fig. 3 / reference code): RSign ->
    binary 3x3 (stride s) -> BN + shortcut (avg-pool if strided) -> RPReLU ->
    RSign -> binary 1x1 -> BN + shortcut -> RPReLU. When channels double the
    1x1 conv is duplicated and the two results concatenated."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        from bnnarch.nn.quant import RPReLU

        self.conv3x3 = QConv2d(cin, cin, 3, stride, 1, method="reactnet")
        self.bn1 = nn.BatchNorm2d(cin)
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else None
        self.act1 = RPReLU(cin)
        self.doubles_channels = cout == 2 * cin
        if self.doubles_channels:
            self.pw_down1 = QConv2d(cin, cin, 1, 1, 0, method="reactnet")
            self.pw_down2 = QConv2d(cin, cin, 1, 1, 0, method="reactnet")
            self.bn2_1 = nn.BatchNorm2d(cin)
            self.bn2_2 = nn.BatchNorm2d(cin)
        else:
            self.pw = QConv2d(cin, cout, 1, 1, 0, method="reactnet")
            self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = RPReLU(cout)

    def forward(self, x: Tensor) -> Tensor:
        import torch

        sc = x if self.pool is None else self.pool(x)
        h = self.act1(self.bn1(self.conv3x3(x)) + sc)
        if self.doubles_channels:
            out = torch.cat([self.bn2_1(self.pw_down1(h)) + h, self.bn2_2(self.pw_down2(h)) + h], 1)
        else:
            out = self.bn2(self.pw(h)) + h
        return self.act2(out)


REACTNET_A = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
              (256, 512, 2), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
              (512, 512, 1), (512, 1024, 2), (1024, 1024, 1))


class ReActNetA(nn.Module):
    """ReActNet-A (Liu et al., ECCV 2020): MobileNetV1-shaped, full-precision
    3x3 stride-2 stem and classifier, 13 ReAct blocks, ImageNet 3x224x224."""

    def __init__(self, in_ch: int = 3, classes: int = 1000, scale: float = 1.0,
                 stem_stride: int = 2, cfg: tuple[tuple[int, int, int], ...] = REACTNET_A) -> None:
        super().__init__()

        def c(v: int) -> int:
            return max(1, int(v * scale))

        self.stem = QConv2d(in_ch, c(cfg[0][0]), 3, stem_stride, 1, w_bits=FP, a_bits=FP,
                            method="reactnet")
        self.bn = nn.BatchNorm2d(c(cfg[0][0]))
        self.blocks = nn.Sequential(*[ReActBlock(c(a), c(b), s) for a, b, s in cfg])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = QLinear(c(cfg[-1][1]), classes, w_bits=FP, a_bits=FP, method="reactnet")

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.blocks(self.bn(self.stem(x)))))


def reactnet_a(small: bool = False, width: int = 8, in_ch: int | None = None,
               classes: int | None = None) -> ReActNetA:
    if small:  # digits 1x16x16: stride-1 stem, 5 blocks
        base = ((1, 2, 1), (2, 2, 1), (2, 4, 2), (4, 4, 1), (4, 8, 2))
        cfg = tuple((a * width, b * width, s) for a, b, s in base)
        return ReActNetA(in_ch or 1, classes or 10, 1.0, 1, cfg)
    return ReActNetA(in_ch or 3, classes or 1000)


class VggSmall(nn.Module):
    """BNN VGG-small (LQ-Nets 2018 / IR-Net 2020) for CIFAR-10 3x32x32:
    conv-(pool)-BN order, full-precision first conv and classifier."""

    def __init__(self, in_ch: int = 3, classes: int = 10, widths: tuple[int, int, int] = (128, 256, 512),
                 method: str = "irnet") -> None:
        super().__init__()
        a, b, c = widths
        self.conv0 = QConv2d(in_ch, a, 3, w_bits=FP, a_bits=FP, method=method)
        self.bn0 = nn.BatchNorm2d(a)
        self.conv1 = QConv2d(a, a, 3, method=method)
        self.pool1 = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(a)
        self.conv2 = QConv2d(a, b, 3, method=method)
        self.bn2 = nn.BatchNorm2d(b)
        self.conv3 = QConv2d(b, b, 3, method=method)
        self.pool2 = nn.MaxPool2d(2)
        self.bn3 = nn.BatchNorm2d(b)
        self.conv4 = QConv2d(b, c, 3, method=method)
        self.bn4 = nn.BatchNorm2d(c)
        self.conv5 = QConv2d(c, c, 3, method=method)
        self.pool3 = nn.MaxPool2d(2)
        self.bn5 = nn.BatchNorm2d(c)
        self.fc = QLinear(c * 16, classes, w_bits=FP, a_bits=FP, method=method)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn0(self.conv0(x))
        x = self.bn1(self.pool1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.pool2(self.conv3(x)))
        x = self.bn4(self.conv4(x))
        x = self.bn5(self.pool3(self.conv5(x)))
        return self.fc(x)


def vgg_small(small: bool = False, width: int = 16, in_ch: int | None = None,
              classes: int | None = None, method: str = "irnet") -> VggSmall:
    """Published: CIFAR-10 3x32x32; small: digits 1x32x32, widths w, 2w, 4w."""
    if small:
        return VggSmall(in_ch or 1, classes or 10, (width, 2 * width, 4 * width), method)
    return VggSmall(in_ch or 3, classes or 10, method=method)


class FinnMLP(nn.Module):
    """FINN SFC/LFC (Umuroglu et al. 2017): binarized input (2x - 1, then
    sign in fc0), 3 binary hidden layers with BN (thresholds), binary output."""

    def __init__(self, in_features: int, hidden: int, classes: int = 10, method: str = "bnn") -> None:
        super().__init__()
        self.fc0 = QLinear(in_features, hidden, method=method)
        self.bn0 = nn.BatchNorm1d(hidden)
        self.fc1 = QLinear(hidden, hidden, method=method)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = QLinear(hidden, hidden, method=method)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.fc3 = QLinear(hidden, classes, method=method)
        self.bn3 = nn.BatchNorm1d(classes)

    def forward(self, x: Tensor) -> Tensor:
        x = 2 * x - 1
        x = self.bn0(self.fc0(x))
        x = self.bn1(self.fc1(x))
        x = self.bn2(self.fc2(x))
        return self.bn3(self.fc3(x))


def sfc(small: bool = False, width: int = 64, in_ch: int | None = None,
        classes: int | None = None) -> FinnMLP:
    """SFC: 784-256-256-256-10 on binarized MNIST 1x28x28; small: digits 1x16x16."""
    return FinnMLP((in_ch or 1) * (256 if small else 784), width if small else 256, classes or 10)


def lfc(small: bool = False, width: int = 128, in_ch: int | None = None,
        classes: int | None = None) -> FinnMLP:
    """LFC: 784-1024-1024-1024-10 on binarized MNIST 1x28x28; small: digits 1x16x16."""
    return FinnMLP((in_ch or 1) * (256 if small else 784), width if small else 1024, classes or 10)


class FinnCNV(nn.Module):
    """FINN CNV (Umuroglu et al. 2017), CIFAR-10 3x32x32: unpadded 3x3 convs
    64-64-P-128-128-P-256-256, FC 512-512-10; binary weights, 8-bit input to
    conv0, binary activations elsewhere."""

    def __init__(self, in_ch: int = 3, classes: int = 10, widths: tuple[int, ...] = (64, 128, 256, 512),
                 method: str = "bnn") -> None:
        super().__init__()
        a, b, c, f = widths
        self.conv0 = QConv2d(in_ch, a, 3, 1, 0, w_bits=1, a_bits=8, method=method)
        self.bn0 = nn.BatchNorm2d(a)
        self.conv1 = QConv2d(a, a, 3, 1, 0, method=method)
        self.pool0 = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(a)
        self.conv2 = QConv2d(a, b, 3, 1, 0, method=method)
        self.bn2 = nn.BatchNorm2d(b)
        self.conv3 = QConv2d(b, b, 3, 1, 0, method=method)
        self.pool1 = nn.MaxPool2d(2)
        self.bn3 = nn.BatchNorm2d(b)
        self.conv4 = QConv2d(b, c, 3, 1, 0, method=method)
        self.bn4 = nn.BatchNorm2d(c)
        self.conv5 = QConv2d(c, c, 3, 1, 0, method=method)
        self.bn5 = nn.BatchNorm2d(c)
        self.fc0 = QLinear(c, f, method=method, bias=False)
        self.bn6 = nn.BatchNorm1d(f)
        self.fc1 = QLinear(f, f, method=method, bias=False)
        self.bn7 = nn.BatchNorm1d(f)
        self.fc2 = QLinear(f, classes, method=method, bias=False)
        self.bn8 = nn.BatchNorm1d(classes)

    def forward(self, x: Tensor) -> Tensor:
        x = 2 * x - 1
        x = self.bn0(self.conv0(x))
        x = self.bn1(self.pool0(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.pool1(self.conv3(x)))
        x = self.bn4(self.conv4(x))
        x = self.bn5(self.conv5(x))
        x = self.bn6(self.fc0(x))
        x = self.bn7(self.fc1(x))
        return self.bn8(self.fc2(x))


def cnv(small: bool = False, width: int = 16, in_ch: int | None = None,
        classes: int | None = None) -> FinnCNV:
    """Published: CIFAR-10 3x32x32; small: digits 1x32x32 with widths w, 2w, 4w, 8w."""
    if small:
        return FinnCNV(in_ch or 1, classes or 10, (width, 2 * width, 4 * width, 8 * width))
    return FinnCNV(in_ch or 3, classes or 10)
