"""The terminal approver on a real PTY: the prompt is shown and the typed answer decides."""

from __future__ import annotations

import json
import sys

import pytest
from ptyprocess import PtyProcessUnicode

CHILD = """
import json
from pytest_codex.approvals import ApprovalKey, ApprovalRequest, default_approver
approver = default_approver()
key = ApprovalKey("shell", ("git", "push"))
request = ApprovalRequest(key=key, tool="shell", argv=key.argv, cwd="/repo", reason="pty test")
answer = approver.ask(request)
print("RESULT " + json.dumps([type(approver).__name__, answer.decision, answer.scope]))
"""


def _read_until(child: PtyProcessUnicode, marker: str) -> str:
    seen = ""
    while marker not in seen:
        try:
            seen += child.read(1024)
        except EOFError:
            break
    return seen


@pytest.mark.parametrize(
    ("typed", "decision", "scope"),
    [
        ("y", "approved", "once"),
        ("n", "denied", "once"),
        ("s", "approved", "session"),
        ("t", "approved", "task"),
        ("d", "denied", "session"),
        ("", "denied", "once"),
    ],
)
def test_tty_approver_answers_on_a_real_terminal(typed: str, decision: str, scope: str) -> None:
    child = PtyProcessUnicode.spawn([sys.executable, "-c", CHILD], dimensions=(24, 200))
    try:
        prompt = _read_until(child, "deny for session:")
        assert "approve 'git push' in /repo?" in prompt and "reason: pty test" in prompt
        assert "[s] session" in prompt
        child.write(typed + "\r")
        output = _read_until(child, "]\r\n")
    finally:
        child.close(force=True)
    line = next(part for part in output.splitlines() if part.startswith("RESULT "))
    assert json.loads(line.removeprefix("RESULT ")) == ["TtyApprover", decision, scope]
