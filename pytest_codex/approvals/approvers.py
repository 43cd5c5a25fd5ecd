"""Approvers: who is asked when rules and the cache have no answer."""

from __future__ import annotations

import os
import shlex
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

from ..errors import UsageError
from ..terminal import visible
from .keys import ApprovalKey, ApprovalSource, Decision, Scope, validate_scope


@dataclass(frozen=True)
class ApprovalRequest:
    """One question put to an approver."""

    key: ApprovalKey
    tool: str
    argv: tuple[str, ...] | None
    cwd: str | None
    reason: str
    kind: Literal["run", "escalate"] = "run"
    permissions: frozenset[str] = frozenset()
    evidence: Mapping[str, Any] | None = None

    @property
    def command(self) -> str:
        """The (redacted) command, shell-quoted, or the tool name."""
        return shlex.join(self.argv) if self.argv else self.tool


@dataclass(frozen=True)
class ApprovalAnswer:
    """An approver's answer; ``scope=None`` means the orchestrator's default scope."""

    decision: Decision
    scope: Scope | None = None
    reason: str | None = None
    approver: str | None = None

    @property
    def approved(self) -> bool:
        """Whether this is an approval."""
        return self.decision == "approved"


def to_answer(value: ApprovalAnswer | bool | str | tuple[Any, ...] | None) -> ApprovalAnswer:
    """An :class:`ApprovalAnswer` from a short form.

    ``True``/``"approve"``/``"approved"``/``"yes"``/``"y"`` approve; ``False``/``None``/
    ``"deny"``/``"denied"``/``"no"``/``"n"`` deny; a ``(decision, scope)`` tuple also sets
    the scope.
    """
    if isinstance(value, ApprovalAnswer):
        return value
    if isinstance(value, tuple):
        decision = to_answer(value[0]).decision
        scope = validate_scope(str(value[1])) if len(value) > 1 and value[1] else None
        reason = str(value[2]) if len(value) > 2 and value[2] else None
        return ApprovalAnswer(decision, scope, reason)
    if value is True:
        return ApprovalAnswer("approved")
    if value is False or value is None:
        return ApprovalAnswer("denied")
    word = value.strip().lower()
    if word in ("approve", "approved", "yes", "y", "allow"):
        return ApprovalAnswer("approved")
    if word in ("deny", "denied", "no", "n", "refuse"):
        return ApprovalAnswer("denied")
    raise UsageError(f"cannot read {value!r} as an approval answer; use 'approve' or 'deny'")


class Approver(ABC):
    """Who is asked when rules and the cache have no answer."""

    #: Recorded as the ``approver`` of its decisions (``prompt:tty``, ``callback:<name>``).
    name: str = "approver"
    #: Recorded as the ``source`` of its decisions.
    source: ApprovalSource = "prompt"

    @abstractmethod
    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Answer one request."""


class DenyApprover(Approver):
    """Denies everything: the approver of non-interactive runs."""

    name = "deny"
    source: ApprovalSource = "policy"

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Deny."""
        return ApprovalAnswer("denied", "once", "no approver is configured (non-interactive)")


