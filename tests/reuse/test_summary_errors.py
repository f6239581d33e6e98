"""bnnarch.report.reuse_summary on a design it cannot compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnnarch.report.reuse_summary import main

ROOT = Path(__file__).resolve().parents[2]


def test_summary_rejects_a_dataflow_design(capsys: pytest.CaptureFixture[str]) -> None:
    wl, design = ROOT / "workloads" / "sfc.json", ROOT / "designs" / "finn_sfc.yaml"
    assert main([str(wl), "--design", str(design)]) == 2
    err = capsys.readouterr().err
    assert f"error: {design}: 1 error(s)" in err
    assert "template: the reuse summary compares 'array' designs (reuse is an array option)" in err
