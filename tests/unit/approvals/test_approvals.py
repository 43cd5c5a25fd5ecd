"""Approval keys, the cache (session and task scopes), rules, approvers, the chain, the CLI."""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_codex.approvals import (
    ApprovalAnswer,
    ApprovalCache,
    ApprovalChain,
    ApprovalKey,
    ApprovalRequest,
    ApprovalRules,
    CallbackApprover,
    DenyApprover,
    Grant,
    ScriptedApprover,
    TtyApprover,
    approvals_path,
    is_known_safe,
    split_shell_script,
    to_answer,
)
from pytest_codex.cli import approvals as cli_approvals
from pytest_codex.errors import CodexError, UsageError

TASK = "t-approvals"


def key(text: str) -> ApprovalKey:
    return ApprovalKey.parse(text)


def request_for(k: ApprovalKey, reason: str = "test") -> ApprovalRequest:
    return ApprovalRequest(key=k, tool=k.tool, argv=k.argv, cwd=k.cwd, reason=reason)


# -- keys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "shell:git status",
        "lint",
        "shell[cwd=/repo]:git status --short",
        "shell[perms=network,write-outside-workspace]:sh -c 'echo x > /o/f'",
        "shell[cwd=/we%3Bird%5D:dir;perms=network;prefix]:pytest",
        "guard[prefix]",
    ],
)
def test_key_text_round_trips(text: str) -> None:
    assert key(text).canonical() == text
    assert ApprovalKey.from_json(key(text).to_json()) == key(text)


def test_key_fields_parse_from_text() -> None:
    parsed = key("shell[cwd=/x:y;perms=network;prefix]:git log -1")
    assert parsed == ApprovalKey(
        "shell", ("git", "log", "-1"), "/x:y", frozenset({"network"}), True
    )


@pytest.mark.parametrize(
    "text", ["shell[bogus=1]:ls", "shell[perms=fly]:ls", "she ll:ls", "shell[cwd=/x:ls"]
)
def test_bad_keys_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        key(text)


def test_keys_are_built_from_redacted_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "supersecretvalue")
    built = ApprovalKey.for_invocation(
        "shell", ["curl", "-H", "x: supersecretvalue", "--token=abc123"], "/w"
    )
    assert "supersecretvalue" not in built.canonical() and "abc123" not in built.canonical()


@pytest.mark.parametrize(
    ("grant", "request_", "covered"),
    [
        ("shell:git status", "shell:git status", True),
        ("shell:git status", "shell:git status --short", False),
        ("shell[prefix]:git status", "shell:git status --short", True),
        ("shell[prefix]:git status", "shell:git stash", False),
        ("shell:ls", "other:ls", False),
        ("shell[cwd=/repo]:ls", "shell[cwd=/repo/sub]:ls", True),
        ("shell[cwd=/repo]:ls", "shell[cwd=/repository]:ls", False),
        ("shell[cwd=/repo]:ls", "shell:ls", False),
        ("shell:ls", "shell[cwd=/anywhere]:ls", True),
        ("shell[perms=network,write-outside-workspace]:x", "shell[perms=network]:x", True),
        ("shell[perms=network,write-outside-workspace]:x", "shell:x", True),
        ("shell[perms=network]:x", "shell[perms=network,write-outside-workspace]:x", False),
        ("shell:x", "shell[prefix]:x", False),
    ],
)
def test_coverage_rule(grant: str, request_: str, covered: bool) -> None:
    assert key(grant).covers(key(request_)) is covered


# -- the cache ----------------------------------------------------------------------------------
def test_once_is_never_remembered_and_session_is_per_instance(tmp_path: Path) -> None:
    cache = ApprovalCache.for_task(tmp_path, TASK)
    cache.remember(Grant(key("shell:ls"), "approved", "once", "test"))
    assert cache.lookup(key("shell:ls")) is None
    cache.grant("shell:ls", scope="session")
    assert cache.lookup(key("shell:ls")) is not None
    assert ApprovalCache.for_task(tmp_path, TASK).lookup(key("shell:ls")) is None
    assert not approvals_path(tmp_path, TASK).exists()


def test_task_grants_survive_new_instances(tmp_path: Path) -> None:
    ApprovalCache.for_task(tmp_path, TASK).grant("shell:make", scope="task", approver="me")
    found = ApprovalCache.for_task(tmp_path, TASK).lookup(key("shell[cwd=/w]:make"))
    assert found is not None and found.approver == "me" and found.scope == "task"
    document = json.loads(approvals_path(tmp_path, TASK).read_text())
    assert document["version"] == 1
    assert document["grants"][0]["key"] == "shell:make"
    assert set(document["grants"][0]) >= {"decision", "scope", "approver", "decidedAt"}


