"""The folding pass: per-layer PE x SIMD from a target throughput or a
resource budget (in the spirit of FINN's SetFolding transformation).

For a target II of T cycles per frame, each compute layer not folded
explicitly gets the cheapest legal folding (PE | MH, SIMD | MW, fewest
PE x SIMD lanes, then fewest PEs — a PE costs an accumulator and threshold
comparators, a SIMD lane only an XNOR and a popcount input) whose MVTU *and*
SWU cycles per frame are <= T. If none reaches T the fastest folding is
taken and the result says the target is not met. On a residual or
concatenating network the target holds for every stage of every branch
(joins and pools are fixed stages that count towards the II bound). A budget (total lanes or
total modelled area) is met by a binary search on T for the smallest II
whose folding fits.

The result is a plain value that ``bnnarch fold`` prints and writes as YAML
(`folding.layers` entries a spec accepts as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bnnarch.dataflow.plan import JOINS, build_stages, consumers, fused_threshold, layers_of
from bnnarch.dataflow.spec import DataflowSpec, workload_errors
from bnnarch.dataflow.timing import (
    as_conv,
    effective_bits,
    mvtu_cycles,
    mvtu_dims,
    passes,
    pool_cycles,
    swu_cycles,
    swu_lanes,
    swu_write_cycles,
    threshold_cycles,
)
from bnnarch.errors import FieldError, SpecError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer


@dataclass(frozen=True)
class LayerFolding:
    layer: str
    pe: int
    simd: int
    origin: str  # explicit | target | budget
    mvtu_cycles: int
    swu_cycles: int  # 0 for fully connected layers
    weight_depth: int  # MW*MH/(PE*SIMD)
    threshold_depth: int  # MH/PE

    @property
    def cycles(self) -> int:
        return max(self.mvtu_cycles, self.swu_cycles)

    @property
    def lanes(self) -> int:
        return self.pe * self.simd


@dataclass(frozen=True)
class FoldResult:
    layers: tuple[LayerFolding, ...]
    fixed_stages: tuple[tuple[str, int], ...]  # (stage, cycles/frame) of non-foldable stages
    target_cycles: int | None
    mode: str  # explicit | target_cycles | target_fps | budget_lanes | budget_area | budget_lanes_fifo
    # budget_lanes_fifo: the II the FIFOs are auto-sized for, and their total bits
    fifo_target_cycles: int | None = None
    fifo_bits: int | None = None

    @property
    def ii_bound_cycles(self) -> int:
        """Largest stall-free stage time: the pipeline's II if FIFOs suffice."""
        return max([lf.cycles for lf in self.layers] + [c for _, c in self.fixed_stages] + [1])

    @property
    def met(self) -> bool:
        return self.target_cycles is None or self.ii_bound_cycles <= self.target_cycles

    @property
    def lanes(self) -> int:
        return sum(lf.lanes for lf in self.layers)

    def folds(self) -> dict[str, tuple[int, int]]:
        return {lf.layer: (lf.pe, lf.simd) for lf in self.layers}

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "mode": self.mode, "target_cycles": self.target_cycles, "met": self.met,
            "ii_bound_cycles": self.ii_bound_cycles, "lanes": self.lanes,
            "layers": {lf.layer: {"pe": lf.pe, "simd": lf.simd} for lf in self.layers},
            "details": [lf.__dict__ | {"cycles": lf.cycles} for lf in self.layers],
            "fixed_stages": dict(self.fixed_stages),
        }
        if self.fifo_target_cycles is not None:
            d |= {"fifo_target_cycles": self.fifo_target_cycles, "fifo_bits": self.fifo_bits}
        return d


@lru_cache(maxsize=4096)
def divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


def _layer_passes(layer: Layer, spec: DataflowSpec) -> int:
    fp = spec.multibit.full_precision_bits
    return passes(effective_bits(layer.w_bits, fp), effective_bits(layer.a_bits, fp),
                  spec.multibit.mode)


def swu_frame_cycles(layer: Layer, pe: int, simd: int, spec: DataflowSpec) -> int | None:
    """Stall-free cycles per frame of a conv's SWU (and, for a transposed
    conv, its pixel-padding stage); 0 for a fully connected layer; None when
    the layer's MMV does not divide the window's write cycles."""
    if layer.op == "linear":
        return 0
    conv = as_conv(layer)
    lanes = swu_lanes(layer, pe, simd)
    m = spec.swu.mmv.get(layer.name, 1)
    if swu_write_cycles(conv.kernel[0], conv.in_shape[0], lanes) % m:
        return None
    sw = swu_cycles(conv, lanes, m)
    if layer.op == "conv_transpose2d":  # FMPadding_Pixel: a padded pixel per cycle
        sw = max(sw, conv.in_shape[1] * conv.in_shape[2])
    return sw


