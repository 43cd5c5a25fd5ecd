"""The MCP server: tools shaped like Codex's ``exec_command`` / ``write_stdin`` over stdio.

Built on the official ``mcp`` Python SDK (``MCPServer``), imported only here. Tools:

- ``exec_command`` {cmd, workdir?, tty?, yield_time_ms?, max_output_tokens?, justification?}
  runs one command (``bash -c CMD``, its own process) through the ToolOrchestrator into the
  server's run; it answers with the output and exit code, or with a live session id when the
  command still runs after the yield time;
- ``write_stdin`` {session_id, chars?, yield_time_ms?, max_output_tokens?} types into a
  running command (a TTY one) and/or collects what it printed since, until a call reports
  its exit;
- ``run_status`` and ``checklist_evidence`` (read only): this server's run, and what the
  task's checklist cites as evidence and whether it holds.

Annotations say what each tool does: the exec tools change the workspace (destructive, not
idempotent; open world only when the sandbox has the network); the other two only read.
"""

# No ``from __future__ import annotations``: the SDK reads the tools' annotations at run
# time, and the consent resolver named in one of them is local to build().
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import CodexError
from .approver import Elicited, ElicitingApprover, question
from .live import Collected, LiveCommand
from .output import render

if TYPE_CHECKING:
    from .session import McpSession

# Codex's unified exec bounds (milliseconds): exec_command yields within these; an empty
# write_stdin poll may wait longer, a write keeps the interactive bound.
MIN_YIELD_MS = 250
MAX_YIELD_MS = 30_000
MAX_POLL_MS = 300_000
DEFAULT_EXEC_YIELD_MS = 10_000
DEFAULT_WRITE_YIELD_MS = 250

INSTRUCTIONS = (
    "Commands run through pytest-codex's orchestrator: approval policy, bubblewrap sandbox, "
    "retries, and a run manifest that records each one. Use exec_command like Codex's own "
    "(cmd, workdir, tty, yield_time_ms); poll or type into a running command with "
    "write_stdin. run_status and checklist_evidence only read."
)


class Consent(BaseModel):
    """What a person approving a command may choose besides accept/decline."""

    scope: str = Field(
        default="once",
        description="once: this command now; session: this command for the rest of the session",
        json_schema_extra={"enum": ["once", "session"]},
    )


class NoQuestion(BaseModel):
    """What the consent resolver gives when nobody needs to be asked before the command."""


def _offers_elicitation(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _prepared(consent: Any) -> Elicited | None:
    """The person's answer from the consent resolver's outcome (None: nobody was asked)."""
    if isinstance(consent, AcceptedElicitation):
        data = consent.data
        return Elicited("accept", data.scope) if isinstance(data, Consent) else None
    action = getattr(consent, "action", None)
    return None if action is None else Elicited(str(action))


def _clamp(value: int | None, default: int, low: int, high: int) -> float:
    ms = default if value is None else int(value)
    return max(low, min(high, ms)) / 1000.0


def _result(collected: Collected, max_tokens: int | None) -> CallToolResult:
    text, structured = render(collected, max_tokens)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=collected.error is not None,
    )


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _asker(ctx: Context) -> Any:
    """A blocking ``ask(message)`` for the orchestrator's thread, or None when the client
    declared no elicitation."""
    if not _offers_elicitation(ctx):
        return None
    token = anyio.lowlevel.current_token()

    def ask(message: str) -> Elicited | None:
        try:
            answer = anyio.from_thread.run(ctx.elicit, message, Consent, token=token)
        except (MCPError, anyio.RunFinishedError, ValueError):
            # No back-channel for a request in the middle of this call (a 2026-07-28
            # connection), the client went away, or it sent an unreadable answer.
            return None
        scope = getattr(getattr(answer, "data", None), "scope", None)
        return Elicited(str(answer.action), scope)

    return ask


