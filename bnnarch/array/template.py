"""The ``array`` template as a plug-in of bnnarch.template."""

from __future__ import annotations

from bnnarch.array.mapper import map_layer
from bnnarch.array.simulate import simulate
from bnnarch.array.spec import ArraySpec
from bnnarch.errors import FieldError, MappingError
from bnnarch.result import SimResult
from bnnarch.template import SimOptions
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap


class ArrayTemplate:
    name = "array"
    spec_model = ArraySpec
    verb = "map"

    def simulate(self, spec: ArraySpec, graph: WorkloadGraph, precision: PrecisionMap | None,
                 *, options: SimOptions) -> SimResult:
        return simulate(spec, graph, precision, engine=options.engine,
                        array_logic_mm2=options.array_logic_mm2)

    def workload_errors(self, spec: ArraySpec, graph: WorkloadGraph) -> list[FieldError]:
        return []  # every array design runs every layer type; mapping is check_maps

    def check_maps(self, spec: ArraySpec, graph: WorkloadGraph) -> list[str]:
        problems = []
        for layer in graph.compute_layers():
            try:
                map_layer(layer, spec)
            except MappingError as e:
                problems.append(str(e))
        return problems


TEMPLATE = ArrayTemplate()
