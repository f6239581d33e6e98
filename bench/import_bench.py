"""Import speed: a ResNet-18-sized QONNX model (ImageNet shapes, 224x224
input, ~11.7 M parameters; 8-bit first conv and classifier, binary body and
shortcuts, BN + sign after every conv, residual adds before the sign as in
Bi-Real) built with Brevitas and exported with ``brevitas.export.export_qonnx``,
then imported and written as workload JSON (what ``bnnarch import`` does) in
a fresh child process (os.wait4: user +
sys CPU seconds, max RSS). The peer in the same run: qonnx's own cleanup of
the same file (``qonnx.util.cleanup.cleanup_model``: shape inference and
constant folding), the first step of every FINN / hls4ml flow.

    .venv/bin/python bench/import_bench.py        # prints, writes bench/results/import_bench.json

Target: <= 10 CPU s and <= 1 GB peak RSS for the import.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET_CPU_S = 10.0
TARGET_RSS_MB = 1024.0


def build_resnet18() -> Any:
    """ResNet-18 (He et al. 2016, Table 1) in Brevitas quant layers."""
    import torch
    from torch import nn

    from bnnarch.nn.brevitas_zoo import act, conv, linear

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = conv(cin, cout, 1, stride=stride)
            self.bn1, self.q1 = nn.BatchNorm2d(cout), act(1)
            self.conv2, self.bn2 = conv(cout, cout, 1), nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(conv(cin, cout, 1, k=1, stride=stride, padding=0),
                                          nn.BatchNorm2d(cout))
            self.q2 = act(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.bn2(self.conv2(self.q1(self.bn1(self.conv1(x)))))
            return self.q2(y + (self.down(x) if self.down is not None else x))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = act(8, signed=True)
            self.conv1 = conv(3, 64, 8, k=7, stride=2, padding=3)
            self.bn1, self.q1 = nn.BatchNorm2d(64), act(1)
            self.pool = nn.MaxPool2d(3, 2, 1)
            blocks = []
            cin = 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*blocks)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.qfc = act(8)
            self.fc = linear(512, 1000, 8, bias=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.q1(self.bn1(self.conv1(self.inp(x)))))
            return self.fc(self.qfc(self.gap(self.layers(x))).flatten(1))

    return ResNet18().eval()


def export(path: Path) -> dict[str, Any]:
    import torch

    from bnnarch.nn.brevitas_zoo import export as export_qonnx

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_resnet18()
    params = sum(p.numel() for p in model.parameters())
    t = time.process_time()
    export_qonnx(model, (3, 224, 224), path)
    return {"params": params, "export_cpu_s": round(time.process_time() - t, 1),
            "onnx_mb": round(path.stat().st_size / 1e6, 1)}


def child(kind: str, path: str) -> int:
    sys.path.insert(0, str(ROOT))
    t0 = time.process_time()
    if kind == "export":
        info = export(Path(path))
    elif kind == "bnnarch":
        from bnnarch.workload.io import save_workload
        from bnnarch.workload.onnx_import import import_onnx

        g = import_onnx(path)  # what `bnnarch import` does: import, then write the JSON
        out = save_workload(g, Path(path).with_suffix(".json"))
        info = {"layers": len(g), "compute": len(g.compute_layers()), "macs": g.macs,
                "json_mb": round(out.stat().st_size / 1e6, 1),
                "binary": sum(1 for la in g.compute_layers() if la.is_binary),
                "thresholds": sum(1 for la in g.layers if la.thresholds is not None)}
    else:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.util.cleanup import cleanup_model

        m = cleanup_model(ModelWrapper(path))
        info = {"nodes": len(m.graph.node)}
    info["in_process_cpu_s"] = round(time.process_time() - t0, 2)
    print(json.dumps(info))
    return 0


def measure(kind: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = p.stdout.read() if p.stdout else ""
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{kind}: child failed")
    d = json.loads(out.strip().splitlines()[-1])
    d.update({"process_cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
              "peak_rss_mb": round(ru.ru_maxrss / 1024, 1)})
    return d


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bnnarch import speed on a ResNet-18 QONNX")
    p.add_argument("--onnx", help="reuse this exported file instead of exporting")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(*a.child)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.onnx) if a.onnx else Path(tmp) / "resnet18_qonnx.onnx"
        # every step in its own child: a child's max RSS includes its parent's at fork
        ex = {} if a.onnx else measure("export", path)
        ours = measure("bnnarch", path)
        peer = measure("qonnx", path)
    ok = ours["process_cpu_s"] <= TARGET_CPU_S and ours["peak_rss_mb"] <= TARGET_RSS_MB
    print(f"ResNet-18 QONNX ({ex.get('params', '?'):,} params, {ex.get('onnx_mb', '?')} MB, "
          f"export {ex.get('export_cpu_s', '?')} CPU s)")
    print(f"bnnarch import: {ours['process_cpu_s']:.2f} CPU s (whole process; import itself "
          f"{ours['in_process_cpu_s']:.2f}), peak RSS {ours['peak_rss_mb']:.0f} MB, "
          f"{ours['compute']} compute layers ({ours['binary']} binary, {ours['thresholds']} with "
          f"thresholds), {ours['macs']:,} MACs; target <= {TARGET_CPU_S:.0f} s and "
          f"<= {TARGET_RSS_MB:.0f} MB: {'met' if ok else 'MISSED'}")
    print(f"qonnx cleanup (peer): {peer['process_cpu_s']:.2f} CPU s, peak RSS "
          f"{peer['peak_rss_mb']:.0f} MB -> ratio "
          f"{peer['process_cpu_s'] / ours['process_cpu_s']:.1f}x "
          "CPU (peer / ours)")
    if not a.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "import_bench.json"
        out.write_text(json.dumps({"export": ex, "bnnarch": ours, "qonnx_cleanup": peer,
                                   "meets_target": ok}, indent=1) + "\n")
        print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
