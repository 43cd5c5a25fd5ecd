"""Fixture repositories for guardrail tests: git helpers and file writers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from guardrails import Guardrail, GuardrailSession
from pytest_codex.emitter import RecordingEmitter

GIT = ("git", "-c", "user.name=test", "-c", "user.email=test@example.invalid")


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` (failing the test when git fails); its stdout."""
    done = subprocess.run([*GIT, *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def write(root: Path, files: Mapping[str, str]) -> None:
    """Create ``files`` (repository-relative path -> text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit(root: Path, message: str = "change") -> str:
    """Commit everything in ``root``; the new HEAD sha."""
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


# The ``guardrail_session`` fixture: (root, task_id=, config=, env=, today=, **options).
SessionFactory = Callable[..., tuple[GuardrailSession, RecordingEmitter]]


def run_one(session: GuardrailSession, guardrail: Guardrail) -> dict[str, Any]:
    """Run ``guardrail`` in ``session``; its ``guardrails[]`` record."""
    return session.run(guardrail)


def rules(record: Mapping[str, Any]) -> list[str]:
    """The rule of every finding of a record, in order."""
    return [f["rule"] for f in record["findings"]]
