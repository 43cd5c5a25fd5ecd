"""The recorder redacts what it records from the user's code: node ids, locations, marker names
and failures reach neither ``events.jsonl`` nor the manifest with a secret in them, with or
without pytest-xdist (the recorder redacts each ``test:result`` itself; the bus takes it as
it is)."""

from __future__ import annotations

import json
import sys
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


# Classes named as the keyword heuristics' words, as real suites name them (jinja2's lexer
# tests have TestTokenStream::test_simple and ::test_iter): their node ids are names.
NAMED_SUITE = """
import pytest

class Key:
    def test_rotation(self):
        pass

class Token:
    def test_simple(self):
        pass

class Secret:
    def test_iter(self):
        pass

class Password:
    def test_password_is_hashed(self):
        pass

class Auth:
    @pytest.mark.parametrize("scheme", ["basic", "bearer"])
    def test_header(self, scheme):
        pass

class Credential:
    def test_secret_key(self):
        pass

class TestTokenStream:
    def test_simple(self):
        pass

    def test_iter(self):
        print("\\nthe value after password=hunter22 is a secret")

class TestKey:
    def test_rotation(self):
        pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["controller", "xdist"])
def test_node_ids_of_classes_named_like_secrets_stay_pytests_own(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    pytester.makepyfile(test_names=NAMED_SUITE)
    pytester.makeini("[pytest]\npython_classes = Key Token Secret Password Auth Credential Test\n")
    collected = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:codex")
    own = sorted(line for line in collected.outlines if "::" in line)
    assert len(own) == 10 and "test_names.py::Key::test_rotation" in own
    args = ["--codex-task=names-task", *(["-n", "2"] if xdist else [])]
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=10)
    [path] = sorted((pytester.path / ".runs" / "names-task" / "cli").glob("*/manifest.json"))
    manifest = json.loads(path.read_text())
    assert sorted(t["nodeid"] for t in manifest["tests"]) == own
    domains = {t["location"]["domain"] for t in manifest["tests"]}
    assert "Key.test_rotation" in domains and "TestTokenStream.test_iter" in domains
    events = [json.loads(line) for line in (path.parent / "events.jsonl").read_text().splitlines()]
    recorded = sorted(e["payload"]["test"]["nodeid"] for e in events if e["type"] == "test:result")
    assert recorded == own
    # The same suite streamed through exec: pytest's own lines, node ids intact, in the
    # JSONL of both dialects; a value after "password=" is still a secret.
    for dialect in ("--jsonl", "--json"):
        result = pytester.run(
            sys.executable, "-m", "pytest_codex.cli", "exec", "--task", "names-exec",
            dialect, "--pipe", "--",
            sys.executable, "-m", "pytest", "-v", "-s", "-p", "no:cacheprovider",
            "-p", "no:codex", "test_names.py",
        )  # fmt: skip
        assert result.ret == 0, result.stderr.str()
        text = "".join(_printed_output(line, dialect) for line in result.outlines)
        for nodeid in own:
            assert f"\n{nodeid} " in text, (dialect, nodeid)  # pytest -v: one line each
        assert "hunter22" not in result.stdout.str() and "password=[REDACTED]" in text


def _printed_output(line: str, dialect: str) -> str:
    """The command's output in one line of ``exec`` stdout (either dialect)."""
    event = json.loads(line)
    if dialect == "--jsonl":
        return str(event["payload"].get("data", "")) if event["type"] == "exec:chunk" else ""
    item = event.get("item") or {}
    return str(item.get("aggregated_output") or "") if event["type"] == "item.completed" else ""
