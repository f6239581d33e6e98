"""bnnarch extract MODEL [--checkpoint C.pt] [--small] --out workloads/NAME.json"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="torch model -> workload JSON",
                       description="Trace a zoo model with torch.fx and write its workload graph. "
                                   "With --checkpoint, the trained small model is used and "
                                   "per-layer statistics (kernel repetition, window similarity), "
                                   "packed binary weights and integer thresholds are added.")
    p.add_argument("model", help="zoo model name")
    p.add_argument("--checkpoint", "-c", help="trained checkpoint (.pt) of MODEL")
    p.add_argument("--small", action="store_true", help="the small (digits) variant, shapes only")
    p.add_argument("--width", type=int, help="width of the small variant (shapes only)")
    p.add_argument("--out", "-o", required=True, help="workload JSON to write")
    p.add_argument("--name", help="workload name (default: the output file's stem)")
    p.add_argument("--images", type=int, default=256, help="test images for activation statistics")
    p.add_argument("--no-weights", action="store_true", help="omit packed weights and thresholds")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from bnnarch.errors import ModelError
    from bnnarch.fsio import check_writable
    from bnnarch.nn.zoo import build_model, entry, input_shape
    from bnnarch.workload.io import save_workload

    check_writable(args.out, "--out file")
    torch.set_num_threads(max(1, args.threads))
    e = entry(args.model)
    out = Path(args.out)
    name = args.name or out.stem
    if args.checkpoint:
        from bnnarch.nn.annotate import extract_checkpoint
        from bnnarch.nn.checkpoint import load_checkpoint

        if args.images <= 0:
            raise ModelError(f"--images must be > 0, got {args.images}")
        ck = load_checkpoint(args.checkpoint)
        if ck.model_name != args.model:
            raise ModelError(f"{args.checkpoint}: checkpoint holds model {ck.model_name!r}, "
                             f"not {args.model!r}")
        graph = extract_checkpoint(ck, name=name, images=args.images, packed=not args.no_weights)
    else:
        from bnnarch.workload.extract import extract

        kwargs: dict = {"small": True} if args.small else {}
        if args.width:
            if not args.small:
                raise ModelError("--width applies to the small variant only (add --small)")
            kwargs["width"] = args.width
        model = build_model(args.model, **kwargs)
        size = "small" if args.small else "published"
        graph = extract(model, input_shape(args.model, args.small), name=name,
                        meta={"model": args.model, "source": e.source, "task": e.task, "size": size})
    save_workload(graph, out)
    n_stats = sum(1 for l in graph.layers if l.stats is not None)
    print(f"wrote {out}: {len(graph)} layers, {len(graph.compute_layers())} compute, "
          f"{graph.macs:,} MACs" + (f", statistics on {n_stats} layers" if n_stats else ""))
    return 0
