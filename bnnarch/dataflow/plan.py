# ruff: noqa: C408 - stage fields are gathered as keyword dicts
"""Workload + design + folding -> the pipeline's stages (plain values).

A dataflow design runs a *chain* of layers: every layer takes the previous
one's output (the FINN topologies SFC/LFC/CNV are chains). Stages:

* ``input``       host stream, ``input_bits_per_cycle`` wide;
* ``<conv>.swu``  sliding-window unit of a convolution, then ``<conv>`` its MVTU;
* ``<fc>``        MVTU of a fully connected layer;
* ``<pool>``      line-buffered max-pool;
* ``<thr>``       thresholding unit, only when a threshold layer does not
  follow a compute layer (otherwise it is fused into that MVTU, as in FINN:
  batch-norm + sign folded into per-channel integer thresholds);
* reshape layers are free (a flatten of the stream).

Items on a FIFO are pixel vectors, except in front of a fully connected
layer, where the producer emits the whole input vector as one item.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnnarch.dataflow.timing import (
    effective_bits,
    input_vectors,
    mvtu_cycles_per_vector,
    mvtu_dims,
    passes,
    swu_read_cycles,
    swu_write_cycles,
)
from bnnarch.errors import WorkloadError
from bnnarch.spec.dataflow import DataflowSpec
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import Layer

SUPPORTED = ("conv2d", "linear", "maxpool", "threshold", "reshape")


@dataclass(frozen=True)
class Stage:
    """One SimPy process of the pipeline and the FIFO behind it."""

    name: str
    kind: str  # source | swu | pool | mvtu | threshold
    layer: str  # workload layer ('' for the host input)
    in_items: int  # items taken from the input FIFO per frame
    out_natural: int  # natural outputs per frame (pixels, windows, vectors)
    out_group: int  # natural outputs per emitted item
    out_depth: int  # capacity (items) of the FIFO after this stage
    out_fifo: str  # name of that FIFO
    item_cycles: int  # busy cycles per natural output (MVTU vector, window, pixel)
    # line-buffered stages (swu, pool)
    hin: int = 0
    win: int = 0
    hout: int = 0
    wout: int = 0
    k: int = 1
    stride: int = 1
    pad: int = 0
    dil: int = 1
    read_cycles: int = 0  # per input pixel
    line_rows: int = 0
    # source
    pixel_bits: int = 0
    width_bits: int = 0
    # MVTU
    pe: int = 0
    simd: int = 0
    mw: int = 0
    mh: int = 0
    passes: int = 1
    vectors: int = 0
    w_bits: int = 1
    a_bits: int = 1
    out_bits: int = 1  # bits per output element
    thresholds: int = 0  # thresholds per output channel (0: pass-through)
    channels: int = 0  # channels of one output pixel
    in_channels: int = 0

    @property
    def out_items(self) -> int:
        return self.out_natural // self.out_group

    @property
    def item_bits(self) -> int:
        """Bits of one FIFO item after this stage."""
        return self.out_group * self.channels * self.out_bits

    @property
    def busy_cycles(self) -> int:
        """Stall-free busy cycles per frame (the stage's own II)."""
        if self.kind in ("swu", "pool"):
            return max(self.hin * self.win * self.read_cycles, self.out_natural * self.item_cycles)
        if self.kind == "source":
            return -(-self.out_natural * self.pixel_bits // self.width_bits)
        return self.out_natural * self.item_cycles


def chain(graph: WorkloadGraph) -> list[Layer]:
    """The layers in order, checking that they form a chain of supported ops."""
    prev = INPUT
    out: list[Layer] = []
    for layer in graph:
        if layer.op not in SUPPORTED:
            raise WorkloadError(
                f"layer {layer.name!r}: the dataflow template does not support {layer.op} "
                f"(supported: {', '.join(SUPPORTED)})")
        if layer.inputs != (prev,):
            raise WorkloadError(
                f"layer {layer.name!r}: the dataflow template runs chains of layers; it takes "
                f"{list(layer.inputs)} instead of the previous layer {prev!r}")
        if layer.op == "conv2d" and layer.groups != 1:
            raise WorkloadError(f"layer {layer.name!r}: grouped/depthwise convolutions "
                                f"(groups={layer.groups}) have no MVTU model")
        if layer.op == "conv2d" and (layer.kernel[0] != layer.kernel[1]
                                     or layer.stride[0] != layer.stride[1]):
            raise WorkloadError(f"layer {layer.name!r}: the SWU model needs square kernels "
                                "and strides")
        out.append(layer)
        prev = layer.name
    if not out:
        raise WorkloadError(f"workload {graph.name!r} has no layers")
    return out


def _next_compute(layers: list[Layer], i: int) -> Layer | None:
    for later in layers[i + 1:]:
        if later.is_compute:
            return later
    return None


def build_stages(spec: DataflowSpec, graph: WorkloadGraph,
                 folds: dict[str, tuple[int, int]]) -> list[Stage]:
    """Stages of the pipeline in stream order (the sink is implicit)."""
    layers = chain(graph)
    fp = spec.multibit.full_precision_bits
    first_compute = _next_compute(layers, -1)
    in_bits = effective_bits(first_compute.a_bits, fp) if first_compute else 8
    cin, hin, win = graph.input_shape
    raw: list[dict] = [dict(name="input", kind="source", layer="", in_items=0,
                            out_natural=hin * win, item_cycles=0, pixel_bits=cin * in_bits,
                            width_bits=spec.input_bits_per_cycle, channels=cin,
                            out_bits=in_bits, in_fifo=None)]
    data_bits = in_bits
    for i, layer in enumerate(layers):
        lc, lh, lw = layer.in_shape
        oc, oh, ow = layer.out_shape
        fifo = layer.name
        if layer.op == "reshape":
            continue
        if layer.op == "threshold":
            if i > 0 and layers[i - 1].is_compute:
                continue  # fused into the MVTU
            nxt = _next_compute(layers, i)
            bits = effective_bits(nxt.a_bits, fp) if nxt else 1
            raw.append(dict(name=layer.name, kind="threshold", layer=layer.name, out_natural=oh * ow,
                            item_cycles=1, pe=oc, channels=oc, out_bits=bits, in_fifo=fifo,
                            thresholds=2 ** bits - 1, in_channels=lc, a_bits=data_bits))
            data_bits = bits
            continue
        if layer.op == "maxpool":
            raw.append(dict(name=layer.name, kind="pool", layer=layer.name, out_natural=oh * ow,
                            item_cycles=1, read_cycles=1, hin=lh, win=lw, hout=oh, wout=ow,
                            k=layer.kernel[0], stride=layer.stride[0], pad=layer.padding[0],
                            dil=layer.dilation[0], channels=oc, in_channels=lc,
                            out_bits=data_bits, a_bits=data_bits, in_fifo=fifo))
            continue
        # compute layer
        if layer.name not in folds:
            raise WorkloadError(f"layer {layer.name!r} has no folding")
        pe, simd = folds[layer.name]
        mw, mh = mvtu_dims(layer)
        wb, ab = effective_bits(layer.w_bits, fp), effective_bits(layer.a_bits, fp)
        n_pass = passes(wb, ab, spec.multibit.mode)
        nxt = _next_compute(layers, i)
        out_bits = effective_bits(nxt.a_bits, fp) if nxt else spec.acc_bits
        mv = dict(name=layer.name, kind="mvtu", layer=layer.name, out_natural=input_vectors(layer),
                  item_cycles=mvtu_cycles_per_vector(mw, mh, pe, simd, n_pass), pe=pe, simd=simd,
                  mw=mw, mh=mh, passes=n_pass, vectors=input_vectors(layer), w_bits=wb, a_bits=ab,
                  out_bits=out_bits, thresholds=(2 ** out_bits - 1) if nxt else 0,
                  channels=oc if layer.op == "conv2d" else mh, in_channels=lc)
        if layer.op == "conv2d":
            k, s = layer.kernel[0], layer.stride[0]
            extra = spec.swu.extra_rows if spec.swu.extra_rows is not None else s
            raw.append(dict(name=f"{layer.name}.swu", kind="swu", layer=layer.name,
                            out_natural=oh * ow, item_cycles=swu_write_cycles(k, lc, simd),
                            read_cycles=swu_read_cycles(lc, simd), hin=lh, win=lw, hout=oh,
                            wout=ow, k=k, stride=s, pad=layer.padding[0],
                            dil=layer.dilation[0],
                            line_rows=min(lh, (k - 1) * layer.dilation[0] + 1 + extra),
                            channels=k * k * lc,
                            in_channels=lc, out_bits=ab, a_bits=ab, simd=simd, in_fifo=fifo,
                            out_depth=spec.fifo.swu_depth))
            mv["in_fifo"] = f"{layer.name}.windows"
        else:
            mv["in_fifo"] = fifo
        raw.append(mv)
        data_bits = out_bits
    for d in raw:
        if d["kind"] == "pool":
            d["line_rows"] = min(d["hin"], (d["k"] - 1) * d["dil"] + 1 + d["stride"])
    stages: list[Stage] = []
    for j, d in enumerate(raw):
        nxt_stage = raw[j + 1] if j + 1 < len(raw) else None
        group = 1
        if nxt_stage is not None and nxt_stage["kind"] == "mvtu" and nxt_stage["vectors"] == 1:
            group = d["out_natural"]  # a fully connected layer takes the whole vector
        if nxt_stage is None:
            depth, fname = spec.fifo.output_depth, "output"
        else:
            fname = nxt_stage["in_fifo"]
            depth = d.pop("out_depth", None) or spec.fifo_depth(nxt_stage["layer"])
        d.pop("out_depth", None)
        d.pop("in_fifo", None)
        prev = stages[-1] if stages else None
        in_items = prev.out_items if prev is not None else 0
        stages.append(Stage(in_items=in_items if d["kind"] != "source" else 0,
                            out_group=group, out_depth=depth, out_fifo=fname,
                            **{k: v for k, v in d.items() if k != "in_items"}))
    return stages
