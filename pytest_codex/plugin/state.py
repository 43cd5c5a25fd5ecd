"""The plugin's per-session state: one ``config.stash`` key and the accessor others use.

Kept apart (with forward references only) so that loading the plugin imports nothing heavy.
Code outside the plugin (guardrail items, downstream plugins) asks :func:`session_run` for the
session's run; the key itself is private to the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..context import Context
    from ..handle import RunHandle
    from .recorder import CodexRecorder
    from .worker import WorkerRun


@dataclass(frozen=True, slots=True)
class PluginState:
    """What a recording session holds: its context, and the controller's recorder or the
    xdist worker's stand-in run (exactly one of the two)."""

    context: Context
    recorder: CodexRecorder | None = None
    worker_run: WorkerRun | None = None

    def run(self) -> RunHandle | None:
        """The session's run, once started (controller), or the worker's stand-in."""
        if self.recorder is not None:
            return self.recorder.run
        return self.worker_run


_state_key: pytest.StashKey[PluginState] = pytest.StashKey()


def _config_of(config_or_request: pytest.Config | pytest.FixtureRequest) -> pytest.Config:
    return (
        config_or_request
        if isinstance(config_or_request, pytest.Config)
        else (config_or_request.config)
    )


def set_state(config: pytest.Config, state: PluginState) -> None:
    """Store the session's state (the plugin does this once, in ``pytest_configure``)."""
    config.stash[_state_key] = state


def session_state(config_or_request: pytest.Config | pytest.FixtureRequest) -> PluginState | None:
    """The session's state; None when the session records no run (no ``--codex-task``)."""
    return _config_of(config_or_request).stash.get(_state_key, None)


def session_run(config_or_request: pytest.Config | pytest.FixtureRequest) -> RunHandle | None:
    """The run this session records into (the controller's run, or the xdist worker's
    stand-in); None without ``--codex-task`` or before the run started."""
    state = session_state(config_or_request)
    return None if state is None else state.run()


__all__ = ["PluginState", "session_run", "session_state", "set_state"]
