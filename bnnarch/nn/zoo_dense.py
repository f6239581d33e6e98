"""Dense-prediction models: a binary CenterNet-like detector and a binary U-Net."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from bnnarch.nn.blocks import BiRealBackbone, BiRealBlock, Downsample
from bnnarch.nn.layers import FP, QConv2d


class UpStage(nn.Module):
    """Neck stage: nearest upsample x2 -> binary 3x3 conv -> BN, plus the
    lateral backbone feature of the same stride (residual add, as in
    CenterNet's ResNet/DLA necks and Bi-Real's real-valued shortcuts)."""

    def __init__(self, cin: int, cout: int, method: str) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = QConv2d(cin, cout, 3, 1, 1, method=method)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, lateral: Tensor) -> Tensor:
        return self.bn(self.conv(self.up(x))) + lateral


class CenterNetBNN(nn.Module):
    """Binary single-shot detector (CenterNet, Zhou et al. 2019 "Objects as
    Points"): Bi-Real backbone, upsampling neck back to stride 4, a shared
    binary 3x3 head conv (Bi-Real unit) and full-precision 1x1 heads: class
    heat-map (``hm``, sigmoid), box size (``wh``) and centre offset (``off``).
    Output: (N, classes + 4, H/4, W/4)."""

    def __init__(self, in_ch: int, classes: int, widths: tuple[int, ...], depths: tuple[int, ...],
                 *, stem_k: int = 7, stem_stride: int = 2, maxpool: bool = True,
                 method: str = "bireal") -> None:
        super().__init__()
        self.backbone = BiRealBackbone(in_ch, widths, depths, stem_k=stem_k,
                                       stem_stride=stem_stride, maxpool=maxpool, method=method,
                                       block=BiRealBlock)
        strides = self.backbone.strides
        if 4 not in strides:
            raise ValueError("backbone must have a stride-4 stage")
        self.out_stage = strides.index(4)
        ups = []
        for i in range(len(widths) - 1, self.out_stage, -1):
            ups.append(UpStage(widths[i], widths[i - 1], method))
        self.neck = nn.ModuleList(ups)
        c = widths[self.out_stage]
        self.head_conv = QConv2d(c, c, 3, 1, 1, method=method)
        self.head_bn = nn.BatchNorm2d(c)
        self.hm = QConv2d(c, classes, 1, 1, 0, w_bits=FP, a_bits=FP, method=method, bias=True)
        self.wh = QConv2d(c, 2, 1, 1, 0, w_bits=FP, a_bits=FP, method=method, bias=True)
        self.off = QConv2d(c, 2, 1, 1, 0, w_bits=FP, a_bits=FP, method=method, bias=True)
        nn.init.constant_(cast(Tensor, self.hm.bias), -2.19)  # CenterNet: prior 0.1 (bias=True)
        self.classes = classes

    def forward(self, x: Tensor) -> Tensor:
        feats = self.backbone(x)
        y = feats[-1]
        for j, up in enumerate(self.neck):
            y = up(y, feats[len(feats) - 2 - j])
        y = self.head_bn(self.head_conv(y)) + y
        return torch.cat([self.hm(y), self.wh(y), self.off(y)], 1)


def centernet(small: bool = False, width: int = 16, in_ch: int | None = None,
              classes: int | None = None) -> CenterNetBNN:
    """Published: 3x512x512 (CenterNet's COCO input), Bi-Real-18 backbone, 80
    classes. Small: 1x64x64 digit canvases, 10 classes, 4 stages of w..8w."""
    if small:
        w = width
        return CenterNetBNN(in_ch or 1, classes or 10, (w, 2 * w, 4 * w, 8 * w), (1, 1, 1, 1),
                            stem_k=3, stem_stride=1, maxpool=False)
    return CenterNetBNN(in_ch or 3, classes or 80, (64, 128, 256, 512), (2, 2, 2, 2))


class UnetConv(nn.Module):
    """Binary 3x3 conv -> BN with a real-valued shortcut: identity, or (when
    channels change) a full-precision 1x1 conv + BN (Bi-Real downsample style)."""

    def __init__(self, cin: int, cout: int, method: str) -> None:
        super().__init__()
        self.conv = QConv2d(cin, cout, 3, 1, 1, method=method)
        self.bn = nn.BatchNorm2d(cout)
        self.down = Downsample(cin, cout, 1, method) if cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.down is None else self.down(x)
        return self.bn(self.conv(x)) + sc


class UNetBNN(nn.Module):
    """Binary U-Net (Ronneberger et al. 2015, padded variant): full-precision
    3x3 stem and 1x1 classifier; each level two binary units; max-pool down;
    nearest upsample + skip concat up. Output (N, classes, H, W)."""

    def __init__(self, in_ch: int, classes: int, widths: tuple[int, ...], method: str = "bireal") -> None:
        super().__init__()
        w0 = widths[0]
        self.stem = QConv2d(in_ch, w0, 3, 1, 1, w_bits=FP, a_bits=FP, method=method)
        self.stem_bn = nn.BatchNorm2d(w0)
        self.levels = len(widths)
        cin = w0
        for i, w in enumerate(widths):
            if i > 0:
                self.add_module(f"pool{i}", nn.MaxPool2d(2))
            self.add_module(f"enc{i}", nn.Sequential(UnetConv(cin, w, method), UnetConv(w, w, method)))
            cin = w
        for i in range(len(widths) - 2, -1, -1):
            self.add_module(f"up{i}", nn.Upsample(scale_factor=2, mode="nearest"))
            self.add_module(f"dec{i}", nn.Sequential(UnetConv(cin + widths[i], widths[i], method),
                                                     UnetConv(widths[i], widths[i], method)))
            cin = widths[i]
        self.head = QConv2d(w0, classes, 1, 1, 0, w_bits=FP, a_bits=FP, method=method, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem_bn(self.stem(x))
        skips = []
        for i in range(self.levels):
            if i > 0:
                x = getattr(self, f"pool{i}")(x)
            x = getattr(self, f"enc{i}")(x)
            skips.append(x)
        for i in range(self.levels - 2, -1, -1):
            x = getattr(self, f"up{i}")(x)
            x = getattr(self, f"dec{i}")(torch.cat([x, skips[i]], 1))
        return self.head(x)


def unet(small: bool = False, width: int = 16, in_ch: int | None = None,
         classes: int | None = None) -> UNetBNN:
    """Published: 1x512x512 (ISBI cell images, padded U-Net), 64-1024
    channels, 2 classes. Small: 1x64x64 digit canvases, 11 classes, w..8w."""
    if small:
        w = width
        return UNetBNN(in_ch or 1, classes or 11, (w, 2 * w, 4 * w, 8 * w))
    return UNetBNN(in_ch or 1, classes or 2, (64, 128, 256, 512, 1024))
