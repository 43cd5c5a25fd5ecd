"""The MCP server's parts that need no SDK: the running-command table and the tool's text."""

from __future__ import annotations

import threading
from typing import cast

import pytest

from pytest_codex.errors import ExecError
from pytest_codex.execution import CommandExecution
from pytest_codex.mcp.approver import Elicited, ElicitingApprover
from pytest_codex.mcp.live import Collected, LiveCommand, LiveCommands
from pytest_codex.mcp.output import approx_tokens, cut, render


def test_output_is_cut_to_the_token_budget_keeping_head_and_tail() -> None:
    text = "a" * 1000 + "b" * 1000
    kept, omitted = cut(text, max_tokens=100)  # 400 bytes
    assert kept.startswith("a" * 200) and kept.endswith("b" * 200)
    assert omitted == 1600 and "[... 1600 bytes omitted ...]" in kept
    assert cut("short", 100) == ("short", 0)
    assert approx_tokens("abcd" * 3) == 3


def test_the_text_has_codexs_unified_exec_lines() -> None:
    text, data = render(Collected("hi\n", 0, 0.25, 3, None), None)
    lines = text.splitlines()
    assert lines[0].startswith("Chunk ID: ") and lines[1] == "Wall time: 0.2500 seconds"
    assert lines[2:] == ["Process exited with code 3", "Original token count: 1", "Output:", "hi"]
    assert (data["exit_code"], data["session_id"], data["output"]) == (3, None, "hi\n")
    running, data = render(Collected("", 0, 0.3, None, 4242), None)
    assert "Process running with session ID 4242" in running and data["session_id"] == 4242
    stopped, data = render(Collected("", 0, 0.0, None, None, error="refused"), None)
    assert "Stopped by the orchestrator: refused" in stopped and data["error"] == "refused"


def test_collect_waits_for_the_start_then_the_yield_time() -> None:
    live = LiveCommand(1000, tty=True)
    results: list[Collected] = []
    worker = threading.Thread(target=lambda: results.append(live.collect(0.0, from_start=True)))
    worker.start()
    worker.join(0.2)
    assert worker.is_alive()  # an approval may be waiting for a person: no yield yet
    live.observe("pty", "hello")
    live.started(None)
    worker.join(10)
    [first] = results
    assert (first.output, first.session_id, first.exit_code) == ("hello", 1000, None)
    assert live.collect(0.0, from_start=False).output == ""  # taken once


def test_a_pipe_command_refuses_stdin_and_the_table_is_bounded() -> None:
    table = LiveCommands(limit=1)
    release = threading.Event()

    def work(live: LiveCommand) -> CommandExecution:
        release.wait(10)
        return cast(CommandExecution, None)  # what ran does not matter here

    live = table.start(False, work)
    with pytest.raises(ExecError, match="stdin is closed"):
        live.write("x")
    with pytest.raises(ExecError, match="already running"):
        table.start(False, work)
    release.set()
    table.join(10)
    assert live.done
    table.reported(live)
    with pytest.raises(ExecError, match="no running command"):
        table.get(live.session_id)


def test_the_approver_answers_the_prepared_question_once_then_asks() -> None:
    from pytest_codex.approvals import ApprovalKey, ApprovalRequest

    key = ApprovalKey.for_invocation("shell", ("true",), "/w", frozenset())
    run = ApprovalRequest(key=key, tool="shell", argv=("true",), cwd="/w", reason="untrusted")
    asked: list[str] = []

    def ask(message: str) -> Elicited:
        asked.append(message)
        return Elicited("decline")

    approver = ElicitingApprover(ask, prepared=Elicited("accept", "session"))
    first = approver.ask(run)
    assert (first.decision, first.scope) == ("approved", "session") and asked == []
    assert approver.ask(run).decision == "denied" and len(asked) == 1
    nobody = ElicitingApprover(None)
    answer = nobody.ask(run)
    assert answer.decision == "denied" and "approvals.allow" in (answer.reason or "")
    assert (nobody.name, nobody.source) == ("mcp:no-elicitation", "policy")
