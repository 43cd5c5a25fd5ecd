"""What a person sees is what runs: escape codes in a command line, its working directory or
its output reach a real terminal (a PTY) escaped, never interpreted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ptyprocess import PtyProcessUnicode

from pytest_codex.terminal import visible

CLI = Path(sys.executable).parent / "codex-orchestrator"
# Erase the line and return to its start, then draw a harmless-looking command; retitle the
# window; reverse the order of what follows (a bidirectional override).
HIDING = "\x1b[2K\r\x1b[1A ls -la \x1b]0;title\x07\u202e"


def test_visible_escapes_every_control_and_keeps_plain_text() -> None:
    assert visible("git status") == "git status"
    assert visible(HIDING) == "\\x1b[2K\\r\\x1b[1A ls -la \\x1b]0;title\\x07\\u202e"
    assert visible("a\nb\tc", lines=True) == "a\nb\tc"
    assert visible("a\nb") == "a\\nb"
    assert visible("\x9b31m") == "\\x9b31m"  # a C1 CSI


def _read_until(child: PtyProcessUnicode, marker: str) -> str:
    seen = ""
    while marker not in seen:
        try:
            seen += child.read(1024)
        except EOFError:
            break
    return seen


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _spawn(root: Path, *args: str) -> PtyProcessUnicode:
    if not CLI.is_file():
        pytest.skip(f"the codex-orchestrator console script is not beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(MCP_RUNNER_TASK_ID="escapes", CODEX_ORCHESTRATOR_ROOT=str(root), TERM="xterm")
    return PtyProcessUnicode.spawn([str(CLI), *args], cwd=str(root), env=env, dimensions=(24, 400))


def test_the_approval_question_shows_escape_codes_escaped(repo: Path) -> None:
    child = _spawn(repo, "exec", "--approval-policy", "untrusted", "--", "sh", "-c", HIDING)
    try:
        prompt = _read_until(child, "deny for session:")
        child.write("n\r")
        rest = _read_until(child, "manifest:")
    finally:
        child.close(force=True)
    question = prompt[prompt.index("[codex] approve") :]
    assert "\x1b" not in question and "\u202e" not in question and "\x07" not in question
    assert "\\x1b[2K\\r\\x1b[1A ls -la" in question
    assert "\x1b]0;" not in rest  # nor in the result line that follows


def test_command_output_and_the_result_line_reach_the_terminal_escaped(repo: Path) -> None:
    script = f"printf '%s' '{HIDING}'; echo; exit 3"
    child = _spawn(repo, "exec", "--approval-policy", "never", "--", "sh", "-c", script)
    try:
        seen = _read_until(child, "manifest:")
        seen += _read_until(child, "\n")
    finally:
        child.close(force=True)
    assert "\x1b]0;title" not in seen and "\u202e" not in seen and "\x1b[1A" not in seen
    assert "\\x1b[2K\\r\\x1b[1A ls -la \\x1b]0;title\\x07\\u202e" in seen  # the output
    line = next(part for part in seen.splitlines() if "manifest:" in part)
    assert "exited 3" in line and "\\x1b" in line  # the command, escaped, in the result
