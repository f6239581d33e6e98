"""Write workloads from layer lists (the published topologies), tracking shapes.

Used for the shipped published-size workloads (ResNet-18, VGG-small, FINN's
SFC/LFC/CNV) and by tests. Trained-model extraction (bnnarch.nn.extract)
produces the same Layer values from torch modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, Layer, Op, Shape, conv_out


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass
class GraphBuilder:
    name: str
    input_shape: Shape
    layers: list[Layer] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    last: str = INPUT

    def __post_init__(self) -> None:
        self.shapes[INPUT] = self.input_shape

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self.shapes[layer.name] = layer.out_shape
        self.last = layer.name
        return layer.name

    def conv(self, name: str, cout: int, k: int | tuple[int, int], s: int = 1, p: int | None = None,
             *, groups: int = 1, dilation: int = 1, bits: tuple[int, int] = (1, 1),
             src: str | None = None) -> str:
        src = src or self.last
        cin, h, w = self.shapes[src]
        kh, kw = _pair(k)
        ph, pw = _pair(p) if p is not None else (kh // 2 * dilation, kw // 2 * dilation)
        ho, wo = conv_out(h, kh, s, ph, dilation), conv_out(w, kw, s, pw, dilation)
        return self._add(Layer(name, "conv2d", (src,), (cin, h, w), (cout, ho, wo), (kh, kw),
                               (s, s), (ph, pw), (dilation, dilation), groups, *bits))

    def deconv(self, name: str, cout: int, k: int, s: int, *, bits: tuple[int, int] = (1, 1),
               src: str | None = None) -> str:
        """Transposed conv with padding (k - s) // 2, output = input * s."""
        src = src or self.last
        cin, h, w = self.shapes[src]
        p = (k - s) // 2
        return self._add(Layer(name, "conv_transpose2d", (src,), (cin, h, w), (cout, h * s, w * s),
                               (k, k), (s, s), (p, p), (1, 1), 1, *bits))

    def linear(self, name: str, cout: int, *, bits: tuple[int, int] = (1, 1),
               src: str | None = None) -> str:
        src = src or self.last
        shp = self.shapes[src]
        return self._add(Layer(name, "linear", (src,), shp, (cout, 1, 1), w_bits=bits[0],
                               a_bits=bits[1]))

    def pool(self, name: str, k: int, s: int | None = None, *, kind: Op = "maxpool", p: int = 0,
             src: str | None = None) -> str:
        src = src or self.last
        c, h, w = self.shapes[src]
        s = s or k
        out = (c, conv_out(h, k, s, p), conv_out(w, k, s, p))
        return self._add(Layer(name, kind, (src,), (c, h, w), out, (k, k), (s, s), (p, p)))

    def global_avgpool(self, name: str, src: str | None = None) -> str:
        src = src or self.last
        c, h, w = self.shapes[src]
        return self._add(Layer(name, "avgpool", (src,), (c, h, w), (c, 1, 1), (h, w), (h, w)))

    def add(self, name: str, a: str, b: str) -> str:
        shp = self.shapes[a]
        return self._add(Layer(name, "add", (a, b), shp, shp))

    def concat(self, name: str, srcs: list[str]) -> str:
        shp0 = self.shapes[srcs[0]]
        c = sum(self.shapes[s][0] for s in srcs)
        return self._add(Layer(name, "concat", tuple(srcs), shp0, (c, shp0[1], shp0[2])))

    def upsample(self, name: str, factor: int, src: str | None = None) -> str:
        src = src or self.last
        c, h, w = self.shapes[src]
        return self._add(Layer(name, "upsample", (src,), (c, h, w), (c, h * factor, w * factor),
                               stride=(factor, factor)))

    def threshold(self, name: str, src: str | None = None) -> str:
        src = src or self.last
        shp = self.shapes[src]
        return self._add(Layer(name, "threshold", (src,), shp, shp))

    def build(self, **meta: str) -> WorkloadGraph:
        return WorkloadGraph(self.name, self.input_shape, tuple(self.layers),
                             tuple(sorted(meta.items())))


