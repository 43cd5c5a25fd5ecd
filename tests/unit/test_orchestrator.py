"""The ToolOrchestrator: policies by situations, escalation, retries, records, events, fixtures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator

from pytest_codex.approvals import ApprovalCache, ScriptedApprover, approvals_path
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.errors import ApprovalRefusedError, RetryExhaustedError, SandboxDeniedError
from pytest_codex.handle import RunHandle
from pytest_codex.orchestrator import (
    AttemptOutcome,
    PythonCall,
    ShellCommand,
    ToolDeniedError,
    ToolOrchestrator,
    ToolRefusedError,
    ToolRetryExhaustedError,
)
from pytest_codex.sandbox import probe_bubblewrap
from pytest_codex.schemas import load_schema

pytest_plugins = ["pytest_codex.plugin.fixtures.orchestrator"]

BWRAP = probe_bubblewrap()
HAVE_BWRAP = BWRAP.backend == "bubblewrap"
requires_bwrap = pytest.mark.skipif(
    not HAVE_BWRAP, reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)
SECRET = "supersecretvalue"


def def_validator(name: str) -> Draft202012Validator:
    defs = load_schema("manifest")["$defs"]
    return Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})


TOOL_RUN = def_validator("toolRunRecord")
APPROVAL = def_validator("approvalRecord")


@pytest.fixture
def emitter() -> RecordingEmitter:
    return RecordingEmitter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make(
    emitter: RecordingEmitter, workspace: Path, sleeps: list[float], **options: Any
) -> ToolOrchestrator:
    options.setdefault("approver", ScriptedApprover())
    return ToolOrchestrator(emitter, workspace=workspace, sleep=sleeps.append, **options)


def completed(emitter: RecordingEmitter) -> dict[str, Any]:
    record: dict[str, Any] = emitter.of_type("tool:complete")[-1]["toolRun"]
    assert not list(TOOL_RUN.iter_errors(record))
    return record


# -- the policy-by-situation matrix ---------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    prompts: int
    status: str
    source: str
    error: type[BaseException] | None = None
    escalated: bool = False


WRITE_IN_WORKSPACE = ["sh", "-c", "echo ok > made.txt"]
MATRIX: dict[tuple[str, str], Expect] = {
    ("never", "cached"): Expect(0, "succeeded", "cache"),
    ("never", "not-cached"): Expect(0, "refused", "policy", ApprovalRefusedError),
    ("never", "denied"): Expect(0, "denied", "policy", SandboxDeniedError),
    ("never", "plain-failure"): Expect(0, "failed", "not-required"),
    ("on-request", "cached"): Expect(0, "succeeded", "cache"),
    ("on-request", "not-cached"): Expect(1, "succeeded", "prompt"),
    ("on-request", "denied"): Expect(1, "succeeded", "prompt", escalated=True),
    ("on-request", "plain-failure"): Expect(0, "failed", "not-required"),
    ("on-failure", "cached"): Expect(0, "succeeded", "not-required"),
    ("on-failure", "not-cached"): Expect(0, "succeeded", "not-required"),
    ("on-failure", "denied"): Expect(1, "succeeded", "prompt", escalated=True),
    ("on-failure", "plain-failure"): Expect(0, "failed", "not-required"),
    ("untrusted", "cached"): Expect(0, "succeeded", "cache"),
    ("untrusted", "not-cached"): Expect(1, "succeeded", "prompt"),
    ("untrusted", "denied"): Expect(2, "succeeded", "prompt", escalated=True),
    ("untrusted", "plain-failure"): Expect(1, "failed", "prompt"),
}


@pytest.mark.parametrize(("policy", "situation"), list(MATRIX), ids="-".join)
def test_policy_situation_matrix(
    policy: str,
    situation: str,
    workspace: Path,
    outside_dir: Path,
    emitter: RecordingEmitter,
    sleeps: list[float],
) -> None:
    if situation == "denied" and not HAVE_BWRAP:
        pytest.skip(f"a sandbox denial needs bubblewrap: {BWRAP.reason}")
    expect = MATRIX[policy, situation]
    approver = ScriptedApprover(["approve", "approve"])
    cache = ApprovalCache()
    orchestrator = make(emitter, workspace, sleeps, policy=policy, approver=approver, cache=cache)
    if situation in ("cached", "not-cached"):
        command = ShellCommand(WRITE_IN_WORKSPACE, requires_approval=True)
        if situation == "cached":
            cache.grant("shell:sh -c 'echo ok > made.txt'")
    elif situation == "denied":
        command = ShellCommand(["sh", "-c", f"echo x > {outside_dir}/f"])
    else:
        command = ShellCommand(["sh", "-c", "echo nope >&2; exit 1"])

    if expect.error is not None:
        with pytest.raises(expect.error):
            orchestrator.invoke(command)
    else:
        orchestrator.invoke(command)

    record = completed(emitter)
    assert approver.asked == expect.prompts
    assert (record["status"], record["approvalSource"]) == (expect.status, expect.source)
    assert record["approvalPolicy"] == policy
    assert record["retryCount"] == (1 if expect.escalated else 0)
    if expect.escalated:
        assert record["sandboxState"] == "escalated"
        assert (outside_dir / "f").read_text() == "x\n"
    elif situation == "denied":
        assert record["sandboxState"] == "sandboxed"
        assert record["attempts"][0]["denialEvidence"]["signals"] == ["read-only-file-system"]
    else:
        assert record["sandboxState"] == ("sandboxed" if HAVE_BWRAP else "unsandboxed")
    if situation == "plain-failure" and expect.status == "failed":
        assert [a["state"] for a in record["attempts"]] == ["failed"]
        assert record["attempts"][0]["denialEvidence"] is None
    for payload in emitter.of_type("approval:decided"):
        assert not list(APPROVAL.iter_errors(payload["approval"]))


# -- escalation through the cache and rules -------------------------------------------------------
@requires_bwrap
def test_never_does_not_escalate_even_with_a_covering_escalation_grant(
    workspace: Path, outside_dir: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    cache = ApprovalCache()
    script = f"echo x > {outside_dir}/f"
    cache.grant(f"shell[perms=network,write-outside-workspace;escalate]:sh -c '{script}'")
    approver = ScriptedApprover()
    orchestrator = make(
        emitter, workspace, sleeps, policy="never", cache=cache, approver=approver,
        rules={"allow": [{"command": ["sh", "-c", script], "escalate": True}]},
    )  # fmt: skip
    with pytest.raises(SandboxDeniedError, match="'never' does not escalate") as raised:
        orchestrator.run(["sh", "-c", script])
    record = raised.value.record  # type: ignore[attr-defined]
    assert approver.asked == 0 and not (outside_dir / "f").exists()
    assert (record["status"], record["sandboxState"]) == ("denied", "sandboxed")
    assert emitter.of_type("tool:retry") == []


def test_allow_rule_approves_under_never(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    orchestrator = make(emitter, workspace, sleeps, policy="never", rules={"allow": ["touch"]})
    result = orchestrator.run(["touch", "made.txt"], requires_approval=True)
    assert result.ok and result.record["approvalSource"] == "rule"
    decided = emitter.of_type("approval:decided")[0]["approval"]
    assert (decided["approver"], decided["decision"], decided["source"]) == (
        "rule:touch",
        "approved",
        "rule",
    )


def test_deny_rule_refuses_under_every_policy(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    orchestrator = make(emitter, workspace, sleeps, policy="on-failure", rules={"deny": ["touch"]})
    with pytest.raises(ToolRefusedError) as raised:
        orchestrator.run(["touch", "made.txt"])
    assert raised.value.exit_code == 3
    assert raised.value.record["status"] == "refused"
    assert raised.value.record["attempts"] == []
    assert not (workspace / "made.txt").exists()


def test_never_refuses_fast_with_a_one_line_hint(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    approver = ScriptedApprover(["approve"])
    orchestrator = make(emitter, workspace, sleeps, policy="never", approver=approver)
    with pytest.raises(ApprovalRefusedError, match="policy 'never' does not ask") as raised:
        orchestrator.run(["make", "deploy"], requires_approval=True)
    assert "\n" not in str(raised.value) and approver.asked == 0
    assert emitter.of_type("approval:requested") == []


@requires_bwrap
def test_refused_escalation_is_a_sandbox_denial(
    workspace: Path, outside_dir: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    approver = ScriptedApprover(["deny"])
    orchestrator = make(emitter, workspace, sleeps, approver=approver)
    with pytest.raises(ToolDeniedError, match="not approved") as raised:
        orchestrator.run(["sh", "-c", f"echo x > {outside_dir}/f"])
    assert raised.value.exit_code == 4
    assert raised.value.record["status"] == "denied"
    requested = emitter.of_type("approval:requested")[0]
    assert set(requested) == {"id", "key", "tool", "reason"}
    assert "perms=network,write-outside-workspace" in requested["key"]


@requires_bwrap
def test_network_denial_escalates_to_network_only(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    approver = ScriptedApprover(["approve"])
    orchestrator = make(emitter, workspace, sleeps, approver=approver, max_attempts=2)
    script = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=0.5)"
    # With the network on, the unroutable address times out: an ordinary failure.
    result = orchestrator.run(["python3", "-c", script])
    assert approver.requests[0].permissions == {"network"}
    assert [a["network"] for a in result.record["attempts"]] == [False, True]
    evidence = result.record["attempts"][0]["denialEvidence"]
    assert evidence is not None and evidence["signals"] == ["network-unreachable"]
    assert result.record["attempts"][1]["sandbox"] == "workspace-write"


def test_backend_none_runs_unsandboxed_and_says_so(
    workspace: Path, outside_dir: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    orchestrator = make(emitter, workspace, sleeps, backend="none")
    assert emitter.of_type("sandbox:backend") == [orchestrator.sandbox_status()]
    assert orchestrator.sandbox_status()["backend"] == "none"
    result = orchestrator.run(["sh", "-c", f"echo x > {outside_dir}/f"])
    assert result.ok and result.record["sandboxState"] == "unsandboxed"


# -- retries ------------------------------------------------------------------------------------
FLAKY = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 3 ]'


def test_retryable_command_failures_back_off_exponentially(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    orchestrator = make(emitter, workspace, sleeps)
    result = orchestrator.run(["sh", "-c", FLAKY], retry_if=lambda o: o.exit_code == 1)
    assert result.ok and sleeps == [0.25, 0.5]
    assert result.record["retryCount"] == 2
    assert [a["state"] for a in result.record["attempts"]] == ["failed", "failed", "succeeded"]
    assert [r["delayMs"] for r in emitter.of_type("tool:retry")] == [250.0, 500.0]
    assert orchestrator.metrics()["retries"] == 2


def test_exhausted_retries_warn_and_raise(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    orchestrator = make(emitter, workspace, sleeps, backoff_initial=0.1, backoff_factor=3.0)
    with pytest.raises(RetryExhaustedError) as raised:
        orchestrator.run(["sh", "-c", "exit 75"], retry_if=lambda o: o.exit_code == 75)
    assert sleeps == pytest.approx([0.1, 0.3])
    assert raised.value.exit_code == 5
    warning = emitter.of_type("tool:warning")
    assert len(warning) == 1 and set(warning[0]) == {"id", "message"}
    record = completed(emitter)
    assert (record["status"], record["retryCount"]) == ("failed", 2)
    assert emitter.types.index("tool:warning") < emitter.types.index("tool:complete")


def test_retryable_callable_exceptions(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try again")
        return "done"

    orchestrator = make(emitter, workspace, sleeps)
    result = orchestrator.call(flaky, retry_on=(ConnectionError,))
    assert (result.value, result.record["retryCount"], sleeps) == ("done", 1, [0.25])
    assert result.record["attempts"][0]["error"] == "ConnectionError: try again"
    assert result.record["sandboxState"] == "unsandboxed" and result.record["argv"] is None

    def broken() -> None:
        raise KeyError("not retryable")

    with pytest.raises(KeyError):
        orchestrator.call(broken, retry_on=(ConnectionError,))
    assert completed(emitter)["status"] == "failed"

    with pytest.raises(ToolRetryExhaustedError) as raised:
        orchestrator.call(flaky_forever, retry_on=lambda exc: isinstance(exc, OSError))
    assert isinstance(raised.value.__cause__, OSError)


def flaky_forever() -> None:
    raise OSError("still down")


def test_timeouts_are_failures_not_denials(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    result = make(emitter, workspace, sleeps).run(["sleep", "5"], timeout=0.3)
    assert result.status == "failed" and result.exit_code is None
    assert result.record["attempts"][0]["state"] == "timed_out"
    assert result.record["error"] == "shell `sleep 5`: timed out after 0.3s"


def test_runner_is_pluggable(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    seen: list[tuple[list[str], list[str]]] = []

    def runner(
        argv: Any, cwd: Path, env: Any, sandbox_prefix: Any, timeout: float | None
    ) -> AttemptOutcome:
        seen.append((list(argv), list(sandbox_prefix)))
        return AttemptOutcome(0, "fake\n", 0.001)

    result = make(emitter, workspace, sleeps, runner=runner).run(["anything"])
    assert result.output == "fake\n" and seen[0][0] == ["anything"]
    assert bool(seen[0][1]) is HAVE_BWRAP


# -- records, events, metrics, secrets ------------------------------------------------------------
def test_callable_records_and_metrics(
    workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    approver = ScriptedApprover([("approve", "session")])
    orchestrator = make(emitter, workspace, sleeps, approver=approver)
    assert orchestrator.metrics()["approvalReuse"] is None
    orchestrator.call(len, "abc", tool_name="count")  # needs no approval: not counted
    for _ in range(4):
        result = orchestrator.invoke(
            PythonCall(len, ("abc",), name="count", requires_approval=True)
        )
        assert result.value == 3
    assert approver.asked == 1
    assert orchestrator.metrics() == {
        "approvalRequests": 4,
        "cacheHits": 3,
        "approvalReuse": 0.75,
        "retries": 0,
    }
    assert emitter.of_type("tool:complete")[-1]["metrics"] == orchestrator.metrics()
    start = emitter.of_type("tool:start")[0]
    assert set(start) == {"id", "tool", "argv"}
    record = completed(emitter)
    assert set(record) >= {
        "id", "tool", "argv", "cwd", "approvalSource", "approvalPolicy", "retryCount",
        "sandboxState", "attempts", "status", "startedAt", "completedAt", "durationMs", "error",
    }  # fmt: skip
    assert set(record["attempts"][0]) >= {
        "attempt", "sandbox", "state", "exitCode", "durationMs", "denialEvidence",
    }  # fmt: skip
    json.dumps(emitter.events)


def test_no_secret_reaches_events_records_or_approvals_json(
    tmp_path: Path,
    workspace: Path,
    outside_dir: Path,
    emitter: RecordingEmitter,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    cache = ApprovalCache.for_task(tmp_path / "runs", "t-secret")
    approver = ScriptedApprover([("approve", "task"), ("approve", "task")])
    orchestrator = make(emitter, workspace, sleeps, cache=cache, approver=approver)
    argv = ["sh", "-c", f'echo "$1" > {outside_dir}/{SECRET}', "sh", SECRET, f"--token={SECRET}"]
    result = orchestrator.run(argv, requires_approval=True, reason=f"uses {SECRET}")
    assert result.ok
    if HAVE_BWRAP:
        assert result.record["attempts"][0]["denialEvidence"] is not None

    def boom() -> None:
        raise RuntimeError(f"leaked {SECRET}")

    with pytest.raises(RuntimeError):
        orchestrator.call(boom)
    everything = (
        json.dumps(emitter.events) + approvals_path(tmp_path / "runs", "t-secret").read_text()
    )
    assert SECRET not in everything
    assert "[REDACTED]" in everything


def test_task_grants_survive_a_new_orchestrator(
    tmp_path: Path, workspace: Path, emitter: RecordingEmitter, sleeps: list[float]
) -> None:
    runs = tmp_path / "runs"
    first = make(
        emitter,
        workspace,
        sleeps,
        cache=ApprovalCache.for_task(runs, "t"),
        approver=ScriptedApprover([("approve", "task")]),
    )
    first.run(["touch", "a"], requires_approval=True)
    later = ScriptedApprover()
    second = make(
        RecordingEmitter(),
        workspace,
        sleeps,
        cache=ApprovalCache.for_task(runs, "t"),
        approver=later,
    )
    result = second.run(["touch", "a"], requires_approval=True)
    assert result.record["approvalSource"] == "cache" and later.asked == 0


# -- fixtures -----------------------------------------------------------------------------------
class FakeRun(RecordingEmitter):
    """A stand-in for the lead's ``codex_run``: emit, task_id, paths, config."""

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        super().__init__()
        self.task_id = "t-fixture"
        self.paths = SimpleNamespace(root=root, runs_dir=root / ".runs")
        self.config = config


