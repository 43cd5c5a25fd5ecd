"""``codex-orchestrator mcp`` over stdio, driven by the official ``mcp`` client.

Each test starts the real console script as an MCP server in a fresh repository, calls its
tools as a client we did not write would, and reads the run's manifest after the client has
disconnected (the server finishes the run then).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")

import mcp_types as types  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from pytest_codex import schemas  # noqa: E402
from pytest_codex.sandbox import probe_bubblewrap  # noqa: E402

BWRAP = probe_bubblewrap()

TASK = "mcp-task"
Session = Callable[[Client], Awaitable[Any]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}


def serve(
    repo: Path,
    body: Session,
    *args: str,
    mode: str = "auto",
    elicit: Callable[[str], types.ElicitResult] | None = None,
) -> Any:
    """Run ``body(client)`` against a server for ``repo``; its result."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pytest_codex.cli", "mcp", "--task", TASK, "--cd", str(repo), *args],
        env=_env(),
        cwd=str(repo.parent),  # not the repository: --cd names it
    )
    callback = None
    if elicit is not None:

        async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            return elicit(params.message)

    async def main() -> Any:
        async with Client(params, mode=mode, elicitation_callback=callback) as client:
            return await body(client)

    return anyio.run(main)


def manifest(repo: Path) -> dict[str, Any]:
    [path] = sorted((repo / ".runs" / TASK / "cli").glob("*/manifest.json"))
    document: dict[str, Any] = json.loads(path.read_text())
    schemas.validate("manifest", document)
    return document


def test_exec_command_returns_output_and_exit_code_and_the_manifest_has_the_command(
    repo: Path,
) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "echo hello; echo oops >&2; exit 7"})

    result = serve(repo, body)
    assert not result.is_error
    text = result.content[0].text
    assert "Process exited with code 7" in text and "hello" in text and "oops" in text
    assert result.structured_content["exit_code"] == 7
    assert result.structured_content["session_id"] is None
    document = manifest(repo)
    assert document["status"] == "failed"  # the client left; one command did not exit 0
    assert document["pipelineId"] == "mcp"
    [command] = document["commands"]
    assert command["argv"] == ["bash", "-c", "echo hello; echo oops >&2; exit 7"]
    facts = (command["exitCode"], command["exitCodeSource"], command["mode"])
    assert facts == (7, "kernel", "pipe")
    assert Path(command["logPath"]).read_text().count("hello") == 1
    [tool_run] = document["toolRuns"]
    assert tool_run["status"] == "failed" and command["toolRunId"] == tool_run["id"]


def test_a_run_whose_commands_all_exit_0_succeeds(repo: Path) -> None:
    async def body(client: Client) -> Any:
        first = await client.call_tool("exec_command", {"cmd": "mkdir -p sub && touch sub/f"})
        second = await client.call_tool("exec_command", {"cmd": "ls", "workdir": "sub"})
        return first, second

    first, second = serve(repo, body)
    assert first.structured_content["exit_code"] == 0
    assert second.structured_content["output"] == "f\n"
    document = manifest(repo)
    assert document["status"] == "succeeded"
    assert [c["cwd"] for c in document["commands"]] == [str(repo), str(repo / "sub")]


def test_a_running_command_is_a_session_that_write_stdin_types_into(repo: Path) -> None:
    async def body(client: Client) -> Any:
        started = await client.call_tool(
            "exec_command",
            {
                "cmd": "read -r -p 'name? ' name; echo hello $name; exit 5",
                "tty": True,
                # A partial line (the prompt) is held back by the redactor until the output
                # has been quiet for a second, in case it begins a secret.
                "yield_time_ms": 2500,
            },
        )
        session_id = started.structured_content["session_id"]
        answered = await client.call_tool(
            "write_stdin", {"session_id": session_id, "chars": "Ada\n", "yield_time_ms": 20000}
        )
        gone = await client.call_tool("write_stdin", {"session_id": session_id})
        return started, answered, gone

    started, answered, gone = serve(repo, body)
    assert started.structured_content["exit_code"] is None
    assert "Process running with session ID" in started.content[0].text
    assert "name? " in started.structured_content["output"]
    assert answered.structured_content["exit_code"] == 5
    assert "hello Ada" in answered.structured_content["output"]
    assert gone.is_error and "no running command" in gone.content[0].text
    [command] = manifest(repo)["commands"]
    assert (command["exitCode"], command["exitCodeSource"], command["mode"]) == (5, "kernel", "pty")


