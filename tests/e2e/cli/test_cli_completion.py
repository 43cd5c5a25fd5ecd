"""Shell completion through argcomplete (the ``completion`` extra): the activation snippet,
real completions answered by the CLI, and nothing imported when no shell asks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "pytest_codex.cli"]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv], env={**os.environ, **(env or {})}, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_the_activation_snippet(shell: str) -> None:
    pytest.importorskip("argcomplete")
    done = _run("completion", shell)
    assert done.returncode == 0, done.stderr
    assert "codex-orchestrator" in done.stdout and "_ARGCOMPLETE" in done.stdout
    if shell == "zsh":
        assert "compdef" in done.stdout
    else:
        assert "complete " in done.stdout


def _completions(tmp_path: Path, line: str) -> list[str]:
    out = tmp_path / "completions"
    done = _run(
        env={
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_SHELL": "bash",
            "_ARGCOMPLETE_IFS": "\n",
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "COMP_TYPE": "9",
        }
    )
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in out.read_text().split("\n")]


def test_the_cli_answers_completion_requests(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    assert "runs" in _completions(tmp_path, "codex-orchestrator ru")
    assert set(_completions(tmp_path, "codex-orchestrator runs ")) >= {"list", "show", "verify"}
    assert "--outcome" in _completions(tmp_path, "codex-orchestrator review --out")


def test_a_normal_start_never_imports_argcomplete() -> None:
    probe = (
        "import sys\nfrom pytest_codex.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print('argcomplete' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "_ARGCOMPLETE"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_without_argcomplete_completion_says_how_to_install_it(tmp_path: Path) -> None:
    # A stand-in that shadows an installed argcomplete, as when the extra is absent.
    (tmp_path / "argcomplete.py").write_text("raise ImportError('No module named argcomplete')\n")
    done = _run("completion", "bash", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "pytest-codex-orchestrator[completion]" in line
    # And a shell's completion request is simply not answered: the CLI runs as usual.
    asked = _run("--version", env={"PYTHONPATH": str(tmp_path), "_ARGCOMPLETE": "1"})
    assert asked.returncode == 0 and "codex-orchestrator" in asked.stdout
