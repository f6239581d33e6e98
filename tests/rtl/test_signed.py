"""Signed multi-bit activations and +-1 activations with multi-bit weights in
the generated array: per layer, the RTL's dot products equal the WORKLOAD's
golden forward (``bnnarch.workload.golden.layer_forward``) on every dataflow,
on random and real (trained / image-derived) data; the sign plane treated
unsigned is caught; the cycle count stays ``simulate``'s; Icarus replays it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bnnarch.rtl import export
from bnnarch.rtl.array import build_array
from bnnarch.rtl.golden import LayerData, golden, program, random_data, unpack_results
from bnnarch.rtl.network import input_codes, integer_weights
from bnnarch.rtl.run import run_program
from bnnarch.rtl.sim_schedule import simulated_schedule
from bnnarch.rtl.syscheck import check_layer_system, layer_tensors, plan_layers, single_layer_graph
from bnnarch.rtl.sysrun import system_array
from bnnarch.rtl.system import build_system
from bnnarch.rtl.verify import check_run, first_mismatch
from bnnarch.template import load_design
from bnnarch.workload.golden import activation_signed, golden_forward, layer_forward, output_value
from bnnarch.workload.io import load_workload
from bnnarch.workload.layer import Layer, LayerParams
from tests.conftest import need_tools
from tests.rtl.helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]
DATAFLOWS = [("broadcast", None), ("systolic", "os"), ("systolic", "ws"), ("systolic", "is")]


def _spec(interconnect: str, dataflow: str | None, **kw):  # type: ignore[no-untyped-def]
    return small_spec(rows=3, cols=2, simd_bits=16, acc_bits=24, interconnect=interconnect,
                      dataflow=dataflow, kib=16, **kw)


def _conv(w_bits: int, a_bits: int, signed: bool, rng: np.random.Generator,
          cin: int = 3, hw: int = 5, cout: int = 4) -> Layer:
    """A 3x3 pad-1 conv with weights on a w_bits per-tensor grid and (a_bits >
    1) a QONNX input quantizer, signed or not."""
    top = (1 << (w_bits - 1)) - 1
    q = rng.integers(-top, top + 1, size=(cout, cin * 9))  # |q| <= top (integer_weights)
    q[0, 0] = top  # the grid's scale is max|w| / top
    scale = 0.0625
    quant = (0.125, 0.0, a_bits, int(signed), 0) if a_bits > 1 else None
    params = LayerParams(weight=tuple(float(v) for v in (q * scale).reshape(-1)),
                         input_quant=quant)
    return Layer("L", "conv2d", ("input",), (cin, hw, hw), (cout, hw, hw), kernel=(3, 3),
                 padding=(1, 1), w_bits=w_bits, a_bits=a_bits, params=params)


def _operands(layer: Layer, x: np.ndarray, rng: np.random.Generator) -> tuple[LayerData, float]:
    """The layer's RTL operands on input x (one image) and the real value of a
    dot-product step (input scale x weight scale)."""
    codes = input_codes(layer, x[None])
    weights = integer_weights(layer)
    assert not isinstance(codes, str) and not isinstance(weights, str)
    t = layer_tensors(layer, rng, fmap=codes[0], weights=weights[0])
    return t.gemm(t.fmap), codes[1] * weights[1]


def _workload_dots(layer: Layer, x: np.ndarray, step: float) -> np.ndarray:
    """golden_forward's outputs (bias removed) as integer dot products (1, M, N)."""
    y = layer_forward(layer, x[None])
    y = (y - output_value(layer, x[None], np.zeros_like(y)))[0]
    q = np.round(y / step)
    assert np.abs(q * step - y).max() <= 1e-6 * max(1.0, float(np.abs(y).max()))
    return q.reshape(layer.out_shape[0], -1).T[None].astype(np.int64)


def _rtl_dots(arr, data: LayerData) -> np.ndarray:  # type: ignore[no-untyped-def]
    prog = program(arr, data)
    run = run_program(arr, prog, "FastSimulation")
    assert first_mismatch(arr, data, run) is None
    assert run.rtl_cycles == prog.sim_cycles  # the plane count is simulate's
    dot, _sign, cyc = unpack_results(arr, data, run.write_events(arr.ports))
    assert (cyc >= 0).all()
    return dot


