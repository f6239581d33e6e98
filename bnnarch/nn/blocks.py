"""Building blocks shared by the model zoo."""

from __future__ import annotations

from torch import Tensor, nn

from bnnarch.nn.layers import FP, QConv2d


class Downsample(nn.Module):
    """Bi-Real downsample shortcut: avg-pool (if strided) + real-valued 1x1 conv + BN."""

    def __init__(self, cin: int, cout: int, stride: int, method: str) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else None
        self.conv = QConv2d(cin, cout, 1, 1, 0, w_bits=FP, a_bits=FP, method=method)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return self.bn(self.conv(x))


class BiRealBlock(nn.Module):
    """Bi-Real basic block: two BiRealConv units, each with its own shortcut
    (conv1 may be strided / change channels)."""

    def __init__(self, cin: int, cout: int, stride: int, method: str = "bireal") -> None:
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride, 1, method=method)
        self.bn1 = nn.BatchNorm2d(cout)
        self.down = Downsample(cin, cout, stride, method) if (stride != 1 or cin != cout) else None
        self.conv2 = QConv2d(cout, cout, 3, 1, 1, method=method)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.down is None else self.down(x)
        h = self.bn1(self.conv1(x)) + sc
        return self.bn2(self.conv2(h)) + h


class XnorBlock(nn.Module):
    """ResNet basic block as binarized in XNOR-Net (Rastegari et al. 2016):
    conv-BN-conv-BN with one shortcut; the downsample shortcut is a
    real-valued strided 1x1 conv + BN."""

    def __init__(self, cin: int, cout: int, stride: int, method: str = "xnor") -> None:
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride, 1, method=method)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = QConv2d(cout, cout, 3, 1, 1, method=method)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential()
            self.down.add_module("conv", QConv2d(cin, cout, 1, stride, 0, w_bits=FP, a_bits=FP,
                                                 method=method))
            self.down.add_module("bn", nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.down is None else self.down(x)
        return self.bn2(self.conv2(self.bn1(self.conv1(x)))) + sc


class BiRealBackbone(nn.Module):
    """Stem (full-precision conv + BN [+ max-pool]) and Bi-Real stages.
    ``forward`` returns the list of stage outputs (for detection/segmentation
    necks); ``strides`` gives each output's stride w.r.t. the input."""

    def __init__(self, in_ch: int, widths: tuple[int, ...], depths: tuple[int, ...], *,
                 stem_k: int = 7, stem_stride: int = 2, maxpool: bool = True,
                 method: str = "bireal", block: type[nn.Module] = BiRealBlock) -> None:
        super().__init__()
        self.conv1 = QConv2d(in_ch, widths[0], stem_k, stem_stride, stem_k // 2, w_bits=FP,
                             a_bits=FP, method=method)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1) if maxpool else None
        stride = stem_stride * (2 if maxpool else 1)
        cin = widths[0]
        self.strides: list[int] = []
        for i, (w, d) in enumerate(zip(widths, depths, strict=True), start=1):
            s0 = 1 if (i == 1 and maxpool) else 2
            stride *= s0
            blocks = [block(cin if j == 0 else w, w, s0 if j == 0 else 1, method) for j in range(d)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            self.strides.append(stride)
            cin = w
        self.n_stages = len(widths)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.bn1(self.conv1(x))
        if self.maxpool is not None:
            x = self.maxpool(x)
        outs = []
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"layer{i}")(x)
            outs.append(x)
        return outs
