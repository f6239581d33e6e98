"""Properties over random binary conv layers and random bits: both schemes
stay bit-exact, count what the model counts, and never push a layer's cycles
below the hardware's bound or above the plain design."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnarch.array.reuse import reference as ref
from bnnarch.array.reuse.effect import reuse_effect
from bnnarch.array.reuse.hook import without_reuse
from bnnarch.array.simulate import simulate_layer
from bnnarch.nn.reuse_stats import reuse_stats

from .helpers import conv, random_bits, spec_with, with_stats


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cin=st.sampled_from([1, 4, 8, 16, 40]), cout=st.sampled_from([2, 8, 33]),
       hw=st.integers(3, 9), k=st.sampled_from([1, 3, 5]), s=st.sampled_from([1, 2]),
       density=st.floats(0.05, 0.95), dup=st.integers(0, 3), seed=st.integers(0, 2**16),
       simd=st.sampled_from([16, 64, 256]), thr=st.sampled_from([0, 8, 64, 4096]),
       ports=st.sampled_from([1, 4, 16]))
def test_random_layers(cin: int, cout: int, hw: int, k: int, s: int, density: float, dup: int,
                       seed: int, simd: int, thr: int, ports: int) -> None:
    if k > hw:
        k = 1
    layer = conv(cin, cout, hw, k=k, s=s)
    rng = np.random.default_rng(seed)
    w = random_bits(rng, (cout, cin, k, k))
    for _ in range(dup):  # plant repeated / inverted filters
        a, b = rng.integers(0, cout, 2)
        w[b] = w[a] ^ int(rng.integers(0, 2))
    x = random_bits(rng, (2, cin, hw, hw), density)
    spec = spec_with(kernel_pattern={"enabled": True, "share_ports": ports},
                     input_similarity={"enabled": True, "max_diff_bits": thr})
    spec = spec.model_copy(update={"array": spec.array.model_copy(update={
        "simd_bits": simd, "acc_bits": 16})})
    plain = ref.plain(layer, w, x)
    o1, _ = ref.kernel_pattern(layer, w, x, simd_bits=simd, sign_inverted=True, share_ports=ports)
    o2, _ = ref.input_similarity(layer, w, x, simd_bits=simd, max_diff_bits=thr)
    assert np.array_equal(o1, plain) and np.array_equal(o2, plain)
    la = with_stats(layer, reuse_stats(layer, w, x))
    eff = reuse_effect(la, spec)
    assert eff is not None
    r = simulate_layer(la, spec)
    base = simulate_layer(la, without_reuse(spec))
    assert 0 < r.compute_cycles <= base.compute_cycles
    assert r.cycles <= base.cycles and r.stall_cycles >= 0
    c = eff.chosen
    if c is not None:
        pes = spec.array.rows * spec.array.cols
        assert r.compute_cycles >= math.ceil(c.slots / c.frames / pes)
        assert 0 <= c.word_ops <= c.plain_word_ops and c.slots <= c.plain_slots
    else:
        assert r.compute_cycles == base.compute_cycles
