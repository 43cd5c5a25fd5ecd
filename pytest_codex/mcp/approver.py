"""Approvals over MCP: a question the policy puts to a person goes to the client.

When the approval chain (rules, then the cache) has no answer and the policy asks, the
question becomes an MCP elicitation in the tool call that needs it, if the client declared
the capability. The question asked before a command runs is asked before it starts (the
server asks the orchestrator which question that would be): on every protocol version, as
the SDK's resolvers do it (a request in the middle of the call on handshake-era connections,
an ``InputRequiredResult`` round on 2026-07-28 ones); its answer is :attr:`prepared`. A
question that arises while the command runs (escalation out of the sandbox after a denial)
can only be asked in the middle of the call: on handshake-era connections (``ask``).

The person's answer is the decision: accept approves (``once``, or ``session`` for the rest
of this server's run when chosen), decline or cancel denies. When nobody can be asked the
question is denied, as policy ``never`` would, with the reason saying how to pre-approve the
command instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..approvals import ApprovalAnswer, ApprovalRequest, Approver

# (message) -> (action, scope): action "accept" | "decline" | "cancel", scope when accepted;
# None when the client cannot be asked.
Ask = Callable[[str], "Elicited | None"]


@dataclass(frozen=True)
class Elicited:
    """The client's answer to one elicitation."""

    action: str
    scope: str | None = None


class ElicitingApprover(Approver):
    """Asks the MCP client (and through it, a person) by elicitation."""

    def __init__(self, ask: Ask | None, prepared: Elicited | None = None) -> None:
        self._ask = ask
        self.prepared = prepared
        # Without a client to ask, the answer is the policy's, and recorded as such.
        asks = ask is not None or prepared is not None
        self.name = "prompt:mcp-elicitation" if asks else "mcp:no-elicitation"
        self.source = "prompt" if asks else "policy"

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Answer from the prepared answer, else ask the client, else deny."""
        if request.kind == "run" and self.prepared is not None:
            prepared = self.prepared
            self.prepared = None  # one answer for one question
            return _decision(prepared)
        if self._ask is None:
            return ApprovalAnswer(
                "denied",
                "once",
                "the MCP client offers no elicitation, so no person can be asked: "
                "pre-approve the command (approvals.allow in the config, or a task grant)",
            )
        answer = self._ask(question(request))
        if answer is None:
            return ApprovalAnswer(
                "denied",
                "once",
                "the MCP client could not be asked in the middle of this call",
                "mcp:no-elicitation",
            )
        return _decision(answer)


def _decision(answer: Elicited) -> ApprovalAnswer:
    if answer.action == "accept":
        return ApprovalAnswer("approved", "session" if answer.scope == "session" else "once")
    return ApprovalAnswer("denied", "once", f"the person chose {answer.action!r}")


def question(request: ApprovalRequest) -> str:
    """What the person is asked, in a few lines."""
    what = "Run outside the sandbox" if request.kind == "escalate" else "Run"
    lines = [f"{what}: {request.command}", f"Why: {request.reason}"]
    if request.cwd:
        lines.append(f"In: {request.cwd}")
    lines.append("Accept to approve (scope: once, or session for this server); decline to deny.")
    return "\n".join(lines)
