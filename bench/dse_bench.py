"""DSE throughput (on demand): ``.venv/bin/python bench/dse_bench.py [--trials N]``.

1. Hardware-only trials per second on ResNet-18 (target >= 50/s per core):
   a random sweep over array shape / SIMD / buffers / DRAM (almost every
   design new, so the simulator's per-layer caches miss), run through the real
   worker loop on a fresh SQLite study; reported per wall second and per CPU
   second, with the split between simulation and Optuna/storage, and the
   simulator's hottest functions.
2. Seconds per joint (precision x hardware) trial on each digits workload
   (classification, detection, segmentation) with its trained checkpoint,
   running the shipped example studies (target <= 2 s), accuracy cache off.
3. Peer in the same run: plain Optuna's cost per (no-op) trial.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bnnarch.dse import load_study_spec
from bnnarch.dse._runner import worker_loop


def _spec(tmp: Path, name: str, body: dict) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump({"name": name, **body}, sort_keys=False))
    return p


HW_SPACE = {
    "array.rows": {"low": 4, "high": 128, "log": True},
    "array.cols": {"low": 4, "high": 128, "log": True},
    "array.simd_bits": [32, 64, 128],
    "buffers.weights.capacity_kib": [128, 256, 512],
    "dram.bandwidth_gbps": {"low": 6.4, "high": 51.2, "log": True},
}


def bench_hardware(tmp: Path, trials: int) -> dict[str, float]:
    from bnnarch.array.simulate import clear_caches

    spec = load_study_spec(_spec(tmp, "hw", {
        "design": str(REPO / "designs" / "xnor32.yaml"),
        "workload": str(REPO / "workloads" / "resnet18.json"),
        "hardware": HW_SPACE, "objectives": ["latency", "energy", "area"],
        "sampler": "random", "trials": trials, "seed": 11}), sweep=True)
    clear_caches()
    import bnnarch.dse._trial as trial_mod

    sim_s = [0.0]
    real = trial_mod.evaluate_candidate

    def timed(*a, **k):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            sim_s[0] += time.perf_counter() - t

    trial_mod.evaluate_candidate = timed
    import bnnarch.dse._runner as runner_mod

    runner_mod.evaluate_candidate = timed
    db = tmp / "hw.db"
    worker_loop(spec, storage=str(db), max_trials=2)  # open storage, imports, first trial
    sim_s[0] = 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    stats = worker_loop(spec, storage=str(db))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    n = stats.trials
    runner_mod.evaluate_candidate = trial_mod.evaluate_candidate = real
    return {"trials": n, "wall_s": wall, "cpu_s": cpu, "per_wall_s": n / wall,
            "per_cpu_s": n / cpu, "candidate_ms": 1e3 * sim_s[0] / n,
            "optuna_storage_ms": 1e3 * (wall - sim_s[0]) / n}


def bench_overhead(tmp: Path, trials: int) -> dict[str, float]:
    """The DSE's own cost per trial (Optuna + SQLite + bookkeeping) with a
    candidate that costs nothing: the ceiling on trials/s for any simulator."""
    import bnnarch.dse._runner as runner_mod
    from bnnarch.dse._trial import Outcome

    spec = load_study_spec(_spec(tmp, "noop", {
        "design": str(REPO / "designs" / "xnor32.yaml"),
        "workload": str(REPO / "workloads" / "resnet18.json"),
        "hardware": HW_SPACE, "objectives": ["latency", "energy", "area"],
        "sampler": "random", "trials": trials, "seed": 1}), sweep=True)
    real = runner_mod.evaluate_candidate
    runner_mod.evaluate_candidate = lambda ctx, hw, s, name: Outcome(
        metrics={"latency": 1.0, "energy": 2.0, "area": 3.0}, values=(1.0, 2.0, 3.0),
        design={"name": name}, precision={}, sim={})
    try:
        db = tmp / "noop.db"
        worker_loop(spec, storage=str(db), max_trials=2)
        c0, w0 = time.process_time(), time.perf_counter()
        stats = worker_loop(spec, storage=str(db))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    finally:
        runner_mod.evaluate_candidate = real
    return {"cpu_ms": 1e3 * cpu / stats.trials, "wall_ms": 1e3 * wall / stats.trials}


def bench_optuna_peer(tmp: Path, trials: int) -> float:
    """Peer, same run: plain Optuna (``study.optimize``, RDB storage on an SQLite
    file, random sampler) with an objective that only suggests the same five
    parameters and returns constants. CPU-ms per trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp / 'peer.db'}",
                                directions=["minimize"] * 3,
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(t: optuna.Trial) -> tuple[float, float, float]:
        t.suggest_int("array.rows", 4, 128, log=True)
        t.suggest_int("array.cols", 4, 128, log=True)
        t.suggest_categorical("array.simd_bits", [32, 64, 128])
        t.suggest_categorical("buffers.weights.capacity_kib", [128, 256, 512])
        t.suggest_float("dram.bandwidth_gbps", 6.4, 51.2, log=True)
        return 1.0, 2.0, 3.0

    study.optimize(objective, n_trials=2)
    c0 = time.process_time()
    study.optimize(objective, n_trials=trials)
    return 1e3 * (time.process_time() - c0) / trials


