"""ONNX / QONNX file -> WorkloadGraph (``bnnarch import``): the front.

Stages: ``onnx_graph.read_view`` (load, check, shapes, constants) ->
``onnx_build.build`` (layers, names, bits; see its docstring for the op
mapping) -> precision map -> ``onnx_fold.annotate_weights`` (packed weights,
thresholds, kernel statistics of binary layers) -> ``onnx_run`` (activation
statistics measured with onnxruntime on ``images``).

No torch here: onnx, onnxruntime and numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bnnarch.errors import WorkloadError
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import (
    PrecisionMap,
    apply_precision,
    load_precision_map,
    parse_precision_map,
)
from bnnarch.workload.onnx_build import build
from bnnarch.workload.onnx_fold import annotate_weights
from bnnarch.workload.onnx_graph import read_view
from bnnarch.workload.onnx_run import annotate_activations, load_images


def resolve_precision(precision: str | Path | Mapping[str, Any] | None, graph: WorkloadGraph
                      ) -> PrecisionMap | None:
    if precision is None:
        return None
    if isinstance(precision, Mapping):
        return parse_precision_map(dict(precision), "<precision>", graph)
    return load_precision_map(precision, graph)


def import_onnx(path: str | Path, *, name: str | None = None,
                precision: str | Path | Mapping[str, Any] | None = None,
                images: np.ndarray | str | Path | None = None) -> WorkloadGraph:
    """Read an ONNX / QONNX file into a WorkloadGraph.

    QONNX: bits from the quantizers; 1-bit x 1-bit layers get packed weights
    and integer thresholds (batch-norm and scaling folded, sign flip for a
    negative scale), binary convs their kernel statistics. Plain ONNX: needs
    ``precision`` (a precision map: YAML path or mapping). ``images``
    (N x C x H x W array or .npy path): run with onnxruntime to measure
    activation statistics (window similarity, reuse counts) of binary convs.
    """
    view = read_view(path)
    graph, imp = build(view, name or Path(path).stem)
    pmap = resolve_precision(precision, graph)
    if not view.has_quant and pmap is None:
        names = ", ".join(la.name for la in graph.compute_layers())
        raise WorkloadError(
            f"{path}: a float ONNX model (no QONNX Quant / BipolarQuant / Trunc / "
            "MultiThreshold node, no QuantizeLinear): its bits are unknown; pass --precision "
            f"P.yaml giving w_bits/a_bits of its layers ({names}), or export a QONNX model "
            "(brevitas.export.export_qonnx)")
    bad = [msg for lname, msg in imp.bad_bits.items() if not pmap or lname not in pmap]
    if bad:
        raise WorkloadError("; ".join(bad))
    if pmap:
        graph = apply_precision(graph, pmap)
        graph = replace(graph, meta=tuple(sorted({**dict(graph.meta),
                                                  "precision_map": str(precision)}.items())))
    if view.has_quant:
        graph = annotate_weights(view, graph, imp)
    if images is not None:
        graph = annotate_activations(view, graph, imp, load_images(images, graph))
    return graph


__all__ = ["import_onnx", "resolve_precision"]
