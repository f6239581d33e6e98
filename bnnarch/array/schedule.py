"""The schedule types the mapper produces and the engine, the energy ledger,
the reuse schemes and the RTL consume: a layer's tiles (what to fetch,
compute and write back, in order) and its totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from bnnarch.array.timing import GemmTile


@dataclass(frozen=True)
class Tile:
    """One step of a layer's schedule: what to fetch, compute and write back."""

    load_w_bits: int
    load_a_bits: int
    load_psum_bits: int
    compute_cycles: int
    store_bits: int  # outputs (final) or spilled partial sums
    gemm: GemmTile


@dataclass(frozen=True)
class Schedule:
    """A layer's chosen schedule: its totals, and its tiles built on demand
    (the SimPy engine, reuse schemes and the RTL need them; the recurrence
    engine and the energy model need only the totals)."""

    layer: str
    engine: str  # "array" | "mac_unit"
    order: str
    tiling: tuple[int, int, int, int]  # (gt, th, ci, co)
    counts: tuple[int, int, int]  # tiles along m, n, k
    passes: int
    n_tiles: int
    dram_bits: int
    compute_cycles: int
    load_bits: tuple[int, int, int]  # weights, activations, reloaded partial sums
    store_bits: int  # outputs and spilled partial sums
    gemms: tuple[tuple[GemmTile, int], ...]  # each distinct compute tile, how many
    cycles: int | None  # the tiles run through engine.recurrence_cycles, if known
    make_tiles: Callable[[], tuple[Tile, ...]] = field(compare=False, repr=False)
    held_out_bits: int = 0  # final outputs written to the activation buffer's hold region

    @cached_property
    def tiles(self) -> tuple[Tile, ...]:
        t = self.make_tiles()
        assert len(t) == self.n_tiles
        return t

    @staticmethod
    def of_tiles(base: Schedule | None, tiles: tuple[Tile, ...], **fields: Any) -> Schedule:
        """A schedule with these tiles and totals computed from them (fields as
        ``base``'s unless given)."""
        gemms = Counter(t.gemm for t in tiles)
        load_bits = (sum(t.load_w_bits for t in tiles), sum(t.load_a_bits for t in tiles),
                     sum(t.load_psum_bits for t in tiles))
        store_bits = sum(t.store_bits for t in tiles)
        totals: dict[str, Any] = {
            "n_tiles": len(tiles), "compute_cycles": sum(t.compute_cycles for t in tiles),
            "dram_bits": sum(load_bits) + store_bits, "load_bits": load_bits,
            "store_bits": store_bits, "gemms": tuple(gemms.items()), "cycles": None,
            "make_tiles": lambda: tiles}
        if base is None:
            return Schedule(**(totals | fields))
        return replace(base, **(totals | fields))
