"""Typed keys of the per-session state the plugin keeps in ``config.stash``.

Kept apart (with forward references) so that loading the plugin imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..context import Context
    from . import CodexRecorder
    from .worker import WorkerRun

context_key: pytest.StashKey[Context] = pytest.StashKey()
recorder_key: pytest.StashKey[CodexRecorder] = pytest.StashKey()
worker_run_key: pytest.StashKey[WorkerRun] = pytest.StashKey()

__all__ = ["context_key", "recorder_key", "worker_run_key"]
