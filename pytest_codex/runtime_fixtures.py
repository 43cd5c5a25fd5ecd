"""pytest fixtures for the exec runtime.

- ``exec_manager``: an :class:`~pytest_codex.runtime.ExecSessionManager` for the test, closed
  (every session killed and reaped) after it.
- ``exec_session``: a live PTY session of that manager, for driving interactive programs::

      def test_prompt(exec_manager, exec_session):
          handle = exec_manager.start("python ask.py", session_id=exec_session.id)
          handle.read_until("name? ")
          handle.send("Ada\\n")
          assert handle.result().text().endswith("hello Ada\\n")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .runtime import ExecSessionManager, PtySession


@pytest.fixture
def exec_manager() -> Iterator[ExecSessionManager]:
    """An exec runtime for this test; every session is closed after it."""
    from .runtime import ExecSessionManager

    with ExecSessionManager() as manager:
        yield manager


@pytest.fixture
def exec_session(
    exec_manager: ExecSessionManager, tmp_path_factory: pytest.TempPathFactory
) -> PtySession:
    """A live PTY session (bash, in a fresh temporary directory) closed after the test."""
    return exec_manager.open(cwd=tmp_path_factory.mktemp("exec-session"))
