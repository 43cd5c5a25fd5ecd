"""``checklist verify`` as a function: the checklist and collateral guardrails, run alone.

Shared by the CLI (``codex-orchestrator checklist verify``) and the MCP server's read-only
``checklist_evidence`` tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_codex.context import Context


def verify_checklist(
    context: Context, task: str, *, use_cache: bool = True
) -> tuple[list[dict[str, Any]], str]:
    """The records of the checklist and collateral guardrails for ``task``, and their overall
    status (``failed``, ``warned``, ``passed`` or ``skipped``). Bad guardrail settings raise
    the configuration error they are."""
    from pytest_codex.emitter import RecordingEmitter

    from ..collateral import CollateralGuardrail
    from ..session import GuardrailSession
    from ..tasks import Layout
    from . import ChecklistGuardrail

    session = GuardrailSession.standalone(context, task, emitter=RecordingEmitter())
    session.use_cache = use_cache
    guardrails = (ChecklistGuardrail(), CollateralGuardrail())
    for guardrail in guardrails:
        Layout.from_settings(task, session.settings(guardrail))
    records = [dict(session.run(g)) for g in guardrails]
    return records, overall(records)


def overall(records: Sequence[Mapping[str, Any]]) -> str:
    """The worst status among ``records``."""
    statuses = {str(r["status"]) for r in records}
    for status in ("failed", "warned", "passed"):
        if status in statuses:
            return status
    return "skipped"
