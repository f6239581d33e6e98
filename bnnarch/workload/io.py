"""Versioned workload JSON (``format_version``) and precision maps (YAML).

Format v1::

    {"format_version": 1, "name": str, "input_shape": [C, H, W], "meta": {...},
     "layers": [{"name", "op", "inputs", "in_shape", "out_shape", "kernel",
                 "stride", "padding", "dilation", "groups", "w_bits", "a_bits",
                 "macs", "binary_ops", "weight_bits",            # derived, for readers
                 "stats": {"kernel": {...}, "window": {...}},   # optional
                 "packed_weights": hex, "thresholds": [...],   # optional
                 "foldable": false, "fold_reason": str,        # optional
                 "params": {...}}]}                             # optional, LayerParams

``params`` vectors (weight, bias, input_shift, mean, var, gamma, beta) are hex
strings of little-endian float32 values (8 hex digits each); ``weight_scale``
(derived from the weights, e.g. mean|W|) of float64 values (16 digits);
``eps`` a number, ``flip`` a list of channels, ``act_scale`` a name,
``input_quant`` [scale, zero_point, bits, signed, narrow].

``macs``/``binary_ops``/``weight_bits`` are written for other tools to read;
on load they are recomputed and checked against the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bnnarch.errors import FieldError, SpecError, WorkloadError
from bnnarch.fsio import atomic_write_text, prefixed, read_json, read_yaml
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.layer import (
    FP_BITS,
    MAX_DIM,
    QUANT_BITS,
    KernelStats,
    Layer,
    LayerParams,
    LayerStats,
    ReuseStats,
    WindowStats,
    check_layer,
)

FORMAT_VERSION = 1
_PAIR_KEYS = ("kernel", "stride", "padding", "dilation")


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": layer.name,
        "op": layer.op,
        "inputs": list(layer.inputs),
        "in_shape": list(layer.in_shape),
        "out_shape": list(layer.out_shape),
        "kernel": list(layer.kernel),
        "stride": list(layer.stride),
        "padding": list(layer.padding),
        "dilation": list(layer.dilation),
        "groups": layer.groups,
        "w_bits": layer.w_bits,
        "a_bits": layer.a_bits,
        "macs": layer.macs,
        "binary_ops": layer.binary_ops,
        "weight_bits": layer.weight_bits if layer.is_compute else 0,
    }
    if layer.stats is not None:
        s: dict[str, Any] = {}
        if layer.stats.kernel is not None:
            k = layer.stats.kernel
            s["kernel"] = {
                "kernels": k.kernels,
                "distinct": k.distinct,
                "distinct_signfolded": k.distinct_signfolded,
            }
        if layer.stats.window is not None:
            w = layer.stats.window
            s["window"] = {
                "window_bits": w.window_bits,
                "pairs": w.pairs,
                "identical_fraction": w.identical_fraction,
                "diff_hist": list(w.diff_hist),
            }
        if layer.stats.extra:
            s["extra"] = dict(layer.stats.extra)
        if layer.stats.reuse is not None:
            r = layer.stats.reuse
            s["reuse"] = {
                "frames": r.frames,
                "rep_slices": list(r.rep_slices),
                "rep_slices_signfolded": list(r.rep_slices_signfolded),
                "shared_results": r.shared_results,
                "shared_results_signfolded": r.shared_results_signfolded,
                "windows": r.windows,
                "diff_hist": [list(x) for x in r.diff_hist],
                "border_windows": r.border_windows,
            }
        d["stats"] = s
    if layer.packed_weights is not None:
        d["packed_weights"] = layer.packed_weights
    if layer.thresholds is not None:
        d["thresholds"] = list(layer.thresholds)
    if layer.fold_reason is not None:
        d["foldable"] = False
        d["fold_reason"] = layer.fold_reason
    if layer.params is not None:
        d["params"] = params_to_dict(layer.params)
    return d


_PARAM_DTYPE = {"weight_scale": "<f8"}  # derived (mean|W|): kept at double precision


def _hex(values: tuple[float, ...], dtype: str) -> str:
    """Values as hex of their little-endian float32/float64 bytes (exact)."""
    return np.asarray(values, dtype=dtype).tobytes().hex()


def _from_hex(s: Any, dtype: str, where: str) -> tuple[float, ...]:
    digits = 2 * np.dtype(dtype).itemsize
    if not isinstance(s, str) or len(s) % digits:
        raise WorkloadError(f"{where}: expected hex of little-endian float{4 * digits} values "
                            f"({digits} hex digits each)")
    try:
        return tuple(float(v) for v in np.frombuffer(bytes.fromhex(s), dtype=dtype))
    except ValueError:
        raise WorkloadError(f"{where}: not a hex string") from None


_PARAM_VECTORS = ("weight", "weight_scale", "bias", "input_shift", "mean", "var", "gamma", "beta")


def params_to_dict(p: LayerParams) -> dict[str, Any]:
    d: dict[str, Any] = {k: _hex(getattr(p, k), _PARAM_DTYPE.get(k, "<f4"))
                         for k in _PARAM_VECTORS if getattr(p, k) is not None}
    if p.act_scale is not None:
        d["act_scale"] = p.act_scale
    if p.flip:
        d["flip"] = list(p.flip)
    if p.eps is not None:
        d["eps"] = p.eps
    if p.input_quant is not None:
        d["input_quant"] = list(p.input_quant)
    return d


def params_from_dict(d: Any, where: str) -> LayerParams | None:
    """Optional ``params`` (absent in older files: None)."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise WorkloadError(f"{where}.params: expected an object")
    unknown = sorted(set(d) - {*_PARAM_VECTORS, "act_scale", "flip", "eps", "input_quant"})
    if unknown:
        raise WorkloadError(f"{where}.params: unknown key(s) {', '.join(unknown)}")
    vec: dict[str, tuple[float, ...]] = {}
    for k in _PARAM_VECTORS:
        if k in d:
            vec[k] = _from_hex(d[k], _PARAM_DTYPE.get(k, "<f4"), f"{where}.params.{k}")
    flip = d.get("flip", [])
    if not isinstance(flip, list) or not all(isinstance(c, int) for c in flip):
        raise WorkloadError(f"{where}.params.flip: expected a list of channel indices")
    eps = d.get("eps")
    if eps is not None and (not isinstance(eps, int | float) or eps < 0):
        raise WorkloadError(f"{where}.params.eps: expected a number >= 0, got {eps!r}")
    act = d.get("act_scale")
    if act is not None and not isinstance(act, str):
        raise WorkloadError(f"{where}.params.act_scale: expected a string")
    iq = d.get("input_quant")
    if iq is not None and (not isinstance(iq, list) or len(iq) != 5
                           or not all(isinstance(v, int | float) for v in iq)):
        raise WorkloadError(f"{where}.params.input_quant: expected [scale, zero_point, bits, "
                            "signed, narrow]")
    quant = (float(iq[0]), float(iq[1]), int(iq[2]), int(iq[3]), int(iq[4])) if iq else None
    return LayerParams(**vec, act_scale=act, flip=tuple(flip),  # type: ignore[arg-type]
                       eps=float(eps) if eps is not None else None, input_quant=quant)


