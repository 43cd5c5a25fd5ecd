"""``guardrails.plugins`` modules: under pytest, whose process imports the workspace's code
anyway, they load from the repository root however pytest started; ``codex-orchestrator``
(the trusted side) never imports a module that lies in the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.paths import ROOT_ENV
from tests.helpers.trust import trusted

BIN = Path(sys.executable).parent
TASK = "1717-local-guardrails"

LOCAL = """
from guardrails import Guardrail, Result, hookimpl


class LocalClean(Guardrail):
    name = "local-clean"
    description = "a guardrail of this repository"
    def run(self, ctx):
        return Result.from_findings([], "clean")


@hookimpl
def codex_guardrails():
    return [LocalClean()]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "local"
    (root / "sub").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "local_guardrails.py").write_text(LOCAL)
    trusted(root / "codex.orchestrator.yaml", "guardrails:\n  plugins: [local_guardrails]\n")
    (root / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    return root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env[ROOT_ENV] = str(root)
    return env


def _script(name: str, *argv: str, cwd: Path, root: Path) -> subprocess.CompletedProcess[str]:
    script = BIN / name
    if not script.is_file():
        pytest.skip(f"the {name} console script is not installed beside {sys.executable}")
    return subprocess.run(
        [str(script), *argv], cwd=cwd, env=_env(root), capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip


def test_the_console_script_never_imports_plugins_from_the_workspace(repo: Path) -> None:
    (repo / "local_guardrails.py").write_text(LOCAL + "\nraise SystemExit('imported')\n")
    listing = _script(
        "codex-orchestrator", "guardrails", "list", "--format", "json", cwd=repo / "sub", root=repo
    )
    assert listing.returncode == 2, listing.stdout + listing.stderr
    assert "'local_guardrails' is" in listing.stderr and "in the workspace" in listing.stderr
    assert "imported" not in listing.stderr


def test_pytest_imports_plugins_from_the_repository_root(repo: Path) -> None:
    done = _script(
        "pytest", f"--codex-task={TASK}", "--codex-guardrails=local-clean", "-p",
        "no:cacheprovider", "-q", "tests", cwd=repo, root=repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