def test_a_pipe_command_has_its_stdin_closed(repo: Path) -> None:
    async def body(client: Client) -> Any:
        started = await client.call_tool("exec_command", {"cmd": "sleep 30", "yield_time_ms": 250})
        session_id = started.structured_content["session_id"]
        return await client.call_tool("write_stdin", {"session_id": session_id, "chars": "x"})

    refused = serve(repo, body)
    assert refused.is_error and "stdin is closed" in refused.content[0].text
    [command] = manifest(repo)["commands"]  # killed when the client left
    assert command["exitCode"] is None or command["exitCode"] != 0


def test_a_deny_rule_refuses_the_call_and_nothing_runs(repo: Path) -> None:
    (repo / "codex.orchestrator.yaml").write_text("approvals: { deny: ['touch'] }\n")

    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "touch made"})

    refused = serve(repo, body)
    assert refused.is_error
    assert "was not approved (rule:touch)" in refused.content[0].text
    assert not (repo / "made").exists()
    document = manifest(repo)
    assert [t["status"] for t in document["toolRuns"]] == ["refused"]
    assert document["status"] == "failed"


# Handshake-era connections (Codex, mode="legacy") and 2026-07-28 ones (the SDK's default).
PROTOCOLS = pytest.mark.parametrize("mode", ["legacy", "auto"])


@PROTOCOLS
def test_elicitation_asks_a_person_and_approval_runs_the_command(repo: Path, mode: str) -> None:
    asked: list[str] = []

    def approve(message: str) -> types.ElicitResult:
        asked.append(message)
        return types.ElicitResult(action="accept", content={"scope": "once"})

    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "touch approved"})

    result = serve(repo, body, "--approval-policy", "untrusted", mode="legacy", elicit=approve)
    assert result.structured_content["exit_code"] == 0, result.content[0].text
    assert (repo / "approved").exists()
    assert len(asked) == 1 and "touch approved" in asked[0]
    assert "untrusted policy" in asked[0]  # the policy's reason
    [approval] = manifest(repo)["approvals"]
    assert (approval["decision"], approval["source"], approval["approver"]) == (
        "approved",
        "prompt",
        "prompt:mcp-elicitation",
    )


@PROTOCOLS
def test_elicitation_declined_refuses_the_command(repo: Path, mode: str) -> None:
    def decline(message: str) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "touch declined"})

    result = serve(repo, body, "--approval-policy", "untrusted", mode=mode, elicit=decline)
    assert result.is_error and "not approved" in result.content[0].text
    assert not (repo / "declined").exists()
    document = manifest(repo)
    assert [a["decision"] for a in document["approvals"]] == ["denied"]
    assert [t["status"] for t in document["toolRuns"]] == ["refused"]


@PROTOCOLS
def test_without_elicitation_the_policy_answers_and_says_how_to_pre_approve(
    repo: Path, mode: str
) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "touch unasked"})

    result = serve(repo, body, "--approval-policy", "untrusted", mode=mode)
    assert result.is_error and "approvals.allow" in result.content[0].text
    assert not (repo / "unasked").exists()
    [approval] = manifest(repo)["approvals"]
    assert (approval["source"], approval["approver"]) == ("policy", "mcp:no-elicitation")


