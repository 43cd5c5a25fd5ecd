"""The approval cache (session and task scopes), approvals.json, and the CLI's list/revoke."""

from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_codex.approvals import (
    ApprovalCache,
    ApprovalKey,
    Grant,
    approvals_path,
    list_approvals,
    load_task_grants,
    revoke_approvals,
)
from pytest_codex.cli import approvals as cli_approvals
from pytest_codex.errors import CodexError, UsageError
from tests.helpers.approvals import TASK, key


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
    assert document["version"] == 2
    assert document["grants"][0]["key"] == "shell:make"
    assert set(document["grants"][0]) >= {"decision", "scope", "approver", "decidedAt", "digest"}


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


def test_version_1_grants_are_migrated_and_redacted_ones_dropped(tmp_path: Path) -> None:
    path = approvals_path(tmp_path, TASK)
    path.parent.mkdir(parents=True)
    legacy = {"decision": "approved", "scope": "task", "approver": "me", "decidedAt": "x"}
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "grants": [
                    {**legacy, "key": "shell:make", "tool": "shell", "argv": ["make"]},
                    {
                        **legacy,
                        "key": "shell:deploy --key=[REDACTED]",
                        "tool": "shell",
                        "argv": ["deploy", "--key=[REDACTED]"],
                    },
                    {
                        **legacy,
                        "key": "shell[perms=network]:curl x",
                        "tool": "shell",
                        "argv": ["curl", "x"],
                        "permissions": ["network"],
                    },
                ],
            }
        )
    )
    cache = ApprovalCache(path)
    assert sorted(g.key.canonical() for g in cache.grants()) == [
        "shell:make",
        "shell[perms=network;escalate]:curl x",
    ]
    forged = ApprovalKey.for_invocation("shell", ["deploy", "--key=;touch${IFS}PWNED"], "/w")
    assert cache.lookup(forged) is None
    cache.grant("shell:ls", scope="task")
    assert json.loads(path.read_text())["version"] == 2
    assert len(load_task_grants(path)) == 3


def test_grants_that_redact_alike_are_stored_apart(tmp_path: Path) -> None:
    cache = ApprovalCache.for_task(tmp_path, TASK)
    one = ApprovalKey.for_invocation("shell", ["deploy", "--key=abc"], "/w")
    two = ApprovalKey.for_invocation("shell", ["deploy", "--key=;touch${IFS}PWNED"], "/w")
    cache.grant(one, scope="task")
    assert ApprovalCache.for_task(tmp_path, TASK).lookup(two) is None
    cache.grant(two, scope="task", decision="denied")
    rows = list_approvals(tmp_path, TASK)
    assert len(rows) == 2 and all("abc" not in json.dumps(row) for row in rows)
    assert revoke_approvals(tmp_path, TASK, rows[0]["key"]) == 1
    assert [r["key"] for r in list_approvals(tmp_path, TASK)] == [rows[1]["key"]]