def profile_simulator(n: int = 20) -> str:
    """CPU per cold simulation (distinct designs), the mapper's share, and the
    hottest functions: where the simulator spends a hardware trial."""
    import numpy as np

    import bnnarch.array.simulate as sim
    from bnnarch.dse._space import apply_overrides
    from bnnarch.template import design_from_dict, load_design
    from bnnarch.workload.io import load_workload

    graph = load_workload(REPO / "workloads" / "resnet18.json")
    base = load_design(REPO / "designs" / "xnor32.yaml").model_dump(mode="json", exclude_none=True)
    rng = np.random.default_rng(0)
    specs = [design_from_dict(apply_overrides(base, {
        "array.rows": int(rng.choice([8, 12, 16, 24, 32, 48, 64])),
        "array.cols": int(rng.choice([8, 12, 16, 24, 32, 48, 64])),
        "dram.bandwidth_gbps": float(rng.uniform(6, 50))})) for _ in range(n)]
    mapper_s = [0.0]
    real_map = sim.map_layer

    def timed_map(*a, **k):  # type: ignore[no-untyped-def]
        t = time.process_time()
        try:
            return real_map(*a, **k)
        finally:
            mapper_s[0] += time.process_time() - t

    out = []
    sim.map_layer = timed_map
    try:
        for engine in ("simpy", "recurrence"):
            sim.clear_caches()
            mapper_s[0] = 0.0
            t = time.process_time()
            for s in specs:
                sim.simulate(s, graph, engine=engine)
            cold = time.process_time() - t
            out.append(f"simulate(ResNet-18, engine={engine}): cold {1e3 * cold / n:.1f} CPU-ms/"
                       f"design, of which map_layer {1e3 * mapper_s[0] / n:.1f} "
                       f"({100 * mapper_s[0] / cold:.0f}%)")
    finally:
        sim.map_layer = real_map
    t = time.process_time()
    for s in specs:
        sim.simulate(s, graph, engine="recurrence")
    out.append(f"warm (same designs again): {1e3 * (time.process_time() - t) / n:.2f} CPU-ms/design")
    sim.clear_caches()
    pr = cProfile.Profile()
    pr.enable()
    for s in specs:
        sim.simulate(s, graph, engine="recurrence")
    pr.disable()
    import io

    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(6)
    lines = [ln for ln in buf.getvalue().splitlines() if "/" in ln or "ncalls" in ln]
    return "\n".join(out) + "\nhottest (tottime, recurrence engine):\n  " + "\n  ".join(lines)


JOINT_STUDIES = ("digits_joint", "digits_det_joint", "digits_seg_joint")


def bench_joint(tmp: Path, trials: int, name: str) -> dict[str, float] | str:
    """Seconds per joint trial of a shipped example study (explore/<name>.yaml:
    its workload, checkpoint, spaces and sampler; paths made absolute, the
    accuracy cache off so every new precision map is evaluated)."""
    src = REPO / "explore" / f"{name}.yaml"
    if not src.exists():
        return f"{src} missing"
    body = yaml.safe_load(src.read_text())
    for key in ("design", "workload", "checkpoint"):
        p = (src.parent / body[key]).resolve()
        if not p.exists():
            return f"{p} missing"
        body[key] = str(p)
    body.pop("name")
    body["trials"] = trials
    body["evaluation"] = {**body.get("evaluation", {}), "cache": False}
    spec = load_study_spec(_spec(tmp, name, body))
    db = tmp / f"{name}.db"
    worker_loop(spec, storage=str(db), max_trials=1)  # torch import, data, checkpoint
    marks: list[tuple[float, float]] = []  # after each trial: (CPU, wall)
    # timed from the end of the first trial of this run, so the per-worker set-up
    # (loading the checkpoint, the baseline metric for accuracy_drop) is excluded
    worker_loop(spec, storage=str(db), on_trial=lambda st, n: marks.append(
        (time.process_time(), time.perf_counter())))
    n = len(marks) - 1
    if n < 1:
        return "fewer than 2 trials left in the budget"
    return {"workload": Path(body["workload"]).name, "trials": n,
            "s_per_trial_wall": (marks[-1][1] - marks[0][1]) / n,
            "s_per_trial_cpu": (marks[-1][0] - marks[0][0]) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=120, help="hardware trials (default 120)")
    ap.add_argument("--joint-trials", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        hw = bench_hardware(tmp, args.trials)
        print(f"hardware-only ResNet-18: {hw['trials']} trials, {hw['per_wall_s']:.1f}/s wall, "
              f"{hw['per_cpu_s']:.1f}/CPU-s (target >= 50/s per core: ratio "
              f"{hw['per_cpu_s'] / 50:.2f}); per trial: candidate (build+simulate) "
              f"{hw['candidate_ms']:.1f} ms, Optuna+SQLite {hw['optuna_storage_ms']:.1f} ms")
        ov = bench_overhead(tmp, 100)
        print(f"DSE overhead per trial (no-op candidate): {ov['cpu_ms']:.1f} CPU-ms, "
              f"{ov['wall_ms']:.1f} ms wall -> ceiling {1e3 / ov['cpu_ms']:.0f} trials/CPU-s")
        peer = bench_optuna_peer(tmp, 100)
        print(f"peer, plain Optuna study.optimize on SQLite with a no-op objective: {peer:.1f} "
              f"CPU-ms/trial ({1e3 / peer:.0f} trials/CPU-s); a full bnnarch hardware trial "
              f"(simulation included) costs {1e3 / hw['per_cpu_s'] / peer:.2f}x a plain Optuna "
              f"no-op trial, bnnarch's bookkeeping alone {ov['cpu_ms'] / peer:.2f}x")
        print(profile_simulator())
        for name in JOINT_STUDIES:
            j = bench_joint(tmp, args.joint_trials, name)
            if isinstance(j, str):
                print(f"joint trial, {name}: skipped ({j})")
                continue
            print(f"joint trial, explore/{name}.yaml on {j['workload']} ({j['trials']} trials, "
                  f"accuracy cache off): {j['s_per_trial_wall']:.2f} s wall, "
                  f"{j['s_per_trial_cpu']:.2f} CPU-s per trial (target <= 2 s: ratio "
                  f"{j['s_per_trial_wall'] / 2:.2f})")


if __name__ == "__main__":
    main()
