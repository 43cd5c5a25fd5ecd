"""The ToolOrchestrator: every tool invocation goes approval → sandbox → attempts → record.

One invocation, step by step:

1. ``tool:start``.
2. Deny rules refuse the command outright, under every policy. Otherwise the policy says
   whether it needs approval up front (see :mod:`pytest_codex.approvals`); if so the chain
   answers (rules, cache, approver). Refused: status ``refused``, :class:`ToolRefusedError`.
3. An attempt runs: a shell command through the ``runner`` inside the configured sandbox, a
   Python callable in-process (no sandbox; approvals still apply).
4. A *denied* attempt (see :func:`pytest_codex.sandbox.detect_denial`) is escalated to the
   next less restricted sandbox, only with approval for that escalation: a covering cached
   escalation grant or an ``escalate: true`` allow rule needs no prompt (a plain allow rule
   or a grant to run the command does not cover it); policy ``never`` never escalates. No
   approval, or nothing less restricted: status ``denied``, :class:`ToolDeniedError`.
5. A failure the tool calls retryable (``retry_if`` for commands, ``retry_on`` for
   callables) is retried after ``backoff_initial * backoff_factor ** n`` seconds. On the
   last allowed attempt: ``tool:warning``, status ``failed``, :class:`ToolRetryExhaustedError`.
   ``max_attempts`` bounds every attempt, escalations included.
6. Any other failure ends the invocation with status ``failed``: a command's result is
   returned (check :attr:`ToolResult.ok`), a callable's exception is re-raised.
7. ``tool:complete`` carries the full ``toolRuns[]`` record and the orchestrator's metrics.

Events and payloads: ``tool:start`` {id, tool, argv}; ``approval:requested`` {id, key, tool,
reason} just before the approver is asked (not for rule or cache answers);
``approval:decided`` {approval: an ``approvals[]`` record plus ``toolRunId``} for every
decision that is not a cache hit; ``tool:retry`` {id, attempt (the number of the attempt
about to run), reason (``sandbox-denied`` or ``retryable-failure``), evidence, delayMs,
nextSandbox (a policy label such as ``workspace-write+network``; None for callables)};
``tool:warning`` {id, message}; ``tool:complete`` {toolRun, metrics}; and, once per
orchestrator, ``sandbox:backend`` {backend, reason, executable}.
"""

from __future__ import annotations

import os
import secrets
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, NoReturn, TypeVar

from .approvals import (
    ApprovalCache,
    ApprovalChain,
    ApprovalPolicy,
    ApprovalRecord,
    ApprovalRequest,
    ApprovalRules,
    ApprovalSource,
    Approver,
    Resolution,
    Scope,
    coerce_approver,
    is_known_safe,
    validate_policy,
)
from .config import ApprovalsSettings, OrchestratorSettings
from .emitter import Emitter
from .errors import ApprovalRefusedError, RetryExhaustedError, SandboxDeniedError, UsageError
from .handle import RunHandle
from .records import (  # re-exported: these names were defined here before records.py
    AttemptRecord,
    AttemptState,
    SandboxState,
    ToolRunRecord,
    ToolStatus,
)
from .redact import redact_argv, redact_text, secret_values

# The attempt runners live in runtime.runners; re-exported under their old import path.
from .runtime.runners import AttemptOutcome as AttemptOutcome
from .runtime.runners import Runner as Runner
from .runtime.runners import pipe_attempt as pipe_attempt
from .runtime.runners import subprocess_runner as subprocess_runner
from .sandbox import (
    BackendChoice,
    DenialEvidence,
    Protected,
    Sandbox,
    SandboxMode,
    detect_denial,
    protected_paths,
    validate_mode,
)
from .timeutil import now_iso

T = TypeVar("T")


