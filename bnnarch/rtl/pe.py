"""Processing-element datapath: XNOR/AND + popcount, bit-serial shift-add
accumulator, and the output stage (dot product, BN-threshold sign bit).

Arithmetic (what the golden model in ``bnnarch.rtl.golden`` computes):

* 1-bit x 1-bit layers (``xnor`` = 1): operands are {-1,+1} coded as bits
  {0,1}; a valid-tap mask word travels beside each activation word (1 = a tap
  inside the image; 0 = a zero-padding tap or the zero tail of the last word,
  where the activation bit is 0). The PE accumulates
  ``popcount(xnor(w, a) AND mask)`` over all SIMD words and the output stage
  forms ``dot = 2*acc - bias`` with ``bias = popcount(mask)`` summed over the
  words by a per-activation-lane unit (a PE with all-ones weights fed the
  mask): a padded tap contributes 0, as in the trained models.
* multi-bit layers (bit-serial, Stripes/Bit Fusion style):
  ``passes = w_bits x a_bits`` bit-plane pairs; weights two's complement
  (the plane w_bits-1 has weight -2^(w_bits-1)), activations unsigned or
  two's complement (``cfg_asigned``: the plane a_bits-1 weighs
  -2^(a_bits-1); a sign plane is one of the a_bits planes, so the pass count
  is unchanged). Per pass the PE adds ``+-popcount(w_plane AND a_plane) <<
  (pw + pa)``, negated when exactly one of the two planes is a negative MSB
  plane. With w_bits = 1 the weights are {-1,+1} (bits b): the PE
  accumulates ``sum(b*a)`` and a per-activation-lane unit (a PE with all-ones
  weights, the same pass control) ``sum(a)``; the output stage forms
  ``2*sum(b*a) - sum(a)``.
* multi-bit weights x 1-bit activations (``pm1a``): activations are {-1,+1}
  (bits b, valid-tap mask v as in XNOR layers). The PE runs XNOR passes, one
  per weight plane p: ``P_p = popcount(xnor(w_p, b) AND v)``; per plane
  ``sum(v*w_p*(2b-1)) = P_p - L`` with ``L = popcount(v AND NOT b)``, and
  the plane weights of a two's-complement number sum to -1, so
  ``dot = sum_p c_p*P_p + L``. The lane unit (fed ``v AND NOT b``, the same
  shifts and negations) accumulates ``sum_p c_p*L = -L``; the output stage
  forms ``acc - lane``.

All accumulator arithmetic is modulo 2^acc_bits (two's complement), so the
result is exact whenever the true dot product fits in acc_bits signed bits;
the host checks that bound per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyrtl

from bnnarch.rtl.popcount import PopcountTree, Stage

SHIFT_BITS = 4
"""Width of the pass shift (pw + pa <= 14 for 8-bit x 8-bit layers)."""


@dataclass(frozen=True)
class PassCtrl:
    """Control of one word as seen by a PE (already delayed to its position)."""

    valid: pyrtl.WireVector
    first: pyrtl.WireVector
    shift: pyrtl.WireVector
    neg: pyrtl.WireVector


def product_bits(w: pyrtl.WireVector, a: pyrtl.WireVector, xnor: pyrtl.WireVector,
                 mask: pyrtl.WireVector) -> list[pyrtl.WireVector]:
    """Per-bit masked XNOR (xnor=1) or AND (xnor=0): ``w&a | xnor&mask&~w&~a``.
    A masked-out tap has activation bit 0, so its AND term is 0 too; in AND
    mode the mask is ignored (padded unsigned activations are 0).
    Area: S x (AND2 + NOR2 + AND3 + OR2) ~ 4S GE; delay: 3 gates."""
    both, neither = w & a, ~(w | a)
    # per bit: no S-wide replication of xnor (FastSimulation cannot compile a
    # 4096-way concat, NOTES)
    return [both[i] | (xnor & mask[i] & neither[i]) for i in range(w.bitwidth)]


def popcount(bits: list[pyrtl.WireVector], tree: PopcountTree, stage: Stage) -> pyrtl.WireVector:
    return tree(bits, stage)


def accumulate(pop: pyrtl.WireVector, ctrl: PassCtrl, acc_bits: int,
               name: str) -> tuple[pyrtl.WireVector, pyrtl.Register]:
    """Bit-serial shift-add accumulator.

    ``acc_next = (first ? 0 : acc) + (neg ? -(pop << shift) : pop << shift)``
    (mod 2^acc_bits); the register takes ``acc_next`` when ``valid``.
    Area: a log2(SHIFT)-level barrel shifter of acc_bits, a conditional
    negation (XOR row + incrementer folded into the adder carry-in) and one
    acc_bits adder + register: about 12 x acc_bits GE. Delay: 4 mux levels +
    one acc_bits ripple adder.
    """
    acc = pyrtl.Register(acc_bits, name=name)
    acc_next = shift_add(acc, pop, ctrl, acc_bits)
    acc.next <<= pyrtl.select(ctrl.valid, acc_next, acc)
    return acc_next, acc


def shift_add(prev: pyrtl.WireVector, pop: pyrtl.WireVector, ctrl: PassCtrl,
              acc_bits: int) -> pyrtl.WireVector:
    """``(first ? 0 : prev) + (neg ? -(pop << shift) : pop << shift)`` mod
    2^acc_bits (the negation as XOR + carry-in)."""
    shifted = pyrtl.shift_left_logical(pop.zero_extended(acc_bits), ctrl.shift)
    term = shifted ^ ctrl.neg.sign_extended(acc_bits)
    base = pyrtl.select(ctrl.first, pyrtl.Const(0, acc_bits), prev)
    # operands zero-extended so that the exported Verilog keeps each mux in a
    # self-determined concat (Verilator WIDTH lint)
    wide = acc_bits + 1
    return (base.zero_extended(wide) + term.zero_extended(wide) + ctrl.neg)[:acc_bits]


def output_stage(acc_value: pyrtl.WireVector, double: pyrtl.WireVector, sub: pyrtl.WireVector,
                 bias: pyrtl.WireVector, threshold: pyrtl.WireVector,
                 acc_bits: int) -> tuple[pyrtl.WireVector, pyrtl.WireVector]:
    """Accumulator -> (dot product, sign bit). ``dot = double ? 2*acc - bias :
    sub ? acc - bias : acc``; ``sign = dot >= threshold`` (signed; the
    BN-folded threshold). ``double`` is set for +-1 weights: XNOR layers (bias
    = popcount of the mask) and +-1 weights x multi-bit activations (AND
    passes accumulate sum(b*a); bias = the lane's activation sum, so dot =
    sum((2b-1)*a)); ``sub`` for +-1 activations x multi-bit weights (bias =
    the lane unit's -popcount(v AND NOT b), module doc).
    Area: one subtractor, an acc_bits mux and one comparator of acc_bits
    (~11 x acc_bits GE)."""
    doubled = pyrtl.concat(acc_value[: acc_bits - 1], pyrtl.Const(0, 1))
    minuend = pyrtl.select(double, doubled, acc_value)
    # zero-extend the operands so that the exported Verilog puts any mux
    # feeding them inside a self-determined concat (Verilator WIDTH lint)
    diff = minuend.zero_extended(acc_bits + 1) - bias.zero_extended(acc_bits + 1)
    dot = pyrtl.select(double | sub, diff[:acc_bits], acc_value)
    sign = pyrtl.signed_ge(dot, threshold)
    return dot, sign


def pe_core(w: pyrtl.WireVector, a: pyrtl.WireVector, xnor: pyrtl.WireVector,
            mask: pyrtl.WireVector, ctrl: PassCtrl, tree: PopcountTree, stage: Stage,
            acc_bits: int, name: str) -> tuple[pyrtl.WireVector, pyrtl.Register]:
    """One PE: masked product bits -> popcount tree (``stage`` applied
    ceil(log2 S) times on every path) -> accumulator. ``ctrl`` must be delayed
    by the same number of stages as the tree. Returns (acc_next, acc register)."""
    pop = popcount(product_bits(w, a, xnor, mask), tree, stage)
    return accumulate(pop, ctrl, acc_bits, name)