@pytest.fixture(scope="module")
def brevitas():  # type: ignore[no-untyped-def]
    return load_workload(ROOT / "workloads" / "brevitas_digits.json")


def test_activation_signedness_is_the_qonnx_flag(brevitas) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    assert activation_signed(brevitas["fc"]) and not activation_signed(brevitas["conv0"])
    assert activation_signed(_conv(3, 4, True, rng)) and not activation_signed(_conv(3, 4, False, rng))
    assert not activation_signed(_conv(4, 1, False, rng))  # +-1 either way


@pytest.mark.parametrize("interconnect,dataflow", DATAFLOWS)
def test_random_layers_equal_the_workload_golden_forward(interconnect: str,
                                                         dataflow: str | None) -> None:
    """A signed-activation w3a4 conv and a w4a1 conv (padding 1: padded +-1
    taps contribute 0) on random inputs: RTL dot products = golden_forward's."""
    arr = build_array(_spec(interconnect, dataflow))
    for wb, ab, signed in ((3, 4, True), (4, 1, False)):
        rng = np.random.default_rng(wb)
        layer = _conv(wb, ab, signed, rng)
        x = rng.normal(0, 0.6, size=layer.in_shape)
        data, step = _operands(layer, x, rng)
        assert data.a_signed == signed
        want = _workload_dots(layer, x, step)
        if signed:  # the MSB plane carries weight: negative inputs do occur
            assert (input_codes(layer, x[None])[0] < 0).any()  # type: ignore[operator]
        assert np.array_equal(_rtl_dots(arr, data), want), (wb, ab)


@pytest.mark.parametrize("interconnect,dataflow", DATAFLOWS)
def test_real_layers_equal_the_workload_golden_forward(brevitas, interconnect: str,  # type: ignore[no-untyped-def]
                                                       dataflow: str | None) -> None:
    """Real data: brevitas_digits' fc (trained 8-bit weights, signed 8-bit
    inputs) on the golden forward's pool output for test images; a w4a1 conv
    on conv1's real +-1 input map (bn0's threshold bits, image borders
    padded) with 4-bit weights."""
    from bnnarch.nn.data import digits

    images = digits("test", 16)[0][:2].numpy()
    arr = build_array(_spec(interconnect, dataflow))
    rng = np.random.default_rng(5)
    for img in images:
        gold = golden_forward(brevitas, img, upto="fc")
        fc = brevitas["fc"]
        data, step = _operands(fc, gold["pool"][0], rng)
        assert data.a_signed and data.a_planes.shape[2] == 8
        got = _rtl_dots(arr, data)
        assert np.array_equal(got, _workload_dots(fc, gold["pool"][0], step))
        bias = np.asarray(fc.params.bias, dtype=np.float64)  # type: ignore[union-attr]
        assert np.allclose(got[0, 0] * step + bias, gold["fc"][0].reshape(-1))
    conv = brevitas["conv1"]
    x = gold["bn0"][0].astype(np.float64)  # +-1
    layer = replace(_conv(4, 1, False, rng, cin=16, hw=16, cout=4), name="w4a1",
                    out_shape=(4,) + tuple(conv.out_shape[1:]), kernel=conv.kernel,
                    stride=conv.stride, padding=conv.padding)
    data, step = _operands(layer, x, rng)
    assert data.valid_taps.min() == 0  # the border taps are padded
    assert np.array_equal(_rtl_dots(arr, data), _workload_dots(layer, x, step))


@pytest.mark.parametrize("interconnect,dataflow", DATAFLOWS)
def test_sign_plane_treated_unsigned_fails(interconnect: str, dataflow: str | None) -> None:
    """Mutation: the array told the activations are unsigned (cfg_asigned 0)
    computes the MSB plane as +2^(b-1): outputs differ from the golden model;
    and a golden model that ignores the sign plane differs from golden_forward."""
    arr = build_array(_spec(interconnect, dataflow))
    rng = np.random.default_rng(3)
    data = random_data("s", 1, 5, 3, 21, 3, 4, rng, a_signed=True)
    prog = program(arr, data)
    assert prog.cfg["cfg_asigned"] == 1
    assert check_run(arr, data, "s", "FastSimulation").bit_exact
    prog.cfg["cfg_asigned"] = 0
    run = run_program(arr, prog, "FastSimulation")
    assert run.rtl_cycles == prog.sim_cycles
    assert first_mismatch(arr, data, run) is not None
    unsigned = LayerData(data.name, data.w_planes, data.a_planes, data.thresholds, 3, 4)
    assert not np.array_equal(golden(unsigned)[0], golden(data)[0])


