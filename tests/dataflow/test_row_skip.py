"""The fast engine's skip of repeated rows inside a frame
(``bnnarch.dataflow._rowskip``): equal to SimPy on random chains and DAGs
large enough for the skip to fire (convs with stride and padding, pools,
upsampling, transposed convs, residual adds, U-Net concats, joins that
deadlock), a case where it must fire, and the edge rules that keep it from
skipping where rows differ (the frame's top and bottom rows, odd rows of an
upsampler, counters that do not move together)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnarch.dataflow import _fastkernel, _rowskip, fast
from bnnarch.dataflow import _kernelconst as k
from bnnarch.dataflow.engine import PipelineDeadlock, run_pipeline
from bnnarch.dataflow.fast import run_pipeline_fast
from bnnarch.dataflow.fold import divisors, fold
from bnnarch.dataflow.plan import Stage, build_stages
from bnnarch.dataflow.timing import mvtu_dims
from bnnarch.workload.builder import GraphBuilder
from tests.conftest import not_applicable

from .helpers import design


def test_kernel_cache_stamp() -> None:
    """numba keys run_kernel's cache on _fastkernel.py alone: its stamp must
    follow the modules compiled into it, or a stale kernel would be loaded."""
    src = Path(_fastkernel.__file__).parent
    sha = hashlib.sha256(b"".join((src / f).read_bytes() for f in (
        "_frameskip.py", "_rowskip.py", "_kernelconst.py"))).hexdigest()[:16]
    assert _fastkernel.DEPS_SHA256 == sha


def _folds(draw, g) -> dict[str, tuple[int, int]]:
    folds = {}
    for layer in g.compute_layers():
        mw, mh = mvtu_dims(layer)
        folds[layer.name] = (draw(st.sampled_from(divisors(mh))),
                             draw(st.sampled_from(divisors(mw))))
    return folds


@st.composite
def big_chains(draw):
    """12-28 pixel images through 1-3 convs (1x1 to 5x5, stride 1/2, padding,
    transposed), pools and upsamplers: frames of enough rows to repeat."""
    hw = draw(st.integers(12, 28))
    b = GraphBuilder("rows", (draw(st.sampled_from([1, 2, 3])), hw, hw))
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "deconv", "up"]))
        side = b.shapes[b.last][1]
        if kind == "deconv" and side <= 14:
            b.deconv(f"c{i}", draw(st.sampled_from([2, 4])), 2, 2)
        elif kind == "up" and side <= 14:
            b.upsample(f"up{i}", 2)
        else:
            # 5x5 with padding 2: the top rows free nothing
            kk = draw(st.sampled_from([x for x in (1, 3, 5) if x <= side]))
            b.conv(f"c{i}", draw(st.sampled_from([2, 4])), kk,
                   s=draw(st.sampled_from([1, 1, 2])) if side >= 8 else 1,
                   p=draw(st.integers(0, kk // 2)))
        if b.shapes[b.last][1] >= 8 and draw(st.booleans()):
            b.pool(f"mp{i}", 2)
    if draw(st.booleans()):
        b.linear("fc", 4)
    g = b.build()
    return g, _folds(draw, g)


@st.composite
def big_dags(draw):
    """Residual adds and U-Net concats (pool, conv, upsample) on 12-24 pixel images."""
    c = draw(st.sampled_from([2, 4]))
    hw = 2 * draw(st.integers(6, 12))
    b = GraphBuilder("rdag", (c, hw, hw))
    x = b.conv("stem", c, 3, p=1)
    for i in range(draw(st.integers(1, 2))):
        if draw(st.booleans()):
            y = b.conv(f"r{i}a", b.shapes[x][0], 3, p=1, src=x)
            x = b.add(f"add{i}", y, x)
        elif b.shapes[x][1] % 2 == 0:
            d = b.pool(f"mp{i}", 2, src=x)
            d = b.conv(f"u{i}", c, 3, p=1, src=d)
            u = b.upsample(f"up{i}", 2, src=d)
            x = b.concat(f"cat{i}", [u, x])
    b.conv("head", 2, 1, src=x)
    g = b.build()
    return g, _folds(draw, g)


def _same_run(stages: list[Stage], frames: int) -> None:
    try:
        slow = run_pipeline(stages, frames)
    except PipelineDeadlock as e:
        with pytest.raises(PipelineDeadlock) as got:
            run_pipeline_fast(stages, frames)
        assert str(got.value) == str(e)
        return
    assert run_pipeline_fast(stages, frames) == slow


ROW_JUMPS: list[int] = []


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(big_chains(), st.sampled_from([1, 2, 8]), st.sampled_from([3, 16, 4096]), st.integers(1, 3))
def test_random_chains_skipping_rows_equal(case, depth: int, width: int, frames: int) -> None:
    g, folds = case
    spec = design(folds, input_bits_per_cycle=width, fifo={"default_depth": depth})
    _same_run(build_stages(spec, g, fold(spec, g).folds()), frames)
    ROW_JUMPS.append(fast.LAST_ROW_JUMPS[0])


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(big_dags(), st.sampled_from([1, 2, 8]), st.sampled_from([1, 3, math.inf]),
       st.integers(1, 3))
def test_random_dags_skipping_rows_equal(case, depth: int, join_depth: float, frames: int) -> None:
    """Join FIFOs from one entry (deadlocks) to unbounded."""
    g, folds = case
    spec = design(folds, input_bits_per_cycle=16, fifo={"default_depth": depth})
    plain = build_stages(spec, g, fold(spec, g).folds())
    stages = build_stages(spec, g, fold(spec, g).folds(),
                          {n: join_depth for s in plain for n in s.in_fifos if ".in" in n})
    _same_run(stages, frames)
    ROW_JUMPS.append(fast.LAST_ROW_JUMPS[0])


def test_rows_were_skipped_in_the_random_runs() -> None:
    """The properties above are not vacuous."""
    if not ROW_JUMPS:
        not_applicable("runs after the property tests in the same process")
    assert sum(j > 0 for j in ROW_JUMPS) > len(ROW_JUMPS) // 4


def _unet_stages() -> list[Stage]:
    b = GraphBuilder("u", (1, 32, 32))
    x = b.conv("stem", 2, 3, p=1)
    d = b.pool("mp", 2, src=x)
    d = b.conv("mid", 2, 3, p=1, src=d)
    u = b.upsample("up", 2, src=d)
    x = b.concat("cat", [u, x])
    b.conv("head", 2, 3, s=2, p=1, src=x)
    g = b.build()
    spec = design({"stem": (1, 1), "mid": (1, 1), "head": (2, 9)}, input_bits_per_cycle=8)
    plain = build_stages(spec, g, fold(spec, g).folds())
    return build_stages(spec, g, fold(spec, g).folds(),
                        {n: math.inf for s in plain for n in s.in_fifos if ".in" in n})


@pytest.mark.parametrize("frames", [1, 3])
def test_row_skip_fires_and_equals_simpy(frames: int) -> None:
    """A pool / upsample / concat / stride-2 net on 32x32 frames: rows are
    skipped in every frame, the run equals SimPy's and the run without skips."""
    stages = _unet_stages()
    run = run_pipeline_fast(stages, frames)
    jumps, periods, cycles = fast.LAST_ROW_JUMPS
    assert jumps >= frames and periods >= jumps and cycles > 0
    assert run == run_pipeline(stages, frames)
    assert run == run_pipeline_fast(stages, frames, skip=False)
    assert fast.LAST_ROW_JUMPS == [0, 0, 0]


