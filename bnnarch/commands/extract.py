"""bnnarch extract MODEL [--checkpoint C.pt] [--small] --out workloads/NAME.json
bnnarch extract --module package.module:factory --input-shape N,C,H,W --out W.json"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from bnnarch.errors import ModelError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="torch model -> workload JSON",
                       description="Trace a zoo model with torch.fx and write its workload graph. "
                                   "With --checkpoint, the trained small model is used and "
                                   "per-layer statistics (kernel repetition, window similarity), "
                                   "packed binary weights and integer thresholds are added.")
    p.add_argument("model", nargs="?", help="zoo model name (or use --module)")
    p.add_argument("--module", "-m", help="any torch module: package.module:factory "
                   "(bnnarch.nn.extract_any; Brevitas layers and torch.sign binarizers recognised)")
    p.add_argument("--input-shape", help="with --module: example input N,C,H,W or N,F")
    p.add_argument("--stats-inputs", help="with --module: .npy of real inputs for statistics")
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
    out = Path(args.out)
    name = args.name or out.stem
    if (args.model is None) == (getattr(args, "module", None) is None):
        raise ModelError("give a zoo MODEL or --module package.module:factory (one of them)")
    if args.model is None:
        return _run_module(args, out, name)
    e = entry(args.model)
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
        from bnnarch.nn.extract import extract

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
    n_stats = sum(1 for ly in graph.layers if ly.stats is not None)
    print(f"wrote {out}: {len(graph)} layers, {len(graph.compute_layers())} compute, "
          f"{graph.macs:,} MACs" + (f", statistics on {n_stats} layers" if n_stats else ""))
    return 0


def _run_module(args: argparse.Namespace, out: Path, name: str) -> int:
    import numpy as np
    import torch

    from bnnarch.nn.extract_any import extract
    from bnnarch.workload.io import save_workload

    if not args.input_shape:
        raise ModelError("--module needs --input-shape N,C,H,W (or N,F)")
    shape = parse_shape(args.input_shape)
    model = load_module(args.module)
    stats = None
    if args.stats_inputs:
        try:
            stats = torch.from_numpy(np.load(args.stats_inputs).astype(np.float32))
        except (OSError, ValueError) as e:
            raise ModelError(f"--stats-inputs {args.stats_inputs}: not a readable .npy ({e})") from None
        if tuple(stats.shape[1:]) != shape[1:]:
            raise ModelError(f"--stats-inputs {args.stats_inputs}: inputs of shape "
                             f"{list(stats.shape[1:])}, --input-shape says {list(shape[1:])}")
    # a real-valued example (zeros would meet torch.sign(0) = 0): seeded, so reproducible
    example = stats[:shape[0]] if stats is not None else \
        torch.randn(shape, generator=torch.Generator().manual_seed(0))
    graph = extract(model, example, name=name, stats_inputs=stats)
    save_workload(graph, out)
    print(f"wrote {out}: {len(graph)} layers, {len(graph.compute_layers())} compute, "
          f"{graph.macs:,} MACs")
    return 0


def load_module(spec: str) -> Any:
    """``package.module:factory`` -> the module that ``factory()`` returns
    (``factory`` may also be a ``torch.nn.Module`` instance or class)."""
    import torch

    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ModelError(f"--module {spec!r}: expected package.module:factory")
    try:
        pkg = importlib.import_module(mod_name)
    except ImportError as e:
        raise ModelError(f"--module {spec!r}: cannot import {mod_name!r} ({e})") from None
    obj = getattr(pkg, attr, None)
    if obj is None:
        raise ModelError(f"--module {spec!r}: {mod_name!r} has no attribute {attr!r}")
    made = obj if isinstance(obj, torch.nn.Module) else obj() if callable(obj) else obj
    if not isinstance(made, torch.nn.Module):
        raise ModelError(f"--module {spec!r}: {attr} gave a {type(made).__name__}, "
                         "not a torch.nn.Module")
    return made


def parse_shape(text: str) -> tuple[int, ...]:
    """``1,1,16,16`` -> (1, 1, 16, 16): a batch (N, C, H, W) or (N, F)."""
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) not in (2, 4) or min(shape, default=0) <= 0:
        raise ModelError(f"--input-shape {text!r}: expected N,C,H,W or N,F (positive integers)")
    return shape