def test_pm1_activations_mode_is_needed() -> None:
    """Mutation: a w4a1 layer run as {0,1} activations (cfg_pm1a 0, AND
    products) differs from the +-1 golden model."""
    arr = build_array(_spec("broadcast", None))
    data = random_data("a1", 1, 5, 3, 21, 4, 1, np.random.default_rng(4))
    prog = program(arr, data)
    assert prog.cfg["cfg_pm1a"] == 1 and prog.cfg["cfg_xnor"] == 1
    prog.cfg["cfg_pm1a"] = 0
    prog.cfg["cfg_xnor"] = 0
    assert first_mismatch(arr, data, run_program(arr, prog, "FastSimulation")) is not None


@pytest.mark.tools
@pytest.mark.parametrize("interconnect,dataflow", DATAFLOWS)
def test_icarus_replays_signed_and_pm1a_layers(tmp_path: Path, interconnect: str,
                                               dataflow: str | None) -> None:
    need_tools("iverilog", "vvp")
    arr = build_array(_spec(interconnect, dataflow))
    rng = np.random.default_rng(6)
    runs = []
    for wb, ab, signed in ((3, 4, True), (4, 1, False), (1, 3, True)):
        data = random_data("t", 1, 4, 3, 20, wb, ab, rng, a_signed=signed)
        prog = program(arr, data)
        run = run_program(arr, prog, "FastSimulation")
        assert first_mismatch(arr, data, run) is None
        runs.append((prog, run))
    (tmp_path / "design.v").write_text(export.verilog_text(arr))
    export.write_testbench(tmp_path, "tb", arr, runs, "design.v")
    lines = export.run_icarus(tmp_path, "tb.v")
    for i, (_prog, run) in enumerate(runs):
        assert export.compare_trace(arr, run, lines, layer=i) is None


def _shipped(name: str, acc_bits: int = 24):  # type: ignore[no-untyped-def]
    spec = load_design(ROOT / "designs" / f"{name}.yaml")
    return spec.model_copy(update={"array": spec.array.model_copy(update={"acc_bits": acc_bits})})


@pytest.mark.parametrize("design", ["rtl_8x8", "rtl_systolic", "rtl_systolic_ws",
                                    "rtl_systolic_is"])
def test_system_runs_signed_and_pm1a_layers(brevitas, design: str) -> None:  # type: ignore[no-untyped-def]
    """--system on every dataflow: brevitas' fc on signed 8-bit codes (random,
    negative ones included) and a w4a1 conv (padding 1) through DMA, DRAM
    model and array: cycles, stalls and DRAM bits equal simulate's, outputs
    bit-exact against the RTL golden model, the fc's dot products against the
    workload's golden forward."""
    spec = _shipped(design)
    rng = np.random.default_rng(7)
    w4a1 = replace(_conv(4, 1, False, rng, cin=8, hw=6, cout=6), name="w4a1")
    for graph in (brevitas, single_layer_graph(w4a1)):
        plans = [p for p in plan_layers(spec, graph) if p.layer.name in ("fc", "w4a1")]
        assert len(plans) == 1
        p = plans[0]
        arr = system_array(spec, [simulated_schedule(p.layer, spec, p.held)],
                           [(p.layer.w_bits, p.layer.a_bits)])
        x = rng.normal(0, 2.0, size=p.layer.in_shape)
        codes = input_codes(p.layer, x[None])
        assert not isinstance(codes, str)
        c = check_layer_system(arr, build_system(spec), p, rng, fmap=codes[0], held_fmap=codes[0],
                               weights=integer_weights(p.layer)[0])  # type: ignore[index]
        assert not c.diffs() and c.bit_exact, (design, p.layer.name, c.note)
        assert c.rtl.cycles == p.sim.cycles  # diffs(): cycles, stalls, DRAM bits
        if p.layer.name == "fc":
            assert (codes[0] < 0).any()
            data, step = _operands(p.layer, x, rng)
            want = _workload_dots(p.layer, x, step)
            assert np.array_equal(c.out.reshape(-1), want.reshape(-1))
