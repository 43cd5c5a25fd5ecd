"""The recorder redacts what it records from the user's code: node ids, locations, marker names
and failures reach neither ``events.jsonl`` nor the manifest with a secret in them, with or
without pytest-xdist (the recorder redacts each ``test:result`` itself; the bus takes it as
it is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# A value the environment marks secret (its name holds TOKEN) and a token shape no
# environment names: both must go, wherever the user's code puts them.
ENV_SECRET = "s3cr3t-value-from-env-0042"
SHAPED = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"

SUITE = f"""
import pytest

@pytest.mark.parametrize("word", ["{ENV_SECRET}", "{SHAPED}", "plain"])
def test_named(word):
    pass

@pytest.mark.parametrize("word", ["{ENV_SECRET}"])
def test_fails(word):
    assert word == "{SHAPED}", "token={ENV_SECRET}"

class TestGroup:
    def test_in_class(self):
        pass
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")
    monkeypatch.setenv("DEMO_API_TOKEN", ENV_SECRET)


def _run_files(root: Path, task: str) -> tuple[dict[str, object], str]:
    [path] = sorted((root / ".runs" / task / "cli").glob("*/manifest.json"))
    return json.loads(path.read_text()), path.read_text() + (
        path.parent / "events.jsonl"
    ).read_text()


@pytest.mark.parametrize("xdist", [False, True], ids=["controller", "xdist"])
def test_no_secret_of_a_test_record_reaches_the_run_files(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    pytester.makepyfile(test_leaky=SUITE)
    args = ["--codex-task=redact-task", *(["-n", "2"] if xdist else [])]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4, failed=1)
    manifest, text = _run_files(pytester.path, "redact-task")
    assert ENV_SECRET not in text and SHAPED not in text
    tests = manifest["tests"]
    assert isinstance(tests, list) and len(tests) == 5
    nodeids = sorted(t["nodeid"] for t in tests)
    assert nodeids == [
        "test_leaky.py::TestGroup::test_in_class",
        "test_leaky.py::test_fails[[REDACTED]]",
        "test_leaky.py::test_named[[REDACTED]]",
        "test_leaky.py::test_named[[REDACTED]]",
        "test_leaky.py::test_named[plain]",
    ]
    by_id = {t["nodeid"]: t for t in tests}
    failed = by_id["test_leaky.py::test_fails[[REDACTED]]"]
    assert failed["outcome"] == "failed" and "[REDACTED]" in failed["failure"]
    assert failed["location"]["domain"] == "test_fails[[REDACTED]]"
    assert by_id["test_leaky.py::TestGroup::test_in_class"]["location"] == {
        "path": "test_leaky.py",
        "line": 12,
        "domain": "TestGroup.test_in_class",
    }
    if xdist:
        assert {t["worker"] for t in tests} <= {"gw0", "gw1"}
    else:
        assert {t["worker"] for t in tests} == {None}


def test_marker_names_are_recorded_redacted_and_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marks=f"""
import pytest

pytestmark = pytest.mark.module_wide

@pytest.mark.slow
def test_slow():
    pass

def test_plain():
    pass

@pytest.mark.{SHAPED}
def test_odd_marker():
    pass

class TestMarked:
    pytestmark = pytest.mark.in_class

    @pytest.mark.slow
    def test_both(self):
        pass
"""
    )
    pytester.runpytest_subprocess("--codex-task=marks-task").assert_outcomes(passed=4)
    manifest, text = _run_files(pytester.path, "marks-task")
    assert SHAPED not in text
    tests = manifest["tests"]
    assert isinstance(tests, list)
    markers = {t["nodeid"].split("::", 1)[1]: t["markers"] for t in tests}
    assert markers == {
        "test_slow": ["module_wide", "slow"],
        "test_plain": ["module_wide"],
        "test_odd_marker": ["[REDACTED]", "module_wide"],
        "TestMarked::test_both": ["in_class", "module_wide", "slow"],
    }
