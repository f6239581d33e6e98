"""The ``dataflow`` design template: a FINN-style layer pipeline (Umuroglu et
al., "FINN: A Framework for Fast, Scalable Binarized Neural Network
Inference", FPGA 2017). Every compute layer gets its own matrix-vector-
threshold unit (MVTU) with a PE x SIMD folding, convolutions a sliding-window
unit (SWU), layers are connected by FIFOs and all weights stay on chip.

Typed and frozen like the array template (YAML -> pydantic -> cross checks,
all errors at once). Checks that need the workload (layer names, PE | MH,
SIMD | MW) live in :func:`workload_errors`, called by the simulator and by
``bnnarch fold`` / ``bnnarch validate --workload``.

Example::

    name: finn_sfc
    template: dataflow
    clock_mhz: 200
    batch: 8
    folding:
      layers:
        fc0: {pe: 256, simd: 49}
      target_fps: 12000000          # or target_cycles, or budget: {lanes: N}
    fifo:
      default_depth: 2
      depths: {fc1: 8}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from bnnarch.errors import FieldError
from bnnarch.spec.fields import DesignHeader, Strict


class LayerFold(Strict):
    """Folding of one MVTU: ``pe`` output channels and ``simd`` input bits
    (of the K*K*Cin reduction) per cycle."""

    pe: int = Field(ge=1, le=65536)
    simd: int = Field(ge=1, le=65536)


class Budget(Strict):
    """Resource budget for the folding pass (at most one of them)."""

    lanes: int | None = Field(default=None, ge=1, description="sum over layers of PE x SIMD")
    area_mm2: float | None = Field(default=None, gt=0, description="total modelled area")
    fifo_bits: int | None = Field(default=None, ge=1, description="with lanes: total FIFO bits "
                                  "(FIFOs auto-sized for the II searched)")


class Folding(Strict):
    """Per-layer PE/SIMD: explicit entries win; layers not listed are folded
    by the folding pass from exactly one of target_fps / target_cycles /
    budget. Without a target every compute layer must be listed."""

    layers: dict[str, LayerFold] = Field(default_factory=dict)
    # >= 0.001 frames/s: a denormal target overflowed the cycles-per-frame budget
    target_fps: float | None = Field(default=None, ge=0.001)
    target_cycles: int | None = Field(default=None, ge=1, description="cycles per frame (II)")
    budget: Budget | None = None


class Fifo(Strict):
    """FIFO depths in entries. An entry is one pixel vector (all channels of
    one pixel, FINN: MH/PE stream words) between spatial stages, or one whole
    input vector in front of a fully connected layer.

    ``sizing: auto`` (the default unless ``default_depth`` is given) sizes
    every FIFO not listed in ``depths`` from the simulated occupancy, as
    FINN's ``InsertAndSetFIFODepths`` (set_fifo_depths.py) does, from a
    low start that keeps the II of unbounded FIFOs (a few runs);
    ``minimal`` then shrinks each to the smallest depth that keeps the II
    (many runs); ``finn`` keeps FINN's depths (peak occupancy with
    unbounded FIFOs, one run)
    (``bnnarch.dataflow.fifo_sizing``); ``fixed`` uses ``default_depth``,
    ``swu_depth`` and ``output_depth``."""

    sizing: Literal["auto", "minimal", "finn", "fixed"] = Field(
        default="auto",
        description="auto | minimal | finn | fixed (unset: fixed if default_depth is given)")

    # 2: Vivado HLS's default hls::stream depth between DATAFLOW processes
    default_depth: int = Field(default=2, ge=1, le=1 << 20)
    depths: dict[str, int] = Field(default={}, description="layer -> depth of its input FIFO")
    swu_depth: int = Field(default=2, ge=1, le=1 << 20, description="SWU -> MVTU window FIFO")
    output_depth: int = Field(default=2, ge=1, le=1 << 20, description="last stage -> host")

    @model_validator(mode="before")
    @classmethod
    def _explicit_depths_win(cls, data: Any) -> Any:
        """Unset ``sizing``: ``fixed`` when ``default_depth`` is given, else
        ``auto`` (resolved here, so a dumped spec keeps its meaning)."""
        if isinstance(data, dict) and data.get("sizing") is None:
            return {**data, "sizing": "fixed" if "default_depth" in data else "auto"}
        return data


class MultiBit(Strict):
    """How layers above 1 bit run. ``wide``: each SIMD lane is a w_bits x
    a_bits multiplier-adder (FINN's first CNV layer: 8-bit pixels x binary
    weights, same cycles, wider lanes). ``bit_serial``: binary lanes, the
    layer takes w_bits x a_bits passes (cycles multiply)."""

    mode: Literal["wide", "bit_serial"] = "wide"
    full_precision_bits: Literal[8, 16] = 8


class Swu(Strict):
    """Sliding-window units: line buffer of (K + stride) input rows by default,
    as finn-hlslib's ConvolutionInputGenerator (slidingwindow.h:
    ``number_blocks = ConvKernelDim/Stride + 1`` blocks of ``Stride`` rows)."""

    extra_rows: int | None = Field(default=None, ge=0, le=64,
                                   description="rows beyond K kept (default: stride)")
    # FINN ConvolutionInputGenerator attribute M (convolutioninputgenerator_hls.py)
    mmv: dict[str, int] = Field(default={}, description="conv layer -> windows per window slot")


class DataflowSpec(DesignHeader):
    template: Literal["dataflow"] = "dataflow"
    batch: int = Field(default=4, ge=1, le=100000, description="frames simulated back to back")
    # 64: FINN/BNN-PYNQ's input stream (top.cpp: Mem2Stream_Batch<64, ...> on a 64-bit AXI port)
    input_bits_per_cycle: int = Field(default=64, ge=1, le=65536,
                                      description="host -> first stage stream width")
    # 16: BNN-PYNQ's accumulators/thresholds (top.cpp: ThresholdsActivation<..., ap_int<16>>)
    acc_bits: int = Field(default=16, ge=4, le=32)
    folding: Folding = Folding()
    fifo: Fifo = Fifo()
    multibit: MultiBit = MultiBit()
    swu: Swu = Swu()
    # FINN InsertDWC (insert_dwc.py): a StreamingDataWidthConverter where an
    # MVTU's output width (PE channels) differs from the next SWU's input width
    dwc: bool = Field(default=False, description="insert data-width converters")
    # finn-hlslib's MVAU (mvau.hpp) is an II=1 HLS pipeline a few cycles deep (weight
    # read, XNOR/popcount tree, accumulate, threshold compare); its depth comes from
    # HLS scheduling, so it is a parameter here (0: outputs leave with the last cycle)
    mvtu_pipeline_cycles: int = Field(default=0, ge=0, le=64,
                                      description="pipeline registers after each MVTU")
    # the same for finn-hlslib's ConvolutionInputGenerator (slidingwindow.h), an
    # II=1 pipeline whose depth (buffer read, output mux) is a parameter here
    swu_pipeline_cycles: int = Field(default=0, ge=0, le=64,
                                     description="pipeline registers after each SWU")
    # FINN's MVAU reads an FC's input SIMD words as they arrive (first neuron fold)
    early_fc: bool = Field(default=False, description="FC layers start on their first SIMD words")

    @property
    def target_cycles(self) -> int | None:
        """The folding pass's target II in cycles, if one is given."""
        f = self.folding
        if f.target_cycles is not None:
            return f.target_cycles
        if f.target_fps is not None:
            return max(1, int(self.clock_mhz * 1e6 // f.target_fps))
        return None

    @property
    def fifo_sizing(self) -> str:
        """``auto``, ``minimal``, ``finn`` or ``fixed`` (see :class:`Fifo`)."""
        return self.fifo.sizing

    def fifo_depth(self, layer: str) -> int:
        return self.fifo.depths.get(layer, self.fifo.default_depth)

    def cross_check(self) -> list[FieldError]:
        errs: list[FieldError] = []
        f = self.folding
        given = [k for k in ("target_fps", "target_cycles", "budget") if getattr(f, k) is not None]
        if len(given) > 1:
            errs.append(FieldError(
                f"folding.{given[1]}",
                f"give at most one of target_fps, target_cycles, budget (got {', '.join(given)})"))
        if f.budget is not None and (f.budget.lanes is None) == (f.budget.area_mm2 is None):
            errs.append(FieldError("folding.budget", "give exactly one of lanes, area_mm2"))
        if f.budget is not None and f.budget.fifo_bits is not None and f.budget.lanes is None:
            errs.append(FieldError("folding.budget.fifo_bits", "a FIFO budget goes with a lanes "
                                   "budget (lanes + FIFO bits)"))
        if f.target_fps is not None and f.target_fps > self.clock_mhz * 1e6:
            errs.append(FieldError(
                "folding.target_fps",
                f"{f.target_fps:g} frames/s needs more than one frame per cycle at "
                f"{self.clock_mhz:g} MHz"))
        for name, m in self.swu.mmv.items():
            if m < 1:
                errs.append(FieldError(f"swu.mmv.{name}", f"MMV must be >= 1 (got {m})"))
        for name, depth in self.fifo.depths.items():
            if depth < 1:
                errs.append(FieldError(f"fifo.depths.{name}", f"depth must be >= 1 (got {depth})"))
        return errs


def workload_errors(spec: DataflowSpec, graph: object) -> list[FieldError]:
    """Checks that need the workload: per-layer entries naming layers that do
    not exist (or that are not compute layers), FINN's divisibility rules
    (SIMD | MW = K*K*Cin, PE | MH = Cout), and compute layers left without a
    folding when no target is given. Paths are dotted spec paths."""
    from bnnarch.dataflow.timing import mvtu_dims

    errs: list[FieldError] = []
    layers = {layer.name: layer for layer in graph}  # type: ignore[attr-defined]
    f = spec.folding
    for name, lf in f.layers.items():
        path = f"folding.layers.{name}"
        if name not in layers:
            errs.append(FieldError(path, f"no layer named {name!r} in workload "
                                   f"{graph.name!r}"))  # type: ignore[attr-defined]
            continue
        layer = layers[name]
        if not layer.is_compute:
            errs.append(FieldError(path, f"layer {name!r} is a {layer.op} layer; only conv2d and "
                                   "linear layers have an MVTU to fold"))
            continue
        mw, mh = mvtu_dims(layer)
        if mw % lf.simd:
            errs.append(FieldError(f"{path}.simd", f"SIMD {lf.simd} must divide MW = K*K*Cin = "
                                   f"{mw} (FINN folding rule)"))
        if mh % lf.pe:
            errs.append(FieldError(f"{path}.pe", f"PE {lf.pe} must divide MH = Cout = {mh} "
                                   "(FINN folding rule)"))
    for name in spec.swu.mmv:
        if name not in layers or layers[name].op not in ("conv2d", "conv_transpose2d"):
            errs.append(FieldError(f"swu.mmv.{name}", f"no convolution named {name!r} in "
                                   f"workload {graph.name!r}"))  # type: ignore[attr-defined]
    for name in spec.fifo.depths:
        if name not in layers:
            errs.append(FieldError(f"fifo.depths.{name}", f"no layer named {name!r} in workload "
                                   f"{graph.name!r}"))  # type: ignore[attr-defined]
    if spec.target_cycles is None and f.budget is None:
        for layer in layers.values():
            if layer.is_compute and layer.name not in f.layers:
                errs.append(FieldError(
                    "folding.layers", f"no folding for compute layer {layer.name!r}: list it "
                    "(pe, simd) or give target_fps / target_cycles / budget"))
    return errs
