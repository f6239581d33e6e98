"""Accuracy results are cached on disk by precision map and shared between
evaluator instances (i.e. between workers)."""

from __future__ import annotations

from pathlib import Path

from bnnarch.dse import CachedEvaluator, ProxyEvaluator
from bnnarch.workload.io import load_workload
from tests.dse.conftest import REPO


class _Counting(ProxyEvaluator):
    calls = 0

    def evaluate(self, pmap):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().evaluate(pmap)


def test_cache_is_keyed_by_map_and_shared(tmp_path: Path) -> None:
    g = load_workload(REPO / "workloads" / "sfc.json")
    a = CachedEvaluator(_Counting(graph=g, metric="accuracy"), cache_dir=tmp_path)
    b = CachedEvaluator(_Counting(graph=g, metric="accuracy"), cache_dir=tmp_path)
    m1 = {"fc1": (2, 2), "fc2": (1, 1)}
    m2 = {"fc1": (4, 4), "fc2": (1, 1)}
    v1 = a.evaluate(m1)
    assert b.evaluate(dict(reversed(list(m1.items())))) == v1  # same map, other order: a hit
    assert _Counting.calls == 1
    assert b.evaluate(m2) > v1  # more bits, higher proxy accuracy; a miss
    assert _Counting.calls == 2
    assert a.evaluate(None) == b.evaluate(None)
    assert (a.hits, a.misses, b.hits, b.misses) == (0, 2, 2, 1)
