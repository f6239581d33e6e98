"""bnnarch import MODEL.onnx --out W.json [--name N] [--precision P.yaml] [--images X.npy]"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="ONNX / QONNX model -> workload JSON",
        description="Read an ONNX file (QONNX from Brevitas / FINN / hls4ml, or plain ONNX with "
                    "a precision map) and write its workload graph: shapes, bits from the "
                    "QONNX quantizers, packed weights and integer thresholds of binary layers; "
                    "with --images, activation statistics measured with onnxruntime.")
    p.add_argument("model", help="ONNX / QONNX file")
    p.add_argument("--out", "-o", required=True, help="workload JSON to write")
    p.add_argument("--name", help="workload name (default: the output file's stem)")
    p.add_argument("--precision", "-p", help="precision map YAML (layer -> w_bits, a_bits); "
                   "required for a float model")
    p.add_argument("--images", help=".npy array of N input images (N x C x H x W) for "
                   "activation statistics")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bnnarch.fsio import check_writable
    from bnnarch.workload.io import save_workload
    from bnnarch.workload.onnx_import import import_onnx

    out = check_writable(args.out, "--out file")
    graph = import_onnx(args.model, name=args.name or out.stem, precision=args.precision,
                        images=args.images)
    save_workload(graph, out)
    binary = [la for la in graph.compute_layers() if la.is_binary]
    thr = sum(1 for la in binary if la.thresholds is not None)
    print(f"wrote {out}: {len(graph)} layers, {len(graph.compute_layers())} compute "
          f"({len(binary)} binary, {thr} with thresholds), {graph.macs:,} MACs")
    return 0
