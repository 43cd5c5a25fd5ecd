"""Approval keys: text form, redaction, coverage."""

from __future__ import annotations

import pytest

from pytest_codex.approvals import (
    ApprovalKey,
)
from pytest_codex.errors import UsageError
from tests.helpers.approvals import key


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


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["deploy", "--key=abc"], ["deploy", "--key=;touch${IFS}PWNED"]),
        (["deploy", "--key", "abc"], ["deploy", "--key", ";touch${IFS}PWNED"]),
    ],
)
def test_keys_are_exact_even_when_the_argv_redacts_alike(
    first: list[str], second: list[str]
) -> None:
    one = ApprovalKey.for_invocation("shell", first, "/w")
    two = ApprovalKey.for_invocation("shell", second, "/w")
    assert not one.covers(two) and not two.covers(one)
    assert one.canonical() != two.canonical() and one.digest != two.digest
    assert "abc" not in one.canonical() or not one.redacted
    # Written out and read back (as `approvals list` shows it and `revoke` takes it).
    assert key(one.canonical()) == one and ApprovalKey.from_json(one.to_json()) == one


def test_a_redacted_key_shows_no_secret_but_carries_its_digest() -> None:
    built = ApprovalKey.for_invocation("shell", ["deploy", "--token=hunter2hunter2"], "/w")
    text = built.canonical()
    assert "hunter2" not in text and "[REDACTED]" in text and f"sha={built.digest}" in text
    assert built.redacted and not key("shell:git status").redacted


def test_an_escalation_key_is_covered_only_by_an_escalation_grant() -> None:
    escalation = key("shell[perms=network;escalate]:make")
    assert not key("shell[perms=network]:make").covers(escalation)
    assert not key("shell:make").covers(escalation)
    assert key("shell[perms=network;escalate]:make").covers(escalation)
    assert key("shell[perms=network;escalate]:make").covers(key("shell:make"))
