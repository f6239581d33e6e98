"""bnnarch train MODEL --task classify|detect|segment --out checkpoints/NAME.pt
[--epochs N] [--seed S] [--width W] [--switchable F] [--fp-twin] [--threads T]"""

from __future__ import annotations

import argparse
import time

DEFAULT_EPOCHS = {"classify": 30, "detect": 30, "segment": 30}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a zoo BNN (small size) on the digit tasks",
                       description="Train the small variant of a zoo model on sklearn digits "
                                   "(classify) or digit canvases (detect/segment) and write a "
                                   "checkpoint that `bnnarch extract` can read.")
    p.add_argument("model", help="zoo model name (e.g. bireal18, centernet, unet)")
    p.add_argument("--task", choices=("classify", "detect", "segment"),
                   help="task (default: the model's own)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--epochs", type=int, help="epochs (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, help="base channel width of the small model")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--switchable", type=float, default=0.0, metavar="FRAC",
                   help="last FRAC of the epochs draw random per-layer bits in {1,2,4,8} on half "
                        "the steps (for precision search); 0 = plain binary training")
    p.add_argument("--fp-twin", action="store_true",
                   help="also train a full-precision twin and record its metric")
    p.add_argument("--twin-epochs", type=int, help="epochs of the full-precision twin (default: --epochs)")
    p.add_argument("--init", metavar="CKPT",
                   help="start from this checkpoint's weights (same model and width); its "
                        "full-precision twin metric is carried over unless --fp-twin is given")
    p.add_argument("--twin-only", action="store_true",
                   help="with --init: only train the full-precision twin and write the --init "
                        "checkpoint again (same weights) with the twin's metric")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace, task: str, epochs: int) -> str:
    parts = ["bnnarch train", args.model, "--task", task, "--out", args.out, "--epochs", str(epochs),
             "--seed", str(args.seed)]
    if args.width:
        parts += ["--width", str(args.width)]
    if args.lr != 2e-3:
        parts += ["--lr", str(args.lr)]
    if args.batch != 64:
        parts += ["--batch", str(args.batch)]
    if args.switchable:
        parts += ["--switchable", str(args.switchable)]
    if args.fp_twin:
        parts.append("--fp-twin")
    if args.twin_epochs:
        parts += ["--twin-epochs", str(args.twin_epochs)]
    if args.init:
        parts += ["--init", args.init]
    if args.twin_only:
        parts.append("--twin-only")
    return " ".join(parts)


def _checked_task(args: argparse.Namespace, model_task: str) -> str:
    """The task to train (the model's own), after checking the numeric options."""
    from bnnarch.errors import ModelError

    task = args.task or model_task
    if task != model_task:
        raise ModelError(f"model {args.model!r} is a {model_task} model; --task {task} does not "
                         "apply")
    if args.epochs is not None and args.epochs <= 0:
        raise ModelError(f"--epochs must be > 0, got {args.epochs}")
    if not 0.0 <= args.switchable <= 1.0:
        raise ModelError(f"--switchable must be in [0, 1], got {args.switchable}")
    return str(task)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bnnarch.errors import ModelError
    from bnnarch.fsio import check_writable
    from bnnarch.nn.checkpoint import Checkpoint, save_checkpoint
    from bnnarch.nn.layers import make_fp_twin
    from bnnarch.nn.train import fit, precision_metrics, task_data
    from bnnarch.nn.zoo import build_model, entry, input_shape

    check_writable(args.out, "--out file")

    torch.set_num_threads(max(1, args.threads))
    task = _checked_task(args, entry(args.model).task)
    epochs = args.epochs or DEFAULT_EPOCHS[task]
    kwargs: dict = {"small": True}
    if args.width:
        kwargs["width"] = args.width
    data = task_data(task, input_shape(args.model, small=True)[-1])
    metric_name = {"classify": "accuracy", "detect": "mAP@0.5", "segment": "mIoU"}[task]

    def run_fit(model: torch.nn.Module, label: str, n_epochs: int) -> float:
        import sys

        with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
                      TimeRemainingColumn(), transient=False) as bar:
            tid = bar.add_task(label, total=1, loss=0.0)

            def cb(step: int, total: int, loss: float) -> None:
                bar.update(tid, completed=step, total=total, loss=loss)
                if not sys.stdout.isatty() and step % max(1, total // 10) == 0:
                    print(f"{label}: step {step}/{total} loss {loss:.3f}", flush=True)

            return fit(model, data, epochs=n_epochs, seed=args.seed, lr=args.lr, batch=args.batch,
                       switch_frac=args.switchable if label == "binary" else 0.0, progress=cb)

    t0 = time.time()
    model = build_model(args.model, **kwargs)
    init_metrics: dict = {}
    if args.init:
        from bnnarch.nn.checkpoint import load_checkpoint

        init = load_checkpoint(args.init)
        if init.model_name != args.model or init.kwargs != kwargs:
            raise ModelError(f"--init {args.init}: holds {init.model_name} {init.kwargs}, "
                             f"not {args.model} {kwargs}")
        model.load_state_dict(init.state_dict)
        init_metrics = init.metrics
    if args.twin_only:
        if not args.init:
            raise ModelError("--twin-only needs --init CKPT (the checkpoint to add the twin to)")
        t1 = time.time()
        twin = make_fp_twin(build_model(args.model, **kwargs))
        fp_metric = run_fit(twin, "fp-twin", args.twin_epochs or epochs)
        print(f"full-precision twin {metric_name}: {fp_metric:.4f}")
        metrics = {k: v for k, v in init.metrics.items() if not k.startswith("fp_twin_")}
        metrics[f"fp_twin_{metric_name}"] = round(fp_metric, 4)
        metrics["fp_twin_train_seconds"] = round(time.time() - t1, 1)
        metrics["fp_twin_epochs"] = args.twin_epochs or epochs
        train = dict(init.train, twin_command=_command(args, task, epochs))
        ck = Checkpoint(args.model, kwargs, task, init.state_dict, metrics, train)
        print(f"wrote {save_checkpoint(ck, args.out)}")
        return 0
    metric = run_fit(model, "binary", epochs)
    metrics = {metric_name: round(metric, 4), "train_seconds": round(time.time() - t0, 1)}
    if args.switchable:
        metrics.update(precision_metrics(model, data))
    print(f"binary {metric_name}: {metric:.4f}")
    if args.fp_twin:
        t1 = time.time()
        twin = build_model(args.model, **kwargs)
        make_fp_twin(twin)
        fp_metric = run_fit(twin, "fp-twin", args.twin_epochs or epochs)
        metrics[f"fp_twin_{metric_name}"] = round(fp_metric, 4)
        metrics["fp_twin_train_seconds"] = round(time.time() - t1, 1)
        metrics["fp_twin_epochs"] = args.twin_epochs or epochs
        print(f"full-precision twin {metric_name}: {fp_metric:.4f}")
    elif f"fp_twin_{metric_name}" in init_metrics:
        for k, v in init_metrics.items():
            if k.startswith("fp_twin_"):
                metrics[k] = v
        metrics["init_" + metric_name] = init_metrics.get(metric_name, float("nan"))
    train = {"command": _command(args, task, epochs), "seed": args.seed, "epochs": epochs,
             "lr": args.lr, "batch": args.batch, "switchable": args.switchable,
             "threads": args.threads, "torch": str(torch.__version__), "init": args.init}
    ck = Checkpoint(args.model, kwargs, task, model.state_dict(), metrics, train)
    print(f"wrote {save_checkpoint(ck, args.out)}")
    return 0
