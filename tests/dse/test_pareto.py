"""Dominance and fronts (property-based)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bnnarch.dse._pareto import dominates, front

DIRS = ("minimize", "maximize", "minimize")
points = st.lists(st.tuples(*(st.integers(0, 6) for _ in DIRS)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(points)
def test_front_is_exactly_the_non_dominated_set(pts: list[tuple[int, int, int]]) -> None:
    idx = set(front(pts, DIRS))
    assert idx
    for i, p in enumerate(pts):
        dominated = any(dominates(q, p, DIRS) for q in pts)
        assert (i in idx) == (not dominated)


def test_dominance_respects_direction() -> None:
    assert dominates((1, 5, 1), (2, 4, 1), DIRS)
    assert not dominates((1, 5, 1), (1, 5, 1), DIRS)
    assert not dominates((1, 4, 1), (2, 5, 1), DIRS)
