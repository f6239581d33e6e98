from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Results must not depend on this machine's RTL area cache (~/.cache/bnnarch):
# every test process gets its own empty cache directory.
os.environ["BNNARCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="bnnarch-test-cache-")

# In CI (CI=true) a missing tool, server or shipped artifact fails the run
# instead of skipping, so CI cannot pass by not running a check. Every skip
# in tests/ goes through `missing` or `not_applicable` below
# (tests/test_skips.py enforces it).
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A prerequisite (tool, server, shipped file, module) is absent: skip on a
    developer machine, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails instead of skipping)",
                    pytrace=False)
    pytest.skip(reason)


def need_module(name: str) -> ModuleType:
    """``pytest.importorskip`` that fails in CI."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        missing(f"module {name} cannot be imported ({e})")


def need_tools(*tools: str) -> None:
    """The executables must be on PATH (setup.sh installs them)."""
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        missing(f"{', '.join(absent)} not installed (setup.sh installs them)")


def need_file(path: Path, what: str = "") -> Path:
    """A shipped artifact the test reads."""
    if not path.exists():
        missing(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} is not "
                f"shipped{f' ({what})' if what else ''}")
    return path


def not_applicable(reason: str) -> NoReturn:
    """This parametrised case does not apply to its input (not a missing
    prerequisite): skipped everywhere, CI included."""
    pytest.skip(f"not applicable: {reason}")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fuzz cases ran (tests/fuzz record them as the
    ``fuzz_cases`` user property; xdist carries it to the controller)."""
    per_test: dict[str, int] = {}
    successes = 0
    for reports in terminalreporter.stats.values():
        for rep in reports:
            for name, value in getattr(rep, "user_properties", []):
                if name == "fuzz_cases":
                    per_test[rep.nodeid] = max(per_test.get(rep.nodeid, 0), int(value))
                elif name == "fuzz_successes":
                    successes += int(value)
    if per_test:
        failed = sum(1 for rep in terminalreporter.stats.get("failed", [])
                     if rep.nodeid in per_test)
        terminalreporter.write_line(
            f"fuzz: {sum(per_test.values())} cases in {len(per_test)} tests ({successes} ran "
            f"to a result, the rest ended in a BnnarchError); {failed} failing test(s)")
