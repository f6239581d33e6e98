"""Zero padding in the generated RTL: a real digits image through the
workload's golden forward (``bnnarch.golden_forward``, which pads a 1-bit
convolution with 0 like the trained PyTorch model) gives a real layer's
input; the RTL's dot products and threshold bits equal the golden forward's
at every output pixel, border pixels included, in the per-layer flow
(``--verify``: controller + MemBlocks) and in the system flow (``--system``:
DMA, DRAM, window unit), on broadcast and systolic os / ws / is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnnarch.rtl.array import build_array
from bnnarch.rtl.golden import program, unpack_results
from bnnarch.rtl.run import run_program
from bnnarch.rtl.sim_schedule import simulated_schedule
from bnnarch.rtl.syscheck import layer_tensors, plan_layers
from bnnarch.rtl.sysrun import LayerTensors, run_layer_system, system_array
from bnnarch.rtl.system import build_system
from bnnarch.template import load_design
from bnnarch.workload.golden import golden_forward
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload

ROOT = Path(__file__).resolve().parents[2]
DESIGNS = ["rtl_8x8", "rtl_systolic", "rtl_systolic_ws", "rtl_systolic_is"]
LAYERS = ["layer1.0.conv1", "layer1.0.conv2"]  # 3x3 pad 1: stride 2 on 16x16, stride 1 on 8x8


@pytest.fixture(scope="module")
def digits() -> WorkloadGraph:
    return load_workload(ROOT / "workloads" / "digits_bnn.json")


@pytest.fixture(scope="module")
def image_outputs(digits: WorkloadGraph) -> dict[str, np.ndarray]:
    """golden_forward of the first test digit (16x16, as the model was trained)."""
    from bnnarch.nn.data import digits as digit_images

    x = digit_images("test", 16)[0][:1].numpy()
    return golden_forward(digits, x, upto="layer1.0.bn2")


def _real(digits: WorkloadGraph, outs: dict[str, np.ndarray], name: str
          ) -> tuple[LayerTensors, np.ndarray]:
    """The layer's tensors on its real input bits (the layer's 1-bit
    quantizer: sign, 0 -> +1) and golden_forward's pre-activation (G, M, N)
    in the stored rows' sign convention."""
    layer = digits[name]
    assert layer.a_bits == 1 and layer.params is not None and layer.params.input_shift is None
    bits = (outs[layer.inputs[0]][0] >= 0).astype(np.uint8)
    t = layer_tensors(layer, np.random.default_rng(5), bits)
    y = outs[name][0].astype(np.int64)  # (cout, ho, wo), the model's sign convention
    y[list(layer.params.flip)] *= -1
    g = layer.groups
    want = y.reshape(g, -1, y.shape[1] * y.shape[2]).transpose(0, 2, 1)
    return t, want


def _border_matters(t: LayerTensors, want: np.ndarray) -> None:
    """The test can fail: padding with -1 instead (all taps counted, padded
    bit 0) changes dot products on the border."""
    data = t.gemm(t.fmap)
    a = data.a_planes[:, :, 0, :].astype(np.int64) * 2 - 1
    w = data.w_planes[:, :, 0, :].astype(np.int64) * 2 - 1
    minus_one = np.einsum("gmk,gnk->gmn", a, w)
    assert (minus_one != want).any()
    assert not data.valid_taps.all()


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("name", LAYERS)
def test_per_layer_rtl_equals_golden_forward_at_the_border(design: str, name: str,
                                                           digits: WorkloadGraph,
                                                           image_outputs) -> None:
    """--verify's array (controller + MemBlocks), the whole layer as one tile:
    every dot product and threshold bit equals golden_forward's."""
    spec = load_design(ROOT / "designs" / f"{design}.yaml")
    t, want = _real(digits, image_outputs, name)
    _border_matters(t, want)
    data = t.gemm(t.fmap)
    arr = build_array(spec)  # the design's own buffers hold these layers
    prog = program(arr, data)
    run = run_program(arr, prog, "auto")
    assert run.rtl_cycles == prog.sim_cycles
    dot, sign, cyc = unpack_results(arr, data, run.write_events(arr.ports))
    assert (cyc >= 0).all()
    np.testing.assert_array_equal(dot, want)
    thr = t.thresholds.reshape(data.shape[0], 1, -1)
    np.testing.assert_array_equal(sign, (want >= thr).astype(np.uint8))


@pytest.mark.parametrize("design", DESIGNS)
def test_system_rtl_equals_golden_forward_at_the_border(design: str, digits: WorkloadGraph,
                                                        image_outputs) -> None:
    """--system (DMA + DRAM model + window unit + array, the mapper's tiles):
    the output map equals golden_forward's pre-activations at every pixel
    (digits_bnn's batch-norms cannot fold, so the dot products leave the
    array, as simulate counts), and the cycles still equal simulate's."""
    spec = load_design(ROOT / "designs" / f"{design}.yaml")
    name = "layer1.0.conv2"
    t, want = _real(digits, image_outputs, name)
    p = plan_layers(spec, digits, [name])[0]
    s = simulated_schedule(p.layer, spec, p.held)
    run = run_layer_system(system_array(spec, [s]), build_system(spec), p.layer, s, t, p.held,
                           t.fmap if p.held[0] else None)
    assert t.dots_out
    np.testing.assert_array_equal(run.out, want.transpose(0, 2, 1))
    assert (run.cycles, run.compute_cycles) == (p.sim.cycles, p.sim.compute_cycles)
