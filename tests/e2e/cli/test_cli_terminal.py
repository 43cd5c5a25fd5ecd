"""Human output on a real terminal (a PTY): colour, ``[n/N]`` and a progress line whose
elapsed time ticks while a stage is silent; plain text when piped; ``NO_COLOR`` and
``FORCE_COLOR``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ptyprocess import PtyProcessUnicode

from pytest_codex.paths import ROOT_ENV
from tests.helpers.trust import trusted

TASK = "1717-terminal"
CLI = [sys.executable, "-m", "pytest_codex.cli"]
# A stage that says something, then one that is silent for a while, then one that fails.
CONFIG = """
pipelines:
  - id: slow
    title: Slow pipeline
    stages:
      - { kind: command, id: hello, command: "echo hello" }
      - { kind: command, id: quiet, command: "sleep 2" }
      - { kind: command, id: broken, command: "false", allowFailure: true }
"""
SGR = re.compile(r"\x1b\[[0-9;]*m")
ELAPSED = re.compile(r"\[2/3\] quiet (?:\x1b\[2m)?(\d+\.\d)s")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "terminal"
    root.mkdir()
    trusted(root / "codex.orchestrator.yaml", CONFIG)  # its pipelines need a person's trust
    return root


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({ROOT_ENV: str(root), "TERM": "xterm", **extra})
    return env


def _on_a_terminal(root: Path, *argv: str, **extra: str) -> tuple[int, str]:
    """Run the CLI on a PTY; its exit status and everything it wrote."""
    child = PtyProcessUnicode.spawn(
        [*CLI, *argv], cwd=str(root), env=_env(root, **extra), dimensions=(24, 120)
    )
    seen = ""
    try:
        while True:
            try:
                seen += child.read(4096)
            except EOFError:
                break
    finally:
        child.close(force=False)
    return int(child.exitstatus if child.exitstatus is not None else -1), seen


def _piped(root: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv], cwd=root, env=_env(root, **extra), capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip


def test_a_terminal_gets_colour_stage_counts_and_a_ticking_progress_line(repo: Path) -> None:
    code, out = _on_a_terminal(repo, "start", "slow", "--task", TASK)
    assert code == 0, out
    assert SGR.search(out), "no colour on a terminal"
    plain = SGR.sub("", out)
    assert "==> [1/3] hello: " in plain and "==> [3/3] broken: " in plain
    assert "<== [2/3] quiet: succeeded" in plain
    ticks = {float(m) for m in ELAPSED.findall(out)}
    assert len(ticks) >= 2, f"the elapsed time did not tick: {out!r}"
    assert "\r\x1b[K" in out  # the progress line is drawn in place and erased
    assert "\x1b[32msucceeded\x1b[0m" in out and "\x1b[33mallowed-failure\x1b[0m" in out
    # The progress line never stays on screen: the output ends with the summary line.
    assert plain.rstrip().splitlines()[-1].startswith("slow: succeeded")


def test_no_color_on_a_terminal_keeps_the_progress_line_without_colour(repo: Path) -> None:
    code, out = _on_a_terminal(repo, "start", "slow", "--task", TASK, NO_COLOR="1")
    assert code == 0, out
    assert not SGR.search(out)
    assert "[2/3] quiet " in out and "\r\x1b[K" in out


def test_piped_output_is_plain_text(repo: Path) -> None:
    done = _piped(repo, "start", "slow", "--task", TASK)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "==> [2/3] quiet: sleep 2\n<== [2/3] quiet: succeeded" in done.stdout
    assert "<== [3/3] broken: allowed-failure" in done.stdout


def test_force_color_colours_piped_output_without_a_progress_line(repo: Path) -> None:
    done = _piped(repo, "start", "slow", "--task", TASK, FORCE_COLOR="1")
    assert done.returncode == 0, done.stderr
    assert "\x1b[32msucceeded\x1b[0m" in done.stdout
    assert "\r" not in done.stdout and "\x1b[K" not in done.stdout
    both = _piped(repo, "start", "slow", "--task", TASK, FORCE_COLOR="1", NO_COLOR="1")
    assert "\x1b" not in both.stdout


def test_exec_on_a_terminal_shows_the_silent_command_ticking(repo: Path) -> None:
    code, out = _on_a_terminal(
        repo, "exec", "--task", TASK, "--", "sh", "-c", "echo start; sleep 2; echo done"
    )
    assert code == 0, out
    ticks = set(re.findall(r"sh -c echo start; sleep 2; echo done (?:\x1b\[2m)?(\d+\.\d)s", out))
    assert len(ticks) >= 2, f"no ticking progress line: {out!r}"
    plain = SGR.sub("", out).replace("\r\x1b[K", "")
    assert "start\r\n" in plain and "done\r\n" in plain