def test_a_covering_denial_wins_and_same_key_is_replaced(tmp_path: Path) -> None:
    cache = ApprovalCache.for_task(tmp_path, TASK)
    cache.grant("shell:git push", scope="session")
    cache.grant("shell[prefix]:git", scope="task", decision="denied")
    hit = cache.lookup(key("shell:git push"))
    assert hit is not None and hit.decision == "denied"
    cache.grant("shell[prefix]:git", scope="task", decision="approved")
    assert len(cache.grants("task")) == 1
    hit = cache.lookup(key("shell:git push"))
    assert hit is not None and hit.approved


def test_other_processes_writes_are_seen(tmp_path: Path) -> None:
    reader = ApprovalCache.for_task(tmp_path, TASK)
    assert reader.lookup(key("shell:ls")) is None
    ApprovalCache.for_task(tmp_path, TASK).grant("shell:ls", scope="task")
    assert reader.lookup(key("shell:ls")) is not None
    ApprovalCache.for_task(tmp_path, TASK).revoke("shell:ls")
    assert reader.lookup(key("shell:ls")) is None


def test_task_scope_needs_a_persistent_cache() -> None:
    with pytest.raises(UsageError, match="for_task"):
        ApprovalCache().grant("shell:ls", scope="task")


def _write_grants(runs_dir: str, worker: int, count: int) -> None:
    cache = ApprovalCache.for_task(Path(runs_dir), TASK)
    for index in range(count):
        cache.grant(f"shell:worker-{worker} {index}", scope="task", approver=f"w{worker}")


def test_concurrent_writers_do_not_corrupt_the_file(tmp_path: Path) -> None:
    workers, per_worker = 6, 15
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_write_grants, args=(str(tmp_path), w, per_worker))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    document = json.loads(approvals_path(tmp_path, TASK).read_text())
    keys = {g["key"] for g in document["grants"]}
    assert len(keys) == workers * per_worker
    assert not list(approvals_path(tmp_path, TASK).parent.glob("*.tmp"))


# -- rules and known-safe commands ----------------------------------------------------------------
RULES = ApprovalRules.from_config({"allow": ["git status", "pytest"], "deny": ["rm -rf"]})


@pytest.mark.parametrize(
    ("argv", "decision"),
    [
        (["git", "status", "--short"], "approved"),
        (["pytest", "-q"], "approved"),
        (["git", "push"], None),
        (["rm", "-rf", "build"], "denied"),
        (["sudo", "rm", "-rf", "/"], "denied"),
        (["sh", "-c", "git status && pytest -x"], "approved"),
        (["sh", "-c", "pytest; rm -rf /"], "denied"),
        (["bash", "-lc", "pytest > log"], None),
        (["sh", "-c", "pytest && make"], None),
    ],
)
def test_rules(argv: list[str], decision: str | None) -> None:
    match = RULES.match(argv)
    assert (match.decision if match else None) == decision


def test_bad_rule_config_is_a_config_error() -> None:
    with pytest.raises(CodexError, match=r"approvals\.allow"):
        ApprovalRules.from_config({"allow": "git status"})


@pytest.mark.parametrize(
    ("argv", "safe"),
    [
        (["ls", "-la"], True),
        (["cat", "README.md"], True),
        (["git", "status"], True),
        (["git", "log", "-5"], True),
        (["git", "push"], False),
        (["git", "diff", "--output=x"], False),
        (["find", ".", "-name", "*.py"], True),
        (["find", ".", "-delete"], False),
        (["find", ".", "-exec", "rm", "{}", ";"], False),
        (["rg", "--pre", "sh", "x"], False),
        (["sh", "-c", "ls && wc -l README.md | head"], True),
        (["sh", "-c", "echo x > f"], False),
        (["sh", "-c", "echo $(rm -rf /)"], False),
        (["touch", "f"], False),
        (["python3", "-c", "pass"], False),
    ],
)
def test_known_safe_commands(argv: list[str], safe: bool) -> None:
    assert is_known_safe(argv) is safe


def test_split_shell_script() -> None:
    assert split_shell_script(["ls"]) is None
    assert split_shell_script(["sh", "-c", "a b; c\nd || e"]) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert split_shell_script(["sh", "-c", "unterminated 'quote"]) == []


# -- approvers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "decision", "scope"),
    [
        ("y\n", "approved", "once"),
        ("s\n", "approved", "session"),
        ("t\n", "approved", "task"),
        ("\n", "denied", "once"),
        ("d\n", "denied", "session"),
        ("", "denied", "once"),
        ("maybe\n", "denied", "once"),
    ],
)
def test_tty_approver_reads_answers_from_given_streams(
    typed: str, decision: str, scope: str
) -> None:
    out = io.StringIO()
    answer = TtyApprover(io.StringIO(typed), out).ask(request_for(key("shell:git push"), "why"))
    assert (answer.decision, answer.scope) == (decision, scope)
    assert "git push" in out.getvalue() and "why" in out.getvalue()