@pytest.fixture
def codex_run(tmp_path: Path) -> FakeRun:
    root = tmp_path / "repo"
    root.mkdir()
    return FakeRun(root, {"approval_policy": "on-request", "backoff_initial_ms": 10})


@pytest.mark.codex_approval("shell:touch pre-granted", scope="session")
def test_fixture_applies_marker_pregrants(
    tool_orchestrator: ToolOrchestrator, codex_run: FakeRun, scripted_approver: ScriptedApprover
) -> None:
    result = tool_orchestrator.run(["touch", "pre-granted"], requires_approval=True)
    assert result.record["approvalSource"] == "cache" and scripted_approver.asked == 0
    assert codex_run.of_type("tool:complete")[0]["toolRun"]["id"] == result.record["id"]
    assert tool_orchestrator.backoff_initial == pytest.approx(0.01)


def test_fixture_uses_the_scripted_approver(
    tool_orchestrator: ToolOrchestrator, scripted_approver: ScriptedApprover, codex_run: FakeRun
) -> None:
    scripted_approver.queue(("approve", "task"))
    tool_orchestrator.run(["touch", "asked"], requires_approval=True)
    assert scripted_approver.asked == 1
    assert approvals_path(codex_run.paths.runs_dir, codex_run.task_id).exists()


