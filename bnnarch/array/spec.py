"""The ``array`` design template: one shared XNOR-popcount array executing
layers one after another (typed, frozen; YAML -> pydantic -> cross checks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bnnarch.errors import FieldError
from bnnarch.spec.fields import DesignHeader, Strict


class ArrayCore(Strict):
    rows: int = Field(ge=1, le=1024)
    cols: int = Field(ge=1, le=1024)
    simd_bits: int = Field(ge=1, le=4096, description="XNOR+popcount bits per PE per cycle")
    acc_bits: int = Field(default=16, ge=4, le=32)
    interconnect: Literal["broadcast", "systolic"] = "broadcast"
    dataflow: Literal["os", "ws", "is"] | None = None
    popcount_tree: Literal["adder_tree", "wallace"] = "adder_tree"

    @property
    def effective_dataflow(self) -> str:
        return self.dataflow or "os"

    @property
    def pes(self) -> int:
        return self.rows * self.cols


class Buffer(Strict):
    capacity_kib: float = Field(gt=0, le=65536)
    banks: int = Field(default=1, ge=1, le=256)
    port_bits: int = Field(ge=1, le=65536, description="bits per cycle over all banks")
    double_buffered: bool = True
    hold_kib: float = Field(
        default=0, ge=0, le=65536,
        description="activations only: KiB that keep whole feature maps on chip between "
                    "layers (the rest stages DRAM tiles); 0 = every layer through DRAM")

    @property
    def capacity_bits(self) -> int:
        return int(self.capacity_kib * 1024 * 8)

    @property
    def hold_bits(self) -> int:
        return int(self.hold_kib * 1024 * 8)

    @property
    def tile_bits(self) -> int:
        """Bits one staged tile may occupy: the capacity outside the hold region,
        half of it when double buffered."""
        staging = self.capacity_bits - self.hold_bits
        return staging // 2 if self.double_buffered else staging


class Buffers(Strict):
    weights: Buffer
    activations: Buffer
    outputs: Buffer


class Dram(Strict):
    # >= 1 MB/s: below it a transfer's cycle count overflows (a denormal
    # bandwidth gave an infinite cycle count); no DRAM channel is that slow.
    bandwidth_gbps: float = Field(ge=0.001, le=4096, description="GB/s")
    latency_ns: float = Field(default=100.0, ge=0, le=100000)
    energy_pj_per_bit: float | None = Field(default=None, gt=0, le=1000)


class MultiBit(Strict):
    mode: Literal["bit_serial"] = "bit_serial"


class FullPrecision(Strict):
    """How layers kept at full precision (first/last) run."""

    mode: Literal["mac_unit", "bit_serial"] = "mac_unit"
    units: int = Field(default=64, ge=1, le=65536, description="integer MACs per cycle")
    bits: Literal[8, 16] = 8


class PostProc(Strict):
    """Elements per cycle of each post-processing unit."""

    threshold_per_cycle: int = Field(default=32, ge=1, le=65536)
    pool_per_cycle: int = Field(default=16, ge=1, le=65536)
    add_per_cycle: int = Field(default=16, ge=1, le=65536)
    concat_per_cycle: int = Field(default=64, ge=1, le=65536)
    upsample_per_cycle: int = Field(default=16, ge=1, le=65536)


class KernelPatternReuse(Strict):
    """Share the XNOR-popcount of repeated binary 2-D kernels (Chang et al.,
    DATE 2020): per input channel, a kernel equal to an earlier filter's (or,
    with ``sign_inverted``, its complement: popcount = valid bits - popcount)
    is not computed; its result is read from a per-column shared-result
    buffer. Hardware model and costs: bnnarch.array.reuse.effect / bnnarch.array.reuse.cost."""

    enabled: bool = False
    sign_inverted: bool = True
    share_ports: int = Field(
        default=8, ge=1, le=256,
        description="shared partial results each PE can add per cycle (adder-tree inputs)")
    share_entries: int = Field(
        default=4096, ge=1, le=1 << 20,
        description="shared-result buffer entries per PE column (one per referenced kernel result)")


class InputSimilarityReuse(Strict):
    """Derive a window's popcount from its left neighbour's plus a correction
    over the differing positions (Fu et al., arXiv 1810.02068), when at most
    ``max_diff_bits`` of the receptive field differ."""

    enabled: bool = False
    max_diff_bits: int = Field(
        default=256, ge=0, le=1 << 20,
        description="most differing receptive-field positions the delta path takes")
    window_bits: int = Field(
        default=4608, ge=1, le=1 << 20,
        description="receptive-field bits the per-column previous-window register holds")


class Reuse(Strict):
    kernel_pattern: KernelPatternReuse = KernelPatternReuse()
    input_similarity: InputSimilarityReuse = InputSimilarityReuse()
    policy: Literal["cycles", "energy"] = Field(
        default="cycles",
        description="per layer, run the applicable scheme with the fewest cycles, or the one "
                    "that saves the most dynamic energy net of its own (none if no scheme does)")

    @property
    def any_enabled(self) -> bool:
        return self.kernel_pattern.enabled or self.input_similarity.enabled


class Mapping(Strict):
    objective: Literal["latency", "energy"] = Field(
        default="latency",
        description="per layer, the mapper picks the schedule with the fewest simulated "
                    "cycles (ties: fewer DRAM bits), or the least dynamic energy (ties: fewest "
                    "cycles)")


class Area(Strict):
    source: Literal["model", "yosys"] = Field(
        default="model",
        description="array logic area: the gate-equivalent model, or Yosys synthesis of one "
                    "PE (cached per PE configuration and node) scaled by the PE count")


class ArraySpec(DesignHeader):
    template: Literal["array"] = "array"
    array: ArrayCore
    buffers: Buffers
    dram: Dram
    multibit: MultiBit = MultiBit()
    full_precision: FullPrecision = FullPrecision()
    postproc: PostProc = PostProc()
    reuse: Reuse = Reuse()
    mapping: Mapping = Mapping()
    area: Area = Area()

    @model_validator(mode="after")
    def _no_cross_checks_here(self) -> ArraySpec:
        # Cross-field checks live in cross_check() so that all of them are
        # reported at once, each with its own path.
        return self

    @property
    def dram_bits_per_cycle(self) -> float:
        return self.dram.bandwidth_gbps * 8e9 / (self.clock_mhz * 1e6)

    def cross_check(self) -> list[FieldError]:
        errs: list[FieldError] = []
        a = self.array
        if a.interconnect == "broadcast" and a.dataflow not in (None, "os"):
            errs.append(FieldError(
                "array.dataflow",
                f"'{a.dataflow}' needs interconnect: systolic; a broadcast array is output "
                "stationary (omit dataflow or set os)",
            ))
        if a.popcount_tree == "wallace" and a.simd_bits < 4:
            errs.append(FieldError("array.popcount_tree", "wallace needs simd_bits >= 4"))
        min_acc = (a.simd_bits).bit_length() + 1
        if a.acc_bits < min_acc:
            errs.append(FieldError(
                "array.acc_bits",
                f"{a.acc_bits} bits cannot hold one popcount of simd_bits={a.simd_bits} "
                f"(signed, needs >= {min_acc})",
            ))
        # One SIMD word per row/column must cross the buffer ports per cycle
        # at least; narrower ports could never feed the array.
        for buf, need in (("weights", a.simd_bits), ("activations", a.simd_bits),
                          ("outputs", a.acc_bits)):
            port = getattr(self.buffers, buf).port_bits
            if port < need:
                errs.append(FieldError(
                    f"buffers.{buf}.port_bits",
                    f"{port} bits/cycle is narrower than one "
                    f"{'SIMD word' if need == a.simd_bits else 'accumulator'} ({need} bits)",
                ))
        # Smallest tile any layer needs: one SIMD word per PE row/col and one
        # accumulator per PE.
        w_rows = a.rows if a.interconnect == "broadcast" or a.effective_dataflow != "os" else a.cols
        min_tiles = {
            "weights": w_rows * a.simd_bits,
            "activations": (a.cols if a.interconnect == "broadcast" else a.rows) * a.simd_bits,
            "outputs": a.rows * a.cols * a.acc_bits,
        }
        for buf in ("weights", "outputs"):
            if getattr(self.buffers, buf).hold_kib:
                errs.append(FieldError(f"buffers.{buf}.hold_kib",
                                       "only the activation buffer holds feature maps"))
        act = self.buffers.activations
        if act.hold_kib >= act.capacity_kib:
            errs.append(FieldError("buffers.activations.hold_kib",
                                   f"{act.hold_kib} KiB leaves nothing of the {act.capacity_kib} "
                                   "KiB buffer to stage tiles from DRAM"))
        for buf, need in min_tiles.items():
            b = getattr(self.buffers, buf)
            if 0 < b.tile_bits < need:
                db = " (half of it, double buffered)" if b.double_buffered else ""
                errs.append(FieldError(
                    f"buffers.{buf}.capacity_kib",
                    f"{b.capacity_kib} KiB{db} is smaller than the smallest tile of this array "
                    f"({need} bits = {need / 8192:.3f} KiB)",
                ))
        for buf in ("weights", "activations", "outputs"):
            b = getattr(self.buffers, buf)
            if b.port_bits % b.banks:
                errs.append(FieldError(
                    f"buffers.{buf}.port_bits",
                    f"{b.port_bits} is not divisible by banks={b.banks}",
                ))
        return errs
