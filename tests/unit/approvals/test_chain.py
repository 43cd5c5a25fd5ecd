"""The chain: rules, then the cache, then the approver."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.approvals import (
    ApprovalCache,
    ApprovalChain,
    ApprovalRequest,
    CallbackApprover,
    DenyApprover,
    ScriptedApprover,
)
from tests.helpers.approvals import RULES, key, request_for


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


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "git status"],
        ["sh", "-ec", "git status"],
        ["sh", "-e", "-c", "git status"],
        ["bash", "-xc", "git status"],
        ["bash", "-lc", "git  status"],
        ["/bin/bash", "--noprofile", "-o", "pipefail", "-c", "git status"],
        ["sh", "-c", " git status "],
    ],
)
def test_shell_wrappers_around_a_simple_command_share_its_key(argv: list[str]) -> None:
    wrapped = ApprovalChain.key_for("shell", argv, "/w")
    assert wrapped == ApprovalChain.key_for("shell", ["git", "status"], "/w")
    assert key("shell:git status").covers(wrapped)


@pytest.mark.parametrize(
    "script",
    [
        "git status; touch PWNED",
        "git status && touch PWNED",
        "git status | sh",
        "git status $(touch PWNED)",
        "git status `touch PWNED`",
        "git status > .git/hooks/pre-commit",
        "git status\ntouch PWNED",
    ],
)
def test_a_compound_script_never_matches_a_simple_grant_or_allow_rule(script: str) -> None:
    for shell in (["sh", "-c"], ["bash", "-lc"], ["sh", "-e", "-c"]):
        compound = ApprovalChain.key_for("shell", [*shell, script], "/w")
        assert not key("shell:git status").covers(compound)
        assert not key("shell[prefix]:git").covers(compound)
        assert RULES.match([*shell, script]) is None
    exact = ApprovalChain.key_for("shell", ["sh", "-c", script], "/w")
    assert exact.argv == ("sh", "-c", script)  # judged whole: only its own grant covers it
