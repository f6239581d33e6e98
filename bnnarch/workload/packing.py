"""Packed binary weights and integer thresholds: the one format every
producer (torch extraction, ONNX import) writes and the RTL golden model reads.

- ``packed_weights``: rows = output channels, each row the (cin, kh, kw)
  kernel flattened in torch / ONNX memory order (linear: the input-feature
  order), bit 1 = +1; the cout x K bit string cut into bytes MSB-first and
  zero-padded to a byte. Rows of channels whose folded batch-norm scale is
  negative are negated (see ``THRESHOLDS``).
- ``thresholds``: output bit of channel c = 1 iff y >= T_c, y the integer
  dot product of the +-1 inputs and the (possibly negated) +-1 weights.
"""

from __future__ import annotations

import numpy as np

PACKING = ("rows=cout, row=(cin,kh,kw) flattened in torch order, bit1=+1, MSB-first bytes, "
           "zero-padded to a byte; rows with negative BN gamma negated")
THRESHOLDS = "out=1 iff sum(+-1 products) >= T (per output channel)"


def pack_bits(bits: np.ndarray, flip: list[bool] | None = None) -> str:
    """Hex of ``bits`` (cout, ...) (nonzero = +1), rows with ``flip[c]`` negated."""
    s = (np.asarray(bits).reshape(bits.shape[0], -1) != 0).astype(np.uint8)
    if flip is not None:
        f = np.asarray(flip, dtype=bool)[:, None]
        s = np.where(f, 1 - s, s).astype(np.uint8)
    return np.packbits(s.ravel(), bitorder="big").tobytes().hex()