def graph_to_dict(graph: WorkloadGraph) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "name": graph.name,
        "input_shape": list(graph.input_shape),
        "meta": dict(graph.meta),
        "totals": {"layers": len(graph), "macs": graph.macs, "weight_bits": graph.weight_bits},
        "layers": [layer_to_dict(layer) for layer in graph.layers],
    }


def _pair(v: Any, where: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return (v[0], v[1])
    raise WorkloadError(f"{where}: expected an int or [int, int], got {v!r}")


def _stats_from(d: dict[str, Any] | None, where: str) -> LayerStats | None:
    if not d:
        return None
    try:
        k = d.get("kernel")
        w = d.get("window")
        return LayerStats(
            kernel=KernelStats(int(k["kernels"]), int(k["distinct"]), int(k["distinct_signfolded"]))
            if k
            else None,
            window=WindowStats(
                int(w["window_bits"]),
                int(w["pairs"]),
                float(w["identical_fraction"]),
                tuple(float(x) for x in w["diff_hist"]),
            )
            if w
            else None,
            extra=tuple(sorted((str(a), float(b)) for a, b in (d.get("extra") or {}).items())),
            reuse=_reuse_stats_from(d.get("reuse")),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        raise WorkloadError(f"{where}.stats: malformed statistics "
                            f"({type(e).__name__}: {e})") from None


def _reuse_stats_from(r: dict[str, Any] | None) -> ReuseStats | None:
    """Optional ``stats.reuse`` (absent in older files: None)."""
    if not r:
        return None
    return ReuseStats(
        frames=int(r["frames"]),
        rep_slices=tuple(int(x) for x in r["rep_slices"]),
        rep_slices_signfolded=tuple(int(x) for x in r["rep_slices_signfolded"]),
        shared_results=int(r["shared_results"]),
        shared_results_signfolded=int(r["shared_results_signfolded"]),
        windows=int(r["windows"]),
        diff_hist=tuple((int(a), int(b)) for a, b in r["diff_hist"]),
        border_windows=int(r.get("border_windows", 0)),
    )


def layer_from_dict(d: dict[str, Any], where: str) -> Layer:
    if not isinstance(d, dict):
        raise WorkloadError(f"{where}: expected an object")
    allowed = {
        "name", "op", "inputs", "in_shape", "out_shape", "groups", "w_bits", "a_bits",
        "macs", "binary_ops", "weight_bits", "stats", "packed_weights", "thresholds",
        "params", "foldable", "fold_reason", *_PAIR_KEYS,
    }
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise WorkloadError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in ("name", "op", "in_shape", "out_shape"):
        if key not in d:
            raise WorkloadError(f"{where}: missing required key {key!r}")
    name = d["name"]
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{where}: name must be a non-empty string, got {name!r}")
    where = f"{where} ({name})"
    inputs = d.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise WorkloadError(f"{where}: inputs must be a list of layer names, got {inputs!r}")
    for key in ("groups", "w_bits", "a_bits"):
        if key in d and (not isinstance(d[key], int) or isinstance(d[key], bool)):
            raise WorkloadError(f"{where}: {key} must be an integer, got {d[key]!r}")
    try:
        layer = Layer(
            name=name,
            op=d["op"],
            inputs=tuple(inputs),
            in_shape=tuple(d["in_shape"]),  # type: ignore[arg-type]
            out_shape=tuple(d["out_shape"]),  # type: ignore[arg-type]
            groups=int(d.get("groups", 1)),
            w_bits=int(d.get("w_bits", 1)),
            a_bits=int(d.get("a_bits", 1)),
            stats=_stats_from(d.get("stats"), where),
            packed_weights=d.get("packed_weights"),
            thresholds=tuple(int(t) for t in d["thresholds"]) if d.get("thresholds") else None,
            params=params_from_dict(d.get("params"), where),
            fold_reason=_fold_reason(d, where),
            **{k: _pair(d[k], f"{where}.{k}") for k in _PAIR_KEYS if k in d},
        )
    except (TypeError, ValueError, OverflowError) as e:
        raise WorkloadError(f"{where}: {e}") from None
    problems = check_layer(layer)
    if problems:
        raise WorkloadError(f"{where}: layer {layer.name!r}: " + "; ".join(problems))
    for key in ("macs", "binary_ops"):
        if key in d and d[key] != getattr(layer, key):
            raise WorkloadError(
                f"{where}: {key}={d[key]} in file but shapes give {getattr(layer, key)}"
            )
    return layer


def _fold_reason(d: dict[str, Any], where: str) -> str | None:
    """``foldable: false`` + ``fold_reason``; thresholds mean foldable."""
    foldable = d.get("foldable", True)
    if not isinstance(foldable, bool):
        raise WorkloadError(f"{where}.foldable: expected true or false, got {foldable!r}")
    if foldable:
        if "fold_reason" in d:
            raise WorkloadError(f"{where}: fold_reason given but foldable is not false")
        return None
    if d.get("thresholds"):
        raise WorkloadError(f"{where}: a layer with thresholds cannot be foldable: false")
    reason = d.get("fold_reason")
    if not isinstance(reason, str) or not reason:
        raise WorkloadError(f"{where}: foldable: false needs a fold_reason (why BN + sign "
                            "cannot become integer thresholds)")
    return reason


def graph_from_dict(d: dict[str, Any], source: str = "<workload>") -> WorkloadGraph:
    if not isinstance(d, dict):
        raise WorkloadError(f"{source}: top level must be an object")
    ver = d.get("format_version")
    if ver != FORMAT_VERSION:
        raise WorkloadError(
            f"{source}: format_version {ver!r} is not supported (this bnnarch reads {FORMAT_VERSION})"
        )
    layers_raw = d.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise WorkloadError(f"{source}: 'layers' must be a non-empty list")
    layers = tuple(layer_from_dict(x, f"{source}: layers[{i}]") for i, x in enumerate(layers_raw))
    shape = d.get("input_shape", list(layers[0].in_shape))
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_DIM
                       for v in shape)):
        raise WorkloadError(f"{source}: input_shape must be [C, H, W] of integers in "
                            f"[1, {MAX_DIM:,}], got {shape!r}")
    shape = tuple(shape)
    meta_raw = d.get("meta") or {}
    if not isinstance(meta_raw, dict):
        raise WorkloadError(f"{source}: meta must be an object, got {type(meta_raw).__name__}")
    meta = tuple(sorted((str(k), str(v)) for k, v in meta_raw.items()))
    if not isinstance(d.get("name", ""), str):
        raise WorkloadError(f"{source}: name must be a string, got {d['name']!r}")
    try:
        return WorkloadGraph(str(d.get("name", Path(source).stem)), shape, layers, meta)
    except WorkloadError as e:
        raise WorkloadError(f"{source}: {e}") from None


