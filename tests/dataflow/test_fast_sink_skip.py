"""The fast engine's skip at a sink's frame end (besides the source's frame
start): a 1x1 stride-2 conv fed 3 bits a cycle through 1-entry FIFOs, whose
sliding window finishes a frame while the source still waits on its last
put — a consumer a frame ahead of the source at the snapshot."""

from __future__ import annotations

import pytest

from bnnarch.dataflow import fast
from bnnarch.dataflow.engine import run_pipeline
from bnnarch.dataflow.fast import run_pipeline_fast
from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.plan import Stage, build_stages
from bnnarch.workload.builder import GraphBuilder

from .helpers import design


def _stride2_stages() -> list[Stage]:
    b = GraphBuilder("s2", (1, 4, 4))
    b.conv("c0", 2, 1, s=2, p=0, bits=(1, 1))
    g = b.build()
    spec = design({"c0": (1, 1)}, input_bits_per_cycle=3, fifo={"default_depth": 1})
    return build_stages(spec, g, fold(spec, g).folds())


@pytest.mark.parametrize("frames", [9, 12, 13])
def test_sink_end_skip_equals_simpy_and_the_full_run(frames: int) -> None:
    """The period (3 frames: 3-bit input words) is found at the sink's frame
    end, one frame earlier than at the source's next frame start; the
    consumer's partial counters of the frame ahead move with the state."""
    stages = _stride2_stages()
    skipped = run_pipeline_fast(stages, frames)
    jump = list(fast.LAST_JUMP)
    assert jump[4] >= 1  # at a sink's frame end
    assert jump[1] == 3 and jump[3] >= 1
    assert skipped == run_pipeline(stages, frames)
    assert skipped == run_pipeline_fast(stages, frames, skip=False)


def test_no_skip_that_would_push_the_consumer_ahead_past_the_batch() -> None:
    """With 8 frames, one period from the source's frame 4 would still fit
    the source (4 + 3 <= 7) but not the consumer a frame ahead (5 + 3 > 7):
    no jump, and the run equals SimPy's."""
    stages = _stride2_stages()
    run = run_pipeline_fast(stages, 8)
    assert fast.LAST_JUMP == [-1, -1, -1, -1, -1]
    assert run == run_pipeline(stages, 8)
