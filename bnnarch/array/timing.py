"""Compute-cycle formulas of the shared XNOR-popcount array — the single source
of truth that the SimPy engine charges per tile and that the RTL controller
(bnnarch.rtl) must reproduce to the cycle.

A layer tile is a GEMM ``M x K`` (activations) by ``K x N`` (weights) with K in
bits; ``kw = ceil(K / simd_bits)`` SIMD words per dot product. Each bit-serial
*pass* (one weight bit-plane x one activation bit-plane, ``passes = w_bits x
a_bits``; Stripes/Loom/Bit Fusion style) is a binary GEMM; the PE shift-adds
the pass results into its accumulator.

Interconnects (R rows x C cols, one S-bit XNOR+popcount per PE per cycle):

* ``broadcast`` (FINN-MVTU-like, output stationary): rows <- N (filters),
  cols <- M (pixels); a weight word is broadcast along each row and an
  activation word down each column; no skew. A fold of R filters x C pixels
  takes ``kw x passes`` cycles; folds run back to back (the output register is
  written at the end of a fold while the next one starts), and the pipelined
  popcount tree adds its depth ``ceil(log2 S)`` once at the end (drain).
* ``systolic`` with dataflow (SCALE-Sim conventions, Samajdar et al. 2018):
  - ``os`` rows <- M, cols <- N; operands enter with a skew of one cycle per
    row/column. A fold (R pixels x C filters) streams all its passes back to
    back into the same accumulators (the shift-add needs no bubble between
    bit-plane pairs), then waits for the skewed wavefront to leave:
    ``kw x passes + R + C - 2`` cycles per fold, folds not overlapped.
  - ``ws`` rows <- K words, cols <- N; weights preloaded (R cycles), all M
    activation vectors streamed with skew: ``2R + C + M - 2`` per fold.
  - ``is`` rows <- K words, cols <- M; inputs preloaded, N weight vectors
    streamed: ``2R + C + N - 2`` per fold.
    (ws / is: every K fold and every pass is a fold of its own; the bottom of
    each column shift-adds its partial sums into an accumulator buffer.)
  Systolic PEs do their popcount combinationally within the cycle (one
  MAC-equivalent per cycle per PE as in SCALE-Sim), so no extra drain.

SCALE-Sim prints the index of the last cycle (count - 1); we report counts.
The RTL (``bnnarch.rtl``) matches these counts exactly, counted from the cycle
in which ``start`` is sampled (cycle 0) to the first cycle with ``done`` high,
when all results of the tile are in the output buffer (``bnnarch.rtl.run``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bnnarch.workload.layer import ceil_div


@dataclass(frozen=True)
class GemmTile:
    """One tile of work for the array: ``groups`` independent GEMMs of
    M x K bits by K x N, executed with ``passes`` bit-serial passes."""

    m: int
    n: int
    k_bits: int
    groups: int = 1
    passes: int = 1




def popcount_tree_depth(simd_bits: int) -> int:
    """Adder levels of a binary popcount tree over ``simd_bits`` inputs."""
    return max(0, math.ceil(math.log2(simd_bits))) if simd_bits > 1 else 0


def words(k_bits: int, simd_bits: int) -> int:
    return ceil_div(k_bits, simd_bits)


def folds(tile: GemmTile, rows: int, cols: int, simd_bits: int, interconnect: str,
          dataflow: str) -> int:
    """Number of array folds (mappings of a sub-problem onto the R x C PEs).
    Each bit-serial pass is a fold of its own except on systolic ``os``,
    whose folds hold all passes (see fold_cycles)."""
    kw = words(tile.k_bits, simd_bits)
    g = tile.groups * tile.passes
    if interconnect == "systolic" and dataflow == "os":
        return tile.groups * ceil_div(tile.m, rows) * ceil_div(tile.n, cols)
    if interconnect == "broadcast":
        return g * ceil_div(tile.n, rows) * ceil_div(tile.m, cols)
    if dataflow == "ws":
        return g * ceil_div(kw, rows) * ceil_div(tile.n, cols)
    if dataflow == "is":
        return g * ceil_div(kw, rows) * ceil_div(tile.m, cols)
    raise ValueError(f"unknown dataflow {dataflow!r}")


def fold_cycles(tile: GemmTile, rows: int, cols: int, simd_bits: int, interconnect: str,
                dataflow: str) -> int:
    """Cycles of one fold (body only; pipeline drain excluded)."""
    kw = words(tile.k_bits, simd_bits)
    if interconnect == "broadcast":
        return kw
    if dataflow == "os":
        return kw * tile.passes + rows + cols - 2
    if dataflow == "ws":
        return 2 * rows + cols + tile.m - 2
    if dataflow == "is":
        return 2 * rows + cols + tile.n - 2
    raise ValueError(f"unknown dataflow {dataflow!r}")


def drain_cycles(simd_bits: int, interconnect: str) -> int:
    """Pipeline latency paid once per tile run (broadcast: popcount tree depth)."""
    return popcount_tree_depth(simd_bits) if interconnect == "broadcast" else 0


def tile_compute_cycles(tile: GemmTile, rows: int, cols: int, simd_bits: int,
                        interconnect: str, dataflow: str) -> int:
    """Exact compute cycles of one tile on the array (stall free)."""
    if tile.m <= 0 or tile.n <= 0 or tile.k_bits <= 0:
        return 0
    f = folds(tile, rows, cols, simd_bits, interconnect, dataflow)
    return f * fold_cycles(tile, rows, cols, simd_bits, interconnect, dataflow) + drain_cycles(
        simd_bits, interconnect
    )