FP = (FP_BITS, FP_BITS)


def resnet18(size: int = 224, classes: int = 1000) -> WorkloadGraph:
    """XNOR-Net / Bi-Real ResNet-18: full-precision 7x7 stem and classifier,
    binary 3x3 convs, Bi-Real downsample shortcut (avg-pool + real-valued 1x1
    conv, here counted at 8 bits... kept full precision as in Bi-Real)."""
    return _basic_resnet("resnet18", (2, 2, 2, 2), size, classes,
                         "XNOR-Net (Rastegari 2016) / Bi-Real (Liu 2018) ResNet-18 topology")


def resnet34(size: int = 224, classes: int = 1000) -> WorkloadGraph:
    """ResNet-34 (He et al., CVPR 2016, Table 1: basic blocks 3-4-6-3) in the
    same binary form as resnet18: the network XNOR Neural Engine reports
    (Conti et al., IEEE TCAD 2018)."""
    return _basic_resnet("resnet34", (3, 4, 6, 3), size, classes,
                         "ResNet-34 (He 2016) basic blocks 3-4-6-3, binary as XNOR-Net / Bi-Real")


def _basic_resnet(name: str, blocks: tuple[int, int, int, int], size: int, classes: int,
                  source: str) -> WorkloadGraph:
    b = GraphBuilder(name, (3, size, size))
    b.conv("conv1", 64, 7, 2, 3, bits=FP)
    x = b.pool("maxpool", 3, 2, p=1)
    cin = 64
    for stage, (cout, n_blocks) in enumerate(zip((64, 128, 256, 512), blocks, strict=True),
                                             start=1):
        for blk in range(n_blocks):
            s = 2 if (stage > 1 and blk == 0) else 1
            pre = f"layer{stage}.{blk}"
            h = b.conv(f"{pre}.conv1", cout, 3, s, 1, src=x)
            if s != 1 or cin != cout:
                sc = b.pool(f"{pre}.down.pool", 2, 2, kind="avgpool", src=x)
                sc = b.conv(f"{pre}.down.conv", cout, 1, 1, 0, bits=FP, src=sc)
            else:
                sc = x
            h = b.add(f"{pre}.add1", h, sc)
            h2 = b.conv(f"{pre}.conv2", cout, 3, 1, 1, src=h)
            x = b.add(f"{pre}.add2", h2, h)
            cin = cout
    b.global_avgpool("avgpool", src=x)
    b.linear("fc", classes, bits=FP)
    return b.build(source=source)


def vgg_small(size: int = 32, classes: int = 10) -> WorkloadGraph:
    """BNN VGG-small for CIFAR-10 (LQ-Nets/IR-Net variant): 128-128-256-256-512-512,
    full-precision first conv and classifier."""
    b = GraphBuilder("vgg_small", (3, size, size))
    b.conv("conv0", 128, 3, bits=FP)
    b.conv("conv1", 128, 3)
    b.pool("pool1", 2)
    b.conv("conv2", 256, 3)
    b.conv("conv3", 256, 3)
    b.pool("pool2", 2)
    b.conv("conv4", 512, 3)
    b.conv("conv5", 512, 3)
    b.pool("pool3", 2)
    b.linear("fc", classes, bits=FP)
    return b.build(source="BNN VGG-small, CIFAR-10 (Zhang et al. LQ-Nets 2018; Qin et al. IR-Net 2020)")


def finn_mlp(name: str, hidden: int) -> WorkloadGraph:
    """FINN SFC (256) / LFC (1024): 784 - 3 x hidden - 10, binary weights and
    activations; the input is binarized MNIST (1 bit)."""
    b = GraphBuilder(name, (1, 28, 28))
    for i in range(3):
        b.linear(f"fc{i}", hidden)
        b.threshold(f"thr{i}")
    b.linear("fc3", 10)
    return b.build(source="FINN (Umuroglu et al., FPGA 2017) Table: SFC/LFC topologies")


