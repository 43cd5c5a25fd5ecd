"""The records a run's evidence is made of, typed, and the names of its event types.

The TypedDicts mirror ``schemas/manifest.schema.json`` (``tests[]``, ``commands[]``,
``toolRuns[]``, ``approvals[]``, ``guardrails[]``, ``stages[]``) and
``schemas/summary.schema.json``; ``total=False`` where the schema leaves keys optional.
Producers build them and sinks read them, so a renamed key is a type error instead of a
silently missing value. The constants are the event types of docs/events.md; a sink method
``_on_<namespace>_<verb>`` handles the event ``<namespace>:<verb>`` (see :func:`handler_name`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

# -- event types (docs/events.md) ------------------------------------------------------------
RUN_START = "run:start"
RUN_RESUME = "run:resume"
RUN_STATUS = "run:status"
RUN_SUMMARY = "run:summary"
TEST_RESULT = "test:result"
TOOL_START = "tool:start"
TOOL_RETRY = "tool:retry"
TOOL_WARNING = "tool:warning"
TOOL_COMPLETE = "tool:complete"
APPROVAL_REQUESTED = "approval:requested"
APPROVAL_DECIDED = "approval:decided"
EXEC_BEGIN = "exec:begin"
EXEC_CHUNK = "exec:chunk"
EXEC_END = "exec:end"
EXEC_OPTIONS = "exec:options"
STAGE_START = "stage:start"
STAGE_END = "stage:end"
GUARDRAIL_START = "guardrail:start"
GUARDRAIL_RESULT = "guardrail:result"
INSTRUCTIONS_LOADED = "instructions:loaded"
REVIEW_RECORDED = "review:recorded"
SANDBOX_BACKEND = "sandbox:backend"
SINK_STATUS = "sink:status"
METRICS_UPDATE = "metrics:update"

EVENT_TYPES: frozenset[str] = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)
)


@functools.cache
def handler_name(event_type: str) -> str:
    """The sink method for an event type: ``exec:end`` -> ``_on_exec_end``."""
    namespace, _, verb = event_type.partition(":")
    return f"_on_{namespace}_{verb}".replace("-", "_")


# -- value sets of the schemas ----------------------------------------------------------------
AttemptState = Literal["succeeded", "denied", "failed", "timed_out"]
ToolStatus = Literal["succeeded", "failed", "denied", "refused"]
SandboxState = Literal["sandboxed", "escalated", "unsandboxed"]
ApprovalPolicy = Literal["never", "on-request", "on-failure", "untrusted"]
ApprovalSource = Literal["cache", "prompt", "rule", "policy", "not-required"]
Scope = Literal["once", "session", "task"]
Decision = Literal["approved", "denied"]
# Where a command's exit status came from: the kernel (waitpid of the process the runtime
# started) or a long-lived session shell's own report.
ExitCodeSource = Literal["kernel", "shell"]


# -- manifest records ------------------------------------------------------------------------
class TestRecord(TypedDict, total=False):
    """One ``tests[]`` entry: a test item's final outcome."""

    nodeid: str
    outcome: str
    durationMs: float
    markers: list[str]
    location: Any
    failure: Any
    worker: str | None


class CommandRecord(TypedDict, total=False):
    """One ``commands[]`` entry (the payload of ``exec:end`` under ``command``)."""

    id: str
    correlationId: str
    argv: list[str]
    cwd: str
    sessionId: str | None
    mode: str
    sandboxState: str
    exitCode: int | None
    exitCodeSource: ExitCodeSource
    signal: int | None
    timedOut: bool
    startedAt: str
    completedAt: str
    durationMs: float
    bytes: dict[str, int]
    truncated: dict[str, bool]
    omitted: dict[str, int]
    logPath: str | None
    toolRunId: str | None
    attemptLogs: list[str]
    detached: list[dict[str, Any]]
    logRedacted: bool


class AttemptRecord(TypedDict):
    """One entry of a ``toolRuns[]`` record's ``attempts``."""

    attempt: int
    sandbox: str | None
    network: bool | None
    state: AttemptState
    exitCode: int | None
    durationMs: float
    denialEvidence: dict[str, Any] | None
    error: str | None


