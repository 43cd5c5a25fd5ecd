"""Shared helpers of the approvals tests: keys from text, requests, the rules under test."""

from __future__ import annotations

from pytest_codex.approvals import ApprovalKey, ApprovalRequest, ApprovalRules

TASK = "t-approvals"
RULES = ApprovalRules.from_config({"allow": ["git status", "pytest"], "deny": ["rm -rf"]})


def key(text: str) -> ApprovalKey:
    """The key written as ``text``."""
    return ApprovalKey.parse(text)


def request_for(k: ApprovalKey, reason: str = "test") -> ApprovalRequest:
    """A request to run what ``k`` names."""
    return ApprovalRequest(key=k, tool=k.tool, argv=k.argv, cwd=k.cwd, reason=reason)
