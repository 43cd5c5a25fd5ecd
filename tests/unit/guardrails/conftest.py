"""Fixtures for guardrail tests: fixture repositories and a session that runs guardrails."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from guardrails import GuardrailSession
from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.paths import ROOT_ENV
from tests.helpers.repos import SessionFactory, git
from tests.helpers.trust import trusted


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository (branch main, no commits)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


@pytest.fixture
def guardrail_session() -> SessionFactory:
    """``guardrail_session(root, task_id=..., config=..., env=..., today=...)``: a standalone
    :class:`GuardrailSession` over ``root`` whose events go to a RecordingEmitter.

    ``config`` is written as ``codex.orchestrator.yaml`` content (a mapping) when given, and
    trusted as a person would (``codex-orchestrator trust``).
    Commands run through a real ToolOrchestrator (the bubblewrap sandbox where installed).
    """

    def make(
        root: Path,
        *,
        task_id: str | None = "0303-demo-task",
        config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        today: dt.date | None = None,
        **options: Any,
    ) -> tuple[GuardrailSession, RecordingEmitter]:
        if config is not None:
            import yaml

            trusted(root / "codex.orchestrator.yaml", yaml.safe_dump(dict(config)))
        context = Context.load(cwd=root, env={ROOT_ENV: str(root), **(env or {})})
        emitter = RecordingEmitter()
        if today is not None:
            options["today"] = today
        session = GuardrailSession.standalone(context, task_id, emitter=emitter, **options)
        return session, emitter

    return make
