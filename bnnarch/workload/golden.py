"""Golden forward: run a workload graph on real inputs with numpy alone.

``golden_forward(graph, inputs)`` evaluates every layer of a workload that
carries its weights (``packed_weights``, ``thresholds``, ``params``) and
returns each layer's output. It is the reference that says a workload *is*
the model it came from (tests compare it with the torch model).

Arithmetic, per layer kind:

* **1-bit x 1-bit conv / linear**: the input is binarised by the layer's
  activation quantizer (``x + input_shift >= 0`` -> bit 1 = +1), packed into
  64-bit words and XNOR-popcounted against the packed weights:
  ``y = valid - 2 * popcount((a XOR w) AND valid)`` per output (``valid`` =
  taps inside the image; zero padding contributes 0, as in the torch conv).
  The returned output is this integer pre-activation ``y`` (int64, in the
  model's sign convention: rows listed in ``params.flip`` are negated back).
  Consumers read ``scale_c * y (* K) + bias_c``.
* **Batch-norm after a folded binary layer** (the layer has ``thresholds``):
  output bit = ``y' >= T_c`` with ``y'`` the popcount on the stored (flipped)
  rows; returned as int8 +-1, which is what the next sign sees.
* **Everything else is float64** from the stored float32 parameters:
  full-precision and k-bit conv/linear (im2col + matmul), batch-norm,
  XNOR-Net's activation scale K, residual add, concat, max/avg pooling,
  nearest-neighbour upsampling.

Exact: the integer pre-activations of binary layers, given their binary
inputs, and the integer-threshold decisions. Not exact by construction:
float results differ from a float32 torch model in the last bits (summation
order), so a sign whose input lies within float32 rounding of 0 could
differ; the tests measure this on the trained models (0 such signs on the
digits test sets). Upsampling is nearest-neighbour (the zoo's mode).

numpy only (no torch): the simulator side of bnnarch can check workloads
without the model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bnnarch.errors import WorkloadError
from bnnarch.workload.graph import INPUT, WorkloadGraph
from bnnarch.workload.layer import FP_BITS, Layer, LayerParams

_CHUNK_BYTES = 1 << 25  # working-set bound per XNOR-popcount chunk (32 MiB)


def unpack_sign_bits(hexstr: str, rows: int, k: int, where: str) -> np.ndarray:
    """Packed sign bits (``bnnarch.nn.layers.pack_sign_bits``: row-major
    rows x k, MSB first, zero-padded to a byte; each row padded to whole
    bytes is accepted too) -> (rows, k) uint8, 1 = +1."""
    try:
        raw = np.unpackbits(np.frombuffer(bytes.fromhex(hexstr.strip()), dtype=np.uint8))
    except ValueError:
        raise WorkloadError(f"{where}: packed_weights is not a hex string") from None
    padded = -(-k // 8) * 8
    contiguous_bits = -(-rows * k // 8) * 8
    # row-padded only when it cannot be the documented contiguous packing
    # (both give the same byte count when rows * (padded - k) < 8)
    if raw.size == rows * padded and raw.size != contiguous_bits and k % 8:
        return raw[: rows * padded].reshape(rows, padded)[:, :k]
    if raw.size < rows * k:
        raise WorkloadError(f"{where}: packed_weights holds {raw.size} bits, needs {rows} x {k}")
    return raw[: rows * k].reshape(rows, k)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int],
           groups: int) -> np.ndarray:
    """(N, C, H, W) -> (N, G, M, K): M = output pixels (row-major), K in
    (cin/groups, kh, kw) order like torch's ``weight.flatten(1)``; padding
    taps are 0 of ``x``'s dtype."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho, wo = out_hw
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh,
                                  j * dw: j * dw + sw * (wo - 1) + 1: sw]
    cols = cols.reshape(n, groups, (c // groups) * kh * kw, ho * wo)
    return np.ascontiguousarray(cols.transpose(0, 1, 3, 2))


def valid_taps(in_chw: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int],
               groups: int) -> np.ndarray:
    """(M, K) uint8: 1 where a conv's tap lies inside the (C, H, W) input, 0
    where it reads the zero padding (the same for every group)."""
    ones = np.ones((1,) + tuple(in_chw), dtype=np.uint8)
    return im2col(ones, kernel, stride, padding, dilation, out_hw, groups)[0, 0]


def _words(bits: np.ndarray) -> np.ndarray:
    """(..., K) {0,1} -> (..., ceil(K/64)) uint64 words (zero-padded)."""
    k = bits.shape[-1]
    pad = (-k) % 64
    if pad:
        bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), bits.dtype)], -1)
    return np.packbits(bits.astype(np.uint8), axis=-1).view(np.uint64)


