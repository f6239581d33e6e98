"""Make bench/validation_checks.py importable: the checks that docs/validation.md
renders are the ones these tests assert."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
