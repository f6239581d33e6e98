"""Popcount trees for the XNOR-popcount PE, passed to the PE generator as a
function (STYLE: ``tree_multiplier(A, B, reducer=wallace_reducer)``).

A tree takes the S product bits (1-bit wires) and a ``stage`` function that it
must apply exactly ``popcount_tree_depth(S) = ceil(log2 S)`` times along every
path (``stage`` is a pipeline register in the broadcast PE and the identity in
the systolic PE). So every tree has the same latency, the one
``bnnarch.array.timing.drain_cycles`` charges, and the trees differ only in
area and combinational delay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyrtl
from pyrtl.rtllib.adders import kogge_stone, wallace_reducer

from bnnarch.array.timing import popcount_tree_depth

Stage = Callable[[pyrtl.WireVector], pyrtl.WireVector]
PopcountTree = Callable[[Sequence[pyrtl.WireVector], Stage], pyrtl.WireVector]


def identity_stage(w: pyrtl.WireVector) -> pyrtl.WireVector:
    return w


def adder_tree(bits: Sequence[pyrtl.WireVector], stage: Stage = identity_stage) -> pyrtl.WireVector:
    """Balanced binary tree of ripple adders, ``stage`` after every level.

    Depth: ceil(log2 S) adder levels; the adders of level l are l+1 bits wide,
    so the critical path is O(log^2 S) full-adder delays (O(log S) levels with
    a pipeline register per level). Area: S/2^l adders of l+1 bits at level l,
    i.e. O(S) full adders (about S - log2 S - 1) plus, when pipelined,
    sum_l (S/2^l)(l+1) ~ 2S flip-flops.
    """
    level: list[pyrtl.WireVector] = list(bits)
    if not level:
        raise ValueError("a popcount tree needs at least one bit")
    for _ in range(popcount_tree_depth(len(bits))):
        nxt = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1].zero_extended(level[-1].bitwidth + 1))
        level = [stage(w) for w in nxt]
    assert len(level) == 1
    return level[0]


def wallace(bits: Sequence[pyrtl.WireVector], stage: Stage = identity_stage) -> pyrtl.WireVector:
    """Wallace-tree popcount: all S bits in column 0 reduced by layers of
    full/half adders (carry-save, ``pyrtl.rtllib.adders.wallace_reducer``) to
    two rows, then a Kogge-Stone adder.

    Delay: O(log_{3/2} S) full-adder levels + O(log log S) for the final
    adder — shallower than ``adder_tree``'s O(log^2 S). Area: about S full
    adders (each removes one bit) plus the final log2(S)-bit prefix adder.
    Its ``stage`` registers are put at the output (latency ceil(log2 S) as in
    the timing model); synthesis retiming can move them into the tree.
    """
    n = len(bits)
    if n < 4:
        raise ValueError("wallace popcount needs at least 4 bits (use adder_tree)")
    width = n.bit_length()
    out = wallace_reducer([list(bits)], width, final_adder=kogge_stone)[:width]
    for _ in range(popcount_tree_depth(n)):
        out = stage(out)
    return out


TREES: dict[str, PopcountTree] = {"adder_tree": adder_tree, "wallace": wallace}
