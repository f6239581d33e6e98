"""No silent skips: every skip in tests/ goes through tests/conftest.py's
``missing`` (fails in CI) or ``not_applicable`` (a case that does not apply)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import conftest

TESTS = Path(__file__).resolve().parent
RAW_SKIP = re.compile(r"pytest\.skip\(|skipif|importorskip|pytest\.mark\.skip\b")


def test_every_skip_goes_through_the_conftest_helpers() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "conftest.py" and path.parent == TESTS or path == Path(__file__):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if RAW_SKIP.search(line):
                offenders.append(f"{path.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not offenders, "use tests.conftest.missing/need_*/not_applicable:\n" + "\n".join(
        offenders)


def test_missing_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="^no-such-tool-bnnarch not installed"):
        conftest.need_tools("no-such-tool-bnnarch")
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception,
                       match=r"no-such-tool-bnnarch not installed \(setup.sh installs them\) "
                             r"\(CI=true: a missing prerequisite fails instead of skipping\)"):
        conftest.need_tools("no-such-tool-bnnarch")
    with pytest.raises(pytest.fail.Exception, match=r"nope.json is not shipped \(a workload\)"):
        conftest.need_file(conftest.ROOT / "workloads" / "nope.json", "a workload")
    with pytest.raises(pytest.fail.Exception, match=r"module no_such_module_bnnarch cannot be "
                                                    r"imported"):
        conftest.need_module("no_such_module_bnnarch")
    with pytest.raises(pytest.skip.Exception, match="^not applicable: groups != 1"):
        conftest.not_applicable("groups != 1")