def finn_cnv() -> WorkloadGraph:
    """FINN CNV: (2x conv64, pool, 2x conv128, pool, 2x conv256) unpadded 3x3,
    then FC 512-512-10; CIFAR-10 input 32x32x3 (first layer 8-bit input)."""
    b = GraphBuilder("cnv", (3, 32, 32))
    b.conv("conv0", 64, 3, p=0, bits=(1, 8))
    b.conv("conv1", 64, 3, p=0)
    b.pool("pool0", 2)
    b.conv("conv2", 128, 3, p=0)
    b.conv("conv3", 128, 3, p=0)
    b.pool("pool1", 2)
    b.conv("conv4", 256, 3, p=0)
    b.conv("conv5", 256, 3, p=0)
    b.linear("fc0", 512)
    b.linear("fc1", 512)
    b.linear("fc2", 10)
    return b.build(source="FINN (Umuroglu et al., FPGA 2017) CNV topology")


def binareye_cifar10(width: int = 256) -> WorkloadGraph:
    """BinarEye's CIFAR-10 network (Moons et al., CICC 2018; 86% at 14.4 uJ/frame).
    ASSUMED layer list (the paper's table was not read): the 8-conv + 1-FC
    "256X" BinaryNet of its sister chip (Bankman et al., JSSC 2019): eight 2x2
    binary convs of ``width`` channels (BinarEye's widest setting, 4 x 64), a
    2x2 max-pool after convs 1, 3 and 5, one binary FC layer 256*4*4 -> 10;
    the input is 3 x 32 x 32 at 8 bits (7-bit pixels in that chip, rounded up
    to a width the workload format knows). A 2x2 stride-1 conv cannot keep the
    size with symmetric padding: the convs alternate padding 1 (size + 1) and
    0 (size - 1), so every pair keeps the size, as the chip's own padding does."""
    b = GraphBuilder("binareye_cifar10", (3, 32, 32))
    for i in range(8):
        b.conv(f"conv{i}", width, 2, 1, 1 - i % 2, bits=(1, 8) if i == 0 else (1, 1))
        if i % 2 and i < 7:
            b.pool(f"pool{i // 2}", 2)
    b.linear("fc", 10)
    return b.build(source="BinarEye (Moons et al., CICC 2018) CIFAR-10 net; layer list ASSUMED "
                          "from the 256X BinaryNet of Bankman et al., JSSC 2019")


def vgg16(size: int = 224, classes: int = 1000, bits: tuple[int, int] = (1, 8)) -> WorkloadGraph:
    """VGG-16 (Simonyan & Zisserman, ICLR 2015, configuration D): the network UNPU
    demonstrates (Lee et al., JSSC 2019). Every layer at ``bits`` (UNPU runs all
    layers on its bit-serial array: 1-bit weights; its 16-bit activations are
    not a width the workload format knows, 8 is the closest)."""
    b = GraphBuilder("vgg16", (3, size, size))
    for stage, (cout, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        for i in range(n):
            b.conv(f"conv{stage}_{i + 1}", cout, 3, bits=bits)
        b.pool(f"pool{stage}", 2)
    b.linear("fc6", 4096, bits=bits)
    b.linear("fc7", 4096, bits=bits)
    b.linear("fc8", classes, bits=bits)
    return b.build(source="VGG-16 (Simonyan & Zisserman 2015) config D, all layers at 1/8 bits")


PUBLISHED = {
    "resnet18": resnet18,
    "vgg_small": vgg_small,
    "sfc": lambda: finn_mlp("sfc", 256),
    "lfc": lambda: finn_mlp("lfc", 1024),
    "cnv": finn_cnv,
    "resnet34": resnet34,
    "binareye_cifar10": binareye_cifar10,
    "vgg16": vgg16,
}
