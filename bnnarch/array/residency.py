"""Which feature maps stay on chip between layers.

With ``buffers.activations.hold_kib`` > 0, that part of the activation buffer
keeps whole feature maps between their producer and their last consumer (the
rest of the buffer stages DRAM tiles as before). Layers run in graph order;
each layer's output, in production order, is held when it fits beside the maps
already held over its whole lifetime (first fit, never evicted). The network
input arrives from DRAM and the network outputs leave through it.

A compute layer whose inputs are all held reads its activations on chip (no
DRAM loads for them, no staging-tile limit on their size); a held output is
written to the activation buffer instead of DRAM. Post-processing layers move
only what is not held through DRAM.
"""

from __future__ import annotations

from bnnarch.array.spec import ArraySpec
from bnnarch.workload.graph import WorkloadGraph


def hold_plan(graph: WorkloadGraph, spec: ArraySpec, bits: dict[str, int]) -> frozenset[str]:
    """Names of the layers whose outputs are held (``bits``: bits per element
    of each layer's output as stored)."""
    budget = spec.buffers.activations.hold_bits
    if budget <= 0:
        return frozenset()
    layers = list(graph)
    last: dict[str, int] = {}
    for i, layer in enumerate(layers):
        for src in layer.inputs:
            last[src] = i
    usage = [0] * len(layers)
    held: set[str] = set()
    for i, layer in enumerate(layers):
        end = last.get(layer.name)
        if end is None:
            continue  # a network output: it leaves the chip
        size = layer.out_elems * bits[layer.name]
        if all(usage[j] + size <= budget for j in range(i, end + 1)):
            held.add(layer.name)
            for j in range(i, end + 1):
                usage[j] += size
    return frozenset(held)