def test_tty_is_not_available_under_pytest_capture() -> None:
    assert TtyApprover.available() is False


def test_short_answers() -> None:
    assert to_answer(True) == ApprovalAnswer("approved")
    assert to_answer("deny") == ApprovalAnswer("denied")
    assert to_answer(("approve", "task")) == ApprovalAnswer("approved", "task")
    with pytest.raises(UsageError):
        to_answer("perhaps")


def test_scripted_approver_records_requests_and_denies_when_exhausted() -> None:
    scripted = ScriptedApprover(["approve"])
    first = scripted.ask(request_for(key("shell:a")))
    second = scripted.ask(request_for(key("shell:b")))
    assert first.approved and not second.approved
    assert [r.key.canonical() for r in scripted.requests] == ["shell:a", "shell:b"]


# -- the chain ----------------------------------------------------------------------------------
def test_chain_order_rules_then_cache_then_approver(tmp_path: Path) -> None:
    scripted = ScriptedApprover([("approve", "session")])
    chain = ApprovalChain(cache=ApprovalCache(), approver=scripted, rules=RULES)
    argv = ["git", "status"]
    ruled = chain.resolve(
        request_for(key("shell:git status")), raw_argv=argv, may_ask=True, policy="on-request"
    )
    assert (ruled.source, ruled.approver) == ("rule", "rule:git status")
    k = key("shell:make")
    asked = chain.resolve(request_for(k), raw_argv=["make"], may_ask=True, policy="on-request")
    cached = chain.resolve(request_for(k), raw_argv=["make"], may_ask=True, policy="on-request")
    assert (asked.source, cached.source, scripted.asked) == ("prompt", "cache", 1)
    assert cached.approver == "prompt:scripted" and not cached.fresh


def test_chain_never_policy_does_not_ask() -> None:
    scripted = ScriptedApprover(["approve"])
    chain = ApprovalChain(cache=ApprovalCache(), approver=scripted)
    result = chain.resolve(
        request_for(key("shell:make")), raw_argv=["make"], may_ask=False, policy="never"
    )
    assert (result.decision, result.source, result.approver) == ("denied", "policy", "policy:never")
    assert scripted.asked == 0


def test_callback_and_deny_approvers_name_themselves() -> None:
    def reviewer(request: ApprovalRequest) -> bool:
        return request.tool == "shell"

    chain = ApprovalChain(cache=ApprovalCache(), approver=CallbackApprover(reviewer))
    result = chain.resolve(
        request_for(key("shell:x")), raw_argv=None, may_ask=True, policy="untrusted"
    )
    assert (
        result.approved
        and result.approver.startswith("callback:")
        and "reviewer" in result.approver
    )
    denied = ApprovalChain(cache=ApprovalCache(), approver=DenyApprover()).resolve(
        request_for(key("shell:x")), raw_argv=None, may_ask=True, policy="untrusted"
    )
    assert (denied.decision, denied.source, denied.approver) == ("denied", "policy", "deny")


def test_remembered_denial_needs_no_second_prompt() -> None:
    scripted = ScriptedApprover([("deny", "session")])
    chain = ApprovalChain(cache=ApprovalCache(), approver=scripted)
    for _ in range(2):
        result = chain.resolve(
            request_for(key("shell:x")), raw_argv=["x"], may_ask=True, policy="on-request"
        )
        assert not result.approved
    assert scripted.asked == 1


# -- CLI ----------------------------------------------------------------------------------------
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_approvals.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(tmp_path))
    for var in ("CODEX_ORCHESTRATOR_RUNS_DIR", "CODEX_ORCHESTRATOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    runs = tmp_path / ".runs"
    cache = ApprovalCache.for_task(runs, TASK)
    cache.grant("shell:git push", scope="task", approver="prompt:tty")
    cache.grant("shell[perms=network]:curl x", scope="task")

    assert cli_approvals.run(parse("approvals", "list", "--task", TASK, "--format", "json")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == ["shell:git push", "shell[perms=network]:curl x"]
    assert cli_approvals.list_approvals(runs, TASK) == rows

    assert cli_approvals.run(parse("approvals", "list", "--task", TASK)) == 0
    assert "prompt:tty" in capsys.readouterr().out

    assert cli_approvals.run(parse("approvals", "revoke", "shell:git push", "--task", TASK)) == 0
    assert [r["key"] for r in cli_approvals.list_approvals(runs, TASK)] == [
        "shell[perms=network]:curl x"
    ]
    with pytest.raises(CodexError, match="no approval with key"):
        cli_approvals.run(parse("approvals", "revoke", "shell:nothing", "--task", TASK))
    assert cli_approvals.run(parse("approvals", "revoke", "--all", "--task", TASK)) == 0
    assert cli_approvals.list_approvals(runs, TASK) == []
    assert cli_approvals.revoke_approvals(runs, "other-task", None) == 0