class ToolRunRecord(TypedDict):
    """A ``toolRuns[]`` record of the manifest (the ``tool:complete`` payload's ``toolRun``)."""

    id: str
    tool: str
    argv: list[str] | None
    cwd: str | None
    approvalSource: ApprovalSource
    approvalPolicy: ApprovalPolicy
    approvalKey: str | None
    retryCount: int
    sandboxState: SandboxState
    attempts: list[AttemptRecord]
    status: ToolStatus
    startedAt: str
    completedAt: str
    durationMs: float
    error: str | None


class ApprovalRecord(TypedDict):
    """An ``approvals[]`` record of the manifest (the ``approval:decided`` payload)."""

    key: str
    tool: str
    decision: Decision
    source: ApprovalSource
    scope: Scope
    approver: str
    decidedAt: str
    reason: str | None


class GuardrailRecord(TypedDict, total=False):
    """One ``guardrails[]`` entry."""

    name: str
    version: str
    status: str
    rawStatus: str
    summary: str | None
    findings: list[dict[str, Any]]
    durationMs: float
    cached: bool
    cachedFrom: str | None
    inputsHash: str | None
    cacheError: str | None
    dryRun: bool
    approvals: list[ApprovalRecord]


class StageRecord(TypedDict, total=False):
    """One ``stages[]`` entry."""

    id: str
    kind: str
    status: str
    title: str
    durationMs: float
    exitCode: int | None
    detail: str | None


# -- the run summary (schemas/summary.schema.json) -------------------------------------------
class RunBlock(TypedDict, total=False):
    """``run`` in the summary: which run, where its evidence is, how long it took."""

    id: str
    task: str
    pipeline: str | None
    runner: str
    manifestPath: str
    artifactRoot: str
    startedAt: str
    completedAt: str | None
    durationMs: float | None


class NotificationFailure(TypedDict):
    """A delivery that did not happen: which target, for which event, and why."""

    target: str
    event: str
    reason: str


class NotificationsBlock(TypedDict):
    """``notifications`` in the summary."""

    targets: list[str]
    delivered: list[dict[str, str]]
    failures: list[NotificationFailure]


class SummaryRecord(TypedDict, total=False):
    """The payload of ``run:summary`` (and ``summary`` in the manifest, ``state.json``)."""

    status: str
    statusDetail: str | None
    run: RunBlock
    result: dict[str, Any] | None
    command: dict[str, Any] | None
    outputs: dict[str, Any] | None
    logs: dict[str, Any] | None
    toolRun: ToolRunRecord | None
    notifications: NotificationsBlock
    tests: dict[str, Any]
    guardrails: dict[str, Any]
    stages: list[StageRecord]


def command_record(
    *,
    correlation_id: str,
    argv: Sequence[str],
    cwd: str,
    session_id: str | None,
    mode: str,
    sandbox_state: str,
    exit_code: int | None,
    signal: int | None,
    timed_out: bool,
    started_at: str,
    completed_at: str,
    duration_ms: float,
    streams: Mapping[str, tuple[int, bool, int]] | None = None,
    log_path: str | None = None,
    exit_code_source: str = "kernel",
) -> CommandRecord:
    """The one builder of a ``commands[]`` record; ``streams`` maps a stream's name to
    (total bytes, truncated, omitted bytes). ``exit_code_source``: ``kernel`` when the exit
    status is ``waitpid``'s for the process the runtime started, ``shell`` when a long-lived
    session shell reported it (evidence rules refuse those)."""
    if exit_code_source not in ("kernel", "shell"):
        raise ValueError(f"exit_code_source must be 'kernel' or 'shell', not {exit_code_source!r}")
    streams = streams or {}
    return {
        "id": correlation_id,
        "correlationId": correlation_id,
        "argv": [str(a) for a in argv],
        "cwd": cwd,
        "sessionId": session_id,
        "mode": mode,
        "sandboxState": sandbox_state,
        "exitCode": exit_code,
        "exitCodeSource": "shell" if exit_code_source == "shell" else "kernel",
        "signal": signal,
        "timedOut": timed_out,
        "startedAt": started_at,
        "completedAt": completed_at,
        "durationMs": duration_ms,
        "bytes": {name: total for name, (total, _, _) in streams.items()},
        "truncated": {name: cut for name, (_, cut, _) in streams.items()},
        "omitted": {name: omitted for name, (_, _, omitted) in streams.items()},
        "logPath": log_path,
    }
