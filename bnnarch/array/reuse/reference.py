"""Numpy reference of the reuse schemes: *executes* each scheme on a layer's
real weight bits and input bits, returns its popcounts (which must equal the
plain computation bit for bit) and the work it actually did, counted in the
units of bnnarch.array.reuse.effect (which must equal what the simulator charges).

The counting here is done while executing (a slice is counted when it is
computed, a share read when a result is looked up, a window as derived when
its result is built from its neighbour's), independently of the statistics
path (bnnarch.nn.reuse_stats -> ReuseStats -> bnnarch.array.reuse.effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnnarch.array.timing import ceil_div
from bnnarch.workload.bits import kernel_keys, windows
from bnnarch.workload.layer import Layer


@dataclass(frozen=True)
class RefCount:
    """Work done by one executed scheme over all frames (effect.SchemeCount units)."""

    word_ops: int
    slots: int
    skipped_xnor_bits: int
    share_reads: int = 0
    share_writes: int = 0
    compare_bits: int = 0
    acc_reads: int = 0
    derived_windows: int = 0


def _pc(bits: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """popcount(valid & xnor) of rows (P, K) against filters (N, K) -> (P, N) int64."""
    a1 = (bits * valid).astype(np.float32)
    a0 = ((1 - bits) * valid).astype(np.float32)
    wf = w.astype(np.float32)
    return np.rint(a1 @ wf.T + a0 @ (1.0 - wf).T).astype(np.int64)


def plain(layer: Layer, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """XNOR-popcount of every (frame, y, x, filter): (F, Ho, Wo, cout) int64."""
    bits, valid = windows(x, layer)
    f, ho, wo, c, t = bits.shape
    g = layer.groups
    cout = w.shape[0]
    ng, cg = cout // g, c // g
    out = np.zeros((f * ho * wo, cout), np.int64)
    for gi in range(g):
        b = bits[..., gi * cg:(gi + 1) * cg, :].reshape(-1, cg * t)
        v = valid[..., gi * cg:(gi + 1) * cg, :].reshape(-1, cg * t)
        out[:, gi * ng:(gi + 1) * ng] = _pc(b, v, w[gi * ng:(gi + 1) * ng].reshape(ng, -1))
    return out.reshape(f, ho, wo, cout)


def dot_product(layer: Layer, w: np.ndarray, x: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """Integer +-1 dot product (what torch's conv gives) from popcounts."""
    _, valid = windows(x, layer)
    g = layer.groups
    cg = valid.shape[3] // g
    ng = w.shape[0] // g
    nv = np.concatenate([np.repeat(valid[..., gi * cg:(gi + 1) * cg, :].sum((3, 4))[..., None],
                                   ng, axis=-1) for gi in range(g)], axis=-1)
    return 2 * pc - nv


def kernel_pattern(layer: Layer, w: np.ndarray, x: np.ndarray, *, simd_bits: int,
                   sign_inverted: bool, share_ports: int) -> tuple[np.ndarray, RefCount]:
    """Per channel, compute each filter's slice only when its pattern (or
    complement) has not been computed for this pixel; otherwise look it up."""
    bits, valid = windows(x, layer)
    f, ho, wo, _, t = bits.shape
    p = f * ho * wo
    g = layer.groups
    cout, cg = w.shape[0], w.shape[1]
    ng = cout // g
    keys = kernel_keys(w, sign_inverted)
    raw = kernel_keys(w, False)
    out = np.zeros((cout, p), np.int64)  # filter-major: rows are accumulated in place
    computed = np.zeros(cout, np.int64)
    shares = np.zeros(cout, np.int64)
    writes = 0
    for gi in range(g):
        for ci in range(cg):
            cc = gi * cg + ci
            xb = bits[..., cc, :].reshape(p, t)
            xv = valid[..., cc, :].reshape(p, t)
            nvalid = xv.sum(1, dtype=np.int64)
            # the compiler's pass over the static weights: representative or share read
            slot: dict[int, int] = {}  # key -> column of the shared-result buffer
            reps: list[int] = []
            plan: list[tuple[int, int, bool]] = []  # (filter, column, complement?)
            rep_raw: list[int] = []
            referenced: set[int] = set()
            for o in range(gi * ng, (gi + 1) * ng):
                k = int(keys[o, ci])
                if k not in slot:
                    slot[k] = len(reps)
                    reps.append(o)
                    rep_raw.append(int(raw[o, ci]))
                    computed[o] += 1
                    plan.append((o, slot[k], False))
                else:
                    referenced.add(k)
                    shares[o] += 1
                    plan.append((o, slot[k], rep_raw[slot[k]] != int(raw[o, ci])))
            writes += len(referenced)
            # compute the representative slices only, then read / complement
            table = _pc(xb, xv, w[reps, ci].reshape(len(reps), t)).T.copy()  # (U, P)
            for o, col, inv in plan:
                out[o] += nvalid - table[col] if inv else table[col]
    words = [ceil_div(int(r) * t, simd_bits) for r in computed]
    slots = sum(max(wd, ceil_div(int(s), share_ports)) for wd, s in zip(words, shares, strict=True))
    cnt = RefCount(word_ops=p * sum(words), slots=p * slots,
                   skipped_xnor_bits=p * int(shares.sum()) * t, share_reads=p * int(shares.sum()),
                   share_writes=p * writes)
    return out.T.reshape(f, ho, wo, cout), cnt


def input_similarity(layer: Layer, w: np.ndarray, x: np.ndarray, *, simd_bits: int,
                     max_diff_bits: int) -> tuple[np.ndarray, RefCount]:
    """Walk each output row left to right; a window with its left neighbour's
    padding pattern and at most ``max_diff_bits`` flipped values gets
    acc(neighbour) + 2 * popcount(xnor & diff mask) - D."""
    if layer.groups != 1:
        raise ValueError("input similarity is modelled for groups == 1")
    bits, valid = windows(x, layer)
    f, ho, wo, c, t = bits.shape
    k = c * t
    kw = ceil_div(k, simd_bits)
    n = w.shape[0]
    wf = w.reshape(n, k)
    b = bits.reshape(f, ho, wo, k)
    v = valid.reshape(f, ho, wo, k)
    out = np.zeros((f, ho, wo, n), np.int64)
    word_ops = skipped_bits = compare = acc_reads = derived_n = 0
    out[:, :, 0] = _pc(b[:, :, 0].reshape(-1, k), v[:, :, 0].reshape(-1, k), wf).reshape(f, ho, n)
    word_ops += f * ho * n * kw
    for xi in range(1, wo):
        cur_b, cur_v = b[:, :, xi].reshape(-1, k), v[:, :, xi].reshape(-1, k)
        prv_b, prv_v = b[:, :, xi - 1].reshape(-1, k), v[:, :, xi - 1].reshape(-1, k)
        same_pad = np.all(cur_v == prv_v, axis=1)  # comparator: padding pattern
        diff = (cur_b != prv_b) & (cur_v == 1)  # comparator: XOR of the +-1 values
        compare += diff.shape[0] * k
        d = diff.sum(1)
        der = same_pad & (d <= max_diff_bits) & (-(-d // simd_bits) < kw)
        res = np.zeros((diff.shape[0], n), np.int64)
        full = ~der
        if full.any():
            res[full] = _pc(cur_b[full], cur_v[full], wf)
            word_ops += int(full.sum()) * n * kw
        if der.any():
            m = diff[der].astype(np.uint8)
            new = _pc(cur_b[der], m, wf)  # XNOR-popcount over the differing positions only
            prev = out[:, :, xi - 1].reshape(-1, n)[der]  # previous accumulators
            dd = d[der]
            res[der] = prev + 2 * new - dd[:, None]  # flipped positions flip their XNOR
            word_ops += int((-(-dd // simd_bits)).sum()) * n
            skipped_bits += int((k - dd).sum()) * n
            acc_reads += int(der.sum()) * n
            derived_n += int(der.sum())
        out[:, :, xi] = res.reshape(f, ho, n)
    cnt = RefCount(word_ops=word_ops, slots=word_ops, skipped_xnor_bits=skipped_bits,
                   compare_bits=compare, acc_reads=acc_reads, derived_windows=derived_n)
    return out, cnt
