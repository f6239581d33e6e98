"""Helpers for the DSE tests: study specs written into tmp dirs that point at
the shipped designs/workloads, and the CLI run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_spec(tmp: Path, name: str = "s", **fields: object) -> Path:
    body: dict[str, object] = {
        "name": name,
        "design": str(REPO / "designs" / "edge16_ws.yaml"),
        "workload": str(REPO / "workloads" / "sfc.json"),
        "hardware": {"array.rows": {"choices": [8, 16]}, "array.cols": {"choices": [8, 16, 32]}},
        "objectives": ["latency", "energy"],
    }
    body.update(fields)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def cli(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, "-m", "bnnarch.cli", *args], check=False,
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=300, **kw)  # type: ignore[call-overload]
    if check and p.returncode != 0:
        raise AssertionError(f"bnnarch {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def popen(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "bnnarch.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def spec_factory(tmp_path: Path):
    def make(**fields: object) -> Path:
        return write_spec(tmp_path, **fields)  # type: ignore[arg-type]

    return make
