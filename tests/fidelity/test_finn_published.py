"""FINN's published prototypes: frame rates (consistency: the foldings were
chosen for them) and first-frame latencies (validation: not targeted)."""

from __future__ import annotations

import validation_finn as vf


def test_finn_rates_reproduce_the_targeted_ii() -> None:
    c = vf.check_finn_rates()
    assert c.kind == "consistency"
    assert c.passed, c.rows
    by = {r[0]: r for r in c.rows}
    assert by["finn_sfc"][4] == 16 and by["finn_lfc"][4] == 128  # 200 MHz / published fps


def test_finn_latency_differs_the_way_the_docs_explain() -> None:
    """MLPs: ours longer (host stream, an FC layer waits for its whole input
    vector); CNV: ours shorter (another folding, no per-stage pipeline depth)."""
    c = vf.check_finn_latency()
    assert c.kind == "validation"
    ours = {r[0]: (r[1], r[2]) for r in c.rows}
    assert ours["finn_sfc"][1] > ours["finn_sfc"][0]
    assert ours["finn_lfc"][1] > ours["finn_lfc"][0]
    assert ours["finn_cnv"][1] < ours["finn_cnv"][0]


def test_validation_page_labels_consistency_checks() -> None:
    """docs/validation.md (generated) says which rows are consistency checks:
    numbers recomputed from the sources the model was built from."""
    from pathlib import Path

    import validation_checks as vc

    page = (Path(vc.ROOT) / "docs" / "validation.md").read_text()
    kind = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[1] in (*vc.KINDS, "benchmark"):
            kind[cells[0]] = cells[1]
    assert kind[vc.check_horowitz().title] == "consistency"
    assert kind[vc.check_xnornet().title] == "consistency"
    assert kind[vf.check_finn_rates().title] == "consistency"
    assert kind[vf.check_finn_latency().title] == "validation"
    assert all(v == "validation" for k, v in kind.items() if k.startswith("SCALE-Sim:"))