def build(session: "McpSession", *, network: bool) -> MCPServer:
    """The server and its four tools over ``session``."""
    app: MCPServer = MCPServer(
        "codex-orchestrator",
        title="pytest-codex orchestrator",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    acts = ToolAnnotations(
        read_only_hint=False,
        destructive_hint=True,
        idempotent_hint=False,
        open_world_hint=network,
    )
    reads = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    async def consent_for(cmd: str, ctx: Context, workdir: str | None = None) -> Any:
        """Before the command starts: the question the policy would put to a person, asked
        by elicitation when the client offers it (the SDK asks on every protocol version)."""
        try:
            request = await anyio.to_thread.run_sync(lambda: session.pending_question(cmd, workdir))
        except CodexError:
            request = None  # the tool body reports the bad argument
        if request is None or not _offers_elicitation(ctx):
            return NoQuestion()
        return Elicit(question(request), Consent)

    @app.tool(
        title="Run a command (approved, sandboxed, recorded)",
        description=(
            "Runs a command in its own process (a PTY with tty=true, else pipes), returning "
            "its output and exit code, or a session ID while it still runs after "
            "yield_time_ms. Approvals, the sandbox and retries apply; the run manifest "
            "records it."
        ),
        annotations=acts,
    )
    async def exec_command(
        ctx: Context,
        cmd: Annotated[str, Field(description="Shell command to execute (run as bash -c CMD).")],
        # Filled before the body runs: the person's answer when one had to be asked.
        consent: Annotated[ElicitationResult[Consent], Resolve(consent_for)],
        workdir: Annotated[
            str | None, Field(description="Working directory, relative to the repository root.")
        ] = None,
        tty: Annotated[
            bool, Field(description="Run on a PTY (needed to write to its stdin later).")
        ] = False,
        yield_time_ms: Annotated[
            int | None, Field(description="How long to wait (ms) for output before yielding.")
        ] = None,
        max_output_tokens: Annotated[
            int | None, Field(description="Maximum tokens of output to return (head and tail).")
        ] = None,
        justification: Annotated[
            str | None, Field(description="Accepted for parity with Codex's exec_command; unused.")
        ] = None,
    ) -> CallToolResult:
        del justification  # the approver shows the policy's own reason
        approver = ElicitingApprover(_asker(ctx), prepared=_prepared(consent))
        try:
            live: LiveCommand = session.start(cmd, workdir=workdir, tty=tty, approver=approver)
        except CodexError as exc:
            return _error(str(exc))
        wait = _clamp(yield_time_ms, DEFAULT_EXEC_YIELD_MS, MIN_YIELD_MS, MAX_YIELD_MS)
        collected = await anyio.to_thread.run_sync(
            lambda: live.collect(wait, from_start=True), abandon_on_cancel=True
        )
        return _result(session.report(live, collected), max_output_tokens)

    @app.tool(
        title="Write to / poll a running command",
        description=(
            "Writes characters to a running command's stdin (tty=true commands only; empty "
            "chars polls) and returns the output since the last call, with its exit code once "
            "it has exited."
        ),
        annotations=acts,
    )
    async def write_stdin(
        session_id: Annotated[int, Field(description="Session ID of a running command.")],
        chars: Annotated[str, Field(description="Characters to write (empty to poll).")] = "",
        yield_time_ms: Annotated[
            int | None, Field(description="How long to wait (ms) for output before yielding.")
        ] = None,
        max_output_tokens: Annotated[
            int | None, Field(description="Maximum tokens of output to return (head and tail).")
        ] = None,
    ) -> CallToolResult:
        try:
            live = session.live.get(int(session_id))
            live.write(chars)
        except CodexError as exc:
            return _error(str(exc))
        high = MAX_POLL_MS if not chars else MAX_YIELD_MS
        wait = _clamp(yield_time_ms, DEFAULT_WRITE_YIELD_MS, MIN_YIELD_MS, high)
        collected = await anyio.to_thread.run_sync(
            lambda: live.collect(wait, from_start=False), abandon_on_cancel=True
        )
        return _result(session.report(live, collected), max_output_tokens)

    @app.tool(
        title="This server's run",
        description="The run this server records into: ids, manifest path, status, counts.",
        annotations=reads,
    )
    async def run_status() -> dict[str, Any]:
        from ..status import run_status as read_status

        facts = session.status()
        on_disk = await anyio.to_thread.run_sync(read_status, session.run.paths.manifest)
        return {**facts, "status": on_disk.get("status"), "run": on_disk}

    @app.tool(
        title="Checklist evidence",
        description=(
            "Whether every ticked item of the task's checklist cites a manifest of a "
            "succeeded run (checklist verify, without the cache)."
        ),
        annotations=reads,
    )
    async def checklist_evidence() -> dict[str, Any]:
        from guardrails.checklist.verify import verify_checklist

        context = session.run.context
        records, status = await anyio.to_thread.run_sync(
            lambda: verify_checklist(context, session.run.task_id, use_cache=False)
        )
        return {"task": session.run.task_id, "status": status, "guardrails": records}

    return app


async def serve(session: "McpSession", *, network: bool) -> None:
    """Serve over stdio until the client disconnects, then finish the session's run.

    Clients end a stdio server by closing its stdin or by a signal (Codex sends SIGTERM):
    either is the end of the session. Only commands still running then make the run
    ``cancelled``."""
    app = build(session, network=network)
    interrupted = False
    try:
        await app.run_stdio_async()
    except BaseException:
        interrupted = session.live.running() > 0
        raise
    finally:
        await anyio.to_thread.run_sync(lambda: session.close(interrupted=interrupted))
