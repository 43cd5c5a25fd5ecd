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


def build_wheel(dist: Path) -> Path:
    """The project's wheel, built into ``dist`` from this checkout."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)],
        check=True,
    )  # fmt: skip
    [wheel] = list(dist.glob("pytest_codex_orchestrator-*.whl"))
    return wheel


def install_wheel(wheel: Path, site: Path) -> None:
    """The wheel alone (no dependencies) installed into the directory ``site``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True,
    )  # fmt: skip


def test_the_wheel_ships_and_loads_the_schemas(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
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
    install_wheel(wheel, site)
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


def test_a_fresh_venv_installs_the_wheel_by_name_and_runs_the_demo(tmp_path: Path) -> None:
    """What a user does: build, ``pip install pytest-codex-orchestrator`` (this wheel, with its
    dependencies from the index) into a new venv, and run the demo with that venv's Python."""
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # By its distribution name: pip refuses a wheel whose metadata names another project.
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         f"pytest-codex-orchestrator @ {wheel.as_uri()}"],
        check=True,
    )  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST_", "CODEX_ORCHESTRATOR_"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    where = subprocess.run(
        [str(python), "-c",
         "import importlib.metadata as m, pytest_codex, guardrails; "
         "print(m.distribution('pytest-codex-orchestrator').version); "
         "print(pytest_codex.__file__); print(guardrails.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    version, package, toolkit = where.stdout.split()
    assert version == "0.1.0"
    assert Path(package).is_relative_to(venv) and Path(toolkit).is_relative_to(venv)

    target = tmp_path / "ledger-demo"
    demo = subprocess.run(
        [str(python), str(ROOT / "examples" / "demo.py"), str(target)],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    task = "0303-orchestrator-autonomy"
    manifests = [
        json.loads(p.read_text()) for p in (target / ".runs" / task / "cli").glob("*/manifest.json")
    ]
    [suite] = [m for m in manifests if m["runner"] == "pytest" and m.get("parentRunId") is None]
    assert suite["status"] == "succeeded" and suite["taskId"] == task
    assert suite["reviews"][0]["outcome"] == "approved"
    assert (
        f".runs/{task}/cli/{suite['runId']}/manifest.json"
        in (target / "tasks" / f"tasks-{task}.md").read_text()
    )
    assert "[x]" in (target / "tasks" / f"tasks-{task}.md").read_text()
