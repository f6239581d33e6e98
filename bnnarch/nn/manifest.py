"""Write checkpoints/manifest.json and checkpoints/README.md from the
checkpoints themselves (command, seed, binary metric, full-precision twin).

    python -m bnnarch.nn.manifest checkpoints/

The binary metric is recomputed here from the weights
(``evaluate_under_precision(ckpt, {})``: BN statistics re-estimated on the
first ``BN_CALIB_IMAGES`` training images), not read back from the metadata,
so the table states what re-evaluating the checkpoint gives; the metrics
recorded at training time stay in ``metrics``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bnnarch.fsio import atomic_write_text
from bnnarch.nn import brevitas_zoo
from bnnarch.nn.checkpoint import load_checkpoint
from bnnarch.nn.evaluate import evaluate_under_precision
from bnnarch.nn.train import BN_CALIB_IMAGES

_METRIC = {"classify": "accuracy", "detect": "mAP@0.5", "segment": "mIoU"}


def manifest(directory: str | Path) -> list[dict]:
    rows = []
    for p in sorted(Path(directory).glob("*.pt")):
        ck = load_checkpoint(p)
        m = _METRIC[ck.task]
        rows.append({"file": p.name, "model": ck.model_name, "kwargs": ck.kwargs, "task": ck.task,
                     "command": ck.train.get("command"), "seed": ck.train.get("seed"),
                     "metric": m, "calib_images": BN_CALIB_IMAGES,
                     "binary": round(evaluate_under_precision(ck, {}), 4),
                     "fp_twin": ck.metrics.get(f"fp_twin_{m}"),
                     "switchable": ck.train.get("switchable"),
                     "metrics": ck.metrics, "size_bytes": p.stat().st_size})
    for p in sorted(Path(directory).glob("*.pth")):  # Brevitas models (nn.brevitas_zoo)
        meta = brevitas_zoo.load(p)[1]
        m = _METRIC[meta["task"]]
        rows.append({"file": p.name, "model": meta["model_name"], "kwargs": meta["kwargs"],
                     "task": meta["task"], "command": meta["train"]["command"],
                     "seed": meta["train"]["seed"], "metric": m,
                     "binary": meta["metrics"].get(m), "fp_twin": None, "switchable": None,
                     "metrics": meta["metrics"], "size_bytes": p.stat().st_size})
    return rows


def write(directory: str | Path) -> None:
    d = Path(directory)
    rows = manifest(d)
    atomic_write_text(d / "manifest.json", json.dumps(rows, indent=1) + "\n")
    lines = [
        "# Trained checkpoints (small models on sklearn digits)",
        "",
        "Written by `python -m bnnarch.nn.manifest checkpoints/` from the checkpoints' own",
        "metadata (also in `manifest.json`). Each `.pt` stores model name, constructor kwargs,",
        "task, metrics, training command and state_dict (`bnnarch.nn.checkpoint.load_checkpoint`).",
        "Binary metrics are at the default precision (1-bit binary layers, full-precision",
        "first/last layers), recomputed when this file is written with BN statistics re-estimated",
        f"on the first {BN_CALIB_IMAGES} training images (`evaluate_under_precision(ckpt, {{}})`,",
        "the calibration the precision search uses; `tests/nn/test_shipped.py` recomputes them);",
        "the w2a2/w4a4/w8a8 columns are the same model with",
        f"every binary layer at N bits (BN re-estimated on the same {BN_CALIB_IMAGES} images, at",
        "training time: `bnnarch.nn.train.precision_metrics`), possible because training was",
        "switchable (random per-layer bits in {1,2,4,8} on half the steps of the last",
        "`switchable` fraction of epochs). Threads: 1. Test sets: 360 digits; 200 canvases.",
        "",
        "| file | model | task | metric | binary | FP twin | w2a2 | w4a4 | w8a8 | seed | size |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['file']} | {r['model']} {r['kwargs']} | {r['task']} | {r['metric']} | "
                     f"{r['binary']} | {r['fp_twin']} | {m.get('metric_w2a2', '')} | "
                     f"{m.get('metric_w4a4', '')} | {m.get('metric_w8a8', '')} | {r['seed']} | "
                     f"{r['size_bytes'] / 1e6:.2f} MB |")
    lines += ["", "Commands:", ""]
    lines += [f"- `{r['file']}`: `{r['command']}`" for r in rows]
    lines += ["", "Extracted workloads (shapes + statistics + packed weights + thresholds):", "",
              *(f"    bnnarch extract {model} --checkpoint checkpoints/digits_{task}.pt "
                f"--out workloads/digits_{task}.json"
                for model, task in (("bireal18", "bnn"), ("centernet", "det"), ("unet", "seg"))),
              "",
              "Imported (QONNX exported by Brevitas; `brevitas_digits.onnx` is written by the",
              "training command above, `--onnx`):", "",
              "    python -m bnnarch.nn.brevitas_zoo images --out build/digits_test.npy",
              "    bnnarch import checkpoints/brevitas_digits.onnx \\",
              "        --out workloads/brevitas_digits.json --images build/digits_test.npy",
              ""]
    notes = d / "NOTES.md"
    if notes.exists():
        lines += ["## Notes", "", notes.read_text().strip(), ""]
    atomic_write_text(d / "README.md", "\n".join(lines))


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "checkpoints")
