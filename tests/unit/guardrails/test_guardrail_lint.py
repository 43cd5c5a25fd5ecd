"""lint: the real ruff (or a configured linter) runs through the orchestrator; one finding per
diagnostic."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrails import lint as lint_module
from guardrails.lint import NO_RUFF, LintGuardrail, find_ruff, parse_line
from tests.helpers.repos import SessionFactory, rules, write

RUFF = find_ruff()
needs_ruff = pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
PYFLAKES_ONLY = '[tool.ruff.lint]\nselect = ["F"]\n'

# Prints diagnostics in the formats flake8, pylint and mypy use, then fails like they do.
FAKE_LINTER = """\
import sys

print("checking...")
print("a.py:3:1: bad thing")
print("./src/b.py:10: E501 line too long (120 > 100)")
print("src/c.py:7: error: Incompatible types in assignment  [assignment]")
print("src/c.py:7: note: this note only explains the error above")
print("src/c.py:9:5: warning: looks odd")
print("d.py:2:0: [C0114(missing-module-docstring), ] Missing module docstring")
print("2 files checked")
sys.exit(1)
"""


def run(
    session_factory: SessionFactory, root: Path, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    config = {"guardrails": {"lint": settings}} if settings is not None else None
    session, _ = session_factory(root, config=config)
    return session.run(LintGuardrail())


def located(record: dict[str, Any]) -> list[tuple[str, str | None, int | None, str]]:
    return [(f["rule"], f["path"], f["line"], f["severity"]) for f in record["findings"]]


# --- ruff (the default) ------------------------------------------------------------------------
@needs_ruff
def test_a_clean_repository_passes(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"pkg/mod.py": "import os\n\nprint(os.sep)\n"})
    record = run(guardrail_session, tmp_path)
    assert (record["status"], record["findings"]) == ("passed", [])
    assert record["summary"] == "ruff: no diagnostics"
    # --no-cache: linting leaves nothing behind in the workspace.
    assert not (tmp_path / ".ruff_cache").exists()


@needs_ruff
def test_each_ruff_diagnostic_is_a_finding_with_path_and_line(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(
        tmp_path,
        {
            "pkg/mod.py": "import os\n\n\ndef f():\n    return undefined_name\n",
            "pkg/ok.py": "x = 1\n",
            "other.py": "import sys\n",
            # Ruff's default rule set differs between versions: pin it.
            "pyproject.toml": PYFLAKES_ONLY,
        },
    )
    record = run(guardrail_session, tmp_path)
    assert record["status"] == "failed"
    assert located(record) == [
        ("lint/F401", "other.py", 1, "error"),
        ("lint/F401", "pkg/mod.py", 1, "error"),
        ("lint/F821", "pkg/mod.py", 5, "error"),
    ]
    _unused_sys, unused_os, undefined = record["findings"]
    assert "`os`" in unused_os["message"] and "unused" in unused_os["message"]
    assert unused_os["hint"] == "Remove unused import: `os`"  # ruff's fix message
    assert "`undefined_name`" in undefined["message"]
    assert undefined["hint"] == "https://docs.astral.sh/ruff/rules/undefined-name"  # no fix
    assert record["summary"] == "ruff: 3 diagnostics in 2 files"


@needs_ruff
def test_syntax_errors_get_their_own_rule(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"broken.py": "def f(:\n    pass\n"})
    record = run(guardrail_session, tmp_path)
    assert record["status"] == "failed"
    assert {f["rule"] for f in record["findings"]} == {"lint/syntax-error"}
    assert {(f["path"], f["line"]) for f in record["findings"]} == {("broken.py", 1)}


@needs_ruff
def test_the_projects_ruff_configuration_applies_and_invalidates_the_cache(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    long_line = "x = '" + "a" * 100 + "'\n"
    write(tmp_path, {"a.py": "import os\n" + long_line, "pyproject.toml": PYFLAKES_ONLY})
    session, _ = guardrail_session(tmp_path)
    assert located(session.run(LintGuardrail())) == [("lint/F401", "a.py", 1, "error")]
    write(tmp_path, {"pyproject.toml": '[tool.ruff.lint]\nselect = ["E501"]\n'})
    record = session.run(LintGuardrail())
    assert record["cached"] is False
    assert located(record) == [("lint/E501", "a.py", 2, "error")]


@needs_ruff
def test_a_failing_ruff_is_a_linter_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    assert RUFF is not None
    write(tmp_path, {"a.py": "x = 1\n"})
    command = [*RUFF, "check", "--output-format", "json", "--no-cache", "--select", "NOPE999"]
    record = run(guardrail_session, tmp_path, {"command": command, "format": "ruff-json"})
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert finding["rule"] == "lint/linter-error"
    assert finding["message"].startswith("ruff failed with exit status 2: ")
    assert "NOPE999" in finding["message"]  # ruff's own last stderr line
    assert finding["hint"] == (
        f"run {shlex.join(command)} in the repository root to see the whole error"
    )
    assert record["summary"] == "ruff could not lint the repository"


def test_without_ruff_the_default_linter_is_skipped(
    tmp_path: Path, guardrail_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only ruff's discovery is replaced (ruff is installed in the test environment).
    monkeypatch.setattr(lint_module, "find_ruff", lambda root=None: None)
    record = run(guardrail_session, tmp_path)
    assert (record["status"], record["summary"]) == ("skipped", NO_RUFF)
    assert record["approvals"] == []


# --- other linters ----------------------------------------------------------------------------
@pytest.mark.parametrize("as_string", [False, True])
def test_a_custom_command_in_lines_format_is_parsed_into_findings(
    tmp_path: Path, guardrail_session: SessionFactory, as_string: bool
) -> None:
    write(tmp_path, {"tools/fake_lint.py": FAKE_LINTER})
    argv = [sys.executable, "tools/fake_lint.py"]
    command: str | list[str] = shlex.join(argv) if as_string else argv
    record = run(guardrail_session, tmp_path, {"command": command, "format": "lines"})
    assert record["status"] == "failed"
    assert [
        (f["rule"], f["path"], f["line"], f["message"], f["severity"]) for f in record["findings"]
    ] == [
        ("lint/diagnostic", "a.py", 3, "bad thing", "error"),
        ("lint/E501", "src/b.py", 10, "line too long (120 > 100)", "error"),
        ("lint/assignment", "src/c.py", 7, "Incompatible types in assignment", "error"),
        ("lint/diagnostic", "src/c.py", 9, "looks odd", "warning"),
        ("lint/C0114", "d.py", 2, "Missing module docstring", "error"),
    ]
    assert record["summary"] == "fake_lint.py: 5 diagnostics in 4 files"
    [approval] = record["approvals"]
    assert approval["argv"] == argv


def test_auto_format_reads_lines_from_a_linter_that_does_not_print_json(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"tools/fake_lint.py": FAKE_LINTER})
    record = run(guardrail_session, tmp_path, {"command": [sys.executable, "tools/fake_lint.py"]})
    assert len(record["findings"]) == 5


def test_a_custom_linter_that_exits_zero_without_diagnostics_passes(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"tools/quiet.py": "print('all good')\n"})
    record = run(guardrail_session, tmp_path, {"command": [sys.executable, "tools/quiet.py"]})
    assert (record["status"], record["summary"]) == ("passed", "quiet.py: no diagnostics")


def test_a_custom_linter_that_fails_without_diagnostics_is_a_linter_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    script = "import sys\nprint('starting')\nsys.exit('config file lint.ini is broken')\n"
    write(tmp_path, {"tools/broken.py": script})
    record = run(guardrail_session, tmp_path, {"command": [sys.executable, "tools/broken.py"]})
    [finding] = record["findings"]
    assert finding["rule"] == "lint/linter-error"
    assert finding["message"] == (
        "broken.py exited with status 1 and no diagnostics: config file lint.ini is broken"
    )


def test_a_missing_linter_command_is_a_linter_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    record = run(guardrail_session, tmp_path, {"command": "no-such-linter-xyz --strict"})
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert finding["rule"] == "lint/linter-error"
    assert finding["message"].startswith("no-such-linter-xyz could not be started: ")
    assert "no-such-linter-xyz" in finding["message"].split(": ", 1)[1]
    assert finding["hint"] == (
        "install it, or fix guardrails.lint.command (it runs in the repository root)"
    )


def test_output_that_is_not_ruff_json_is_a_linter_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    command = [sys.executable, "-c", "print('{not json')"]
    record = run(guardrail_session, tmp_path, {"command": command, "format": "ruff-json"})
    [finding] = record["findings"]
    assert finding["rule"] == "lint/linter-error"
    assert finding["message"].startswith("cannot read python")
    assert finding["message"].endswith("): {not json")


def test_invalid_settings_fail_with_a_one_line_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    record = run(guardrail_session, tmp_path, {"format": "xml"})
    [finding] = record["findings"]
    assert finding["rule"] == "guardrail/error"
    assert finding["message"] == (
        "guardrails.lint.format must be one of ruff-json, lines, auto, not 'xml'"
    )


def test_line_parsing() -> None:
    assert parse_line("a.py:3:1: bad thing") == ("a.py", 3, "bad thing", None, False)
    assert parse_line("a.py:3: W291 trailing whitespace") == (
        "a.py",
        3,
        "trailing whitespace",
        "W291",
        False,
    )
    assert parse_line("a.py:3: warning: hmm  [misc]") == ("a.py", 3, "hmm", "misc", True)
    assert parse_line("a.py:3: note: context") is None
    assert parse_line("Found 3 errors in 1 file") is None
    assert parse_line("  a.py:3: indented continuation") is None


# --- caching and approvals ---------------------------------------------------------------------
@needs_ruff
def test_results_are_cached_until_a_linted_file_changes(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    assert RUFF is not None
    write(tmp_path, {"a.py": "x = 1\n", "notes.txt": "not an input\n"})
    session, emitter = guardrail_session(tmp_path)
    first = session.run(LintGuardrail())
    assert first["cached"] is False and first["status"] == "passed"
    [approval] = first["approvals"]
    assert approval["argv"] == [*RUFF, "check", "--output-format", "json", "--no-cache", "."]
    assert approval["status"] == "succeeded"

    write(tmp_path, {"notes.txt": "changed, but not linted\n"})
    second = session.run(LintGuardrail())
    assert second["cached"] is True and second["approvals"] == first["approvals"]
    assert len(emitter.of_type("tool:complete")) == 1  # ruff ran once

    write(tmp_path, {"a.py": "import os\n"})
    third = session.run(LintGuardrail())
    assert third["cached"] is False
    assert rules(third) == ["lint/F401"]


def test_a_changed_linter_executable_invalidates_the_cache(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"tools/lint.sh": "#!/bin/sh\necho 'a.py:1: E1 first'\n"})
    script = tmp_path / "tools" / "lint.sh"
    script.chmod(0o755)
    session, _ = guardrail_session(
        tmp_path, config={"guardrails": {"lint": {"command": "./tools/lint.sh"}}}
    )
    assert rules(session.run(LintGuardrail())) == ["lint/E1"]
    assert session.run(LintGuardrail())["cached"] is True
    # *.sh is no input glob: the executable's modification time is what changed.
    write(tmp_path, {"tools/lint.sh": "#!/bin/sh\necho 'a.py:1: E2 second'\n"})
    stat = script.stat()
    os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    record = session.run(LintGuardrail())
    assert record["cached"] is False
    assert rules(record) == ["lint/E2"]


def test_notebooks_are_inputs_and_their_findings_name_the_cell(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    import json as _json

    def notebook(*cells: str) -> str:
        return _json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "metadata": {}, "source": [c], "outputs": [],
                     "execution_count": None}
                    for c in cells
                ],
                "metadata": {"language_info": {"name": "python"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )  # fmt: skip

    write(repo, {"pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n'})
    write(repo, {"nb.ipynb": notebook("x = 1", "import os")})
    session, _ = guardrail_session(repo)
    first = session.run(LintGuardrail())
    assert [(f["rule"], f["path"], f["line"]) for f in first["findings"]] == [
        ("lint/F401", "nb.ipynb", None)
    ]
    assert first["findings"][0]["message"].startswith("cell 2, line 1: ")
    write(repo, {"nb.ipynb": notebook("x = 1", "y = 2")})
    second = session.run(LintGuardrail())
    assert (second["cached"], second["status"]) == (False, "passed")


def test_a_linter_planted_in_the_workspace_never_certifies_it(
    tmp_path: Path, guardrail_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = tmp_path / ".venv" / "bin"
    planted.mkdir(parents=True)
    shim = planted / "codex-test-linter"
    shim.write_text("#!/bin/sh\nexit 0\n")  # "no diagnostics", always
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{planted}{os.pathsep}{os.environ['PATH']}")
    write(tmp_path, {"a.py": "x = 1\n"})
    record = run(guardrail_session, tmp_path, {"command": "codex-test-linter .", "format": "lines"})
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert finding["rule"] == "lint/linter-error"
    assert "not found on PATH outside the workspace" in finding["message"]
    assert record["approvals"] == []  # nothing ran
