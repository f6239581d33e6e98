"""Fuzz the user-facing entry points with broken versions of every shipped
input (designs/**/*.yaml, explore/*.yaml, precision maps, small workloads):
each run either succeeds or ends in a BnnarchError (exit 2 through the CLI),
never a traceback and never a hang; a successful simulate leaves a complete
JSON file and no temporary file.

Derandomized (same cases every run) and sized for ~1-2 min on 2 cores; the
total case count is printed in the pytest summary (tests/conftest.py).
Failing examples that hypothesis shrank are kept in test_regressions.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnarch.cli import main
from bnnarch.dse import load_study_spec as load_study
from bnnarch.errors import BnnarchError
from bnnarch.workload.io import load_precision_map, load_workload
from tests.fuzz.mutate import mutated, text_mutated

ROOT = Path(__file__).resolve().parents[2]
DESIGNS = sorted((ROOT / "designs").rglob("*.yaml"))
STUDIES = sorted((ROOT / "explore").glob("*.yaml"))
# small workloads keep a simulate under ~0.3 s (the fuzz checks robustness, not speed)
SMALL_WORKLOADS = ["sfc", "lfc", "cnv", "vgg_small"]
# the workload each dataflow design is made for; array designs run sfc
# (finn_cnv* fold cnv in ~0.8 s: they run sfc here, finn_cnv_pynq then fails its
# workload check, which is fuzzed too)
DATAFLOW_WORKLOAD = {"finn_lfc": "lfc"}
CONTRACT = {"design", "workload", "clock_mhz", "total_cycles", "latency_s", "fps", "energy_pj",
            "energy_breakdown_pj", "tops_per_w", "area_mm2", "layers"}
HANG_S = 30  # one case taking this long is a hang


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.large_base_example])


class Hang(Exception):
    """A case exceeded HANG_S (not a BnnarchError: the test fails)."""


@contextlib.contextmanager
def bounded(seconds: float = HANG_S) -> Iterator[None]:
    def _alarm(*_: object) -> None:
        raise Hang(f"no answer after {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Counter:
    """Cases run by one test (and how many of them succeeded)."""

    def __init__(self) -> None:
        self.n = 0
        self.ok = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.ok += int(ok)


# cases per test: >= 2,000 in all, ~1-2 CPU min (measured on 2 shared cores)
CASES = {"test_fuzz_designs": 600, "test_fuzz_workloads": 600, "test_fuzz_topology_csv": 150,
         "test_fuzz_precision_maps": 300, "test_fuzz_study_specs": 400}


@pytest.fixture
def counter(request: pytest.FixtureRequest,
            record_property: Callable[[str, object], None]) -> Iterator[Counter]:
    """Reports the case count to the session summary (tests/conftest.py) and
    checks every planned case ran."""
    c = Counter()
    failed_before = request.session.testsfailed
    yield c
    record_property("fuzz_cases", c.n)
    record_property("fuzz_successes", c.ok)
    if request.session.testsfailed == failed_before:  # a failing case stops the count
        assert c.n >= CASES[request.node.name], f"only {c.n} cases ran"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bnnarch-fuzz-") as d:
        yield Path(d)


def cli(*argv: str) -> int:
    """bnnarch in-process, output swallowed; only BnnarchError may end it (rc 2)."""
    out, err = io.StringIO(), io.StringIO()
    with bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    assert "Traceback" not in err.getvalue()
    assert rc in (0, 2), (rc, err.getvalue()[-2000:])
    if rc == 2:
        assert "error" in (out.getvalue() + err.getvalue()), "exit 2 without a message"
    return rc


def _strict_json(text: str) -> Any:
    def _refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a JSON result")

    return json.loads(text, parse_constant=_refuse)


def check_outputs(folder: Path, out: Path, rc: int) -> None:
    """The half-file property: a success writes complete (strict) JSON; a
    failure writes nothing; no temporary file ever stays."""
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    if rc == 0:
        body = _strict_json(out.read_text())
        assert CONTRACT <= set(body) and body["layers"]
        assert all(math.isfinite(body[k]) for k in ("energy_pj", "latency_s", "fps"))
    else:
        assert not out.exists()


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _load_yaml(p: Path) -> Any:
    return yaml.safe_load(p.read_text())


DESIGN_DATA = {p.stem: _load_yaml(p) for p in DESIGNS}


def _workload_for(design: str) -> str:
    return str(ROOT / "workloads" / f"{DATAFLOW_WORKLOAD.get(design, 'sfc')}.json")


@fuzz_settings(CASES["test_fuzz_designs"])
@given(data=st.data())
def test_fuzz_designs(data: st.DataObject, workdir: Path, counter: Counter) -> None:
    name = data.draw(st.sampled_from(sorted(DESIGN_DATA)), label="design")
    tree = data.draw(mutated(DESIGN_DATA[name]), label="mutated")
    raw = data.draw(text_mutated(_yaml(tree), yaml_text=True), label="bytes")
    folder = workdir / "design"
    folder.mkdir(exist_ok=True)
    src, out = folder / "d.yaml", folder / "r.json"
    out.unlink(missing_ok=True)
    src.write_bytes(raw)
    rc_v = cli("validate", str(src))
    rc = cli("simulate", str(src), "-w", _workload_for(name), "--json", str(out), "-q")
    assert rc_v == rc or rc == 2, "validate accepted a design simulate rejects as invalid"
    check_outputs(folder, out, rc)
    counter.add(rc == 0)


def _small_graph_data() -> dict[str, Any]:
    return {w: json.loads((ROOT / "workloads" / f"{w}.json").read_text())
            for w in SMALL_WORKLOADS}


WORKLOAD_DATA = _small_graph_data()


@fuzz_settings(CASES["test_fuzz_workloads"])
@given(data=st.data())
def test_fuzz_workloads(data: st.DataObject, workdir: Path, counter: Counter) -> None:
    name = data.draw(st.sampled_from(SMALL_WORKLOADS), label="workload")
    tree = data.draw(mutated(WORKLOAD_DATA[name]), label="mutated")
    try:  # strict JSON unless the tree holds NaN/inf (then Python's NaN/Infinity literals)
        text = json.dumps(tree, indent=1, allow_nan=False)
    except ValueError:
        text = json.dumps(tree, indent=1)
    raw = data.draw(text_mutated(text, yaml_text=False), label="bytes")
    folder = workdir / "workload"
    folder.mkdir(exist_ok=True)
    src, out = folder / "w.json", folder / "r.json"
    out.unlink(missing_ok=True)
    src.write_bytes(raw)
    design = data.draw(st.sampled_from(["xnor32", "rtl_systolic_ws", "xnor32_reuse",
                                        "finn_sfc" if name == "sfc" else "finn_lfc"]),
                       label="design")
    rc = cli("simulate", str(ROOT / "designs" / f"{design}.yaml"), "-w", str(src),
             "--json", str(out), "-q")
    check_outputs(folder, out, rc)
    counter.add(rc == 0)


@fuzz_settings(CASES["test_fuzz_topology_csv"])
@given(data=st.data())
def test_fuzz_topology_csv(data: st.DataObject, workdir: Path, counter: Counter) -> None:
    from bnnarch.workload.scalesim import to_topology_csv

    name = data.draw(st.sampled_from(SMALL_WORKLOADS), label="workload")
    text = to_topology_csv(load_workload(ROOT / "workloads" / f"{name}.json"),
                           skip_unsupported=True)
    rows = [r.split(",") for r in text.splitlines()]
    rows = data.draw(mutated(rows, max_ops=2), label="rows")
    text = "\n".join(",".join(str(c) for c in r) if isinstance(r, list) else str(r)
                     for r in (rows if isinstance(rows, list) else [rows])) + "\n"
    raw = data.draw(text_mutated(text, yaml_text=False), label="bytes")
    folder = workdir / "csv"
    folder.mkdir(exist_ok=True)
    src, out = folder / "t.csv", folder / "r.json"
    out.unlink(missing_ok=True)
    src.write_bytes(raw)
    bits = data.draw(st.sampled_from([[], ["--bits", "2/2"], ["--bits", "3/1"], ["--bits", "x"]]),
                     label="bits")
    rc = cli("simulate", str(ROOT / "designs" / "xnor32.yaml"), "-w", str(src), *bits,
             "--json", str(out), "-q")
    check_outputs(folder, out, rc)
    counter.add(rc == 0)


def _base_precision_map(workload: str) -> dict[str, Any]:
    g = load_workload(ROOT / "workloads" / f"{workload}.json")
    comp = g.compute_layers()
    layers: dict[str, Any] = {la.name: {"w_bits": 2, "a_bits": 2} for la in comp[1:-1]}
    layers[comp[0].name] = [8, 8]
    return {"layers": layers}


PMAP_DATA = {w: _base_precision_map(w) for w in SMALL_WORKLOADS}


@fuzz_settings(CASES["test_fuzz_precision_maps"])
@given(data=st.data())
def test_fuzz_precision_maps(data: st.DataObject, workdir: Path, counter: Counter) -> None:
    name = data.draw(st.sampled_from(SMALL_WORKLOADS), label="workload")
    tree = data.draw(mutated(PMAP_DATA[name]), label="mutated")
    raw = data.draw(text_mutated(_yaml(tree), yaml_text=True), label="bytes")
    folder = workdir / "pmap"
    folder.mkdir(exist_ok=True)
    src, out = folder / "p.yaml", folder / "r.json"
    out.unlink(missing_ok=True)
    src.write_bytes(raw)
    wl = ROOT / "workloads" / f"{name}.json"
    try:
        with bounded():
            load_precision_map(src, load_workload(wl))
    except BnnarchError:
        pass
    rc = cli("simulate", str(ROOT / "designs" / "xnor32.yaml"), "-w", str(wl), "-p", str(src),
             "--json", str(out), "-q")
    check_outputs(folder, out, rc)
    counter.add(rc == 0)


def _study_data(p: Path) -> dict[str, Any]:
    """The study with its file paths made absolute (the copy lives elsewhere)."""
    d = _load_yaml(p)
    for key in ("design", "workload", "checkpoint"):
        if key in d:
            d[key] = str((p.parent / d[key]).resolve())
    if isinstance(d.get("precision"), dict) and "map" in d["precision"]:
        d["precision"]["map"] = str((p.parent / d["precision"]["map"]).resolve())
    return d


STUDY_DATA = {p.stem: _study_data(p) for p in STUDIES}


@fuzz_settings(CASES["test_fuzz_study_specs"])
@given(data=st.data())
def test_fuzz_study_specs(data: st.DataObject, workdir: Path, counter: Counter) -> None:
    name = data.draw(st.sampled_from(sorted(STUDY_DATA)), label="study")
    tree = data.draw(mutated(STUDY_DATA[name]), label="mutated")
    raw = data.draw(text_mutated(_yaml(tree), yaml_text=True), label="bytes")
    folder = workdir / "study"
    folder.mkdir(exist_ok=True)
    src = folder / f"{name}.yaml"
    src.write_bytes(raw)
    ok = False
    for sweep in (False, True):
        try:
            with bounded():
                load_study(src, sweep=sweep)
            ok = True
        except BnnarchError:
            pass
    assert not (folder / "runs").exists(), "loading a study spec wrote files"
    counter.add(ok)