def layer_folding(layer: Layer, pe: int, simd: int, spec: DataflowSpec, origin: str) -> LayerFolding:
    mw, mh = mvtu_dims(layer)
    mv = mvtu_cycles(layer, pe, simd, _layer_passes(layer, spec))
    sw = swu_frame_cycles(layer, pe, simd, spec)
    if sw is None:
        conv = as_conv(layer)
        wc = swu_write_cycles(conv.kernel[0], conv.in_shape[0], swu_lanes(layer, pe, simd))
        raise SpecError(spec.name, [FieldError(
            f"swu.mmv.{layer.name}", f"MMV {spec.swu.mmv[layer.name]} must divide the SWU's "
            f"{wc} write cycles per window at PE={pe} SIMD={simd} (FINN ConvolutionInputGenerator "
            "M)")])
    return LayerFolding(layer.name, pe, simd, origin, mv, sw, mw * mh // (pe * simd), mh // pe)


def fold_layer(layer: Layer, target: int, spec: DataflowSpec, origin: str = "target") -> LayerFolding:
    """Cheapest legal folding of one layer reaching ``target`` cycles/frame
    (or the fastest one if none does)."""
    mw, mh = mvtu_dims(layer)
    best: LayerFolding | None = None
    fastest: LayerFolding | None = None
    for pe in divisors(mh):
        for simd in divisors(mw):  # ascending: the first that meets T is the cheapest for this PE
            if swu_frame_cycles(layer, pe, simd, spec) is None:
                continue  # the layer's MMV does not fit this SWU width
            lf = layer_folding(layer, pe, simd, spec, origin)
            if fastest is None or (lf.cycles, lf.lanes) < (fastest.cycles, fastest.lanes):
                fastest = lf
            if lf.cycles <= target:
                if best is None or (lf.lanes, lf.pe) < (best.lanes, best.pe):
                    best = lf
                break
    if fastest is None:
        raise SpecError(spec.name, [FieldError(
            f"swu.mmv.{layer.name}", f"MMV {spec.swu.mmv.get(layer.name, 1)} divides the SWU's "
            "write cycles per window at no legal folding")])
    return best or fastest


def _fixed_stages(layers: list[Layer]) -> tuple[tuple[str, int], ...]:
    """(stage, stall-free cycles/frame) of the stages the pass cannot fold:
    pools and upsamples (a pixel read and a pixel written per cycle),
    standalone thresholds, joins (add: a pixel per cycle; concat: an
    input pixel vector per cycle)."""
    by = {layer.name: layer for layer in layers}
    cons = consumers(layers)
    out = []
    for layer in layers:
        if layer.op in ("maxpool", "avgpool", "upsample"):
            out.append((layer.name, pool_cycles(layer)))
        elif layer.op == "threshold" and not fused_threshold(layer, by, cons):
            out.append((layer.name, threshold_cycles(layer, layer.out_shape[0])))
        elif layer.op in JOINS:
            per_pixel = 1 if layer.op == "add" else len(layer.inputs)
            out.append((layer.name, layer.out_shape[1] * layer.out_shape[2] * per_pixel))
    return tuple(out)


def _fold_all(layers: list[Layer], spec: DataflowSpec, target: int | None,
              origin: str) -> tuple[LayerFolding, ...]:
    out = []
    for layer in layers:
        if not layer.is_compute:
            continue
        lf = spec.folding.layers.get(layer.name)
        if lf is not None:
            out.append(layer_folding(layer, lf.pe, lf.simd, spec, "explicit"))
        else:
            assert target is not None
            out.append(fold_layer(layer, target, spec, origin))
    return tuple(out)


def fold(spec: DataflowSpec, graph: WorkloadGraph) -> FoldResult:
    """Per-layer folding of ``spec`` on ``graph`` (explicit entries + the pass)."""
    errs = workload_errors(spec, graph)
    if errs:
        raise SpecError(f"design {spec.name!r} on workload {graph.name!r}", errs)
    layers = layers_of(graph)
    fixed = _fixed_stages(layers)
    f = spec.folding
    if f.budget is None:
        t = spec.target_cycles
        mode = ("target_cycles" if f.target_cycles is not None else
                "target_fps" if f.target_fps is not None else "explicit")
        return FoldResult(_fold_all(layers, spec, t, "target"), fixed, t, mode)
    if f.budget.fifo_bits is not None:
        return _fold_lanes_fifo(spec, graph, layers, fixed)
    # budget: smallest II whose folding fits
    if f.budget.lanes is not None:
        limit = float(f.budget.lanes)
        mode = "budget_lanes"

        def cost(r: tuple[LayerFolding, ...]) -> float:
            return float(sum(x.lanes for x in r))
    else:
        from bnnarch.dataflow.cost import total_area_mm2

        limit = float(f.budget.area_mm2)  # type: ignore[arg-type]
        mode = "budget_area"

        def cost(r: tuple[LayerFolding, ...]) -> float:
            folds = {x.layer: (x.pe, x.simd) for x in r}
            return total_area_mm2(build_stages(spec, graph, folds), spec)
    hi = max([layer_folding(x, 1, 1, spec, "budget").cycles for x in layers if x.is_compute]
             + [c for _, c in fixed] + [1])
    lo = 1
    best = _fold_all(layers, spec, hi, "budget")
    if cost(best) > limit:
        raise SpecError(spec.name, [_budget_error(mode, cost(best), limit)])
    while lo < hi:
        mid = (lo + hi) // 2
        r = _fold_all(layers, spec, mid, "budget")
        if cost(r) <= limit:
            hi, best = mid, r
        else:
            lo = mid + 1
    return FoldResult(best, fixed, None, mode)


def _fifo_bits(spec: DataflowSpec, graph: WorkloadGraph, r: tuple[LayerFolding, ...],
               t: int) -> int:
    """Total FIFO bits with the FIFOs auto-sized for II ``t`` (or the
    folding's own II where its unbounded run is slower)."""
    from bnnarch.dataflow.fifo_sizing import size_fifos

    stages = build_stages(spec, graph, {x.layer: (x.pe, x.simd) for x in r})
    return sum(z.bits for z in size_fifos(spec, stages, max(spec.batch, 3), t).fifos)


MAX_FIFO_SIZINGS = 64  # candidate IIs sized before a lanes + FIFO-bits budget gives up


def _cycle_points(layers: list[Layer], spec: DataflowSpec) -> list[int]:
    """Every II at which the pass's folding can change: the cycles of every
    legal folding of every layer it folds, and of the fixed stages."""
    pts = {c for _, c in _fixed_stages(layers)}
    for layer in layers:
        if not layer.is_compute or layer.name in spec.folding.layers:
            continue
        mw, mh = mvtu_dims(layer)
        pts |= {layer_folding(layer, pe, simd, spec, "budget").cycles for pe in divisors(mh)
                for simd in divisors(mw) if swu_frame_cycles(layer, pe, simd, spec) is not None}
    return sorted(pts)


def _fold_lanes_fifo(spec: DataflowSpec, graph: WorkloadGraph, layers: list[Layer],
                     fixed: tuple[tuple[str, int], ...]) -> FoldResult:
    """Budget of lanes and FIFO bits. The lanes of the cheapest folding fall
    as the target II ``t`` grows, so a bisection over the IIs at which the
    folding changes finds the smallest ``t`` within the lanes; FIFO bits
    (FIFOs auto-sized for ``t`` by simulation) need not fall monotonically
    (an SWU-bound folding may need deeper FIFOs), so from there the IIs are
    tried in increasing order until the FIFOs fit too."""
    b = spec.folding.budget
    assert b is not None and b.lanes is not None and b.fifo_bits is not None
    pts = _cycle_points(layers, spec) or [1]

    def lanes(t: int) -> int:
        return sum(x.lanes for x in _fold_all(layers, spec, t, "budget"))

    if lanes(pts[-1]) > b.lanes:
        raise SpecError(spec.name, [_budget_error("budget_lanes", lanes(pts[-1]), b.lanes)])
    lo, hi = 0, len(pts) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if lanes(pts[mid]) <= b.lanes:
            hi = mid
        else:
            lo = mid + 1
    tried: list[str] = []
    for t in pts[lo:lo + MAX_FIFO_SIZINGS]:
        r = _fold_all(layers, spec, t, "budget")
        bits = _fifo_bits(spec, graph, r, t)
        if bits <= b.fifo_bits:
            return FoldResult(r, fixed, None, "budget_lanes_fifo", t, bits)
        tried.append(f"{bits:,} at II {t:,}")
    raise SpecError(spec.name, [FieldError(
        "folding.budget.fifo_bits", f"{b.fifo_bits:,} FIFO bits fit none of the "
        f"{len(tried)} foldings within {b.lanes:g} lanes tried from II {pts[lo]:,} up "
        f"(auto-sized FIFOs need {tried[0]} ... {tried[-1]})")])


def _budget_error(mode: str, need: float, limit: float):
    what = "lanes" if mode == "budget_lanes" else "area_mm2"
    return FieldError(f"folding.budget.{what}",
                      f"{limit:g} is below the smallest design ({need:g} with PE=SIMD=1 "
                      "on every folded layer)")
