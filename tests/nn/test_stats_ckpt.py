"""Reuse statistics on hand-built layers; bad checkpoints; CLI errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnarch.commands import extract as extract_cmd
from bnnarch.commands import train as train_cmd
from bnnarch.errors import ModelError
from bnnarch.nn.annotate import extract_checkpoint
from bnnarch.nn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from bnnarch.nn.layers import quant_layers
from bnnarch.workload.io import load_workload
from bnnarch.workload.stats import kernel_stats, window_diff_counts, window_stats


def test_kernel_stats_all_identical() -> None:
    k = np.random.default_rng(0).random((3, 3)) > 0.5
    bits = np.broadcast_to(k, (16, 4, 3, 3))
    st = kernel_stats(bits)
    assert (st.kernels, st.distinct, st.distinct_signfolded) == (64, 4, 4)


def test_kernel_stats_all_distinct_and_signfolded() -> None:
    codes = np.arange(16)  # 16 distinct 3x3 patterns per input channel
    bits = ((codes[:, None] >> np.arange(9)) & 1).astype(bool).reshape(16, 1, 3, 3)
    bits = np.repeat(bits, 2, axis=1)
    st = kernel_stats(bits)
    assert (st.kernels, st.distinct, st.distinct_signfolded) == (32, 32, 32)
    both = np.concatenate([bits, ~bits])  # every kernel also appears inverted
    st2 = kernel_stats(both)
    assert (st2.kernels, st2.distinct, st2.distinct_signfolded) == (64, 64, 32)


def test_window_stats_constant_and_stripes() -> None:
    const = np.ones((2, 3, 6, 6), bool)
    c = window_diff_counts(const, (3, 3), (1, 1), (0, 0))
    ws = window_stats(c)
    assert ws.pairs == 2 * 3 * 4 * 3 and ws.identical_fraction == 1.0 and ws.window_bits == 9
    stripes = np.zeros((1, 1, 5, 8), bool)
    stripes[..., ::2] = True  # columns alternate: every neighbour differs in all 9 bits
    ws2 = window_stats(window_diff_counts(stripes, (3, 3), (1, 1), (0, 0)))
    assert ws2.identical_fraction == 0.0 and ws2.diff_hist[9] == 1.0


def test_checkpoint_stats_on_hand_built_model(tiny_ckpt: tuple[Path, float], tmp_path: Path) -> None:
    ck = load_checkpoint(tiny_ckpt[0])
    model = ck.build()
    conv = quant_layers(model)["layer1.0.conv2"]
    with torch.no_grad():  # all kernels of the layer identical
        conv.weight.copy_(torch.randn(1, 1, 3, 3).expand_as(conv.weight))
    ck2 = Checkpoint(ck.model_name, ck.kwargs, ck.task, model.state_dict(), ck.metrics)
    g = extract_checkpoint(ck2, name="hand", images=32)
    ks = g["layer1.0.conv2"].stats.kernel
    assert ks.kernels == 16 and ks.distinct == 4 and ks.distinct_signfolded == 4
    # images x channels x rows x pairs per row
    assert g["layer1.0.conv2"].stats.window.pairs == 32 * 4 * 8 * 7
    # Bi-Real: the shortcut is added between batch-norm and sign, so no integer thresholds
    assert g["layer1.0.conv2"].thresholds is None
    assert "residual add 'layer1.0.add_1'" in g["layer1.0.conv2"].fold_reason
    assert g["layer1.0.conv2"].params.weight_scale is not None
    assert len(g["layer1.0.conv2"].packed_weights) == 4 * 36 // 4
    assert g["conv1"].stats is None and g["conv1"].packed_weights is None  # full precision


def _ns(**kw: object) -> argparse.Namespace:
    base = {"checkpoint": None, "small": False, "width": None, "name": None, "images": 16,
            "no_weights": False, "threads": 1}
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_extract_checkpoint_roundtrip(tiny_ckpt: tuple[Path, float], tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    assert extract_cmd.run(_ns(model="bireal18", checkpoint=str(tiny_ckpt[0]), out=str(out))) == 0
    g = load_workload(out)
    assert g["layer2.0.conv1"].stats is not None
    assert json.loads(out.read_text())["meta"]["model"] == "bireal18"


def test_corrupt_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(ModelError, match=r"bad.pt: not a readable checkpoint"):
        load_checkpoint(bad)
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match=r"other.pt: not a bnnarch checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ModelError, match=r"missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_unknown_model_and_mismatch(tiny_ckpt: tuple[Path, float], tmp_path: Path) -> None:
    ck = load_checkpoint(tiny_ckpt[0])
    save_checkpoint(Checkpoint("vgg99", {}, "classify", ck.state_dict), tmp_path / "u.pt")
    with pytest.raises(ModelError, match=r"unknown model 'vgg99' \(known: bireal18, bireal34"):
        load_checkpoint(tmp_path / "u.pt")
    save_checkpoint(Checkpoint("bireal18", {"small": True, "width": 8}, "classify", ck.state_dict),
                    tmp_path / "m.pt")
    with pytest.raises(ModelError, match=r"m.pt: checkpoint weights do not fit model 'bireal18'"):
        load_checkpoint(tmp_path / "m.pt")
    with pytest.raises(ModelError, match=r"holds model 'bireal18', not 'unet'"):
        extract_cmd.run(_ns(model="unet", checkpoint=str(tiny_ckpt[0]), out=str(tmp_path / "x.json")))
    assert not (tmp_path / "x.json").exists()


def test_cli_unknown_model_and_wrong_task(tmp_path: Path) -> None:
    p = argparse.ArgumentParser()
    train_cmd.register(p.add_subparsers())
    args = p.parse_args(["train", "resnet99", "--out", str(tmp_path / "a.pt")])
    with pytest.raises(ModelError, match=r"unknown model 'resnet99' \(known: .*centernet.*unet"):
        args.func(args)
    args = p.parse_args(["train", "unet", "--task", "classify", "--out", str(tmp_path / "a.pt")])
    with pytest.raises(ModelError, match=r"'unet' is a segment model; --task classify does not apply"):
        args.func(args)
    assert not (tmp_path / "a.pt").exists()


def test_cli_extract_shapes_only(tmp_path: Path) -> None:
    out = tmp_path / "cnv_small.json"
    assert extract_cmd.run(_ns(model="cnv", small=True, width=8, out=str(out))) == 0
    g = load_workload(out)
    assert g.input_shape == (1, 32, 32) and g["conv0"].out_shape == (8, 30, 30)
    with pytest.raises(ModelError, match=r"--width applies to the small variant only"):
        extract_cmd.run(_ns(model="cnv", width=8, out=str(tmp_path / "y.json")))
    assert not (tmp_path / "y.json").exists()


def test_checkpoint_of_a_model_with_unrecorded_ops_says_so(tmp_path: Path) -> None:
    """FINN's SFC scales its input (2x - 1) outside any layer: the workload lists
    it and the golden forward refuses instead of computing another model."""
    from bnnarch.errors import WorkloadError
    from bnnarch.nn.zoo import build_model
    from bnnarch.workload.golden import golden_forward

    model = build_model("sfc", small=True)
    ck = Checkpoint("sfc", {"small": True}, "classify", model.state_dict(), {})
    g = extract_checkpoint(ck, name="sfc", images=8)
    assert "op 'mul' in module '<top>'" in dict(g.meta)["golden.unmodelled"]
    assert g["fc1"].thresholds is not None  # BN + sign between hidden layers folds
    with pytest.raises(WorkloadError, match=r"golden forward of 'sfc'.*op 'sub'"):
        golden_forward(g, np.zeros((1, 1, 16, 16)))
