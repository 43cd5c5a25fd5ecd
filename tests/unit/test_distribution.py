"""A foreign distribution owning one of our import names is named, with the fix, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.distribution import DISTRIBUTION, check_import_names


def _stand_in(site: Path, name: str = "guardrails-ai", version: str = "0.5.0") -> None:
    """A minimal installed distribution that ships a top-level ``guardrails`` package."""
    package = site / "guardrails"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('not the guardrails you want')\n")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text("guardrails\n")
    (info / "RECORD").write_text("guardrails/__init__.py,,\n")


def _run(code: str, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=site
    )


def test_our_own_install_passes_the_check() -> None:
    check_import_names()


def test_a_shadowing_distribution_is_named_with_the_fix(tmp_path: Path) -> None:
    _stand_in(tmp_path)
    done = _run(
        "from pytest_codex.distribution import check_import_names\n"
        "try:\n    check_import_names()\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc.exit_code, exc)\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("ImportNameClashError 2 ")
    assert "'guardrails' belongs to guardrails-ai 0.5.0 as well as " + DISTRIBUTION in line
    assert "pip install --force-reinstall " + DISTRIBUTION in line
    assert "\n" not in line


def test_the_stable_import_fails_clearly_instead_of_importing_the_stranger(
    tmp_path: Path,
) -> None:
    _stand_in(tmp_path, "openai-guardrails", "1.0.0")
    done = _run("import pytest_codex.guardrails", tmp_path)
    assert done.returncode != 0
    assert "openai-guardrails 1.0.0" in done.stderr
    assert "not the guardrails you want" not in done.stderr


def test_the_stable_import_is_the_toolkit() -> None:
    import guardrails
    from pytest_codex import guardrails as stable

    assert stable.Guardrail is guardrails.Guardrail
    assert set(stable.__all__) == set(guardrails.__all__)


@pytest.mark.parametrize("name", ["pytest_codex", "guardrails"])
def test_the_check_finds_our_names_where_we_installed_them(name: str) -> None:
    check_import_names((name,))