def _windowed_sp(up: int, stride: int, pad: int, kk: int, hin: int, hout: int) -> np.ndarray:
    sp = np.zeros((1, k.N_P), np.int64)
    sp[0, k.P_UP], sp[0, k.P_STRIDE], sp[0, k.P_PAD], sp[0, k.P_K] = up, stride, pad, kk
    sp[0, k.P_DIL], sp[0, k.P_HIN], sp[0, k.P_WIN], sp[0, k.P_HOUT] = 1, hin, hin, hout
    return sp


def test_writer_rows_skip_only_away_from_the_frame_edges() -> None:
    """3x3 conv, padding 1, 32 rows, 2 rows a period (64 pixels): row 10
    can skip (30 - 10) // 2 - 1 = 9 periods (rows up to 30: the last row frees the whole
    frame, so rows up to 30, one period of margin); the top rows, where the
    freed-row formula clamps at 0, and the bottom rows cannot."""
    sp = _windowed_sp(1, 1, 1, 3, 32, 32)
    assert _rowskip._writer_periods(sp, 0, 10, 2, 64, 64, 64, 64) == 9
    assert _rowskip._writer_periods(sp, 0, 28, 2, 64, 64, 64, 64) == 0
    assert _rowskip._writer_periods(sp, 0, 1, 2, 64, 64, 64, 64) == 0  # row -1 + 1 = 0: keep_from -1


def test_writer_counters_must_move_together() -> None:
    up2 = _windowed_sp(2, 1, 0, 1, 16, 32)  # a 2x upsampler: 32 output rows of 16 input rows
    assert _rowskip._writer_periods(up2, 0, 10, 4, 32, 32, 32, 32) > 0
    assert _rowskip._writer_periods(up2, 0, 10, 3, 24, 24, 24, 24) == -1  # not whole input rows
    s2 = _windowed_sp(1, 2, 1, 3, 32, 16)  # stride 2: an output row is 2 input rows
    assert _rowskip._writer_periods(s2, 0, 6, 1, 64, 64, 64, 64) > 0
    assert _rowskip._writer_periods(s2, 0, 6, 1, 32, 64, 64, 64) == -1  # reader behind
    assert _rowskip._writer_periods(s2, 0, 6, 1, 64, 64, 64, 0) == -1  # reader's own index
    assert _rowskip._writer_periods(s2, 0, 6, 0, 0, 0, 0, 0) == 1 << 62  # a stalled stage


@pytest.mark.parametrize("upsample", [False, True])
def test_a_stride_2_stage_repeats_every_two_input_rows(upsample: bool) -> None:
    """A 3x3 stride-2 conv (then a 2x upsampler and a conv) on 24x24 frames
    fed 1 bit a cycle: the state at one input row start differs from the
    next (the conv writes an output row every other input row), so the
    skipped period is two input rows, and the run equals SimPy's."""
    b = GraphBuilder("s2", (1, 24, 24))
    b.conv("c0", 2, 3, s=2, p=1)
    folds = {"c0": (1, 1)}
    if upsample:
        b.upsample("up", 2)
        b.conv("c1", 2, 3, p=1)
        folds["c1"] = (1, 1)
    g = b.build()
    spec = design(folds, input_bits_per_cycle=1)
    stages = build_stages(spec, g, fold(spec, g).folds())
    run = run_pipeline_fast(stages, 2)
    jumps, periods, cycles = fast.LAST_ROW_JUMPS
    row_cycles = (run.completion[1] - run.completion[0]) // 24
    assert jumps >= 1 and cycles == periods * 2 * row_cycles
    assert run == run_pipeline(stages, 2)
