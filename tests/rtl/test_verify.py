"""Layer verification: bit-exact vs the golden model, cycle-exact vs the
timing model / mapper, real packed weights, and the user-facing errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bnnarch.array.timing import GemmTile, tile_compute_cycles
from bnnarch.errors import RtlError
from bnnarch.rtl.array import build_array
from bnnarch.rtl.golden import decode_packed, golden, layer_data, program, random_data
from bnnarch.rtl.run import run_program
from bnnarch.rtl.verify import builtin_layers, check_layer, check_run, first_mismatch
from bnnarch.workload.layer import Layer
from tests.conftest import missing

from .helpers import small_spec

DESIGNS = {
    "broadcast": {"rows": 4, "cols": 4, "simd_bits": 16},
    "systolic_os": {"rows": 3, "cols": 4, "simd_bits": 16, "interconnect": "systolic",
                    "dataflow": "os"},
    "broadcast_wallace": {"rows": 2, "cols": 2, "simd_bits": 32, "tree": "wallace"},
    "systolic_ws": {"rows": 3, "cols": 4, "simd_bits": 16, "interconnect": "systolic",
                    "dataflow": "ws"},
    "systolic_is": {"rows": 4, "cols": 3, "simd_bits": 8, "interconnect": "systolic",
                    "dataflow": "is", "tree": "wallace"},
}


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_builtin_layers_bit_and_cycle_exact(design: str) -> None:
    """1x1, 3x3, strided, grouped, multi-bit and FC layers on each interconnect."""
    arr = build_array(small_spec(kib=4, **DESIGNS[design]))
    rng = np.random.default_rng(1)
    w1a4 = Layer("w1a4", "conv2d", ("input",), (3, 5, 5), (4, 3, 3), kernel=(3, 3), a_bits=4)
    extra = [w1a4]
    for layer in builtin_layers() + extra:
        lc = check_layer(arr, layer, rng, "FastSimulation")
        assert lc.failures() == []
        assert lc.bit_exact and lc.cycle_match
        assert lc.whole is not None and lc.whole.rtl_cycles == lc.whole.sim_cycles


def _packed(bits: np.ndarray) -> str:
    return np.packbits(bits.reshape(-1)).tobytes().hex()


def test_real_packed_weights_and_thresholds() -> None:
    rng = np.random.default_rng(3)
    layer = Layer("real", "conv2d", ("input",), (8, 4, 4), (6, 4, 4), kernel=(3, 3),
                  padding=(1, 1))
    _, _, n, k = layer.gemm()
    w = rng.integers(0, 2, size=(n, k), dtype=np.uint8)
    thr = tuple(int(t) for t in rng.integers(-10, 10, size=n))
    layer = replace(layer, packed_weights=_packed(w), thresholds=thr)
    data = layer_data(layer, rng)
    np.testing.assert_array_equal(data.w_planes[0, :, 0, :], w)
    assert tuple(data.thresholds) == thr
    lc = check_layer(build_array(small_spec(kib=4)), layer, rng, "FastSimulation")
    assert lc.data == "packed_weights" and lc.ok


def test_decode_packed_row_padding() -> None:
    bits = np.random.default_rng(0).integers(0, 2, size=(3, 5), dtype=np.uint8)
    rows = "".join(np.packbits(r).tobytes().hex() for r in bits)  # each row padded to a byte
    np.testing.assert_array_equal(decode_packed(rows, 3, 5, "x"), bits)
    np.testing.assert_array_equal(decode_packed(_packed(bits), 3, 5, "x"), bits)
    with pytest.raises(RtlError, match="needs 3 x 5"):
        decode_packed("ff", 3, 5, "layer 'x'")
    with pytest.raises(RtlError, match="not a hex string"):
        decode_packed("zz", 3, 5, "layer 'x'")


def test_mismatch_names_output_and_cycle() -> None:
    arr = build_array(small_spec())
    data = random_data("L", 1, 4, 3, 20, 1, 1, np.random.default_rng(0))
    run = run_program(arr, program(arr, data), "FastSimulation")
    assert first_mismatch(arr, data, run) is None
    w = data.w_planes.copy()
    w[0, 1, 0, :] ^= 1  # flip every weight bit of filter 1
    bad = replace(data, w_planes=w)
    msg = first_mismatch(arr, bad, run)
    assert msg is not None
    assert "filter 1" in msg and "written at cycle" in msg and "golden dot" in msg


@pytest.mark.parametrize("dataflow", ["ws", "is"])
@pytest.mark.parametrize("rows,cols,simd", [(1, 3, 8), (3, 4, 16)])
def test_pm1_weights_with_multibit_activations_on_stationary(dataflow: str, rows: int,
                                                             cols: int, simd: int) -> None:
    """+-1 weights x 2..4-bit activations on weight- and input-stationary
    arrays (ws: the lane-sum column; is: each column's preload sum):
    bit-exact and cycle-exact, several K folds and groups."""
    arr = build_array(small_spec(rows=rows, cols=cols, simd_bits=simd, interconnect="systolic",
                                 dataflow=dataflow, kib=4))
    rng = np.random.default_rng(5)
    for g, m, n, k, ab in [(1, 5, 4, 20, 2), (2, 3, 5, 40, 3), (1, 7, 3, 70, 4)]:
        rc = check_run(arr, random_data("w1", g, m, n, k, 1, ab, rng), "w1", "FastSimulation")
        assert rc.bit_exact and rc.cycle_match, rc.error


def test_too_large_array_is_refused() -> None:
    spec = small_spec(rows=128, cols=64, kib=64)
    with pytest.raises(RtlError, match="too large for the RTL generator"):
        build_array(spec)


def test_layer_that_does_not_fit_the_buffers() -> None:
    arr = build_array(small_spec(kib=0.25))
    data = random_data("big", 1, 64, 64, 512, 1, 1, np.random.default_rng(0))
    with pytest.raises(RtlError, match="layer 'big' needs .* words per lane of the weights"):
        program(arr, data)


def test_accumulator_overflow_is_refused() -> None:
    arr = build_array(small_spec(acc_bits=8, simd_bits=8))
    data = random_data("wide", 1, 2, 2, 64, 4, 4, np.random.default_rng(0))
    with pytest.raises(RtlError, match="overflow acc_bits=8"):
        program(arr, data)


def test_full_precision_layer_is_refused() -> None:
    layer = Layer("fp", "conv2d", ("input",), (3, 4, 4), (4, 2, 2), kernel=(3, 3),
                  w_bits=32, a_bits=32)
    with pytest.raises(RtlError, match="full-precision layer"):
        layer_data(layer, np.random.default_rng(0))


def test_golden_model_pm1_and_twos_complement() -> None:
    rng = np.random.default_rng(0)
    d = random_data("x", 1, 2, 2, 5, 2, 3, rng)
    w = d.w_planes[..., 0, :].astype(int) - 2 * d.w_planes[..., 1, :].astype(int)
    a = sum((1 << p) * d.a_planes[..., p, :].astype(int) for p in range(3))
    dot, _sign = golden(d)
    np.testing.assert_array_equal(dot[0], a[0] @ w[0].T)
    b = random_data("y", 1, 2, 2, 5, 1, 1, rng)
    wb = b.w_planes[0, :, 0, :].astype(int) * 2 - 1
    ab = (b.a_planes[0, :, 0, :].astype(int) * 2 - 1) * b.valid_taps  # padded taps: 0
    assert not b.valid_taps.all()
    np.testing.assert_array_equal(golden(b)[0][0], ab @ wb.T)


def test_systolic_os_passes_share_one_fold() -> None:
    """timing.py (changed for the RTL): a systolic os fold streams all passes
    back to back; the skew is paid once per fold, not per pass."""
    t1 = GemmTile(m=8, n=8, k_bits=64, passes=1)
    t4 = GemmTile(m=8, n=8, k_bits=64, passes=4)
    c1 = tile_compute_cycles(t1, 4, 4, 16, "systolic", "os")
    c4 = tile_compute_cycles(t4, 4, 4, 16, "systolic", "os")
    assert c1 == 4 * (4 + 4 + 4 - 2)
    assert c4 == 4 * (4 * 4 + 4 + 4 - 2)


def test_shipped_trained_workload_layer() -> None:
    """A real layer of a trained digits workload (packed weights, thresholds),
    when one is shipped; skipped otherwise."""
    import glob
    from pathlib import Path

    from bnnarch.workload.io import load_workload

    root = Path(__file__).resolve().parents[2]
    for path in sorted(glob.glob(str(root / "workloads" / "digits_*.json"))):
        layers = [x for x in load_workload(path).compute_layers()
                  if x.is_binary and x.packed_weights and x.op in ("conv2d", "linear")]
        if layers:
            break
    else:
        missing("no trained digits workload with packed weights is shipped")
    layer = min(layers, key=lambda x: x.macs)
    arr = build_array(small_spec(rows=4, cols=4, simd_bits=32, kib=64))
    lc = check_layer(arr, layer, np.random.default_rng(0), "FastSimulation")
    assert lc.data == "packed_weights"
    assert lc.failures() == []


@pytest.mark.parametrize("layer", [
    Layer("s2", "conv2d", ("input",), (4, 7, 7), (6, 3, 3), kernel=(3, 3), stride=(2, 2)),
    Layer("g2", "conv2d", ("input",), (4, 5, 5), (4, 5, 5), kernel=(3, 3), padding=(1, 1),
          groups=2),
    Layer("d2", "conv2d", ("input",), (2, 7, 7), (2, 3, 3), kernel=(3, 3), dilation=(2, 2)),
])
def test_im2col_matches_direct_convolution(layer: Layer) -> None:
    from bnnarch.rtl.golden import im2col

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=layer.in_shape).astype(np.int64)
    g, _, n, k = layer.gemm()
    cin_g = layer.in_shape[0] // layer.groups
    w = rng.integers(-1, 2, size=(layer.out_shape[0], cin_g, *layer.kernel))
    got = np.einsum("gmk,gnk->gnm", im2col(x.astype(np.uint8), layer).astype(np.int64),
                    w.reshape(g, n, k)).reshape(layer.out_shape)
    (ph, pw), (sh, sw), (dh, dw) = layer.padding, layer.stride, layer.dilation
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    co, ho, wo = layer.out_shape
    ref = np.zeros((co, ho, wo), dtype=np.int64)
    for o in range(co):
        xs = xp[(o // n) * cin_g:(o // n + 1) * cin_g]
        for i in range(ho):
            for j in range(wo):
                win = xs[:, i * sh: i * sh + dh * (layer.kernel[0] - 1) + 1: dh,
                         j * sw: j * sw + dw * (layer.kernel[1] - 1) + 1: dw]
                ref[o, i, j] = int((win * w[o]).sum())
    np.testing.assert_array_equal(got, ref)


def test_full_precision_layer_bit_serial_on_the_array() -> None:
    """full_precision.mode bit_serial: the layer runs at bits x bits passes."""
    spec = small_spec(acc_bits=32, kib=8, full_precision={"mode": "bit_serial", "bits": 8})
    layer = Layer("first", "conv2d", ("input",), (2, 4, 4), (3, 2, 2), kernel=(3, 3),
                  w_bits=32, a_bits=32)
    lc = check_layer(build_array(spec), layer, np.random.default_rng(0), "FastSimulation")
    assert lc.ok and lc.whole is not None and lc.whole.tile[4] == 64
