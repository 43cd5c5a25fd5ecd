"""Trusting a configuration file as a person would (``codex-orchestrator trust FILE``)."""

from __future__ import annotations

from pathlib import Path

from pytest_codex.config import trust_file


def trusted(path: Path, text: str | None = None) -> Path:
    """Write ``text`` to ``path`` (when given) and trust the file as it is now."""
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    trust_file(path)
    return path
