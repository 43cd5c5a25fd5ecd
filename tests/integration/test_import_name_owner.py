"""pip, for real, in both install orders: this project and a distribution that also ships
``guardrails`` (a stand-in for guardrails-ai, built as a wheel) in one virtual environment.
Each order is named in one line, and the fix it prints, run as printed, repairs it."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_codex.distribution import MARKER
from tests.integration.test_wheel import build_wheel

SHOW_INIT = "import importlib.util as u; print(open(u.find_spec('guardrails').origin).read())"
CHECK = (
    "from pytest_codex.distribution import check_guardrails_owner\n"
    "try:\n    check_guardrails_owner()\n"
    "except Exception as exc:\n    print('ERROR', exc)\n"
)


def _other_wheel(dist: Path) -> Path:
    """guardrails-ai 0.6.0 as pip sees it: ``guardrails/__init__.py`` (which we ship too) and
    a module of its own."""
    files = {
        "guardrails/__init__.py": b"from guardrails.guard import Guard\n",
        "guardrails/guard.py": b"class Guard:\n    pass\n",
        "guardrails_ai-0.6.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: guardrails-ai\nVersion: 0.6.0\n"
        ),
        "guardrails_ai-0.6.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        "guardrails_ai-0.6.0.dist-info/top_level.txt": b"guardrails\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("guardrails_ai-0.6.0.dist-info/RECORD,,")
    wheel = dist / "guardrails_ai-0.6.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("guardrails_ai-0.6.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    dist = tmp_path_factory.mktemp("dist")
    return build_wheel(dist), _other_wheel(dist)


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin" / "python"


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "-q", *args], check=True, capture_output=True)


def _check(python: Path) -> subprocess.CompletedProcess[str]:
    # Run beside the venv, not in the checkout (``-c`` puts the working directory first).
    return subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, check=True, cwd=python.parent
    )


def _apply_fix(python: Path, said: str) -> None:
    commands = re.findall(r"'(pip [^']+)'", said)
    assert len(commands) == 2, said
    for command in commands:
        _pip(python, *command.split()[1:])


def test_installed_after_the_other_one_warns_that_it_broke_it(
    wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    ours, other = wheels
    python = _venv(tmp_path / "venv")
    _pip(python, "install", "--no-deps", str(other))
    _pip(python, "install", "--no-deps", str(ours))
    broken = subprocess.run(
        [str(python), "-c", "from guardrails import Guard"],
        capture_output=True, text=True, cwd=python.parent,
    )  # fmt: skip
    assert broken.returncode != 0  # what pip did to the other distribution, silently
    done = _check(python)
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "pytest-codex-orchestrator was installed over guardrails-ai 0.6.0" in line
    assert "guardrails-ai 0.6.0 is broken in this environment" in line
    assert "e.g. guard.py" in line
    _apply_fix(python, line)
    assert _check(python).stderr == ""
    assert MARKER in subprocess.run(
        [str(python), "-c", SHOW_INIT],
        capture_output=True, text=True, check=True, cwd=python.parent,
    ).stdout  # fmt: skip


def test_the_other_one_installed_after_ours_is_an_error_naming_it(
    wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    ours, other = wheels
    python = _venv(tmp_path / "venv")
    _pip(python, "install", "--no-deps", str(ours))
    _pip(python, "install", "--no-deps", str(other))
    said = _check(python).stdout.strip()
    assert said.startswith("ERROR 'import guardrails' loads guardrails-ai 0.6.0's package")
    assert "not pytest-codex-orchestrator's" in said
    _apply_fix(python, said)
    done = _check(python)
    assert (done.stdout, done.stderr) == ("", "")
