"""The guardrail contract: a :class:`Guardrail` declares its inputs and turns a
:class:`~guardrails.context.GuardrailContext` into a :class:`Result` of :class:`Finding` s.

A result's status is ``passed``, ``failed``, ``warned`` or ``skipped``. Findings carry a
severity: any ``error`` finding fails the guardrail, ``warning`` findings alone make it
``warned``. Results are plain frozen data, so they cache, travel between pytest-xdist
processes and land in the manifest's ``guardrails[]`` unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from .context import GuardrailContext

Status = Literal["passed", "failed", "warned", "skipped"]
Severity = Literal["error", "warning"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "warned", "skipped")


@dataclass(frozen=True)
class Finding:
    """One thing a guardrail found: which rule, where, what, and how to fix it."""

    rule: str
    message: str
    path: str | None = None
    line: int | None = None
    hint: str | None = None
    severity: Severity = "error"

    def location(self) -> str:
        """``path:line``, ``path``, or ``-`` when the finding has no place."""
        if self.path is None:
            return "-"
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def render(self) -> str:
        """One line: ``path:line: rule: message (hint: ...)``."""
        text = f"{self.location()}: {self.rule}: {self.message}"
        if self.severity == "warning":
            text += " [warning]"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_record(self) -> dict[str, Any]:
        """The manifest form (``guardrails[].findings[]``)."""
        return {
            "rule": self.rule,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Finding:
        """The inverse of :meth:`to_record`."""
        line = record.get("line")
        return cls(
            rule=str(record["rule"]),
            message=str(record["message"]),
            path=record.get("path"),
            line=int(line) if line is not None else None,
            hint=record.get("hint"),
            severity="warning" if record.get("severity") == "warning" else "error",
        )


@dataclass(frozen=True)
class Result:
    """What one guardrail run found."""

    status: Status
    findings: tuple[Finding, ...] = ()
    summary: str | None = None

    @classmethod
    def from_findings(cls, findings: Iterable[Finding], summary: str | None = None) -> Result:
        """``failed`` with any error finding, ``warned`` with only warnings, else ``passed``."""
        found = tuple(findings)
        if any(f.severity == "error" for f in found):
            status: Status = "failed"
        elif found:
            status = "warned"
        else:
            status = "passed"
        return cls(status, found, summary)

    @classmethod
    def skipped(cls, reason: str) -> Result:
        """Nothing to check here; ``reason`` says why (and how to make it run)."""
        return cls("skipped", (), reason)

    def as_dry_run(self) -> Result:
        """The same findings, reported without failing (``failed`` becomes ``warned``)."""
        if self.status != "failed":
            return self
        summary = f"dry run: {self.summary}" if self.summary else "dry run"
        return Result("warned", self.findings, summary)


@dataclass(frozen=True)
class Inputs:
    """What a guardrail's result depends on; a cached result is reused only while all of it
    is unchanged.

    ``globs`` are repository-relative file patterns (``**`` crosses directories);
    ``git_range`` adds the commits and uncommitted changes since the base revision;
    ``values`` adds anything else (settings, tool versions, the date when a rule depends
    on it).
    """

    globs: tuple[str, ...] = ()
    git_range: bool = False
    values: Mapping[str, Any] = field(default_factory=dict)


class Guardrail(ABC):
    """Base class of every guardrail, built-in or third-party.

    Subclasses set ``name`` (the id users select and node ids show), ``version`` (bump it
    when the rules change: cached results of another version are not reused),
    ``description`` and, optionally, ``shared_settings``, declare :meth:`inputs`, and
    implement :meth:`run`. Commands go through
    :meth:`GuardrailContext.run_command <guardrails.context.GuardrailContext.run_command>`,
    so approvals and sandboxing apply and are recorded.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    # Sections of ``guardrails:`` whose keys this guardrail reads too, below its own
    # section (the task layout both collateral and checklist read lives under ``tasks``).
    shared_settings: ClassVar[tuple[str, ...]] = ()

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """What the result depends on (default: the settings only: no caching benefit
        from unchanged files, so override it)."""
        return Inputs(values={"settings": dict(ctx.settings)})

    @abstractmethod
    def run(self, ctx: GuardrailContext) -> Result:
        """Check the repository and report."""

    def __repr__(self) -> str:
        return f"<guardrail {self.name} v{self.version}>"
