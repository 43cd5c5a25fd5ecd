"""Trusting a configuration file as a person would (``codex-orchestrator trust FILE``)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pytest_codex.config import trust_file


def trusted(path: Path, text: str | None = None) -> Path:
    """Write ``text`` to ``path`` (when given) and trust the file as it is now."""
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    trust_file(path)
    return path


@contextlib.contextmanager
def tools_dir() -> Iterator[Path]:
    """A fresh directory for programs a test installs, outside the temporary directories
    and every workspace (where the trusted side looks for programs), removed afterwards."""
    base = Path.home() / ".cache" / "codex-orchestrator-tests"
    base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="tools-", dir=base))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
