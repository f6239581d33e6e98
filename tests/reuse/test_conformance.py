"""One conformance suite that every reuse scheme subclasses: the numpy
reference executes the scheme bit-exactly and counts exactly what the model
(bnnarch.array.reuse.effect, from measured ReuseStats) charges; hand-built layers
with known repetition give the known extremes; the simulator's cycles stay
within the hardware's bounds."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from bnnarch.array.reuse import reference as ref
from bnnarch.array.reuse.effect import SchemeCount, input_similarity_count, kernel_pattern_count
from bnnarch.array.reuse.hook import without_reuse
from bnnarch.array.simulate import simulate_layer
from bnnarch.array.spec import ArraySpec
from bnnarch.nn.reuse_stats import reuse_stats
from bnnarch.workload.layer import Layer
from tests.conftest import need_module

from .helpers import conv, random_bits, spec_with, with_stats

FIELDS = ("word_ops", "slots", "skipped_xnor_bits", "share_reads", "share_writes",
          "compare_bits", "acc_reads", "derived_windows")

LAYERS = [
    conv(16, 32, 10),  # 3x3, pad 1
    conv(8, 24, 9, s=2),  # stride 2
    conv(12, 16, 7, k=1),  # 1x1
    conv(24, 8, 8, p=0),  # no padding
    conv(96, 16, 6),  # K = 864 > several words
]


class SchemeConformance:
    """Subclass per scheme: set ``scheme`` and implement the three hooks."""

    scheme: ClassVar[str]
    supports_groups: ClassVar[bool] = True

    def spec(self, **over: Any) -> ArraySpec:
        raise NotImplementedError

    def run(self, layer: Layer, w: np.ndarray, x: np.ndarray,
            spec: ArraySpec) -> tuple[np.ndarray, ref.RefCount]:
        raise NotImplementedError

    def count(self, layer: Layer, st: Any, spec: ArraySpec, raw: bool = True) -> SchemeCount:
        raise NotImplementedError

    def maximal(self, layer: Layer, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(w, x) on which the scheme skips all it can."""
        raise NotImplementedError

    def nothing(self, layer: Layer, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(w, x) on which the scheme skips nothing."""
        raise NotImplementedError

    # ---- the suite ------------------------------------------------------
    def data(self, layer: Layer, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        cout, (cin, h, w_) = layer.out_shape[0], layer.in_shape
        w = random_bits(rng, (cout, cin // layer.groups, *layer.kernel))
        w[1::3] = w[0::3][: len(w[1::3])]  # some repeated filters
        w[2::5] ^= 1  # some sign-inverted ones
        x = random_bits(rng, (3, cin, h, w_), 0.3)
        x[..., 1::2] = x[..., 0::2][..., : x[..., 1::2].shape[-1]]  # similar neighbours
        return w, x

    @pytest.mark.parametrize("layer", LAYERS, ids=lambda la: f"{la.in_shape}-{la.kernel}-{la.stride}")
    def test_bit_exact_and_counts_match_model(self, layer: Layer) -> None:
        spec = self.spec()
        w, x = self.data(layer)
        out, cnt = self.run(layer, w, x, spec)
        assert np.array_equal(out, ref.plain(layer, w, x))
        model = self.count(layer, reuse_stats(layer, w, x), spec)
        for f in FIELDS:
            assert getattr(cnt, f) == getattr(model, f), f

    def test_plain_matches_torch_conv(self) -> None:
        torch = need_module("torch")
        layer = LAYERS[1]
        w, x = self.data(layer)
        y = torch.nn.functional.conv2d(torch.from_numpy(x * 2.0 - 1), torch.from_numpy(w * 2.0 - 1),
                                       stride=layer.stride, padding=layer.padding)
        got = ref.dot_product(layer, w, x, ref.plain(layer, w, x))
        assert np.array_equal(got, np.rint(y.numpy()).astype(np.int64).transpose(0, 2, 3, 1))

    def test_maximal_repetition(self) -> None:
        layer = conv(16, 32, 8)
        spec = self.spec()
        w, x = self.maximal(layer, np.random.default_rng(1))
        out, cnt = self.run(layer, w, x, spec)
        assert np.array_equal(out, ref.plain(layer, w, x))
        c = self.count(layer, reuse_stats(layer, w, x), spec)
        self.check_maximal(layer, c, spec)
        assert cnt.word_ops == c.word_ops

    def check_maximal(self, layer: Layer, c: SchemeCount, spec: ArraySpec) -> None:
        raise NotImplementedError

    def test_no_repetition_no_savings(self) -> None:
        layer = conv(16, 32, 8)
        spec = self.spec()
        w, x = self.nothing(layer, np.random.default_rng(2))
        out, cnt = self.run(layer, w, x, spec)
        assert np.array_equal(out, ref.plain(layer, w, x))
        st = reuse_stats(layer, w, x)
        assert cnt.word_ops == cnt.slots == self.count(layer, st, spec).plain_word_ops
        c = self.count(layer, st, spec, raw=False)
        assert not c.applicable and c.skipped_word_ops == 0 and c.reason

    @pytest.mark.parametrize("layer", LAYERS[:4], ids=lambda la: f"{la.in_shape}-{la.kernel}")
    def test_cycles_within_hardware_bounds(self, layer: Layer) -> None:
        spec = self.spec()
        w, x = self.data(layer)
        la = with_stats(layer, reuse_stats(layer, w, x))
        r = simulate_layer(la, spec)
        base = simulate_layer(la, without_reuse(spec))
        c = self.count(layer, la.stats.reuse, spec, raw=False)  # type: ignore[union-attr]
        pes = spec.array.rows * spec.array.cols
        assert r.compute_cycles > 0
        assert r.compute_cycles <= base.compute_cycles
        assert r.cycles <= base.cycles
        assert r.compute_cycles >= math.ceil(c.word_ops / c.frames / pes)
        assert r.compute_cycles >= math.ceil(c.slots / c.frames / pes)
        assert 0.0 <= r.utilization <= 1.0
        ex = dict(r.extra)
        if ex["reuse_scheme"] == self.scheme:
            assert ex["reuse_skipped_word_ops"] * c.frames == c.skipped_word_ops
            assert r.energy_pj < base.energy_pj + ex["reuse_overhead_pj"] + 1e-6

    def test_disabled_scheme_changes_nothing(self) -> None:
        layer = LAYERS[0]
        w, x = self.data(layer)
        la = with_stats(layer, reuse_stats(layer, w, x))
        off = without_reuse(self.spec())
        assert simulate_layer(la, off) == simulate_layer(layer, off)


class TestKernelPattern(SchemeConformance):
    scheme = "kernel_pattern"

    def spec(self, **over: Any) -> ArraySpec:
        return spec_with(kernel_pattern={"enabled": True, **over},
                         input_similarity={"enabled": False})

    def run(self, layer, w, x, spec):  # type: ignore[no-untyped-def]
        kp = spec.reuse.kernel_pattern
        return ref.kernel_pattern(layer, w, x, simd_bits=spec.array.simd_bits,
                                  sign_inverted=kp.sign_inverted, share_ports=kp.share_ports)

    def count(self, layer, st, spec, raw=True):  # type: ignore[no-untyped-def]
        return kernel_pattern_count(layer, st, spec, raw=raw)

    def maximal(self, layer, rng):  # type: ignore[no-untyped-def]
        w = random_bits(rng, (layer.out_shape[0], layer.in_shape[0], *layer.kernel))
        w[:] = w[0]  # every filter identical
        w[1::2] ^= 1  # ... or its complement
        return w, random_bits(rng, (2, *layer.in_shape))

    def check_maximal(self, layer, c, spec):  # type: ignore[no-untyped-def]
        _, ho, wo = layer.out_shape
        cin, t, n = layer.in_shape[0], 9, layer.out_shape[0]
        per_pixel = math.ceil(cin * t / spec.array.simd_bits)  # only filter 0 computes
        assert c.word_ops == c.frames * ho * wo * per_pixel
        assert c.share_reads == c.frames * ho * wo * (n - 1) * cin
        assert c.share_writes == c.frames * ho * wo * cin

    def nothing(self, layer, rng):  # type: ignore[no-untyped-def]
        cout, cin = layer.out_shape[0], layer.in_shape[0]
        # distinct sign-folded 3x3 patterns per channel: keys 0..255 have bit 8 clear
        keys = np.stack([rng.permutation(256)[:cout] for _ in range(cin)], axis=1)
        w = ((keys[..., None] >> np.arange(8, -1, -1)) & 1).astype(np.uint8)
        return w.reshape(cout, cin, 3, 3), random_bits(rng, (2, *layer.in_shape))

    def test_sign_inversion_shares_more(self) -> None:
        layer = LAYERS[0]
        w, x = self.data(layer)
        st = reuse_stats(layer, w, x)
        exact = self.count(layer, st, self.spec(sign_inverted=False))
        folded = self.count(layer, st, self.spec(sign_inverted=True))
        assert folded.share_reads > exact.share_reads > 0
        out, cnt = self.run(layer, w, x, self.spec(sign_inverted=False))
        assert np.array_equal(out, ref.plain(layer, w, x)) and cnt.word_ops == exact.word_ops

    def test_grouped_conv(self) -> None:
        layer = conv(16, 32, 6, groups=4)
        w, x = self.data(layer)
        out, cnt = self.run(layer, w, x, self.spec())
        assert np.array_equal(out, ref.plain(layer, w, x))
        assert cnt.word_ops == self.count(layer, reuse_stats(layer, w, x), self.spec()).word_ops

    def test_share_buffer_too_small(self) -> None:
        layer = LAYERS[0]
        w, x = self.data(layer)
        c = self.count(layer, reuse_stats(layer, w, x), self.spec(share_entries=1), raw=False)
        assert not c.applicable and "share_entries=1" in c.reason


class TestInputSimilarity(SchemeConformance):
    scheme = "input_similarity"

    def spec(self, **over: Any) -> ArraySpec:
        return spec_with(input_similarity={"enabled": True, **over},
                         kernel_pattern={"enabled": False})

    def run(self, layer, w, x, spec):  # type: ignore[no-untyped-def]
        si = spec.reuse.input_similarity
        return ref.input_similarity(layer, w, x, simd_bits=spec.array.simd_bits,
                                    max_diff_bits=si.max_diff_bits)

    def count(self, layer, st, spec, raw=True):  # type: ignore[no-untyped-def]
        return input_similarity_count(layer, st, spec, raw=raw)

    def maximal(self, layer, rng):  # type: ignore[no-untyped-def]
        w = random_bits(rng, (layer.out_shape[0], layer.in_shape[0], *layer.kernel))
        x = np.ones((2, *layer.in_shape), np.uint8)  # constant map
        x[:, ::2] = 0
        return w, x

    def check_maximal(self, layer, c, spec):  # type: ignore[no-untyped-def]
        # Every window equals its left neighbour (D = 0: no word-op at all)
        # except the two whose padding pattern changes (x = 1 and x = Wo - 1).
        _, ho, wo = layer.out_shape
        kw = math.ceil(layer.in_shape[0] * 9 / spec.array.simd_bits)
        assert c.derived_windows == c.frames * ho * (wo - 3)
        assert c.plain_word_ops - c.word_ops == c.derived_windows * layer.out_shape[0] * kw

    def nothing(self, layer, rng):  # type: ignore[no-untyped-def]
        w = random_bits(rng, (layer.out_shape[0], layer.in_shape[0], *layer.kernel))
        return w, random_bits(rng, (2, *layer.in_shape))

    def spec_nothing(self) -> ArraySpec:
        return self.spec(max_diff_bits=0)

    def test_no_repetition_no_savings(self) -> None:  # random windows: none within 0 bits
        layer = conv(16, 32, 8)
        spec = self.spec_nothing()
        w, x = self.nothing(layer, np.random.default_rng(2))
        out, cnt = self.run(layer, w, x, spec)
        assert np.array_equal(out, ref.plain(layer, w, x))
        st = reuse_stats(layer, w, x)
        assert cnt.word_ops == self.count(layer, st, spec).plain_word_ops
        c = self.count(layer, st, spec, raw=False)
        assert not c.applicable and "max_diff_bits=0" in c.reason

    def test_threshold_monotone(self) -> None:
        layer = LAYERS[0]
        w, x = self.data(layer)
        st = reuse_stats(layer, w, x)
        ops = [self.count(layer, st, self.spec(max_diff_bits=t)).word_ops for t in (0, 16, 64, 4096)]
        assert ops == sorted(ops, reverse=True)

    def test_grouped_conv_not_applicable(self) -> None:
        layer = conv(16, 32, 6, groups=4)
        w, x = self.data(layer)
        c = self.count(layer, reuse_stats(layer, w, x), self.spec(), raw=False)
        assert not c.applicable and c.reason == "grouped conv"