def save_workload(graph: WorkloadGraph, path: str | Path) -> Path:
    """Write atomically (temp file + rename): never a half-written workload."""
    return atomic_write_text(path, json.dumps(graph_to_dict(graph), indent=1) + "\n")


def load_workload(path: str | Path) -> WorkloadGraph:
    """Load a workload JSON, or a SCALE-Sim topology CSV (``.csv``)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        from bnnarch.workload.scalesim import load_topology_csv

        return load_topology_csv(path)
    data = read_json(path, "workload", error=prefixed(WorkloadError))
    return graph_from_dict(data, str(path))


# ---- precision maps ---------------------------------------------------------

PrecisionMap = dict[str, tuple[int, int]]


def parse_precision_map(data: Any, source: str, graph: WorkloadGraph | None = None) -> PrecisionMap:
    """YAML form: ``{layers: {name: {w_bits: 2, a_bits: 2}, ...}}`` or the
    short form ``{name: [w, a]}``. Every error is reported at once."""
    errors: list[FieldError] = []
    if isinstance(data, dict) and "layers" in data and isinstance(data["layers"], dict):
        extra = sorted(set(data) - {"layers", "name", "description"})
        for k in extra:
            errors.append(FieldError(k, "unknown key (expected 'layers')"))
        data = data["layers"]
    if not isinstance(data, dict):
        raise SpecError(source, [FieldError("", "a precision map must be a mapping layer -> bits")])
    out: PrecisionMap = {}
    allowed = set(QUANT_BITS) | {FP_BITS}
    for name, v in data.items():
        path = f"layers.{name}"
        if isinstance(v, dict):
            unknown = sorted(set(v) - {"w_bits", "a_bits"})
            for k in unknown:
                errors.append(FieldError(f"{path}.{k}", "unknown key (expected w_bits, a_bits)"))
            w, a = v.get("w_bits"), v.get("a_bits")
        elif isinstance(v, list | tuple) and len(v) == 2:
            w, a = v
        else:
            errors.append(FieldError(path, f"expected {{w_bits, a_bits}} or [w, a], got {v!r}"))
            continue
        ok = True
        for key, b in (("w_bits", w), ("a_bits", a)):
            if not isinstance(b, int) or isinstance(b, bool) or b not in allowed:
                errors.append(FieldError(f"{path}.{key}", f"must be one of 1, 2, 4, 8, 32; got {b!r}"))
                ok = False
        if graph is not None and name not in graph.names():
            errors.append(FieldError(path, f"no layer {name!r} in workload {graph.name!r}"))
            ok = False
        elif graph is not None and not graph[name].is_compute:
            errors.append(FieldError(path, f"layer {name!r} is a {graph[name].op}, it has no bit-widths"))
            ok = False
        if ok:
            out[str(name)] = (int(w), int(a))  # type: ignore[arg-type]
    if errors:
        raise SpecError(source, errors)
    return out


def load_precision_map(path: str | Path, graph: WorkloadGraph | None = None) -> PrecisionMap:
    data = read_yaml(path, "precision map")
    return parse_precision_map(data, str(path), graph)


def save_precision_map(pmap: PrecisionMap, path: str | Path) -> Path:
    body = {"layers": {k: {"w_bits": w, "a_bits": a} for k, (w, a) in pmap.items()}}
    return atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))


def apply_precision(graph: WorkloadGraph, pmap: PrecisionMap) -> WorkloadGraph:
    if not pmap:
        return graph
    for name in pmap:
        graph[name]  # raises WorkloadError naming the layer
    layers = tuple(
        layer.with_bits(*pmap[layer.name]) if layer.name in pmap else layer for layer in graph.layers
    )
    return graph.with_layers(layers)
