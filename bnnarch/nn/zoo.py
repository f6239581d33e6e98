"""Model registry: name -> constructor, task, and input shape (published / small)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from bnnarch.errors import ModelError
from bnnarch.nn import zoo_cls, zoo_dense


@dataclass(frozen=True)
class ZooEntry:
    build: Callable[..., nn.Module]
    task: str  # classify | detect | segment
    published_input: tuple[int, int, int]
    small_input: tuple[int, int, int]
    source: str


ZOO: dict[str, ZooEntry] = {
    "sfc": ZooEntry(zoo_cls.sfc, "classify", (1, 28, 28), (1, 16, 16), "FINN SFC (Umuroglu 2017)"),
    "lfc": ZooEntry(zoo_cls.lfc, "classify", (1, 28, 28), (1, 16, 16), "FINN LFC (Umuroglu 2017)"),
    "cnv": ZooEntry(zoo_cls.cnv, "classify", (3, 32, 32), (1, 32, 32), "FINN CNV (Umuroglu 2017)"),
    "vgg_small": ZooEntry(zoo_cls.vgg_small, "classify", (3, 32, 32), (1, 32, 32),
                          "BNN VGG-small (LQ-Nets 2018, IR-Net 2020)"),
    "resnet18": ZooEntry(zoo_cls.resnet18, "classify", (3, 224, 224), (1, 16, 16),
                         "XNOR-Net ResNet-18 (Rastegari 2016)"),
    "bireal18": ZooEntry(zoo_cls.bireal18, "classify", (3, 224, 224), (1, 16, 16),
                         "Bi-Real-18 (Liu 2018)"),
    "bireal34": ZooEntry(zoo_cls.bireal34, "classify", (3, 224, 224), (1, 16, 16),
                         "Bi-Real-34 (Liu 2018)"),
    "reactnet_a": ZooEntry(zoo_cls.reactnet_a, "classify", (3, 224, 224), (1, 16, 16),
                           "ReActNet-A (Liu 2020)"),
    "centernet": ZooEntry(zoo_dense.centernet, "detect", (3, 512, 512), (1, 64, 64),
                          "binary CenterNet (Zhou 2019) on a Bi-Real backbone"),
    "unet": ZooEntry(zoo_dense.unet, "segment", (1, 512, 512), (1, 64, 64),
                     "binary U-Net (Ronneberger 2015)"),
}


def entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise ModelError(f"unknown model {name!r} (known: {', '.join(sorted(ZOO))})")
    return ZOO[name]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a zoo model; ``small=True`` gives the digits-sized variant."""
    e = entry(name)
    try:
        return e.build(**kwargs)
    except TypeError as ex:
        raise ModelError(f"model {name!r}: bad constructor arguments {kwargs} ({ex})") from None


def input_shape(name: str, small: bool = False) -> tuple[int, int, int]:
    e = entry(name)
    return e.small_input if small else e.published_input
