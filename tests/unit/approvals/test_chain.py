"""The chain: rules, then the cache, then the approver."""

from __future__ import annotations

from pathlib import Path

from pytest_codex.approvals import (
    ApprovalCache,
    ApprovalChain,
    ApprovalKey,
    ApprovalRequest,
    ApprovalRules,
    CallbackApprover,
    DenyApprover,
    ScriptedApprover,
)

TASK = "t-approvals"


def key(text: str) -> ApprovalKey:
    return ApprovalKey.parse(text)


def request_for(k: ApprovalKey, reason: str = "test") -> ApprovalRequest:
    return ApprovalRequest(key=k, tool=k.tool, argv=k.argv, cwd=k.cwd, reason=reason)


RULES = ApprovalRules.from_config({"allow": ["git status", "pytest"], "deny": ["rm -rf"]})


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
