"""Design spec loading: shipped designs validate; every error is reported at
once with its dotted path and YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bnnarch.errors import SpecError
from bnnarch.template import dump_design, load_design, parse_design

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: t
clock_mhz: 500
array:
  rows: 8
  cols: 8
  simd_bits: 64
buffers:
  weights: {capacity_kib: 64, port_bits: 512}
  activations: {capacity_kib: 64, port_bits: 512}
  outputs: {capacity_kib: 64, port_bits: 512}
dram: {bandwidth_gbps: 12.8}
"""


@pytest.mark.parametrize("path", sorted((ROOT / "designs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_designs_validate(path):
    spec = load_design(path)
    assert spec.name


def test_spec_is_frozen_and_round_trips(tmp_path):
    spec = parse_design(GOOD)
    with pytest.raises(ValidationError, match="frozen"):
        spec.clock_mhz = 1  # type: ignore[misc]
    out = dump_design(spec, tmp_path / "d.yaml")
    assert load_design(out) == spec


def _errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as ei:
        parse_design(text, "x.yaml")
    return [str(e) for e in ei.value.errors]


def test_all_errors_reported_at_once_with_paths_and_lines():
    bad = GOOD.replace("rows: 8", "rows: 0").replace("clock_mhz: 500", "clock_mhz: fast") \
        .replace("simd_bits: 64", "simd_bits: 64\n  colour: red")
    errs = _errors(bad)
    assert any(e.startswith("array.rows (line 4)") and "greater than or equal to 1" in e for e in errs)
    assert any(e.startswith("clock_mhz (line 2)") and "valid number" in e for e in errs)
    assert any(e.startswith("array.colour (line 7): unknown key") for e in errs)
    assert len(errs) == 3


def test_missing_required_field():
    errs = _errors(GOOD.replace("dram: {bandwidth_gbps: 12.8}\n", ""))
    assert errs == ["dram: required field is missing"]


def test_wrong_type_and_enum():
    errs = _errors(GOOD.replace("simd_bits: 64", "simd_bits: 64\n  interconnect: mesh"))
    assert len(errs) == 1 and errs[0].startswith("array.interconnect (line 7)")
    assert "'broadcast' or 'systolic'" in errs[0]


def test_cross_field_checks_all_at_once():
    bad = GOOD.replace("simd_bits: 64", "simd_bits: 64\n  dataflow: ws\n  acc_bits: 6") \
        .replace("weights: {capacity_kib: 64, port_bits: 512}",
                 "weights: {capacity_kib: 0.01, port_bits: 32}")
    errs = _errors(bad)
    joined = "\n".join(errs)
    assert "array.dataflow (line 7): 'ws' needs interconnect: systolic" in joined
    assert "array.acc_bits (line 8): 6 bits cannot hold one popcount of simd_bits=64" in joined
    assert ("buffers.weights.port_bits (line 10): 32 bits/cycle is narrower than one SIMD word "
            "(64 bits)") in joined
    assert ("buffers.weights.capacity_kib (line 10): 0.01 KiB (half of it, double buffered) is "
            "smaller than the smallest tile of this array") in joined
    assert len(errs) == 4


def test_banks_must_divide_port():
    errs = _errors(GOOD.replace("outputs: {capacity_kib: 64, port_bits: 512}",
                                "outputs: {capacity_kib: 64, port_bits: 512, banks: 3}"))
    assert errs == ["buffers.outputs.port_bits (line 10): 512 is not divisible by banks=3"]


def test_unknown_template_and_not_a_mapping_and_bad_yaml():
    assert _errors("template: gpu\n" + GOOD)[0].startswith(
        "template (line 1): unknown template 'gpu' (known: ")
    assert _errors("- 1\n- 2\n") == ["<root>: a design spec must be a YAML mapping"]
    errs = _errors("name: [unclosed\n")
    assert errs[0].startswith("<root>") and "not valid YAML" in errs[0]


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: 1 error.*\n  - <root>: no such design file"):
        load_design(tmp_path / "nope.yaml")


def test_wallace_needs_wide_simd():
    errs = _errors(GOOD.replace("simd_bits: 64", "simd_bits: 2\n  popcount_tree: wallace")
                   .replace("port_bits: 512", "port_bits: 512"))
    assert "array.popcount_tree (line 7): wallace needs simd_bits >= 4" in errs