@dataclass(frozen=True)
class ShellCommand:
    """A command to run (argv, no shell unless you write ``sh -c``).

    ``env`` holds variables added to the inherited environment. ``retry_if`` says which
    failed outcomes are worth retrying. ``requires_approval`` asks for approval up front
    under ``on-request`` and ``never``; ``reason`` is shown to the approver.
    """

    argv: Sequence[str]
    cwd: Path | str | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = None
    requires_approval: bool = False
    retry_if: Callable[[AttemptOutcome], bool] | None = None
    name: str = "shell"
    reason: str | None = None
    # Runs the attempts of this command instead of the orchestrator's runner (the exec
    # runtime passes one that streams output as events).
    runner: Runner | None = None

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not self.argv:
            raise UsageError("a ShellCommand needs a non-empty argv list, e.g. ['git', 'status']")
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))


@dataclass(frozen=True)
class PythonCall(Generic[T]):
    """A Python callable run in-process (a guardrail, a check, ...): no sandbox.

    ``argv`` optionally describes the call for records and approval keys. ``safe=True``
    declares it read-only, so ``untrusted`` does not ask. ``retry_on`` names the exception
    classes (or a predicate) worth retrying.
    """

    func: Callable[..., T]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    argv: Sequence[str] | None = None
    requires_approval: bool = False
    safe: bool = False
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = ()
    reason: str | None = None

    @property
    def tool_name(self) -> str:
        """``name``, else the callable's ``__name__``."""
        return self.name or getattr(self.func, "__name__", None) or "python"


Invocation = ShellCommand | PythonCall[Any]


@dataclass(frozen=True)
class ToolResult(Generic[T]):
    """The record of an invocation, the callable's return value, the command's outcome."""

    record: ToolRunRecord
    value: T | None = None
    outcome: AttemptOutcome | None = None

    @property
    def status(self) -> ToolStatus:
        """``succeeded``, ``failed``, ``denied`` or ``refused``."""
        return self.record["status"]

    @property
    def ok(self) -> bool:
        """Whether the invocation succeeded."""
        return self.record["status"] == "succeeded"

    @property
    def exit_code(self) -> int | None:
        """The last attempt's exit status (commands)."""
        return None if self.outcome is None else self.outcome.exit_code

    @property
    def output(self) -> str:
        """The last attempt's output (commands)."""
        return "" if self.outcome is None else self.outcome.output_text


class ToolRefusedError(ApprovalRefusedError):
    """An invocation was refused approval; ``record`` is its ``toolRuns[]`` record."""

    def __init__(self, message: str, record: ToolRunRecord) -> None:
        super().__init__(message)
        self.record = record


class ToolDeniedError(SandboxDeniedError):
    """A sandbox denied an invocation that could not be escalated; ``record`` is its record."""

    def __init__(self, message: str, record: ToolRunRecord) -> None:
        super().__init__(message)
        self.record = record


class ToolRetryExhaustedError(RetryExhaustedError):
    """Every allowed attempt failed retryably; ``record`` is the invocation's record."""

    def __init__(self, message: str, record: ToolRunRecord) -> None:
        super().__init__(message)
        self.record = record


# -- the orchestrator ---------------------------------------------------------------------------
@dataclass
class _Tracking:
    """The mutable state of one invocation while it runs."""

    id: str
    tool: str
    argv: list[str] | None
    raw_argv: Sequence[str] | None
    cwd: str | None
    env_extra: Mapping[str, str] | None
    started_at: str
    started: float
    attempts: list[AttemptRecord] = field(default_factory=list)
    approval_source: ApprovalSource = "not-required"
    approval_key: str | None = None
    questions: int = 0
    cache_answers: int = 0
    escalated: bool = False
    record: ToolRunRecord | None = None
    _secrets: list[str] | None = None

    @property
    def secrets(self) -> list[str]:
        """Secret values to scrub (computed on first use: callables rarely need it)."""
        if self._secrets is None:
            found = set(secret_values())
            if self.env_extra:
                found.update(secret_values(self.env_extra))
            self._secrets = sorted(found, key=len, reverse=True)
        return self._secrets

    @property
    def display(self) -> str:
        """How messages name the invocation: ``tool `redacted command```."""
        return f"{self.tool} `{shlex.join(self.argv)}`" if self.argv else self.tool