def test_tool_annotations_tell_the_truth(repo: Path) -> None:
    async def body(client: Client) -> Any:
        return {tool.name: tool.annotations for tool in (await client.list_tools()).tools}

    tools = serve(repo, body)
    assert sorted(tools) == ["checklist_evidence", "exec_command", "run_status", "write_stdin"]
    for name in ("exec_command", "write_stdin"):
        hints = tools[name]
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            False,
            True,
            False,
        )
        assert hints.open_world_hint is False  # the sandbox has no network by default
    for name in ("run_status", "checklist_evidence"):
        assert tools[name].read_only_hint is True and tools[name].destructive_hint is False
    (repo / "codex.orchestrator.yaml").write_text("network_access: true\n")
    with_network = serve(repo, body)
    assert with_network["exec_command"].open_world_hint is True


def test_read_only_tools_report_the_run_and_the_checklist(repo: Path) -> None:
    async def body(client: Client) -> Any:
        await client.call_tool("exec_command", {"cmd": "true"})
        status = await client.call_tool("run_status", {})
        evidence = await client.call_tool("checklist_evidence", {})
        return status, evidence

    status, evidence = serve(repo, body)
    facts = status.structured_content
    assert facts["taskId"] == TASK and facts["commands"] == 1 and facts["status"] == "in_progress"
    [path] = (repo / ".runs" / TASK / "cli").glob("*/manifest.json")
    assert Path(facts["manifestPath"]) == path
    report = evidence.structured_content
    assert report["task"] == TASK
    assert report["status"] in ("passed", "skipped", "warned", "failed")
    assert [g["name"] for g in report["guardrails"]] == ["checklist", "collateral"]
    assert manifest(repo)["status"] == "succeeded"  # the read-only tools ran nothing


def test_resume_records_into_an_existing_run(repo: Path) -> None:
    async def first(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "echo one"})

    async def second(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": "echo two"})

    serve(repo, first)
    run_id = manifest(repo)["runId"]
    serve(repo, second, "--resume", run_id)
    document = manifest(repo)  # still one run
    assert [c["argv"][-1] for c in document["commands"]] == ["echo one", "echo two"]
    assert document["status"] == "succeeded"


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mcp' or name.startswith('mcp.'):\n"
        "            raise ImportError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from pytest_codex.cli import main\n"
        "raise SystemExit(main(['mcp', '--task', 't']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "codex-orchestrator: error: codex-orchestrator mcp needs the MCP SDK (mcp is missing): "
        "pip install 'pytest-codex-orchestrator[mcp]'"
    ]
    assert not (tmp_path / ".runs").exists()


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    # Not under /tmp: inside the sandbox /tmp is a private tmpfs where writes would succeed.
    path = Path(tempfile.mkdtemp(prefix="codex-outside-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(BWRAP.backend != "bubblewrap", reason=f"no bubblewrap: {BWRAP.reason}")
@PROTOCOLS
def test_an_escalation_out_of_the_sandbox_is_asked_in_the_call_where_the_protocol_allows(
    repo: Path, outside_dir: Path, mode: str
) -> None:
    asked: list[str] = []

    def approve(message: str) -> types.ElicitResult:
        asked.append(message)
        return types.ElicitResult(action="accept", content={"scope": "once"})

    target = outside_dir / "written"

    async def body(client: Client) -> Any:
        return await client.call_tool("exec_command", {"cmd": f"touch {target}"})

    result = serve(repo, body, mode=mode, elicit=approve)
    [tool_run] = manifest(repo)["toolRuns"]
    if mode == "legacy":  # a request in the middle of the call: the person is asked
        assert result.structured_content["exit_code"] == 0, result.content[0].text
        assert target.exists()
        assert len(asked) == 1 and asked[0].startswith("Run outside the sandbox")
        assert (tool_run["status"], tool_run["sandboxState"]) == ("succeeded", "escalated")
    else:  # 2026-07-28: no request in the middle of a call; the policy's answer is no
        assert result.is_error and "not approved" in result.content[0].text
        assert not target.exists() and asked == []
        assert tool_run["status"] == "denied"
