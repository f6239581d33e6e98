"""The schedule ``simulate`` runs for a layer, as the RTL checks need it.

``bnnarch rtl --verify`` compares the RTL's cycles with the simulator's, so it
takes the schedule ``bnnarch.array.simulate`` reports, built the same way:

- the mapper's tiling for the layer *with the feature maps the design's hold
  region keeps on chip* (``bnnarch.array.residency.hold_plan``): the hold region
  shrinks the staging capacity and removes DRAM traffic, so the mapper may
  pick other tiles. The RTL runs whatever tiles it is given; it has no hold
  region itself, and DRAM is outside the compute-cycle check;
- the computation-reuse plug-in (``bnnarch.array.reuse``): the RTL does not implement
  reuse schemes, so a layer whose schedule the hook changes is refused with a
  message saying so, never compared with a schedule the RTL does not run.

A mapper failure is an ``RtlError`` naming the layer: there is no fallback to
another schedule.
"""

from __future__ import annotations

from bnnarch.array.energy import compute_layer_energy
from bnnarch.array.mapper import map_layer
from bnnarch.array.residency import hold_plan
from bnnarch.array.reuse import hook as reuse
from bnnarch.array.schedule import Schedule
from bnnarch.array.simulate import output_bits
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import BnnarchError, RtlError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import Layer

NOT_HELD = (False, False)


def held_maps(graph: WorkloadGraph, spec: ArraySpec) -> dict[str, tuple[bool, bool]]:
    """Per compute layer of ``graph`` (at the precision it carries), whether its
    input and its output stay on chip, exactly as ``simulate`` decides: the
    input counts as held when every input is."""
    kept = hold_plan(graph, spec, output_bits(graph, spec))
    return {lay.name: (bool(lay.inputs) and all(s in kept for s in lay.inputs), lay.name in kept)
            for lay in graph.compute_layers()}


def simulated_schedule(layer: Layer, spec: ArraySpec,
                       held: tuple[bool, bool] = NOT_HELD) -> Schedule:
    """The layer's schedule as ``simulate`` runs it (see module docstring);
    ``RtlError`` when the mapper fails or a reuse scheme changes the schedule."""
    try:
        s = map_layer(layer, spec, held)
    except BnnarchError as e:
        raise RtlError(f"layer {layer.name!r}: the simulator cannot map it, so there is no "
                       f"schedule to verify against ({e})") from None
    except Exception as e:
        raise RtlError(f"layer {layer.name!r}: the simulator's mapper failed "
                       f"({type(e).__name__}: {e}); nothing to verify against") from e
    energy = compute_layer_energy(s, spec, sum(s.load_bits) + s.store_bits)  # as simulate
    out = reuse.apply(layer, spec, s, energy)
    reused = out.schedule
    if reused is not s:
        scheme = out.report.scheme if out.report else "?"
        raise RtlError(
            f"layer {layer.name!r}: simulate runs it with computation reuse ({scheme}: "
            f"{reused.compute_cycles} instead of {s.compute_cycles} compute cycles); the RTL "
            f"does not implement reuse schemes (reuse.{scheme}), so its cycles cannot be "
            "checked against simulate's: verify the design with reuse disabled")
    return s
