# ruff: noqa: C408 - stage fields are gathered as keyword dicts
"""Workload + design + folding -> the pipeline's stages (plain values).

A dataflow design runs a directed acyclic graph of layers: chains (FINN's
SFC/LFC/CNV) and residual / concatenating networks (FINN's ResNet-50 style).
Stages:

* ``input``       host stream, ``input_bits_per_cycle`` wide;
* ``<conv>.swu``  sliding-window unit of a convolution, then ``<conv>`` its MVTU
  (a grouped / depthwise conv too: FINN's VVAU is the MVTU with MW = K*K);
* ``<deconv>.pad`` pixel padding of a transposed conv, then its SWU and MVTU;
* ``<conv>.dwc``  data-width converter in front of an SWU (``dwc: true``);
* ``<fc>``        MVTU of a fully connected layer;
* ``<pool>``      line-buffered max-pool;
* ``<thr>``       thresholding unit, only when a threshold layer does not
  follow a compute layer (otherwise it is fused into that MVTU, as in FINN:
  batch-norm + sign folded into per-channel integer thresholds);
* ``<add>`` / ``<concat>`` join stages (FINN's AddStreams / StreamingConcat):
  one FIFO per input, one pixel vector taken from every input per output
  pixel; an add takes one cycle per pixel (all channels in parallel), a
  concat one cycle per input pixel vector;
* ``<upsample>`` nearest-neighbour upsampling (FINN's UpsampleNearestNeighbour):
  the line-buffered reader, one output pixel written per cycle;
* reshape layers are free (a flatten of the stream).

A layer whose output feeds several layers forks its stream (FINN's
DuplicateStreams, here without a stage of its own): the producer writes each
item into every consumer's FIFO, blocking while any of them is full. The
FIFO in front of each input of a join is the *bypass* FIFO of that branch;
its depth is ``fifo.depths.<join>`` when given, otherwise derived by the
simulator (``bnnarch.dataflow.simulate``) from the branches' timing.

Items on a FIFO are pixel vectors, except in front of a fully connected
layer, where the producer emits the whole input vector as one item.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bnnarch.dataflow.spec import DataflowSpec
from bnnarch.dataflow.timing import (
    as_conv,
    dwc_cycles,
    effective_bits,
    input_vectors,
    mvtu_cycles_per_vector,
    mvtu_dims,
    passes,
    swu_lanes,
    swu_read_cycles,
    swu_simd,
    swu_write_cycles,
)
from bnnarch.errors import WorkloadError
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import Layer

SUPPORTED = ("conv2d", "conv_transpose2d", "linear", "maxpool", "avgpool", "upsample",
             "threshold", "reshape", "add", "concat")
JOINS = ("add", "concat")


@dataclass(frozen=True)
class Stage:
    """One SimPy process of the pipeline and the FIFO behind it."""

    name: str
    kind: str  # source | swu | pool | upsample | mvtu | threshold | add | concat
    layer: str  # workload layer ('' for the host input)
    in_items: int  # items taken from the input FIFO per frame
    out_natural: int  # natural outputs per frame (pixels, windows, vectors)
    out_group: int  # natural outputs per emitted item
    # capacity (items) of the FIFO after this stage; math.inf: unbounded (the
    # simulator's run that derives bypass depths)
    out_depth: int | float
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
    up: int = 1  # upsample factor (an output row/column per 1/up input row/column)
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
    # wiring: FIFOs read (one per input, several for a join) and further
    # output FIFOs (name, depth) of a forked stream
    in_fifos: tuple[str, ...] = ()
    # an FC MVTU that starts on its first SIMD words (early_fc): producer
    # pixels per input item (0: the whole vector) and busy cycles per item read
    in_group: int = 0
    read_item_cycles: int = 0
    more_outs: tuple[tuple[str, int | float], ...] = ()

    @property
    def out_fifos(self) -> tuple[tuple[str, int | float], ...]:
        """Every (FIFO, depth) this stage writes: more than one when its stream forks."""
        return ((self.out_fifo, self.out_depth), *self.more_outs)

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
        if self.kind in ("swu", "pool", "upsample"):
            return max(self.hin * self.win * self.read_cycles, self.out_natural * self.item_cycles)
        if self.kind == "source":
            return -(-self.out_natural * self.pixel_bits // self.width_bits)
        return self.out_natural * self.item_cycles + self.in_items * self.read_item_cycles




def layers_of(graph: WorkloadGraph) -> list[Layer]:
    """The layers in order, checking that every op has a stage model and that
    joins take streams of one pixel grid."""
    out: list[Layer] = []
    for layer in graph:
        if layer.op not in SUPPORTED:
            raise WorkloadError(
                f"layer {layer.name!r}: the dataflow template does not support {layer.op} "
                f"(supported: {', '.join(SUPPORTED)})")
        if layer.op in JOINS:
            shapes = [graph.input_shape if i == INPUT else graph[i].out_shape
                      for i in layer.inputs]
            if len(shapes) < 2 or len({sh[1:] for sh in shapes}) != 1 or (
                    layer.op == "add" and len(set(shapes)) != 1):
                raise WorkloadError(f"layer {layer.name!r}: a streaming {layer.op} needs two or "
                                    f"more inputs of one shape (got {[list(x) for x in shapes]})")
        elif len(layer.inputs) != 1:
            raise WorkloadError(f"layer {layer.name!r}: a {layer.op} layer takes one stream "
                                f"(got inputs {list(layer.inputs)})")
        if layer.op in ("conv2d", "conv_transpose2d") and (layer.kernel[0] != layer.kernel[1]
                                     or layer.stride[0] != layer.stride[1]):
            raise WorkloadError(f"layer {layer.name!r}: the SWU model needs square kernels "
                                "and strides")
        out.append(layer)
    if not out:
        raise WorkloadError(f"workload {graph.name!r} has no layers")
    return out




def consumers(layers: list[Layer]) -> dict[str, list[Layer]]:
    """Layer (or 'input') -> the layers that read its output, in order."""
    out: dict[str, list[Layer]] = {INPUT: []}
    for layer in layers:
        out.setdefault(layer.name, [])
        for src in dict.fromkeys(layer.inputs):
            out[src].append(layer)
    return out


def next_computes(name: str, cons: dict[str, list[Layer]]) -> list[Layer]:
    """The compute layers first reached downstream of ``name`` (through
    thresholds, pools, joins and reshapes)."""
    found: list[Layer] = []
    seen: set[str] = set()
    todo = list(cons[name])
    while todo:
        layer = todo.pop(0)
        if layer.name in seen:
            continue
        seen.add(layer.name)
        if layer.is_compute:
            found.append(layer)
        else:
            todo.extend(cons[layer.name])
    return found


def fused_threshold(layer: Layer, by: dict[str, Layer], cons: dict[str, list[Layer]]) -> bool:
    """A threshold layer folded into the MVTU that produces its input."""
    src = layer.inputs[0]
    return src != INPUT and by[src].is_compute and len(cons[src]) == 1


def build_stages(spec: DataflowSpec, graph: WorkloadGraph,
                 folds: dict[str, tuple[int, int]],
                 join_depths: dict[str, int | float] | None = None,
                 auto_depths: dict[str, int | float] | None = None) -> list[Stage]:
    """Stages of the pipeline in stream order (the sinks are implicit).

    ``join_depths`` gives the depth of join input FIFOs (by FIFO name) that
    ``fifo.depths`` does not set; missing ones get ``fifo.default_depth``.
    ``auto_depths`` sets any FIFO (by name) that ``fifo.depths`` does not set
    (automatic sizing)."""
    layers = layers_of(graph)
    by = {layer.name: layer for layer in layers}
    cons = consumers(layers)
    fp = spec.multibit.full_precision_bits

    def next_bits(name: str) -> int | None:
        nxt = next_computes(name, cons)
        return max(effective_bits(x.a_bits, fp) for x in nxt) if nxt else None

    in_bits = next_bits(INPUT) or 8
    cin, hin, win = graph.input_shape
    raw: list[dict] = [dict(name="input", kind="source", layer="", in_items=0,
                            out_natural=hin * win, item_cycles=0, pixel_bits=cin * in_bits,
                            width_bits=spec.input_bits_per_cycle, channels=cin,
                            out_bits=in_bits, srcs=[], in_fifo=[])]
    producer: dict[str, str] = {INPUT: "input"}  # layer -> stage emitting its stream
    bits: dict[str, int] = {INPUT: in_bits}  # layer -> bits per element of its stream
    for layer in layers:
        lc, lh, lw = layer.in_shape
        oc, oh, ow = layer.out_shape
        src = layer.inputs[0]
        if layer.op == "reshape" or (layer.op == "threshold" and fused_threshold(layer, by, cons)):
            producer[layer.name], bits[layer.name] = producer[src], bits[src]
            continue
        common = dict(layer=layer.name, srcs=[producer[i] for i in layer.inputs],
                      in_fifo=[layer.name])
        if layer.op == "threshold":
            nb = next_bits(layer.name) or 1
            raw.append(dict(name=layer.name, kind="threshold", out_natural=oh * ow,
                            item_cycles=1, pe=oc, channels=oc, out_bits=nb,
                            thresholds=2 ** nb - 1, in_channels=lc, a_bits=bits[src], **common))
        elif layer.op in ("maxpool", "avgpool"):
            k, s, d = layer.kernel[0], layer.stride[0], layer.dilation[0]
            raw.append(dict(name=layer.name, kind="pool", out_natural=oh * ow,
                            item_cycles=1, read_cycles=1, hin=lh, win=lw, hout=oh, wout=ow,
                            k=k, stride=s, pad=layer.padding[0], dil=d,
                            line_rows=min(lh, (k - 1) * d + 1 + s), channels=oc,
                            in_channels=lc, out_bits=bits[src], a_bits=bits[src], **common))
        elif layer.op == "upsample":
            raw.append(dict(name=layer.name, kind="upsample", out_natural=oh * ow,
                            item_cycles=1, read_cycles=1, hin=lh, win=lw, hout=oh, wout=ow,
                            # FINN UpsampleNearestNeighbour: a pixel per cycle; two
                            # input rows buffered (the one read, the one being written)
                            up=layer.stride[0], line_rows=min(lh, 2), channels=oc,
                            in_channels=lc, out_bits=bits[src], a_bits=bits[src], **common))
        elif layer.op in JOINS:
            ib = [bits[i] for i in layer.inputs]
            ob = min(max(ib) + 1, spec.acc_bits) if layer.op == "add" else max(ib)
            common["in_fifo"] = [f"{layer.name}.in{j}" for j in range(len(layer.inputs))]
            raw.append(dict(name=layer.name, kind=layer.op, out_natural=oh * ow,
                            # FINN AddStreams with PE = channels: a pixel per cycle;
                            # StreamingConcat: one input pixel vector per cycle
                            item_cycles=1 if layer.op == "add" else len(layer.inputs),
                            pe=oc, channels=oc, in_channels=lc, out_bits=ob, a_bits=max(ib),
                            **common))
        else:
            if layer.name not in folds:
                raise WorkloadError(f"layer {layer.name!r} has no folding")
            pe, simd = folds[layer.name]
            mw, mh = mvtu_dims(layer)
            wb, ab = effective_bits(layer.w_bits, fp), effective_bits(layer.a_bits, fp)
            n_pass = passes(wb, ab, spec.multibit.mode)
            consumer_bits = next_bits(layer.name)
            out_bits = consumer_bits if consumer_bits is not None else spec.acc_bits
            mv = dict(name=layer.name, kind="mvtu", out_natural=input_vectors(layer),
                      item_cycles=mvtu_cycles_per_vector(mw, mh, pe, simd, n_pass), pe=pe,
                      simd=simd, mw=mw, mh=mh, passes=n_pass, vectors=input_vectors(layer),
                      w_bits=wb, a_bits=ab, out_bits=out_bits,
                      thresholds=(2 ** out_bits - 1) if consumer_bits is not None else 0,
                      channels=mh if layer.op == "linear" else oc, in_channels=lc, **common)
            if layer.op != "linear":
                _conv_front(spec, layer, pe, simd, ab, common, raw, producer, cons)
                mv |= dict(srcs=[raw[-1]["name"]], in_fifo=[f"{layer.name}.windows"])
            elif spec.early_fc:
                mv |= _early_fc(mv, next(d for d in raw if d["name"] == producer[src]))
            raw.append(mv)
            for i in range(spec.mvtu_pipeline_cycles):
                # a register stage: one output item per cycle, one cycle later
                prev = raw[-1]["name"]
                raw.append(dict(name=f"{layer.name}.reg{i}", kind="pipe",
                                out_natural=mv["out_natural"], item_cycles=1,
                                channels=mv["channels"], in_channels=mv["channels"],
                                out_bits=out_bits, a_bits=out_bits, layer=layer.name,
                                srcs=[prev], in_fifo=[f"{layer.name}.reg{i}"]))
        producer[layer.name] = raw[-1]["name"]
        bits[layer.name] = raw[-1]["out_bits"]
    return _wire(spec, raw, [producer[x.name] for x in layers if not cons[x.name]],
                 join_depths or {}, auto_depths or {})


def _early_fc(mv: dict, prod: dict) -> dict:
    """An FC MVTU that starts on its first SIMD words (``early_fc``, FINN's
    MVAU: during the first neuron fold it reads each SIMD input word as it
    arrives and keeps it for the other MH/PE - 1 folds). It takes items of
    ``g`` producer pixels (``g*C`` a multiple of SIMD), is busy
    ``g*C/SIMD`` cycles (x passes) per item, and the remaining folds after the
    last one. Unchanged when the vector does not split into whole SIMD words
    per pixel group."""
    n_pix = prod["out_natural"]
    if n_pix < 2 or mv["mw"] % n_pix:
        return {}
    c = mv["mw"] // n_pix
    g = mv["simd"] // math.gcd(c, mv["simd"])
    if n_pix % g:
        return {}
    per_item = g * c // mv["simd"] * mv["passes"]
    return dict(in_group=g, read_item_cycles=per_item,
                item_cycles=mv["item_cycles"] - n_pix // g * per_item)


def _conv_front(spec: DataflowSpec, layer: Layer, pe: int, simd: int, ab: int,
                common: dict, raw: list[dict], producer: dict[str, str],
                cons: dict[str, list[Layer]]) -> None:
    """The stages in front of a convolution's MVTU: a data-width converter
    (``dwc: true``, FINN InsertDWC) when the producing MVTU's PE differs from
    the SWU's input width, the pixel-padding stage of a transposed conv
    (FINN FMPadding_Pixel, a pixel per cycle: the upsample stage's reader and
    writer over the zero-inserted grid), and the SWU (``mmv`` windows per
    window slot, FINN ConvolutionInputGenerator M)."""
    name, (lc, lh, lw) = layer.name, layer.in_shape
    conv = as_conv(layer)
    ch, cw = conv.in_shape[1:]
    _, oh, ow = layer.out_shape
    lanes = swu_lanes(layer, pe, simd)
    feed = common
    prod = next((d for d in raw if d["name"] == producer[layer.inputs[0]]), None)
    if (spec.dwc and prod is not None and prod["kind"] == "mvtu"
            and len(cons[layer.inputs[0]]) == 1 and prod["pe"] != swu_simd(lc, lanes)):
        raw.append(dict(name=f"{name}.dwc", kind="dwc", out_natural=lh * lw,
                        item_cycles=dwc_cycles(lc, prod["pe"], swu_simd(lc, lanes)),
                        pe=prod["pe"], simd=swu_simd(lc, lanes), channels=lc, in_channels=lc,
                        out_bits=ab, a_bits=ab, **feed))
        feed = dict(layer=name, srcs=[f"{name}.dwc"], in_fifo=[f"{name}.dwc"])
    if layer.op == "conv_transpose2d":
        raw.append(dict(name=f"{name}.pad", kind="upsample", out_natural=ch * cw, item_cycles=1,
                        read_cycles=1, hin=lh, win=lw, hout=ch, wout=cw, up=layer.stride[0],
                        line_rows=min(lh, 2), channels=lc, in_channels=lc, out_bits=ab,
                        a_bits=ab, **feed))
        feed = dict(layer=name, srcs=[f"{name}.pad"], in_fifo=[f"{name}.padded"])
    k, dil = conv.kernel[0], conv.dilation[0]
    extra = spec.swu.extra_rows if spec.swu.extra_rows is not None else conv.stride[0]
    raw.append(dict(name=f"{name}.swu", kind="swu", out_natural=oh * ow,
                    item_cycles=swu_write_cycles(k, lc, lanes) // spec.swu.mmv.get(name, 1),
                    read_cycles=swu_read_cycles(lc, lanes), hin=ch, win=cw, hout=oh, wout=ow,
                    k=k, stride=conv.stride[0], pad=conv.padding[0], dil=dil,
                    line_rows=min(ch, (k - 1) * dil + 1 + extra), channels=k * k * lc,
                    in_channels=lc, out_bits=ab, a_bits=ab, simd=simd, **feed))
    swu = raw[-1]
    for i in range(spec.swu_pipeline_cycles):
        # a register stage after the SWU: one window per cycle, one cycle later
        raw.append(dict(name=f"{name}.swureg{i}", kind="pipe", out_natural=swu["out_natural"],
                        item_cycles=1, channels=swu["channels"], in_channels=swu["channels"],
                        out_bits=ab, a_bits=ab, layer=name, srcs=[raw[-1]["name"]],
                        in_fifo=[f"{name}.swureg{i}"]))


INTERNAL_FIFOS = (".windows", ".padded", ".dwc")  # inside one layer's stages


def register_fifo(fifo: str) -> bool:
    """The one-entry FIFO in front of an MVTU or SWU pipeline register stage."""
    return re.fullmatch(r".+\.(swu)?reg\d+", fifo) is not None


def explicit_fifo(spec: DataflowSpec, fifo: str, consumer_layer: str) -> bool:
    """Whether ``fifo.depths`` sets this FIFO (the input FIFO of a layer, or
    every input FIFO of a join; never a FIFO inside a layer's stages)."""
    return (consumer_layer in spec.fifo.depths and not fifo.endswith(INTERNAL_FIFOS)
            and not register_fifo(fifo))


def _wire(spec: DataflowSpec, raw: list[dict], sinks: list[str],
          join_depths: dict[str, int | float],
          auto_depths: dict[str, int | float]) -> list[Stage]:
    """Stages with their FIFOs: one per (producer, consumer input) edge, named
    after the consumer's input (``<layer>``, ``<conv>.windows``, ``<join>.inN``;
    ``output`` / ``output.<stage>`` to the host)."""
    outs: dict[str, list[tuple[str, int | float]]] = {d["name"]: [] for d in raw}
    group_of: dict[str, set[int]] = {d["name"]: set() for d in raw}
    natural = {d["name"]: d["out_natural"] for d in raw}
    for d in raw:
        for src, fname in zip(d["srcs"], d["in_fifo"], strict=True):
            if d["kind"] == "mvtu" and fname == f"{d['layer']}.windows":
                depth: int | float = spec.fifo.swu_depth
            elif fname.endswith(INTERNAL_FIFOS):
                depth = spec.fifo.default_depth
            elif register_fifo(fname):
                depth = 1
            elif d["kind"] in JOINS and d["layer"] not in spec.fifo.depths:
                depth = join_depths.get(fname, spec.fifo.default_depth)
            else:
                depth = spec.fifo_depth(d["layer"])
            if fname in auto_depths and not explicit_fifo(spec, fname, d["layer"]):
                depth = auto_depths[fname]
            outs[src].append((fname, depth))
            # a fully connected layer takes the whole vector as one item
            # (early_fc: a group of pixels)
            fc = d["kind"] == "mvtu" and d["vectors"] == 1
            group_of[src].add((d.get("in_group") or natural[src]) if fc else 1)
    for name in sinks:
        fname = "output" if len(sinks) == 1 else f"output.{name}"
        outs[name].append((fname, auto_depths.get(fname, spec.fifo.output_depth)))
        group_of[name].add(1)
    stages: list[Stage] = []
    items: dict[str, int] = {}
    for d in raw:
        name = d["name"]
        if len(group_of[name]) != 1:
            raise WorkloadError(f"layer {d['layer']!r}: its stream feeds a fully connected layer "
                                "and a spatial layer at once; the dataflow template cannot "
                                "fork it")
        group = group_of[name].pop()
        (fname, depth), *more = outs[name]
        fields = {k: v for k, v in d.items() if k not in ("srcs", "in_fifo", "in_items")}
        st = Stage(in_items=items[d["srcs"][0]] if d["srcs"] else 0, out_group=group,
                   out_depth=depth, out_fifo=fname,
                   in_fifos=tuple(d["in_fifo"]) if d["srcs"] else (),
                   more_outs=tuple(more), **fields)
        items[name] = st.out_items
        stages.append(st)
    return stages
