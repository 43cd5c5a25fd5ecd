"""Config rules, shell-script splitting and known-safe commands."""

from __future__ import annotations

import pytest

from pytest_codex.approvals import (
    ApprovalKey,
    ApprovalRequest,
    ApprovalRules,
    is_known_safe,
    split_shell_script,
)
from pytest_codex.errors import CodexError

TASK = "t-approvals"


def key(text: str) -> ApprovalKey:
    return ApprovalKey.parse(text)


def request_for(k: ApprovalKey, reason: str = "test") -> ApprovalRequest:
    return ApprovalRequest(key=k, tool=k.tool, argv=k.argv, cwd=k.cwd, reason=reason)


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
