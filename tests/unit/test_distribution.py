"""``guardrails`` owned by another distribution is named, with a fix, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import guardrails
from pytest_codex.distribution import (
    DISTRIBUTION,
    GUARDRAILS_ENTRIES,
    MARKER,
    guardrails_owner_problem,
)


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
    assert guardrails_owner_problem() is None


def test_the_marker_is_in_our_package() -> None:
    assert MARKER in Path(guardrails.__file__).read_text(encoding="utf-8")


def test_the_entries_we_ship_are_the_ones_the_check_knows() -> None:
    here = {p.name for p in Path(guardrails.__file__).parent.iterdir()} - {"__pycache__"}
    assert here == GUARDRAILS_ENTRIES, "update GUARDRAILS_ENTRIES in pytest_codex/distribution.py"


def test_a_shadowing_distribution_is_named_with_the_fix(tmp_path: Path) -> None:
    _stand_in(tmp_path)
    done = _run(
        "from pytest_codex.distribution import check_guardrails_owner\n"
        "try:\n    check_guardrails_owner()\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc.exit_code, exc)\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("ImportNameClashError 2 ")
    assert (
        f"loads guardrails-ai 0.5.0's package ({tmp_path / 'guardrails'}), not {DISTRIBUTION}'s"
        in line
    )
    assert "pip uninstall -y guardrails-ai" in line
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
    from pytest_codex import guardrails as stable

    assert stable.Guardrail is guardrails.Guardrail
    assert set(getattr(stable, "__all__")) == set(guardrails.__all__)  # noqa: B009 (re-exported)
