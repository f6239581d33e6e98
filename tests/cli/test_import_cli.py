"""``bnnarch import``: a good model writes a loadable workload; bad inputs
end with a message, exit 2 and no file."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bnnarch.cli import main
from bnnarch.workload.io import load_workload
from tests.workload.onnx_models import binary_conv_net, float_net, unsupported_net


def test_import_writes_a_loadable_workload_with_statistics(tmp_path, capsys):
    path, _ = binary_conv_net(tmp_path / "m.onnx")
    imgs = tmp_path / "x.npy"
    np.save(imgs, np.random.default_rng(0).normal(size=(3, 4, 6, 6)).astype(np.float32))
    out = tmp_path / "w.json"
    assert main(["import", str(path), "--out", str(out), "--images", str(imgs)]) == 0
    assert "2 compute (2 binary, 1 with thresholds)" in capsys.readouterr().out
    g = load_workload(out)
    assert g.name == "w" and g["conv0"].stats.reuse.frames == 3
    assert g["conv0"].thresholds is not None and g["conv1"].packed_weights


def test_float_model_with_precision_map(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("layers:\n  conv: {w_bits: 1, a_bits: 1}\n  fc: [8, 8]\n")
    out = tmp_path / "w.json"
    assert main(["import", str(float_net(tmp_path / "f.onnx")), "-o", str(out),
                 "--precision", str(p), "--name", "f"]) == 0
    g = load_workload(out)
    assert g.name == "f" and g["conv"].is_binary and g["fc"].w_bits == 8
    assert g["conv"].packed_weights is None  # a float model's weights are not binary


def _corrupt(tmp_path):
    good, _ = binary_conv_net(tmp_path / "g.onnx")
    p = tmp_path / "trunc.onnx"
    p.write_bytes(good.read_bytes()[:200])
    return p


def _text(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is not an onnx model\n" * 20)
    return p


BAD = [
    (_corrupt, [], r"trunc\.onnx: not a readable ONNX model .*is the file complete"),
    (_text, [], r"notes\.onnx: not a.* ONNX model"),
    (lambda t: unsupported_net(t / "u.onnx"), [],
     r"node 'lpnorm' \(LpNormalization\): op 'LpNormalization' .* is not supported"),
    (lambda t: float_net(t / "f.onnx"), [], r"a float ONNX model .* pass --precision P\.yaml"),
    (lambda t: float_net(t / "d.onnx", hw="H"), [],
     r"input 'x' has a dynamic dimension 2 \('H'\); bnnarch needs static shapes"),
    (lambda t: t / "missing.onnx", [], r"missing\.onnx: no such ONNX file"),
    (lambda t: binary_conv_net(t / "m.onnx")[0], ["--images", "nope.npy"],
     r"nope\.npy: no such image array \(\.npy\) file"),
    (lambda t: (t / "bad.npy").write_bytes(b"not numpy") and binary_conv_net(t / "m.onnx")[0],
     ["--images", "bad.npy"], r"bad\.npy: not a readable \.npy array of images"),
    (lambda t: (t / "dir.onnx").mkdir() or t / "dir.onnx", [],
     r"dir\.onnx: is a directory, not an ONNX file"),
]


@pytest.mark.parametrize(("make", "extra", "message"), BAD,
                         ids=["truncated", "not-onnx", "unsupported-op", "float-no-precision",
                              "dynamic-shape", "missing", "missing-images", "bad-images",
                              "directory"])
def test_bad_input_exit_2_message_no_file(tmp_path, capsys, make, extra, message):
    model = make(tmp_path)
    out = tmp_path / "out" / "w.json"
    rc = main(["import", str(model), "--out", str(out),
               *[str(tmp_path / e) if e.endswith(".npy") else e for e in extra]])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert not out.exists() and not out.parent.exists()
