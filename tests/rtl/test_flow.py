"""The rtl flow without external tools: report contents, skipped layers,
explicit layers that cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnnarch.errors import RtlError
from bnnarch.rtl.flow import FlowOptions, run_flow, select_layers
from bnnarch.workload.layer import Layer

from .helpers import small_spec

NO_TOOLS = {"icarus": False, "lint": False, "synth": False}
SMALL = Layer("small", "conv2d", ("input",), (8, 4, 4), (4, 4, 4), kernel=(3, 3), padding=(1, 1))
HUGE = Layer("huge", "conv2d", ("input",), (256, 32, 32), (256, 32, 32), kernel=(3, 3),
             padding=(1, 1))


def test_auto_selected_layer_that_cannot_run_is_skipped(tmp_path: Path) -> None:
    res = run_flow(small_spec(kib=2), tmp_path, [SMALL, HUGE],
                   FlowOptions(skip_unsupported=True, **NO_TOOLS))
    rep = json.loads((tmp_path / "report.json").read_text())
    assert res.ok and rep["ok"]
    assert [x["name"] for x in rep["layers"]] == ["small"]
    lay = rep["layers"][0]
    assert {"bit_exact", "cycle_match", "rtl_cycles", "sim_cycles", "cells", "area_mm2"} <= set(lay)
    assert rep["skipped_layers"][0]["name"] == "huge"
    assert "words per lane" in rep["skipped_layers"][0]["reason"]


def test_explicit_layer_that_cannot_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RtlError, match="layer 'huge' needs"):
        run_flow(small_spec(kib=2), tmp_path, [HUGE], FlowOptions(**NO_TOOLS))
    assert not (tmp_path / "report.json").exists()


def test_nothing_verifiable_is_a_failure(tmp_path: Path) -> None:
    res = run_flow(small_spec(kib=2), tmp_path, [HUGE],
                   FlowOptions(skip_unsupported=True, **NO_TOOLS))
    assert not res.ok and "no layer could be verified" in res.failures[0]
    assert json.loads((tmp_path / "report.json").read_text())["ok"] is False


def test_select_layers() -> None:
    fp = Layer("fp", "conv2d", ("input",), (3, 4, 4), (4, 2, 2), kernel=(3, 3), w_bits=32,
               a_bits=32)
    pool = Layer("pool", "maxpool", ("input",), (4, 4, 4), (4, 2, 2), kernel=(2, 2),
                 stride=(2, 2))
    assert [x.name for x in select_layers([fp, SMALL, pool], None)] == ["small"]
    with pytest.raises(RtlError, match="no layer named 'nope'"):
        select_layers([SMALL], ["nope"])
