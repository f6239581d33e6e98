from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Results must not depend on this machine's RTL area cache (~/.cache/bnnarch):
# every test process gets its own empty cache directory.
os.environ["BNNARCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="bnnarch-test-cache-")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
