"""The ``codex_guardrails`` fixture: run guardrails from a test, recorded in the run.

``codex_guardrails.run("spec-guard")`` runs one guardrail (by name, or a
:class:`guardrails.Guardrail` instance) inside the current run (``codex_run``) and returns
its ``guardrails[]`` record; ``codex_guardrails.available`` names every installed one. The
test's ``codex_approval`` markers do not apply: like guardrail items, it denies whatever the
rules and the task's approval cache do not approve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from guardrails import Guardrail, GuardrailSession


class GuardrailRunner:
    """Runs guardrails inside a run and returns their records."""

    def __init__(self, session: GuardrailSession, available: dict[str, Guardrail]) -> None:
        self.session = session
        self.available = available

    def run(self, guardrail: str | Guardrail, *, dry_run: bool = False) -> dict[str, Any]:
        """Run ``guardrail`` (a name or an instance); its ``guardrails[]`` record."""
        from dataclasses import replace

        from .errors import UsageError

        if isinstance(guardrail, str):
            if guardrail not in self.available:
                raise UsageError(
                    f"unknown guardrail {guardrail!r}; available: {', '.join(self.available)}"
                )
            guardrail = self.available[guardrail]
        session = replace(self.session, dry_run=True) if dry_run else self.session
        return session.run(guardrail)


@pytest.fixture
def codex_guardrails(codex_run: Any) -> GuardrailRunner:
    """Run guardrails inside the current run (see the module docstring)."""
    from guardrails import GuardrailSession, available

    from .approvals import DenyApprover

    settings = codex_run.config.get("guardrails") or {}
    session = GuardrailSession.for_run(codex_run, approver=DenyApprover())
    return GuardrailRunner(session, available(settings))
