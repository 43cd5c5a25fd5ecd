"""The approval chain: rules, then the cache, then the approver."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..records import ApprovalRecord
from ..redact import redact_text
from ..timeutil import now_iso
from .approvers import ApprovalRequest, Approver
from .keys import ApprovalKey, ApprovalPolicy, ApprovalSource, Decision, Scope, validate_scope
from .rules import ApprovalRules, RuleMatch, canonical_command
from .store import ApprovalCache, Grant


@dataclass(frozen=True)
class Resolution:
    """How an approval question was answered."""

    decision: Decision
    source: ApprovalSource
    scope: Scope
    approver: str
    reason: str | None
    key: ApprovalKey
    decided_at: str = field(default_factory=now_iso)

    @property
    def approved(self) -> bool:
        """Whether the invocation may proceed."""
        return self.decision == "approved"

    @property
    def fresh(self) -> bool:
        """Whether this is a new decision (not a cache hit): it gets an ``approvals[]`` record."""
        return self.source != "cache"

    def to_record(self, tool: str) -> ApprovalRecord:
        """The ``approvals[]`` record."""
        return ApprovalRecord(
            key=self.key.canonical(),
            tool=tool,
            decision=self.decision,
            source=self.source,
            scope=self.scope,
            approver=self.approver,
            decidedAt=self.decided_at,
            reason=self.reason,
        )


class ApprovalChain:
    """Rules, then the cache, then the approver; remembers what the approver decides."""

    def __init__(
        self,
        *,
        cache: ApprovalCache,
        approver: Approver,
        rules: ApprovalRules | None = None,
        default_scope: Scope = "once",
    ) -> None:
        self.cache = cache
        self.approver = approver
        self.rules = rules or ApprovalRules()
        self.default_scope = validate_scope(default_scope)

    def rule_for(self, argv: Sequence[str] | None, *, escalate: bool = False) -> RuleMatch | None:
        """The rule deciding ``argv`` (commands only); ``escalate``: about leaving the sandbox."""
        return self.rules.match(argv, escalate=escalate) if argv and self.rules else None

    @staticmethod
    def key_for(
        tool: str,
        raw_argv: Sequence[str] | None,
        cwd: str | None,
        permissions: frozenset[str] = frozenset(),
        *,
        escalate: bool = False,
        secrets: Iterable[str] | None = None,
    ) -> ApprovalKey:
        """The key of an invocation: shell wrappers unwrapped (:func:`canonical_command`),
        matched by the raw argv's digest, shown redacted."""
        argv = canonical_command(raw_argv) if raw_argv else None
        return ApprovalKey.for_invocation(
            tool, argv, cwd, permissions, secrets=secrets, escalate=escalate
        )

    def resolve(
        self,
        request: ApprovalRequest,
        *,
        raw_argv: Sequence[str] | None,
        may_ask: bool,
        policy: ApprovalPolicy,
        on_ask: Callable[[ApprovalRequest], None] | None = None,
    ) -> Resolution:
        """Answer ``request``; ``may_ask=False`` (policy ``never``) never reaches the approver.

        ``raw_argv`` is the unredacted argv, used only to match rules.
        """
        rule = self.rule_for(raw_argv, escalate=request.kind == "escalate")
        if rule is not None:
            return Resolution(
                rule.decision, "rule", "once", f"rule:{rule.pattern}", None, request.key
            )
        cached = self.cache.lookup(request.key)
        if cached is not None:
            return Resolution(
                cached.decision, "cache", cached.scope, cached.approver, cached.reason, cached.key
            )
        if not may_ask:
            return Resolution(
                "denied",
                "policy",
                "once",
                f"policy:{policy}",
                f"approval policy {policy!r} does not ask for approval",
                request.key,
            )
        if on_ask is not None:
            on_ask(request)
        answer = self.approver.ask(request)
        scope = validate_scope(answer.scope or self.default_scope)
        reason = None if answer.reason is None else redact_text(answer.reason)
        who = answer.approver or self.approver.name
        resolution = Resolution(
            answer.decision, self.approver.source, scope, who, reason, request.key
        )
        self.cache.remember(
            Grant(request.key, answer.decision, scope, who, resolution.decided_at, reason)
        )
        return resolution
