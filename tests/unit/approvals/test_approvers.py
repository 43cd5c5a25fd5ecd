"""Approvers: the terminal, short answers, scripted, callback and deny approvers."""

from __future__ import annotations

import io

import pytest

from pytest_codex.approvals import (
    ApprovalAnswer,
    ScriptedApprover,
    TtyApprover,
    to_answer,
)
from pytest_codex.errors import UsageError
from tests.helpers.approvals import key, request_for


@pytest.mark.parametrize(
    ("typed", "decision", "scope"),
    [
        ("y\n", "approved", "once"),
        ("s\n", "approved", "session"),
        ("t\n", "approved", "task"),
        ("\n", "denied", "once"),
        ("d\n", "denied", "session"),
        ("", "denied", "once"),
        ("maybe\n", "denied", "once"),
    ],
)
def test_tty_approver_reads_answers_from_given_streams(
    typed: str, decision: str, scope: str
) -> None:
    out = io.StringIO()
    answer = TtyApprover(io.StringIO(typed), out).ask(request_for(key("shell:git push"), "why"))
    assert (answer.decision, answer.scope) == (decision, scope)
    assert "git push" in out.getvalue() and "why" in out.getvalue()


def test_tty_is_not_available_under_pytest_capture() -> None:
    assert TtyApprover.available() is False


def test_short_answers() -> None:
    assert to_answer(True) == ApprovalAnswer("approved")
    assert to_answer("deny") == ApprovalAnswer("denied")
    assert to_answer(("approve", "task")) == ApprovalAnswer("approved", "task")
    with pytest.raises(UsageError):
        to_answer("perhaps")


def test_scripted_approver_records_requests_and_denies_when_exhausted() -> None:
    scripted = ScriptedApprover(["approve"])
    first = scripted.ask(request_for(key("shell:a")))
    second = scripted.ask(request_for(key("shell:b")))
    assert first.approved and not second.approved
    assert [r.key.canonical() for r in scripted.requests] == ["shell:a", "shell:b"]
