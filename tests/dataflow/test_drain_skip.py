"""The fast engine's skip of repeated rows in the drain (after the source's
last frame, ``bnnarch.dataflow._rowskip`` with FIFO fills linear): equal to
SimPy and to the run without skips on random chains and DAGs with every
FIFO unbounded (the FIFO sizing's reference run) or bounded, a case where
it must fire, and the FIFO bounds that keep it from skipping where a FIFO
could run empty or fill up."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnarch.dataflow import _kernelconst as k
from bnnarch.dataflow import _rowskip, fast
from bnnarch.dataflow.engine import PipelineDeadlock, run_pipeline
from bnnarch.dataflow.fast import run_pipeline_fast
from bnnarch.dataflow.fifo_sizing import with_depths
from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.plan import Stage, build_stages
from bnnarch.template import load_design
from bnnarch.workload.builder import GraphBuilder
from bnnarch.workload.io import apply_precision, load_workload
from tests.conftest import not_applicable

from .helpers import design
from .test_row_skip import big_chains, big_dags


def _unbounded(stages: list[Stage]) -> list[Stage]:
    return with_depths(stages, {n: math.inf for s in stages for n, _ in s.out_fifos})


def _same_run(stages: list[Stage], frames: int) -> None:
    """SimPy, the compiled run with skips and without: the same result."""
    try:
        slow = run_pipeline(stages, frames)
    except PipelineDeadlock as e:
        with pytest.raises(PipelineDeadlock) as got:
            run_pipeline_fast(stages, frames)
        assert str(got.value) == str(e)
        return
    got = run_pipeline_fast(stages, frames)
    jumps = fast.LAST_DRAIN_JUMPS[0]
    frame_jump = fast.LAST_JUMP[4] > _processes(stages)
    assert got == slow
    assert got == run_pipeline_fast(stages, frames, skip=False)
    DRAIN_JUMPS.append(jumps)
    DRAIN_FRAME_JUMPS.append(frame_jump)


def _processes(stages: list[Stage]) -> int:
    """The kernel's processes: the source, three per windowed stage, one per
    other stage and one per sink."""
    read = {n for s in stages for n in s.in_fifos}
    return (1 + sum(3 if s.kind in fast._WINDOWED else 1 for s in stages[1:])
            + sum(n not in read for s in stages for n, _ in s.out_fifos))


DRAIN_JUMPS: list[int] = []
DRAIN_FRAME_JUMPS: list[bool] = []


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(big_chains(), st.sampled_from([0, 1, 2]), st.sampled_from([16, 4096]), st.integers(1, 6))
def test_random_chains_skipping_drain_rows_equal(case, depth: int, width: int, frames: int) -> None:
    """``depth`` 0: every FIFO unbounded (the reference run of FIFO sizing)."""
    g, folds = case
    spec = design(folds, input_bits_per_cycle=width, fifo={"default_depth": max(depth, 1)})
    stages = build_stages(spec, g, fold(spec, g).folds())
    _same_run(_unbounded(stages) if depth == 0 else stages, frames)


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(big_dags(), st.sampled_from([0, 1, 8]), st.sampled_from([1, math.inf]), st.integers(1, 6))
def test_random_dags_skipping_drain_rows_equal(case, depth: int, join_depth: float,
                                               frames: int) -> None:
    """Residual adds and U-Net concats; ``depth`` 0: every FIFO unbounded."""
    g, folds = case
    spec = design(folds, input_bits_per_cycle=4096, fifo={"default_depth": max(depth, 1)})
    plain = build_stages(spec, g, fold(spec, g).folds())
    stages = build_stages(spec, g, fold(spec, g).folds(),
                          {n: join_depth for s in plain for n in s.in_fifos if ".in" in n})
    _same_run(_unbounded(stages) if depth == 0 else stages, frames)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(big_chains(), big_dags()), st.integers(5, 8))
def test_random_pipelines_skipping_drain_frames_equal(case, frames: int) -> None:
    """Chains and DAGs, every FIFO unbounded, a wide source: the frames
    queue up before the slowest stage, whose drain repeats frame after frame."""
    g, folds = case
    spec = design(folds, input_bits_per_cycle=4096)
    _same_run(_unbounded(build_stages(spec, g, fold(spec, g).folds())), frames)


def test_drain_rows_were_skipped_in_the_random_runs() -> None:
    """The properties above are not vacuous."""
    if not DRAIN_JUMPS:
        not_applicable("runs after the property tests in the same process")
    assert sum(j > 0 for j in DRAIN_JUMPS) >= 3
    assert sum(DRAIN_FRAME_JUMPS) >= 3


def _slow_chain() -> list[Stage]:
    """A wide source into a 3x3 conv folded to 9 cycles a pixel, then a pool
    and another conv, every FIFO unbounded: the source is done with every
    frame long before the convs, which drain the queued frames."""
    b = GraphBuilder("drain", (2, 40, 40))
    b.conv("c0", 2, 3, p=1)
    b.pool("mp", 2)
    b.conv("c1", 2, 3, p=1)
    g = b.build()
    spec = design({"c0": (1, 2), "c1": (1, 2)}, input_bits_per_cycle=4096)
    return _unbounded(build_stages(spec, g, fold(spec, g).folds()))


@pytest.mark.parametrize("frames", [1, 3])
def test_drain_skip_fires_and_equals_simpy(frames: int) -> None:
    stages = _slow_chain()
    run = run_pipeline_fast(stages, frames)
    jumps, periods, cycles = fast.LAST_DRAIN_JUMPS
    assert jumps >= frames and periods >= jumps and cycles > run.completion[-1] // 2
    assert run == run_pipeline(stages, frames)
    assert run == run_pipeline_fast(stages, frames, skip=False)
    assert fast.LAST_DRAIN_JUMPS == [0, 0, 0]


def _fifo_state(cap: int, cnt: int, puts: int, peak: int) -> tuple[np.ndarray, np.ndarray]:
    """One FIFO, no process or stage: (fq, its linear part)."""
    fq = np.zeros((1, k.N_F), np.int64)
    fq[0, k.F_CAP] = cap
    lin = np.array([puts, cnt, peak], np.int64)
    return fq, lin


def test_fifo_bounds_keep_every_get_and_put() -> None:
    """A FIFO draining by 3 a period with 5 gets (2 puts) a period, at 20
    then 17 items: period j starts at 20 - 3j and must keep >= 5 + 1 items,
    so j <= 4 (4 periods after the base one); growing by 3 (5 puts, 2 gets)
    under a 40-entry cap: 20 + 3j + 5 < 40, j <= 4; a growing FIFO whose
    peak was reached before the base period, or one that could run empty or
    fill in the base period, skips nothing."""
    fq, base = _fifo_state(1 << 62, 20, 100, 30)
    _, now = _fifo_state(1 << 62, 17, 102, 30)
    assert _rowskip._fifo_periods(fq, now, base, 0, 0) == 4
    fq, base = _fifo_state(40, 20, 100, 20)
    _, now = _fifo_state(40, 23, 105, 24)
    assert _rowskip._fifo_periods(fq, now, base, 0, 0) == 4
    _, stale = _fifo_state(40, 23, 105, 20)  # peak not in the base period
    assert _rowskip._fifo_periods(fq, stale, base, 0, 0) == 0
    fq, base = _fifo_state(1 << 62, 5, 100, 30)  # 5 items, 5 gets: could run empty
    _, now = _fifo_state(1 << 62, 2, 102, 30)
    assert _rowskip._fifo_periods(fq, now, base, 0, 0) == 0
    fq, base = _fifo_state(1 << 62, 7, 100, 30)  # unchanged fill: no bound
    _, now = _fifo_state(1 << 62, 7, 107, 30)
    assert _rowskip._fifo_periods(fq, now, base, 0, 0) == 1 << 62


def test_drain_frame_skip_fires_and_equals_simpy() -> None:
    """Six frames queued before the drain: whole frames are skipped at the
    first running reader's frame starts (``where`` past every sink), and
    the run equals SimPy's and the run without skips."""
    stages = _slow_chain()
    run = run_pipeline_fast(stages, 6)
    frame, period_frames, period_cycles, periods, where = fast.LAST_JUMP
    assert where > _processes(stages) and periods >= 1 and period_cycles > 0
    assert run == run_pipeline(stages, 6)
    assert run == run_pipeline_fast(stages, 6, skip=False)


@pytest.mark.parametrize(("workload", "frames"), [("digits_seg", 8), ("digits_det", 13),
                                                  ("centernet", 3)])
def test_shipped_reference_runs_skip_their_drain(root, workload: str, frames: int) -> None:
    """FIFO sizing's reference run (every FIFO unbounded) of shipped
    workloads on finn_resnet_digits: the drain skips fire and the run
    equals the run without skips (counters, peaks, first puts)."""
    spec = load_design(root / "designs/finn_resnet_digits.yaml")
    g = apply_precision(load_workload(root / f"workloads/{workload}.json"), {})
    stages = _unbounded(build_stages(spec, g, fold(spec, g).folds()))
    run = run_pipeline_fast(stages, frames)
    assert fast.LAST_DRAIN_JUMPS[0] > 0 or fast.LAST_JUMP[4] > _processes(stages)
    assert run == run_pipeline_fast(stages, frames, skip=False)
