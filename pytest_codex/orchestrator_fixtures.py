"""pytest fixtures for the ToolOrchestrator.

- ``tool_orchestrator``: a :class:`~pytest_codex.orchestrator.ToolOrchestrator` bound to the
  current run (``codex_run``): its events go to the run, its configuration (policy, sandbox,
  network, attempts, backoff, rules) is the run's, its workspace is the repository root and
  its cache is the task's. It asks the ``scripted_approver`` when the test uses that fixture,
  and otherwise denies: a test run never waits on a terminal.
- ``approval_cache``: the task's :class:`~pytest_codex.approvals.ApprovalCache`, with the
  test's ``codex_approval`` markers applied.
- ``scripted_approver``: a :class:`~pytest_codex.approvals.ScriptedApprover`; queue answers
  with ``scripted_approver.queue("approve", ("approve", "session"), "deny")`` and read what
  was asked from ``scripted_approver.requests``.

``@pytest.mark.codex_approval(key, scope="session", decision="approved")`` pre-grants (or
pre-denies) ``key`` (an approval key in its text form, e.g. ``"shell:git status"``; see
:mod:`pytest_codex.approvals`). ``session`` grants live in this test's cache only; ``task``
grants are written to the task's ``approvals.json`` and outlive the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import UsageError

# The plugin loads this module in every pytest session; the orchestrator stack is imported
# only when a test asks for one of these fixtures.
if TYPE_CHECKING:
    from .approvals import ApprovalCache, ScriptedApprover
    from .orchestrator import ToolOrchestrator

MARKER = "codex_approval"


@pytest.fixture
def scripted_approver() -> ScriptedApprover:
    """An approver that answers from a queue and records every request."""
    from .approvals import ScriptedApprover

    return ScriptedApprover()


@pytest.fixture
def approval_cache(request: pytest.FixtureRequest, codex_run: Any) -> ApprovalCache:
    """The task's approval cache, with the test's ``codex_approval`` markers applied."""
    from .approvals import ApprovalCache

    cache = ApprovalCache.for_task(Path(codex_run.paths.runs_dir), codex_run.task_id)
    for marker in request.node.iter_markers(MARKER):
        apply_marker(cache, marker, where=request.node.nodeid)
    return cache


@pytest.fixture
def tool_orchestrator(
    request: pytest.FixtureRequest, codex_run: Any, approval_cache: ApprovalCache
) -> ToolOrchestrator:
    """A ToolOrchestrator bound to the current run (see the module docstring)."""
    from .approvals import DenyApprover
    from .orchestrator import ToolOrchestrator

    if "scripted_approver" in request.fixturenames:
        approver: Any = request.getfixturevalue("scripted_approver")
    else:
        approver = DenyApprover()
    return ToolOrchestrator.for_run(codex_run, cache=approval_cache, approver=approver)


def apply_marker(cache: ApprovalCache, marker: pytest.Mark, *, where: str = "") -> None:
    from .approvals import ApprovalKey, validate_scope

    """Pre-grant what one ``codex_approval(key, scope=..., decision=...)`` marker says."""
    key = marker.args[0] if marker.args else marker.kwargs.get("key")
    if not isinstance(key, str | ApprovalKey):
        raise UsageError(
            f"{where}: codex_approval needs a key, e.g. @pytest.mark.codex_approval('shell:ls')"
        )
    scope = validate_scope(str(marker.kwargs.get("scope", "session")))
    decision = str(marker.kwargs.get("decision", "approved"))
    if decision not in ("approved", "denied"):
        raise UsageError(f"{where}: codex_approval decision must be 'approved' or 'denied'")
    cache.grant(
        key,
        scope=scope,
        decision="approved" if decision == "approved" else "denied",
        approver="marker:codex_approval",
        reason=f"pre-granted by {where}" if where else "pre-granted by a marker",
    )
