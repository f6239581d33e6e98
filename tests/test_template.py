"""Templates are plug-ins: a third one is a package plus one registration, and
every front end (load_design, validate, simulate) serves it unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

import bnnarch
from bnnarch import template
from bnnarch.cli import main
from bnnarch.errors import FieldError, SpecError
from bnnarch.result import LayerResult, SimResult
from bnnarch.spec.fields import DesignHeader

ROOT = Path(__file__).resolve().parents[1]


class ToySpec(DesignHeader):
    template: Literal["toy"] = "toy"
    macs_per_cycle: int = Field(ge=1)


class ToyTemplate:
    """One MAC array that takes ceil(MACs / macs_per_cycle) cycles per layer."""

    name = "toy"
    spec_model = ToySpec
    verb = "map"

    def simulate(self, spec, graph, precision, *, options):  # noqa: ANN001, ANN201
        rows = tuple(LayerResult(la.name, la.op, la.w_bits, la.a_bits, "toy",
                                 -(-la.macs // spec.macs_per_cycle), -(-la.macs // spec.macs_per_cycle),
                                 0, 1.0, 0.0, (), la.macs, la.ops, 0, 0)
                     for la in graph.compute_layers())
        return SimResult(spec.name, graph.name, "toy", spec.clock_mhz, rows, 0.0, ())

    def workload_errors(self, spec, graph) -> list[FieldError]:  # noqa: ANN001
        return []

    def check_maps(self, spec, graph) -> list[str]:  # noqa: ANN001
        return [f"layer {la.name!r}: too many MACs" for la in graph.compute_layers()
                if la.macs > 1000 * spec.macs_per_cycle]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "_registry", dict(template._registry))
    template.register_template("toy", ToyTemplate())


def test_a_third_template_plugs_in(toy, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    d = tmp_path / "toy.yaml"
    d.write_text("name: t\ntemplate: toy\nclock_mhz: 100\nmacs_per_cycle: 100000\n")
    spec = bnnarch.load_design(d)
    g = bnnarch.load_workload(ROOT / "workloads" / "sfc.json")
    r = bnnarch.simulate(spec, g)
    assert [lr.cycles for lr in r.layers] == [-(-la.macs // 100000) for la in g.compute_layers()]
    assert main(["validate", str(d), "--workload", str(ROOT / "workloads" / "sfc.json")]) == 0
    assert "ok (toy template; all 4 compute layers of sfc map)" in capsys.readouterr().out
    d.write_text("name: t\ntemplate: toy\nclock_mhz: 100\nmacs_per_cycle: 1\n")
    assert main(["validate", str(d), "--workload", str(ROOT / "workloads" / "sfc.json")]) == 2
    assert "too many MACs" in capsys.readouterr().out


def test_unknown_template_names_the_known_ones(toy) -> None:  # noqa: ANN001
    with pytest.raises(SpecError, match=r"unknown template 'imc' \(known: array, dataflow, toy\)"):
        template.parse_design("name: x\ntemplate: imc\n")


def test_no_template_name_checks_outside_the_registry() -> None:
    """Code asks the registry which template a design is, never its name."""
    offenders = []
    for p in (ROOT / "bnnarch").rglob("*.py"):
        text = p.read_text()
        if p.name == "template.py" and p.parent.name == "bnnarch":
            continue  # the registry itself
        for pat in ('template == "', "template == '", 'template != "', '"template", "array")'):
            if pat in text:
                offenders.append(f"{p.relative_to(ROOT)}: {pat}")
    assert offenders == []
