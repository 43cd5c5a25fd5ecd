"""Fixtures shared by the sandbox and orchestrator tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory."""
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A writable directory outside the workspace."""
    # Not under /tmp: inside the sandbox /tmp is a private tmpfs where writes would succeed.
    path = Path(tempfile.mkdtemp(prefix="codex-outside-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
