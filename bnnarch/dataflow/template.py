"""The ``dataflow`` template as a plug-in of bnnarch.template."""

from __future__ import annotations

from bnnarch.dataflow.fold import fold
from bnnarch.dataflow.plan import layers_of
from bnnarch.dataflow.simulate import simulate_dataflow
from bnnarch.dataflow.spec import DataflowSpec, workload_errors
from bnnarch.errors import BnnarchError, FieldError
from bnnarch.result import SimResult
from bnnarch.template import SimOptions
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import PrecisionMap


class DataflowTemplate:
    name = "dataflow"
    spec_model = DataflowSpec
    verb = "fold"

    def simulate(self, spec: DataflowSpec, graph: WorkloadGraph,
                 precision: PrecisionMap | None, *, options: SimOptions) -> SimResult:
        return simulate_dataflow(spec, graph, precision)

    def workload_errors(self, spec: DataflowSpec, graph: WorkloadGraph) -> list[FieldError]:
        return workload_errors(spec, graph)

    def check_maps(self, spec: DataflowSpec, graph: WorkloadGraph) -> list[str]:
        try:
            layers_of(graph)
            fold(spec, graph)
        except BnnarchError as e:
            return [str(e)]
        return []


TEMPLATE = DataflowTemplate()