class ToolOrchestrator:
    """Runs tools with approvals, sandboxing, escalation and retries; emits their records.

    ``approver`` is an :class:`~pytest_codex.approvals.Approver` or a plain callable
    ``(ApprovalRequest) -> bool | str | ApprovalAnswer`` (default: the terminal when one is
    attached, else deny). ``cache`` defaults to a session-only cache; pass
    ``ApprovalCache.for_task(runs_dir, task)`` for task-scoped grants. ``rules`` takes
    :class:`~pytest_codex.approvals.ApprovalRules` or the config mapping
    (``{"allow": [...], "deny": [...]}``). ``default_scope`` applies to answers that name
    none. ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        emitter: Emitter,
        *,
        policy: ApprovalPolicy | str = OrchestratorSettings.approval_policy,
        sandbox_mode: SandboxMode | str = OrchestratorSettings.sandbox,
        network: bool = OrchestratorSettings.network_access,
        workspace: Path | str | None = None,
        approver: Approver | Callable[..., Any] | None = None,
        cache: ApprovalCache | None = None,
        rules: ApprovalRules | Mapping[str, Any] | None = None,
        default_scope: Scope = ApprovalsSettings.scope,  # type: ignore[assignment]
        max_attempts: int = OrchestratorSettings.max_attempts,
        backoff_initial: float = OrchestratorSettings.backoff_initial_ms / 1000.0,
        backoff_factor: float = 2.0,
        runner: Runner = subprocess_runner,
        backend: BackendChoice = "auto",
        writable_roots: Iterable[Path | str] = (),
        protected: Iterable[Protected | Path | str] = (),
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise UsageError(f"max_attempts must be at least 1, not {max_attempts}")
        if backoff_initial < 0 or backoff_factor < 1:
            raise UsageError("backoff_initial must be >= 0 and backoff_factor >= 1")
        self.emitter = emitter
        self.policy: ApprovalPolicy = validate_policy(policy)
        root = Path.cwd() if workspace is None else Path(workspace)
        if not root.is_dir():
            raise UsageError(f"workspace {root} is not a directory; create it or pass another")
        self.sandbox = Sandbox.create(
            validate_mode(sandbox_mode),
            root,
            network=network,
            backend=backend,
            writable_roots=writable_roots,
            protected=protected,
        )
        self.cache = cache if cache is not None else ApprovalCache()
        if rules is None or isinstance(rules, ApprovalRules):
            parsed_rules = rules or ApprovalRules()
        else:
            parsed_rules = ApprovalRules.from_config(rules)
        self.chain = ApprovalChain(
            cache=self.cache,
            approver=coerce_approver(approver),
            rules=parsed_rules,
            default_scope=default_scope,
        )
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_factor = backoff_factor
        self.runner = runner
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._approval_requests = 0
        self._cache_hits = 0
        self._retries = 0
        self.emitter.emit("sandbox:backend", self.sandbox.status.as_dict())

    @classmethod
    def for_run(cls, run: RunHandle, **overrides: Any) -> ToolOrchestrator:
        """An orchestrator bound to a run (``emit``, ``task_id``, ``paths``, ``config``).

        Policy, sandbox mode, network, attempts, backoff, rules and the approval scope come
        from the run's :class:`~pytest_codex.config.OrchestratorSettings`; the workspace is
        the repository root; the cache is the task's.
        """
        if "cache" not in overrides:
            overrides["cache"] = ApprovalCache.for_task(Path(run.paths.runs_dir), run.task_id)
        if "protected" not in overrides:  # not setdefault: listing them globs the runs
            overrides["protected"] = protected_paths(run.paths, config=getattr(run, "config", None))
        settings = OrchestratorSettings.from_config(getattr(run, "config", None))
        return cls.from_settings(run, settings, workspace=Path(run.paths.root), **overrides)

    @classmethod
    def from_settings(
        cls, emitter: Emitter, settings: OrchestratorSettings, **overrides: Any
    ) -> ToolOrchestrator:
        """An orchestrator built from a settings view (``overrides`` win)."""
        options: dict[str, Any] = {
            "policy": settings.approval_policy,
            "sandbox_mode": settings.sandbox,
            "network": settings.network_access,
            "max_attempts": settings.max_attempts,
            "backoff_initial": settings.backoff_initial_seconds,
            "rules": ApprovalRules.from_config(settings.approvals.rules()),
            "default_scope": settings.approvals.scope,
        }
        options.update(overrides)
        return cls(emitter, **options)

    # -- public API ---------------------------------------------------------------------------
    @property
    def approver(self) -> Approver:
        """Who is asked when rules and the cache have no answer."""
        return self.chain.approver

    def sandbox_status(self) -> dict[str, Any]:
        """Which sandbox backend runs commands, and why (``{"backend", "reason", ...}``)."""
        return self.sandbox.status.as_dict()

    def metrics(self) -> dict[str, Any]:
        """``approvalRequests`` (invocations that needed approval), ``cacheHits`` (those the
        cache answered entirely), ``approvalReuse`` (their ratio, None without requests) and
        ``retries`` (attempts beyond the first)."""
        with self._lock:
            requests, hits, retries = self._approval_requests, self._cache_hits, self._retries
        return {
            "approvalRequests": requests,
            "cacheHits": hits,
            "approvalReuse": hits / requests if requests else None,
            "retries": retries,
        }

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        requires_approval: bool = False,
        retry_if: Callable[[AttemptOutcome], bool] | None = None,
        name: str = "shell",
        reason: str | None = None,
    ) -> ToolResult[None]:
        """Invoke a :class:`ShellCommand`."""
        command = ShellCommand(argv, cwd, env, timeout, requires_approval, retry_if, name, reason)
        return self.invoke(command)

    def call(
        self,
        func: Callable[..., T],
        *args: Any,
        tool_name: str | None = None,
        requires_approval: bool = False,
        safe: bool = False,
        retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (),
        **kwargs: Any,
    ) -> ToolResult[T]:
        """Invoke ``func(*args, **kwargs)`` as a :class:`PythonCall`."""
        call = PythonCall(
            func,
            args,
            kwargs,
            name=tool_name,
            requires_approval=requires_approval,
            safe=safe,
            retry_on=retry_on,
        )
        return self.invoke(call)

    def invoke(self, tool: ShellCommand | PythonCall[T]) -> ToolResult[T]:
        """Run one invocation end to end (module docstring); returns its result or raises
        :class:`ToolRefusedError`, :class:`ToolDeniedError`, :class:`ToolRetryExhaustedError`
        or the callable's own exception, always after ``tool:complete``."""
        track = self._start(tool)
        try:
            self._approve_up_front(track, tool)
            if isinstance(tool, ShellCommand):
                return self._command_attempts(track, tool)  # type: ignore[return-value]
            return self._callable_attempts(track, tool)
        except BaseException as exc:
            if track.record is None:
                self._finish(track, "failed", _one_line(exc, track.secrets))
            raise

    # -- steps --------------------------------------------------------------------------------
    def pending_question(self, tool: ShellCommand) -> ApprovalRequest | None:
        """The question invoking ``tool`` now would put to the approver up front, or None
        when nobody would be asked (the policy asks nobody, a rule or a remembered grant
        answers, policy ``never``). Nothing is emitted or remembered: a caller that must
        ask a person before the invocation (an MCP server asking through elicitation)
        asks this, then answers the same question when the approver is asked."""
        track = self._tracking(tool)
        reason = self._up_front_reason(track, tool)
        if reason is None or self.policy == "never":
            return None
        request = self._request(track, frozenset(), reason, "run", None)
        if self.chain.rule_for(track.raw_argv) is not None:
            return None
        if self.chain.cache.lookup(request.key) is not None:
            return None
        return request

    def _tracking(self, tool: Invocation) -> _Tracking:
        raw: Sequence[str] | None
        if isinstance(tool, ShellCommand):
            name, raw, env_extra = tool.name, tool.argv, tool.env
            cwd: str | None = str(self._cwd_for(tool))
        else:
            name, raw, env_extra, cwd = tool.tool_name, tool.argv, None, None
        track = _Tracking(
            id=f"tool-{secrets.token_hex(6)}",
            tool=name,
            argv=None,
            raw_argv=raw,
            cwd=cwd,
            env_extra=env_extra,
            started_at=now_iso(),
            started=self._clock(),
        )
        if raw:
            track.argv = redact_argv(raw, track.secrets)
        return track

    def _start(self, tool: Invocation) -> _Tracking:
        track = self._tracking(tool)
        self.emitter.emit("tool:start", {"id": track.id, "tool": track.tool, "argv": track.argv})
        return track

    def _cwd_for(self, tool: ShellCommand) -> Path:
        if tool.cwd is None:
            return self.sandbox.workspace
        return (self.sandbox.workspace / tool.cwd).resolve()

    def _up_front_reason(self, track: _Tracking, tool: Invocation) -> str | None:
        """Why ``tool`` needs approval before it runs, or None when it does not."""
        rule = self.chain.rule_for(track.raw_argv) if isinstance(tool, ShellCommand) else None
        if rule is not None and rule.decision == "denied":
            return f"a deny rule matches: {rule.pattern}"
        if self.policy == "untrusted":
            safe = is_known_safe(tool.argv) if isinstance(tool, ShellCommand) else tool.safe
            if safe:
                return None
            return tool.reason or "untrusted policy: not a known-safe read-only command"
        if self.policy in ("on-request", "never") and tool.requires_approval:
            return tool.reason or "the tool declares that it needs approval"
        return None

    def _approve_up_front(self, track: _Tracking, tool: Invocation) -> None:
        reason = self._up_front_reason(track, tool)
        if reason is None:
            return
        resolution = self._question(track, frozenset(), reason, "run", None)
        if not resolution.approved:
            message = (
                f"{track.display} was not approved ({resolution.approver}"
                f"{': ' + resolution.reason if resolution.reason else ''})"
            )
            if resolution.source == "policy" and self.policy == "never":
                message += (
                    "; approval policy 'never' does not ask: pre-approve it "
                    "(approvals.allow in the config, or a task grant) or use another policy"
                )
            record = self._finish(track, "refused", message)
            raise ToolRefusedError(message, record)

    def _request(
        self,
        track: _Tracking,
        permissions: frozenset[str],
        reason: str,
        kind: Literal["run", "escalate"],
        evidence: DenialEvidence | None,
    ) -> ApprovalRequest:
        key = self.chain.key_for(
            track.tool,
            track.raw_argv,
            track.cwd,
            permissions,
            escalate=kind == "escalate",
            secrets=track.secrets,
        )
        return ApprovalRequest(
            key=key,
            tool=track.tool,
            argv=tuple(track.argv) if track.argv is not None else None,
            cwd=track.cwd,
            reason=redact_text(reason, track.secrets),
            kind=kind,
            permissions=permissions,
            evidence=None if evidence is None else evidence.as_record(),
        )

    def _question(
        self,
        track: _Tracking,
        permissions: frozenset[str],
        reason: str,
        kind: Literal["run", "escalate"],
        evidence: DenialEvidence | None,
    ) -> Resolution:
        request = self._request(track, permissions, reason, kind, evidence)
        key = request.key

        def announce(asked: ApprovalRequest) -> None:
            payload = {"id": track.id, "key": key.canonical(), "tool": track.tool}
            self.emitter.emit("approval:requested", {**payload, "reason": asked.reason})

        resolution = self.chain.resolve(
            request,
            raw_argv=track.raw_argv,
            may_ask=self.policy != "never",
            policy=self.policy,
            on_ask=announce,
        )
        track.questions += 1
        track.cache_answers += resolution.source == "cache"
        track.approval_source = resolution.source
        track.approval_key = key.canonical()
        if resolution.fresh:
            record: ApprovalRecord = resolution.to_record(track.tool)
            self.emitter.emit("approval:decided", {"approval": {**record, "toolRunId": track.id}})
        return resolution

    def _command_attempts(self, track: _Tracking, tool: ShellCommand) -> ToolResult[None]:
        sandbox = self.sandbox
        cwd = Path(track.cwd or sandbox.workspace)
        env = {**os.environ, **tool.env} if tool.env else None
        backoffs = 0
        while True:
            number = len(track.attempts) + 1
            runner = tool.runner or self.runner
            watched = sandbox.watch()  # protected paths missing before the command ran
            outcome = runner(tool.argv, cwd, env, sandbox.prefix(cwd), tool.timeout)
            evidence = detect_denial(
                outcome.exit_code,
                outcome.output_text,
                sandbox,
                secrets=track.secrets,
                watched=watched,
            )
            state: AttemptState
            if outcome.timed_out:
                state = "timed_out"
            elif outcome.exit_code == 0 and evidence is None:
                state = "succeeded"
            else:
                state = "denied" if evidence is not None else "failed"
            error = _outcome_error(outcome, tool.timeout)
            track.attempts.append(
                AttemptRecord(
                    attempt=number,
                    sandbox=sandbox.policy.mode,
                    network=sandbox.policy.network,
                    state=state,
                    exitCode=outcome.exit_code,
                    durationMs=round(outcome.duration * 1000.0, 3),
                    denialEvidence=None if evidence is None else evidence.as_record(),
                    error=error,
                )
            )
            if state == "succeeded":
                self._finish(track, "succeeded", None)
                return self._result(track, outcome=outcome)
            if evidence is not None:
                sandbox = self._escalate(track, sandbox, evidence, number)
                continue
            if tool.retry_if is not None and tool.retry_if(outcome):
                self._retry_or_exhaust(track, number, backoffs, error or "failed", sandbox)
                backoffs += 1
                continue
            self._finish(track, "failed", f"{track.display}: {error}")
            return self._result(track, outcome=outcome)

    def _escalate(
        self, track: _Tracking, sandbox: Sandbox, evidence: DenialEvidence, number: int
    ) -> Sandbox:
        target = sandbox.escalation(evidence)
        signals = ", ".join(evidence.signals)
        denied = f"{track.display} was denied by the {sandbox.policy.label} sandbox ({signals})"
        if target is None:
            self._deny(track, f"{denied}; no less restricted sandbox is available")
        if number >= self.max_attempts:
            self._deny(track, f"{denied}; no attempt left (max_attempts={self.max_attempts})")
        if self.policy == "never":
            # Escalation is a decision of its own, and 'never' makes none: neither a rule nor
            # a grant lets a command leave the sandbox it was configured with.
            track.approval_source = "policy"
            self._deny(
                track,
                f"{denied}; approval policy 'never' does not escalate: "
                "configure the sandbox it needs or use another policy",
            )
        extra = target.permissions - self.sandbox.policy.permissions
        reason = f"{denied}; run it in {target.label} (adds {', '.join(sorted(extra))})?"
        # The key marks the escalation: a grant or allow rule for running the command does
        # not cover it; only an escalation grant or an 'escalate: true' rule does.
        resolution = self._question(track, frozenset(extra), reason, "escalate", evidence)
        if not resolution.approved:
            who = resolution.approver + (f": {resolution.reason}" if resolution.reason else "")
            self._deny(track, f"{denied}; escalation to {target.label} not approved ({who})")
        self.emitter.emit(
            "tool:retry",
            {
                "id": track.id,
                "attempt": number + 1,
                "reason": "sandbox-denied",
                "evidence": evidence.as_record(),
                "delayMs": 0.0,
                "nextSandbox": target.label,
            },
        )
        track.escalated = True
        return sandbox.with_policy(target)

    def _deny(self, track: _Tracking, message: str) -> NoReturn:
        record = self._finish(track, "denied", message)
        raise ToolDeniedError(message, record)

    def _retry_or_exhaust(
        self,
        track: _Tracking,
        number: int,
        backoffs: int,
        error: str,
        sandbox: Sandbox | None,
        cause: BaseException | None = None,
    ) -> None:
        if number >= self.max_attempts:
            message = (
                f"{track.display} failed on all {number} attempts (last: {error}); "
                "raise max_attempts or fix the cause"
            )
            self.emitter.emit("tool:warning", {"id": track.id, "message": message})
            record = self._finish(track, "failed", message)
            raise ToolRetryExhaustedError(message, record) from cause
        delay = self.backoff_initial * self.backoff_factor**backoffs
        self.emitter.emit(
            "tool:retry",
            {
                "id": track.id,
                "attempt": number + 1,
                "reason": "retryable-failure",
                "evidence": None,
                "delayMs": round(delay * 1000.0, 3),
                "nextSandbox": None if sandbox is None else sandbox.policy.label,
            },
        )
        self._sleep(delay)

    def _callable_attempts(self, track: _Tracking, tool: PythonCall[T]) -> ToolResult[T]:
        backoffs = 0
        while True:
            number = len(track.attempts) + 1
            started = self._clock()
            try:
                value = tool.func(*tool.args, **tool.kwargs)
            except Exception as exc:
                error = _one_line(exc, track.secrets)
                track.attempts.append(self._callable_attempt(number, "failed", started, error))
                if not _retryable(tool.retry_on, exc):
                    self._finish(track, "failed", error)
                    raise
                self._retry_or_exhaust(track, number, backoffs, error, None, exc)
                backoffs += 1
                continue
            track.attempts.append(self._callable_attempt(number, "succeeded", started, None))
            self._finish(track, "succeeded", None)
            return self._result(track, value=value)

    # -- records ------------------------------------------------------------------------------
    def _finish(
        self,
        track: _Tracking,
        status: ToolStatus,
        error: str | None,
    ) -> ToolRunRecord:
        retries = max(len(track.attempts) - 1, 0)
        with self._lock:
            if track.questions:
                self._approval_requests += 1
                self._cache_hits += track.questions == track.cache_answers
            self._retries += retries
        if track.cwd is None or not self.sandbox.enforced:
            sandbox_state: SandboxState = "unsandboxed"
        else:
            sandbox_state = "escalated" if track.escalated else "sandboxed"
        record = ToolRunRecord(
            id=track.id,
            tool=track.tool,
            argv=track.argv,
            cwd=track.cwd,
            approvalSource=track.approval_source,
            approvalPolicy=self.policy,
            approvalKey=track.approval_key,
            retryCount=retries,
            sandboxState=sandbox_state,
            attempts=track.attempts,
            status=status,
            startedAt=track.started_at,
            completedAt=now_iso(),
            durationMs=round(max(self._clock() - track.started, 0.0) * 1000.0, 3),
            error=None if error is None else redact_text(" ".join(error.split()), track.secrets),
        )
        track.record = record
        self.emitter.emit("tool:complete", {"toolRun": record, "metrics": self.metrics()})
        return record

    def _result(
        self, track: _Tracking, *, value: T | None = None, outcome: AttemptOutcome | None = None
    ) -> ToolResult[T]:
        assert track.record is not None  # results are only built after _finish
        return ToolResult(record=track.record, value=value, outcome=outcome)

    def _callable_attempt(
        self, number: int, state: AttemptState, started: float, error: str | None
    ) -> AttemptRecord:
        return AttemptRecord(
            attempt=number,
            sandbox=None,
            network=None,
            state=state,
            exitCode=None,
            durationMs=round(max(self._clock() - started, 0.0) * 1000.0, 3),
            denialEvidence=None,
            error=error,
        )


def _retryable(
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool],
    exc: BaseException,
) -> bool:
    if isinstance(retry_on, tuple):
        return bool(retry_on) and isinstance(exc, retry_on)
    return bool(retry_on(exc))


def _outcome_error(outcome: AttemptOutcome, timeout: float | None) -> str | None:
    if outcome.timed_out:
        return f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    if outcome.exit_code == 0:
        return None
    return f"exit status {outcome.exit_code}"


def _one_line(exc: BaseException, secrets: Iterable[str]) -> str:
    text = " ".join(str(exc).split())
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)
