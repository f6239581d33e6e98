"""The reuse model kept honest on the shipped trained models: on layers of
each trained classification / detection / segmentation network, the numpy
reference executes each scheme on the real weights and the real binary
activations of the images the workload's statistics were measured on; its
outputs equal the plain computation bit for bit, its counts equal the model's
(from the workload's ReuseStats), and the simulator charges exactly that."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bnnarch.array.reuse import reference as ref
from bnnarch.array.reuse.effect import input_similarity_count, kernel_pattern_count
from bnnarch.array.simulate import simulate_layer
from bnnarch.workload.graph import WorkloadGraph
from bnnarch.workload.io import load_workload
from bnnarch.workload.layer import Layer
from tests.conftest import missing, need_file, need_module, not_applicable

from .helpers import ROOT, spec_with

WORKLOADS = ("digits_bnn", "digits_det", "digits_seg")
FIELDS = ("word_ops", "slots", "skipped_xnor_bits", "share_reads", "share_writes",
          "compare_bits", "acc_reads", "derived_windows")
MAX_LAYERS = 3  # per model: first, last and the largest other binary conv (time budget)


def _checkpoint_for(g: WorkloadGraph) -> Path | None:
    """The checkpoint whose model and constructor kwargs the workload names."""
    meta = dict(g.meta)
    from bnnarch.nn.checkpoint import load_checkpoint

    for p in sorted((ROOT / "checkpoints").glob("*.pt")):
        try:
            ck = load_checkpoint(p)
        except Exception:  # noqa: BLE001, S112 - another engineer's file in progress
            continue
        if ck.model_name == meta.get("model") and str(ck.kwargs) == meta.get("checkpoint_kwargs",
                                                                             str(ck.kwargs)):
            return p
    return None


@lru_cache(maxsize=3)
def trained(name: str) -> tuple[WorkloadGraph, dict[str, tuple[np.ndarray, np.ndarray]], str]:
    torch = need_module("torch")
    wl = ROOT / "workloads" / f"{name}.json"
    if not wl.exists():
        missing(f"{wl.name} is not shipped (bnnarch.nn extraction)")
    g = load_workload(wl)
    ckp = _checkpoint_for(g)
    if ckp is None:
        missing(f"no checkpoint in checkpoints/ matches {wl.name} (model "
                f"{dict(g.meta).get('model')!r})")
    from bnnarch.nn.checkpoint import load_checkpoint
    from bnnarch.nn.reuse_stats import capture, task_images

    layers = [la for la in g if la.stats is not None and la.stats.reuse is not None]
    assert layers, (f"{wl.name} has no reuse statistics: run `python -m bnnarch.nn.reuse_stats "
                    f"{ckp.relative_to(ROOT)} {wl.relative_to(ROOT)}`")
    rest = layers[1:-1] or layers
    pick = {layers[0].name, layers[-1].name,
            max(rest, key=lambda la: la.out_shape[1] * la.out_shape[2] * la.in_shape[0]).name}
    torch.set_num_threads(1)
    ck = load_checkpoint(ckp)
    frames = layers[0].stats.reuse.frames  # type: ignore[union-attr]
    images = task_images(ck.task, g.input_shape, frames)
    return g, capture(ck.build(), images, names=pick), ck.task


def cases() -> list[Any]:
    return [pytest.param(w, i, id=f"{w}-{i}") for w in WORKLOADS for i in range(MAX_LAYERS)]


@lru_cache(maxsize=4)
def _plain(name: str, layer: str) -> np.ndarray:
    g, cap, _ = trained(name)
    return ref.plain(g[layer], *cap[layer])


def _layer(name: str, i: int) -> tuple[Layer, np.ndarray, np.ndarray]:
    g, cap, _ = trained(name)
    names = sorted(cap, key=g.names().index)
    if i >= len(names):
        not_applicable(f"{name} has only {len(names)} distinct layers picked")
    la = g[names[i]]
    w, x = cap[la.name]
    assert x.shape[0] == la.stats.reuse.frames  # type: ignore[union-attr]
    return la, w, x


@pytest.mark.parametrize("name,i", cases())
def test_kernel_pattern_on_trained_layer(name: str, i: int) -> None:
    la, w, x = _layer(name, i)
    spec = spec_with(kernel_pattern={"enabled": True}, input_similarity={"enabled": False})
    kp = spec.reuse.kernel_pattern
    out, cnt = ref.kernel_pattern(la, w, x, simd_bits=spec.array.simd_bits,
                                  sign_inverted=kp.sign_inverted, share_ports=kp.share_ports)
    assert np.array_equal(out, _plain(name, la.name))
    model = kernel_pattern_count(la, la.stats.reuse, spec, raw=True)  # type: ignore[union-attr]
    for f in FIELDS:
        assert getattr(cnt, f) == getattr(model, f), f
    _charged(la, spec, "kernel_pattern", model.plain_word_ops - cnt.word_ops, model.frames)


@pytest.mark.parametrize("name,i", cases())
def test_input_similarity_on_trained_layer(name: str, i: int) -> None:
    la, w, x = _layer(name, i)
    if la.groups != 1:
        not_applicable("input similarity is modelled for groups == 1")
    spec = spec_with(kernel_pattern={"enabled": False}, input_similarity={"enabled": True})
    out, cnt = ref.input_similarity(la, w, x, simd_bits=spec.array.simd_bits,
                                    max_diff_bits=spec.reuse.input_similarity.max_diff_bits)
    assert np.array_equal(out, _plain(name, la.name))
    model = input_similarity_count(la, la.stats.reuse, spec, raw=True)  # type: ignore[union-attr]
    for f in FIELDS:
        assert getattr(cnt, f) == getattr(model, f), f
    _charged(la, spec, "input_similarity", model.plain_word_ops - cnt.word_ops, model.frames)


def _charged(la: Layer, spec: Any, scheme: str, ref_skipped: int, frames: int) -> None:
    """The simulator charged exactly the reference's skipped word-ops (per frame)."""
    ex = dict(simulate_layer(la, spec).extra)
    if ex["reuse_scheme"] == scheme:
        assert ex["reuse_skipped_word_ops"] * frames == pytest.approx(ref_skipped, abs=1e-6)
        assert ex["reuse_operand_words_saved"] * frames == pytest.approx(2 * ref_skipped, abs=1e-6)
    else:
        assert ex["reuse_skipped_word_ops"] == 0.0
        assert ex[f"reuse_{scheme}_reason"]


