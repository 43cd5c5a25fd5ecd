"""A non-editable install (the built wheel) ships the schemas and loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT


def test_the_wheel_ships_and_loads_the_schemas(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = list((tmp_path / "dist").glob("pytest_codex_orchestrator-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("manifest", "event", "config", "summary", "codex-event"):
        assert f"pytest_codex/schemas/{schema}.schema.json" in names
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "codex = pytest_codex.plugin" in entry_points
    assert "codex-orchestrator = pytest_codex.cli:main" in entry_points

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_codex import schemas; print(schemas.schema_dir()); "
            "print(schemas.load_schema('manifest')['$id'])",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    directory, schema_id = probe.stdout.split()
    assert Path(directory).is_relative_to(site)
    assert schema_id.endswith("/manifest/v1.json")
    printed = subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", "schema", "event"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(printed.stdout)["title"] == "pytest-codex event envelope"


def test_an_installation_that_overwrote_our_guardrails_is_named(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = list((tmp_path / "dist").glob("pytest_codex_orchestrator-*.whl"))
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    # What `pip install guardrails-ai` does to a shared top-level name: its files replace ours.
    (site / "guardrails" / "__init__.py").write_text("from .guard import Guard\n")
    info = site / "guardrails_ai-0.6.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: guardrails-ai\nVersion: 0.6.0\n")
    (info / "RECORD").write_text("guardrails/__init__.py,,\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_codex.distribution import check_import_names\n"
            "try:\n    check_import_names()\nexcept Exception as exc:\n    print(exc)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'guardrails' belongs to guardrails-ai 0.6.0 as well as pytest-codex-orchestrator" in (
        done.stdout
    )
    assert "was overwritten by another installation" in done.stdout
