"""The hardware model of the reuse schemes: what each one skips and what it
costs, counted exactly from a layer's ``ReuseStats`` — a pure function of
(layer, stats, spec). bnnarch.array.reuse.reference executes the same schemes on
real bits and must count the same numbers; the simulator consumes them
(bnnarch.array.reuse.cost).

Units (one binary conv2d layer, counted over the ``frames`` images the
statistics were measured on; per frame = count / frames):

* **word-op**: one S-bit XNOR-popcount of one dot product on a PE
  (S = ``array.simd_bits``). A dot product (output pixel p, filter o) of
  K = cin_g * kh * kw bits takes ``kw = ceil(K / S)`` word-ops plainly
  (the simulator's useful PE-cycles for the layer, K untiled).
* **slot**: one PE cycle of a dot product; plainly one word-op per slot.
* **slice**: one input channel's kh*kw part of a filter or window.

Reuse datapath (stated assumptions, costs in bnnarch.array.reuse.cost):

* *Operand compaction*: the words a scheme still needs are packed densely
  (bit-level funnel shifter in front of each PE row/column), so a dot product
  with b remaining bits takes ceil(b / S) word-ops; the array's PEs are kept
  busy by a work-conserving controller, so a layer's compute cycles scale
  with its slots (cycles' = drain + ceil(body x slots / plain slots) per tile).

* **kernel_pattern** (Chang et al., DATE 2020). Weights are static, so the
  compiler finds, per group and input channel, the *representative* slices:
  a filter's slice is computed only if no earlier filter has the same
  pattern (or, ``sign_inverted``, the complement: popcount = valid bits -
  popcount). Filter o computes its r_o representative slices:
  ``ceil(r_o * taps / S)`` word-ops; its ``cin_g - r_o`` other slices are
  *share reads*: a popcount read from the per-column shared-result buffer
  (written once per pixel for each of the ``shared_results`` referenced
  representatives) and added through a ``share_ports``-input adder, so a dot
  product needs ``max(ceil(r_o * taps / S), ceil((cin_g - r_o) / ports))``
  slots. Needs ``shared_results <= share_entries``; applied only if it does
  not add slots and removes word-ops.

* **input_similarity** (Fu et al., arXiv 1810.02068). Each pixel column
  walks an output row left to right and keeps the previous window (register
  of ``window_bits``) and the previous accumulators. A window with a left
  neighbour that has the same padding pattern and whose +-1 values differ in
  D <= ``max_diff_bits`` positions, with ceil(D / S) < kw, is *derived*: at
  a flipped position the XNOR flips too, so acc(p) = acc(p - 1) +
  2 * popcount(xnor(new window, filter) & diff mask) - D, ceil(D / S)
  word-ops per filter on the ordinary PE datapath (D, the mask's popcount,
  comes from the comparator once per window). Every window with a neighbour
  is compared (K XOR bits + a K-input popcount); windows whose padding
  pattern changes are computed in full. groups == 1 and K <= ``window_bits``.

When both are enabled the controller runs, per layer, the scheme with fewer
slots (ties: fewer word-ops); combining them inside one layer would need a
joint gather network and is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bnnarch.array.spec import ArraySpec
from bnnarch.array.timing import ceil_div
from bnnarch.workload.layer import Layer, ReuseStats

SCHEMES = ("kernel_pattern", "input_similarity")


@dataclass(frozen=True)
class SchemeCount:
    """What one scheme does on one layer, counted over ``frames`` frames."""

    scheme: str
    applicable: bool
    reason: str  # why not applicable / not chosen ("" when applied)
    frames: int
    plain_word_ops: int
    word_ops: int
    plain_slots: int
    slots: int
    plain_xnor_bits: int
    skipped_xnor_bits: int  # bit-level (slices / positions not XNORed), as papers count
    share_reads: int = 0  # kernel_pattern: shared results read and added
    share_writes: int = 0  # kernel_pattern: representative results written
    compare_bits: int = 0  # input_similarity: window bits XOR-compared
    acc_reads: int = 0  # input_similarity: previous accumulators read (derived dot products)
    derived_windows: int = 0  # input_similarity

    @property
    def skipped_word_ops(self) -> int:
        return self.plain_word_ops - self.word_ops

    @property
    def saved_slots(self) -> int:
        return self.plain_slots - self.slots

    @property
    def operand_words_saved(self) -> int:
        """Buffer accesses saved at the PE operand ports: one weight and one
        activation word per skipped word-op."""
        return 2 * self.skipped_word_ops


@dataclass(frozen=True)
class ReuseEffect:
    layer: str
    counts: tuple[SchemeCount, ...]  # one per enabled scheme
    applied: str | None  # the scheme the layer runs with, or None

    def count(self, scheme: str) -> SchemeCount | None:
        return next((c for c in self.counts if c.scheme == scheme), None)

    @property
    def chosen(self) -> SchemeCount | None:
        return self.count(self.applied) if self.applied else None


def geometry(layer: Layer, spec: ArraySpec) -> tuple[int, int, int, int, int, int]:
    """(S, taps, cin_g, K, kw, M) of a conv layer on this design."""
    s = spec.array.simd_bits
    geo = layer.geometry
    return s, geo.taps, geo.cin_g, geo.k, ceil_div(geo.k, s), geo.m


def _plain(layer: Layer, spec: ArraySpec, frames: int) -> tuple[int, int]:
    _, _, _, k, kw, m = geometry(layer, spec)
    n = layer.out_shape[0]
    return frames * m * n * kw, frames * m * n * k


def _na(scheme: str, reason: str, layer: Layer, spec: ArraySpec, frames: int) -> SchemeCount:
    pw, pb = _plain(layer, spec, frames)
    return SchemeCount(scheme, False, reason, frames, pw, pw, pw, pw, pb, 0)


def kernel_pattern_count(layer: Layer, st: ReuseStats, spec: ArraySpec, *,
                         raw: bool = False) -> SchemeCount:
    """Counts of kernel-pattern reuse; ``raw`` skips the applicability rules."""
    kp = spec.reuse.kernel_pattern
    s, t, cin_g, _, _, m = geometry(layer, spec)
    f = st.frames
    pw, pb = _plain(layer, spec, f)
    reps = st.rep_slices_signfolded if kp.sign_inverted else st.rep_slices
    shared = st.shared_results_signfolded if kp.sign_inverted else st.shared_results
    words = slots = shares = 0
    for r in reps:
        wo = ceil_div(r * t, s)
        words += wo
        slots += max(wo, ceil_div(cin_g - r, kp.share_ports))
        shares += cin_g - r
    c = SchemeCount("kernel_pattern", True, "", f, pw, f * m * words, pw, f * m * slots, pb,
                    f * m * shares * t, share_reads=f * m * shares, share_writes=f * m * shared)
    if raw:
        return c
    if shared > kp.share_entries:
        return _na("kernel_pattern", f"needs {shared} shared-result entries per column, "
                   f"share_entries={kp.share_entries}", layer, spec, f)
    if c.slots > c.plain_slots or c.word_ops >= c.plain_word_ops:
        why = ("no repeated kernels" if shares == 0 else
               "share reads bound the dot product" if c.slots > c.plain_slots else
               "repeats too few to drop a whole word")
        return _na("kernel_pattern", why, layer, spec, f)
    return c


def input_similarity_count(layer: Layer, st: ReuseStats, spec: ArraySpec, *,
                           raw: bool = False) -> SchemeCount:
    """Counts of input-similarity reuse; ``raw`` skips the applicability rules."""
    si = spec.reuse.input_similarity
    s, _, _, k, kw, _ = geometry(layer, spec)
    f = st.frames
    if layer.groups != 1:
        return _na("input_similarity", "grouped conv", layer, spec, f)
    if k > si.window_bits:
        return _na("input_similarity", f"receptive field {k} bits > window_bits={si.window_bits}",
                   layer, spec, f)
    if not st.diff_hist and not st.border_windows:
        return _na("input_similarity", "no window statistics", layer, spec, f)
    pw, pb = _plain(layer, spec, f)
    n = layer.out_shape[0]
    saved_words = saved_bits = derived = 0
    compared = st.border_windows  # padding pattern changed: compared, computed in full
    for d, cnt in st.diff_hist:
        compared += cnt
        if d <= si.max_diff_bits and ceil_div(d, s) < kw:
            derived += cnt
            saved_words += cnt * (kw - ceil_div(d, s))
            saved_bits += cnt * (k - d)
    if derived == 0 and not raw:
        why = (f"no window within max_diff_bits={si.max_diff_bits}" if st.diff_hist else
               "every neighbouring pair crosses the padding")
        return _na("input_similarity", why, layer, spec, f)
    wo = pw - n * saved_words
    return SchemeCount("input_similarity", True, "", f, pw, wo, pw, wo, pb, n * saved_bits,
                       compare_bits=compared * k, acc_reads=derived * n, derived_windows=derived)


def reuse_effect(layer: Layer, spec: ArraySpec) -> ReuseEffect | None:
    """The reuse effect of the design's enabled schemes on a layer (None when
    the design enables none or the layer is not a binary conv2d)."""
    r = spec.reuse
    if not r.any_enabled or layer.op != "conv2d" or not layer.is_binary:
        return None
    st = layer.stats.reuse if layer.stats is not None else None
    counts: list[SchemeCount] = []
    for scheme, on, fn in (("kernel_pattern", r.kernel_pattern.enabled, kernel_pattern_count),
                           ("input_similarity", r.input_similarity.enabled,
                            input_similarity_count)):
        if not on:
            continue
        if st is None:
            counts.append(_na(scheme, "no reuse statistics in the workload", layer, spec, 1))
        else:
            counts.append(fn(layer, st, spec))
    ok = [c for c in counts if c.applicable]
    applied = min(ok, key=lambda c: (c.slots, c.word_ops)).scheme if ok else None
    return ReuseEffect(layer.name, tuple(counts), applied)


def pc_bits(taps: int) -> int:
    """Bits of one slice popcount (0..taps)."""
    return max(1, math.ceil(math.log2(taps + 1)))