def test_meta_kwargs_parse() -> None:
    # the checkpoint lookup compares str(kwargs); make sure meta holds a dict literal
    for name in WORKLOADS:
        wl = ROOT / "workloads" / f"{name}.json"
        if wl.exists():
            kw = dict(load_workload(wl).meta).get("checkpoint_kwargs")
            if kw is not None:
                assert isinstance(ast.literal_eval(kw), dict)


@pytest.mark.parametrize("name", WORKLOADS)
def test_shipped_stats_reproduce_from_checkpoint(name: str, tmp_path: Path) -> None:
    """The workload's ReuseStats are exactly what bnnarch.nn.reuse_stats measures
    on its checkpoint (nothing hand-edited, nothing stale)."""
    g, _, _ = trained(name)
    from bnnarch.nn.reuse_stats import main

    ckp = _checkpoint_for(g)
    out = tmp_path / "w.json"
    assert main([str(ckp), str(ROOT / "workloads" / f"{name}.json"), "--out", str(out)]) == 0
    fresh = load_workload(out)
    for la in g:
        assert (la.stats.reuse if la.stats else None) == (
            fresh[la.name].stats.reuse if fresh[la.name].stats else None), la.name


def test_summary_cli(capsys: pytest.CaptureFixture[str]) -> None:
    wl = need_file(ROOT / "workloads" / "digits_bnn.json")
    from bnnarch.report.reuse_summary import main

    assert main([str(wl), "--design", str(ROOT / "designs" / "xnor32_reuse.yaml")]) == 0
    out = capsys.readouterr().out
    assert "| digits_bnn | xnor32_reuse |" in out


def test_stats_cli_rejects_a_foreign_workload(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    ckp = need_file(ROOT / "checkpoints" / "digits_bnn.pt")
    from bnnarch.nn.reuse_stats import main
    from bnnarch.workload.builder import GraphBuilder
    from bnnarch.workload.io import save_workload

    b = GraphBuilder("other", (1, 16, 16))
    b.conv("not_in_model", 8, 3)
    w = save_workload(b.build(), tmp_path / "o.json")
    assert main([str(ckp), str(w)]) == 2
    assert "none of its binary conv layers" in capsys.readouterr().err