def xnor_popcount(a_bits: np.ndarray, valid: np.ndarray, w_bits: np.ndarray) -> np.ndarray:
    """Integer +-1 dot products by XNOR-popcount.

    a_bits (N, G, M, K) and w_bits (G, O, K) in {0, 1} (1 = +1); valid (M, K)
    in {0, 1} marks taps inside the image (a padded tap contributes 0).
    Returns y (N, G, M, O) int64 = sum over valid taps of a * w."""
    a = _words(a_bits & valid)
    v = _words(valid)
    w = _words(w_bits)
    n, g, m, nw = a.shape
    o = w.shape[1]
    n_valid = valid.sum(-1).astype(np.int64)  # (M,)
    y = np.empty((n, g, m, o), dtype=np.int64)
    per_pixel = max(1, o * nw * 8)
    step = max(1, _CHUNK_BYTES // per_pixel)
    for i in range(n):
        for gi in range(g):
            for m0 in range(0, m, step):
                sl = slice(m0, m0 + step)
                diff = (a[i, gi, sl, None, :] ^ w[gi, None, :, :]) & v[sl, None, :]
                dis = np.bitwise_count(diff).sum(-1, dtype=np.int64)
                y[i, gi, sl] = n_valid[sl, None] - 2 * dis
    return y


def _f32(v: tuple[float, ...]) -> np.ndarray:
    """Stored float32 parameter values, widened exactly to float64."""
    return np.asarray(v, dtype=np.float32).astype(np.float64)


def _need(layer: Layer) -> LayerParams:
    if layer.params is None:
        raise WorkloadError(f"layer {layer.name!r} ({layer.op}) has no params: the golden forward "
                            "needs a workload extracted with its weights (bnnarch extract "
                            "--checkpoint, bnnarch.extract or bnnarch import)")
    return layer.params


def _quantize_input(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The layer's activation quantizer: sign (1 bit, 0 -> +1), the zoo's
    symmetric k-bit levels (bnnarch.nn.quant.SymmetricActivation), or none."""
    p = layer.params
    if layer.a_bits < FP_BITS and p is not None and p.input_shift is not None:
        shift = _f32(p.input_shift)
        x = x + (shift.reshape(1, -1, 1, 1) if layer.op != "linear"
                 else shift.reshape(x.shape[1:])[None])
    if layer.a_bits < FP_BITS and p is not None and p.input_quant is not None:
        return _qonnx_quant(x, p.input_quant)
    if layer.a_bits == 1:
        return np.where(x >= 0, 1.0, -1.0)
    if layer.a_bits < FP_BITS:
        levels = float(2 ** layer.a_bits - 1)
        u = (np.clip(x, -1.0, 1.0) + 1.0) / 2.0
        return 2.0 * (np.round(u * levels) / levels) - 1.0
    return x


def activation_signed(layer: Layer) -> bool:
    """Whether a compute layer multiplies with two's-complement multi-bit
    activations: its input quantizer is a QONNX ``Quant`` with the signed
    flag set (``params.input_quant``) and more than 1 bit. The one definition
    the golden forward (``_qonnx_quant``) and the RTL (``bnnarch.rtl.golden``:
    the MSB activation plane weighs -2^(bits-1)) share; 1-bit activations are
    +-1 either way, the zoo's symmetric k-bit levels are not an integer grid."""
    p = layer.params
    q = p.input_quant if p is not None else None
    return bool(q is not None and 1 < layer.a_bits < FP_BITS and _quant_signed(q))


def _quant_signed(q: tuple[float, float, int, int, int]) -> bool:
    return bool(q[3]) and q[2] > 1


def _qonnx_quant(x: np.ndarray, q: tuple[float, float, int, int, int]) -> np.ndarray:
    """QONNX ``Quant`` (qonnx 1.0 int_quant): clip, round half to even, rescale."""
    scale, zp, bits, signed, narrow = q
    y = x / scale + zp
    if bits == 1 and signed:
        return (np.where(y >= 0, 1.0, -1.0) - zp) * scale
    lo = -(2 ** (bits - 1)) + narrow if _quant_signed(q) else 0
    hi = 2 ** (bits - 1) - 1 if _quant_signed(q) else 2 ** bits - 1 - narrow
    return (np.round(np.clip(y, lo, hi)) - zp) * scale


def _weights(layer: Layer) -> np.ndarray:
    """Real weights (cout, K) as the layer multiplies with (1-bit: +-scale)."""
    p = _need(layer)
    rows = layer.out_shape[0] if layer.op != "conv_transpose2d" else layer.in_shape[0]
    k = layer.weight_count // rows
    if layer.w_bits == 1:
        return _sign_weights(layer, rows, k) * _scale(layer, rows)[:, None]
    if p.weight is None:
        raise WorkloadError(f"layer {layer.name!r}: params.weight missing for a "
                            f"{layer.w_bits}-bit-weight layer")
    return _f32(p.weight).reshape(rows, k)


def _sign_weights(layer: Layer, rows: int, k: int) -> np.ndarray:
    """+-1 weights in the model's convention (flipped rows negated back)."""
    if not layer.packed_weights:
        raise WorkloadError(f"layer {layer.name!r}: 1-bit weights need packed_weights")
    s = unpack_sign_bits(layer.packed_weights, rows, k, f"layer {layer.name!r}")
    w = s.astype(np.float64) * 2.0 - 1.0
    if layer.params is not None and layer.params.flip:
        w[list(layer.params.flip)] *= -1.0
    return w


def _scale(layer: Layer, rows: int) -> np.ndarray:
    p = layer.params
    if p is None or p.weight_scale is None:
        return np.ones(rows)
    return np.asarray(p.weight_scale, dtype=np.float64)  # stored at double precision


def _xnor_k(layer: Layer, x: np.ndarray) -> np.ndarray:
    """XNOR-Net K: mean_c |x| averaged over each window (zero padding counted)."""
    a = np.abs(x).mean(1, keepdims=True)
    if layer.op == "linear":
        return np.abs(x.reshape(len(x), -1)).mean(1)[:, None, None, None]
    _, ho, wo = layer.out_shape
    cols = im2col(a, layer.kernel, layer.stride, layer.padding, layer.dilation, (ho, wo), 1)
    return cols.mean(-1).reshape(len(x), 1, ho, wo)


class _Run:
    """One golden evaluation: float values flowing between layers, the
    returned outputs, and the threshold bits of folded layers."""

    def __init__(self, x: np.ndarray) -> None:
        self.val: dict[str, np.ndarray] = {INPUT: x}
        self.out: dict[str, np.ndarray] = {}
        self.folded: dict[str, np.ndarray] = {}  # binary layer -> +-1 threshold outputs

    def layer(self, layer: Layer) -> None:
        ins = [self.val[s] for s in layer.inputs]
        op = layer.op
        if layer.is_compute:
            self._compute(layer, ins[0])
            return
        if op == "threshold" and layer.inputs[0] in self.folded:
            bits = self.folded[layer.inputs[0]]  # the producer's integer thresholds
            self.val[layer.name], self.out[layer.name] = bits.astype(np.float64), bits
            return
        if op == "threshold":
            y = self._threshold(layer, ins[0])
        elif op == "add":
            y = ins[0].copy()
            for t in ins[1:]:
                y = y + t
        elif op == "concat":
            y = np.concatenate(ins, axis=1)
        elif op == "upsample":
            y = np.repeat(np.repeat(ins[0], layer.stride[0], axis=2), layer.stride[1], axis=3)
        elif op in ("maxpool", "avgpool"):
            y = self._pool(layer, ins[0])
        elif op == "reshape":
            y = ins[0].reshape((len(ins[0]),) + tuple(layer.out_shape))
        else:  # pragma: no cover - check_layer admits no other op
            raise WorkloadError(f"layer {layer.name!r}: op {op!r} has no golden forward")
        self.val[layer.name] = y
        self.out[layer.name] = y

    def _threshold(self, layer: Layer, x: np.ndarray) -> np.ndarray:
        p = _need(layer)
        if not p.is_batchnorm:
            raise WorkloadError(f"layer {layer.name!r}: threshold layer without batch-norm "
                                "params or producer thresholds")
        shape = (1, -1, 1, 1)
        mean, var, gamma, beta = (_f32(v).reshape(shape) for v in (p.mean, p.var, p.gamma, p.beta))  # type: ignore[arg-type]  # all set: is_batchnorm
        return (x - mean) / np.sqrt(var + float(p.eps or 0.0)) * gamma + beta

    def _pool(self, layer: Layer, x: np.ndarray) -> np.ndarray:
        _, ho, wo = layer.out_shape
        n, c = x.shape[:2]
        fill = -np.inf if layer.op == "maxpool" else 0.0
        ph, pw = layer.padding
        xp = np.full((n, c, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), fill)
        xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
        cols = im2col(xp.reshape(n * c, 1, *xp.shape[2:]), layer.kernel, layer.stride, (0, 0),
                      layer.dilation, (ho, wo), 1)
        red = cols.max(-1) if layer.op == "maxpool" else cols.mean(-1)
        return red.reshape(n, c, ho, wo)

    def _compute(self, layer: Layer, x: np.ndarray) -> None:
        p = layer.params
        if layer.op == "linear":
            x = x.reshape(len(x), -1, 1, 1)
        a = _quantize_input(layer, x)
        binary = layer.is_binary and layer.op != "conv_transpose2d"
        if binary:
            y = self._binary(layer, a)  # (N, cout, ho, wo) int64, stored rows' sign
            flip = list(p.flip) if p is not None else []
            if layer.thresholds is not None:
                thr = np.asarray(layer.thresholds, dtype=np.int64).reshape(1, -1, 1, 1)
                self.folded[layer.name] = np.where(y >= thr, 1, -1).astype(np.int8)
            if flip:
                y[:, flip] *= -1
            self.out[layer.name] = y
            if p is None and layer.thresholds is None:
                _need(layer)
            v = output_value(layer, x, y)
        else:
            v = output_value(layer, x, self._float(layer, a))
        self.val[layer.name] = v
        if not binary:
            self.out[layer.name] = v

    def _binary(self, layer: Layer, a: np.ndarray) -> np.ndarray:
        """XNOR-popcount on the stored (possibly flipped) packed rows."""
        cout, ho, wo = layer.out_shape
        g = layer.groups
        k = layer.weight_count // cout
        if not layer.packed_weights:
            raise WorkloadError(f"layer {layer.name!r}: 1-bit weights need packed_weights")
        w = unpack_sign_bits(layer.packed_weights, cout, k, f"layer {layer.name!r}")
        w = w.reshape(g, cout // g, k)
        if layer.op == "linear":
            bits = (a.reshape(len(a), 1, 1, -1) > 0).astype(np.uint8)
            valid = np.ones((1, k), dtype=np.uint8)
        else:
            args = (layer.kernel, layer.stride, layer.padding, layer.dilation, (ho, wo), g)
            bits = im2col((a > 0).astype(np.uint8), *args)
            valid = valid_taps(a.shape[1:], *args)
        y = xnor_popcount(bits, valid, w)  # (N, G, M, O)
        n = len(a)
        return y.transpose(0, 1, 3, 2).reshape(n, cout, ho, wo)

    def _float(self, layer: Layer, a: np.ndarray) -> np.ndarray:
        w = _weights(layer)
        n = len(a)
        cout, ho, wo = layer.out_shape
        g = layer.groups
        if layer.op == "linear":
            return (a.reshape(n, -1) @ w.T).reshape(n, cout, 1, 1)
        if layer.op == "conv_transpose2d":
            return _conv_transpose(layer, a, w)
        cols = im2col(a, layer.kernel, layer.stride, layer.padding, layer.dilation, (ho, wo), g)
        wg = w.reshape(g, cout // g, -1)
        y = np.einsum("ngmk,gok->ngom", cols, wg, optimize=True)
        return y.reshape(n, cout, ho, wo)


def quantize_input(layer: Layer, x: np.ndarray) -> np.ndarray:
    """What a compute layer multiplies with: its activation quantizer applied
    to its input values ``x`` (batch first), as ``golden_forward`` does."""
    if layer.op == "linear":
        x = x.reshape(len(x), -1, 1, 1)
    return _quantize_input(layer, x)


def output_value(layer: Layer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The value a compute layer passes on, from its input ``x`` and its
    product ``y`` (batch first): a 1-bit layer's integer pre-activation in the
    model's sign convention times its weight scale, else the real product;
    then XNOR-Net's K and the bias, as ``golden_forward``."""
    p = layer.params
    binary = layer.is_binary and layer.op != "conv_transpose2d"
    v = y * _scale(layer, layer.out_shape[0]).reshape(1, -1, 1, 1) if binary else y
    if p is not None and p.act_scale == "xnor_k":
        v = v * _xnor_k(layer, x.reshape(len(x), -1, 1, 1) if layer.op == "linear" else x)
    if p is not None and p.bias is not None:
        v = v + _f32(p.bias).reshape(1, -1, 1, 1)
    return v


def _conv_transpose(layer: Layer, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Transposed conv by scattering each kernel tap (weights (cin, cout/g*kh*kw))."""
    n, cin, h, wd = a.shape
    cout, ho, wo = layer.out_shape
    g = layer.groups
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel, layer.stride, layer.padding, layer.dilation
    wt = w.reshape(g, cin // g, cout // g, kh, kw)
    full_h = (h - 1) * sh + dh * (kh - 1) + 1
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1
    out = np.zeros((n, cout, max(full_h, ho + ph), max(full_w, wo + pw)))
    xa = a.reshape(n, g, cin // g, h, wd)
    for i in range(kh):
        for j in range(kw):
            tap = np.einsum("ngchw,gco->ngohw", xa, wt[:, :, :, i, j]).reshape(n, cout, h, wd)
            out[:, :, i * dh: i * dh + sh * (h - 1) + 1: sh,
                j * dw: j * dw + sw * (wd - 1) + 1: sw] += tap
    return out[:, :, ph:ph + ho, pw:pw + wo]


def golden_forward(graph: WorkloadGraph, inputs: np.ndarray, *, upto: str | None = None
                   ) -> dict[str, np.ndarray]:
    """Evaluate ``graph`` on ``inputs`` (N, C, H, W) or one (C, H, W) image.

    Returns layer name -> output (batch first): int64 pre-activation
    integers for 1-bit x 1-bit layers, int8 +-1 for batch-norms folded into
    thresholds, float64 elsewhere. ``upto`` stops after that layer."""
    x = np.asarray(inputs)
    if x.ndim == len(graph.input_shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(graph.input_shape):
        raise WorkloadError(f"golden forward of {graph.name!r}: inputs have shape "
                            f"{list(x.shape[1:])} per image, the workload takes "
                            f"{list(graph.input_shape)}")
    if upto is not None:
        graph[upto]  # raises WorkloadError naming the layer
    unmodelled = dict(graph.meta).get("golden.unmodelled")
    if unmodelled:
        raise WorkloadError(f"golden forward of {graph.name!r}: the workload does not record "
                            f"what these do, so its outputs would not be the model's: "
                            f"{unmodelled}")
    run = _Run(x.astype(np.float32).astype(np.float64))
    for layer in graph.layers:
        run.layer(layer)
        if layer.name == upto:
            break
    return run.out


def layer_forward(layer: Layer, *inputs: np.ndarray) -> np.ndarray:
    """One layer on given input values (batch first), as ``golden_forward``
    computes it inside a graph (a batch-norm after a folded layer needs the
    graph: here it is evaluated from its params)."""
    run = _Run(np.zeros(0))
    names = [f"<in{i}>" for i in range(len(inputs))]
    for n, v in zip(names, inputs, strict=True):
        run.val[n] = np.asarray(v, dtype=np.float64)
    run.layer(replace(layer, inputs=tuple(names)))
    return run.out[layer.name]