class CallbackApprover(Approver):
    """A Python callable decides: ``func(request) -> bool | str | ApprovalAnswer | tuple``."""

    def __init__(
        self,
        func: Callable[[ApprovalRequest], ApprovalAnswer | bool | str | tuple[Any, ...] | None],
        name: str | None = None,
    ) -> None:
        self.func = func
        label = name or getattr(func, "__qualname__", None) or type(func).__name__
        self.name = f"callback:{label}"

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Call the callable."""
        return to_answer(self.func(request))


class ScriptedApprover(Approver):
    """Answers from a list, in order, and records every request (for tests).

    With no answer left it denies, so an unexpected question shows up as a refusal.
    """

    name = "prompt:scripted"

    def __init__(
        self, answers: Iterable[ApprovalAnswer | bool | str | tuple[Any, ...]] = ()
    ) -> None:
        self.answers: list[ApprovalAnswer] = [to_answer(a) for a in answers]
        self.requests: list[ApprovalRequest] = []

    def queue(self, *answers: ApprovalAnswer | bool | str | tuple[Any, ...]) -> ScriptedApprover:
        """Append answers; returns self."""
        self.answers.extend(to_answer(a) for a in answers)
        return self

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """The next answer (a denial when the script is exhausted)."""
        self.requests.append(request)
        if not self.answers:
            return ApprovalAnswer("denied", "once", "scripted approver has no answer left")
        return self.answers.pop(0)

    @property
    def asked(self) -> int:
        """How many requests were made."""
        return len(self.requests)


_TTY_CHOICES: dict[str, tuple[Decision, Scope | None]] = {
    "y": ("approved", "once"),
    "yes": ("approved", "once"),
    "s": ("approved", "session"),
    "t": ("approved", "task"),
    "n": ("denied", "once"),
    "no": ("denied", "once"),
    "": ("denied", "once"),
    "d": ("denied", "session"),
}


class TtyApprover(Approver):
    """Asks on the terminal (``/dev/tty``, or the given streams).

    Without streams it opens ``/dev/tty`` for each question; when there is no terminal it
    denies without waiting. Answers: ``y`` once, ``s`` for the session, ``t`` for the task,
    ``n`` (default) deny, ``d`` deny for the session.
    """

    name = "prompt:tty"

    def __init__(self, input: IO[str] | None = None, output: IO[str] | None = None) -> None:
        self.input = input
        self.output = output

    @staticmethod
    def available() -> bool:
        """Whether a terminal is attached (stdin is a TTY and ``/dev/tty`` opens)."""
        if not sys.stdin or not sys.stdin.isatty():
            return False
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        except OSError:
            return False
        return True

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Print the question and read one answer line."""
        if self.input is not None:
            return self._ask(request, self.input, self.output or sys.stderr)
        # One text stream cannot both read and write /dev/tty ('r+' on a character device
        # raises io.UnsupportedOperation: it is not seekable), so open it once per direction.
        try:
            reader = open("/dev/tty", encoding="utf-8")  # noqa: SIM115
        except OSError:
            return ApprovalAnswer("denied", "once", "no terminal to ask on")
        with reader:
            if not reader.isatty():
                return ApprovalAnswer("denied", "once", "no terminal to ask on")
            try:
                writer = open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115
            except OSError:
                return ApprovalAnswer("denied", "once", "no terminal to ask on")
            with writer:
                return self._ask(request, reader, writer)

    def _ask(self, request: ApprovalRequest, input: IO[str], output: IO[str]) -> ApprovalAnswer:
        # Escape codes in the command, its directory or the reason cannot redraw the question
        # (show one command, approve another): every control character is shown escaped.
        where = f" in {visible(request.cwd)}" if request.cwd else ""
        output.write(
            f"\n[codex] approve '{visible(request.command)}'{where}?\n"
            f"  reason: {visible(request.reason)}\n"
            "  [y] once  [s] session  [t] task  [n] deny (default)  [d] deny for session: "
        )
        output.flush()
        line = input.readline()
        choice = _TTY_CHOICES.get(line.strip().lower())
        if not line or choice is None:
            return ApprovalAnswer("denied", "once", "no valid answer on the terminal")
        return ApprovalAnswer(choice[0], choice[1])


def default_approver() -> Approver:
    """The terminal when one is attached, else :class:`DenyApprover`."""
    return TtyApprover() if TtyApprover.available() else DenyApprover()


def coerce_approver(approver: Approver | Callable[..., Any] | None) -> Approver:
    """An :class:`Approver` from an approver, a callable (a callback) or None (default)."""
    if approver is None:
        return default_approver()
    if isinstance(approver, Approver):
        return approver
    if callable(approver):
        return CallbackApprover(approver)
    raise UsageError(f"approver must be an Approver or a callable, not {type(approver).__name__}")