def test_fixture_denies_without_a_scripted_approver(tool_orchestrator: ToolOrchestrator) -> None:
    with pytest.raises(ToolRefusedError, match="deny"):
        tool_orchestrator.run(["touch", "x"], requires_approval=True)


@pytest.mark.codex_approval("shell[prefix]:git", scope="session", decision="denied")
def test_marker_can_pre_deny(approval_cache: ApprovalCache) -> None:
    hit = approval_cache.grants("session")
    assert [(g.key.canonical(), g.decision) for g in hit] == [("shell[prefix]:git", "denied")]


def test_for_run_reads_the_run_configuration(tmp_path: Path) -> None:
    config = {
        "approval_policy": "untrusted",
        "sandbox": "read-only",
        "network_access": True,
        "max_attempts": 5,
        "approvals": {"allow": ["make"], "deny": ["rm -rf"], "scope": "session"},
    }
    run = FakeRun(tmp_path, config)
    orchestrator = ToolOrchestrator.for_run(cast("RunHandle", run), approver=ScriptedApprover())
    assert (orchestrator.policy, orchestrator.sandbox.mode) == ("untrusted", "read-only")
    assert orchestrator.sandbox.policy.network and orchestrator.max_attempts == 5
    assert orchestrator.chain.default_scope == "session"
    assert orchestrator.cache.path == tmp_path / ".runs" / "t-fixture" / "approvals.json"
    assert run.types == ["sandbox:backend"]
