"""Config rules, shell-script splitting and known-safe commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.approvals import (
    ApprovalRules,
    is_known_safe,
    split_shell_script,
)
from pytest_codex.context import Context
from pytest_codex.errors import CodexError
from pytest_codex.paths import ROOT_ENV
from tests.helpers.approvals import RULES
from tests.helpers.trust import trusted


@pytest.mark.parametrize(
    ("argv", "decision"),
    [
        (["git", "status", "--short"], "approved"),
        (["pytest", "-q"], "approved"),
        (["git", "push"], None),
        (["rm", "-rf", "build"], "denied"),
        (["sudo", "rm", "-rf", "/"], "denied"),
        (["sh", "-c", "git status && pytest -x"], None),  # compound: judged whole
        (["sh", "-c", "git status --short"], "approved"),
        (["bash", "-e", "-c", "pytest -q"], "approved"),
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


RM_RF_VARIANTS = [
    ["rm", "-rf", "/"],
    ["rm", "-fr", "/"],
    ["rm", "-r", "-f", "/"],
    ["rm", "-f", "-r", "/"],
    ["rm", "-Rf", "/"],
    ["rm", "-fR", "/"],
    ["rm", "-R", "-f", "/"],
    ["rm", "--recursive", "--force", "/"],
    ["rm", "--force", "--recursive", "/"],
    ["rm", "-r", "--force", "/"],
    ["rm", "--recursive", "-f", "/"],
    ["rm", "--recur", "--forc", "/"],
    ["rm", "-rfv", "/"],
    ["rm", "-v", "-rf", "--", "/"],
    ["rm", "/", "-rf"],
    ["/bin/rm", "-rf", "/"],
    ["sudo", "rm", "-r", "-f", "/"],
    ["env", "X=1", "rm", "-fr", "/"],
    ["sh", "-c", "rm -fr /"],
    ["bash", "-lc", "cd / && rm -r -f ."],
    ["sh", "-e", "-c", "echo $(rm -Rf /)"],
    ["sh", "-c", "eval 'rm -f -r /'"],
]


@pytest.mark.parametrize("argv", RM_RF_VARIANTS, ids=" ".join)
def test_deny_rules_match_every_spelling_of_their_options(argv: list[str]) -> None:
    match = RULES.match(argv)
    assert match is not None and match.decision == "denied"
    assert RULES.match(argv, escalate=True) == match


@pytest.mark.parametrize("argv", [["rm", "-r", "build"], ["rm", "-f", "x"], ["rm", "--", "-rf"]])
def test_deny_rules_need_all_their_options(argv: list[str]) -> None:
    assert RULES.match(argv) is None


def test_an_allow_rule_answers_running_but_not_escalating() -> None:
    rules = ApprovalRules.from_config(
        {"allow": ["pytest", {"command": "make deploy", "escalate": True}]}
    )
    assert rules.match(["pytest", "-q"]) is not None
    assert rules.match(["pytest", "-q"], escalate=True) is None
    assert rules.match(["make", "deploy"], escalate=True) is not None
    assert rules.match(["sh", "-c", "make deploy"], escalate=True) is not None


@pytest.mark.parametrize(
    "config",
    [
        {"allow": [{"command": "x", "escalate": "yes"}]},
        {"allow": [{"cmd": "x"}]},
        {"deny": [{"command": "x", "escalate": True}]},
        {"allow": [3]},
    ],
)
def test_bad_rule_mappings_are_config_errors(config: dict[str, object]) -> None:
    with pytest.raises(CodexError, match=r"approvals\."):
        ApprovalRules.from_config(config)


@pytest.mark.parametrize(
    "argv",
    [
        ["sort", "-o", "out", "in"],
        ["sort", "-no", "out", "in"],
        ["sort", "-oout", "in"],
        ["sort", "--output=out", "in"],
        ["sort", "--out", "out", "in"],
        ["sort", "--compress-program=sh", "in"],
        ["git", "--config-env=core.pager=X", "log"],
        ["git", "-c", "core.pager=sh", "log"],
        ["git", "-c", "core.fsmonitor=./x", "status"],
        ["git", "--exec-path=/tmp", "status"],
        ["git", "log", "--output=x"],
        ["git", "diff", "--ext-diff"],
        ["file", "-C", "-m", "magic"],
        ["file", "-zC", "x"],
        ["file", "--compile", "x"],
        ["find", ".", "-delete"],
        ["find", ".", "-exec", "sh", "{}", ";"],
        ["find", ".", "-execdir", "sh", "{}", ";"],
        ["find", ".", "-ok", "rm", "{}", ";"],
        ["find", ".", "-fprint", "out"],
        ["find", ".", "-fprintf", "out", "%p"],
        ["find", ".", "-fls", "out"],
        ["sh", "-c", "find . -name *.py"],
        ["sh", "-ec", "sort -o out in"],
    ],
    ids=" ".join,
)
def test_known_safe_rejects_writing_forms(argv: list[str]) -> None:
    assert is_known_safe(argv) is False


@pytest.mark.parametrize(
    "argv",
    [["sort", "-n", "in"], ["git", "log", "--oneline"], ["file", "-b", "x"], ["sh", "-ec", "ls"]],
)
def test_known_safe_still_accepts_reading_forms(argv: list[str]) -> None:
    assert is_known_safe(argv) is True


def test_escalate_rules_load_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "codex.orchestrator.yaml").write_text(
        "approvals:\n"
        "  allow:\n"
        "    - pytest\n"
        "    - { command: make deploy, escalate: true }\n"
        "    - { command: [sh, -c, 'make && make install'], escalate: true }\n"
        "  deny: ['rm -rf']\n"
    )
    trusted(tmp_path / "codex.orchestrator.yaml")  # allow rules need a person's trust
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    rules = ApprovalRules.from_config(context.config.get("approvals"))
    assert rules.match(["make", "deploy"], escalate=True) is not None
    assert rules.match(["sh", "-c", "make && make install"], escalate=True) is not None
    assert rules.match(["pytest"], escalate=True) is None


def test_a_bad_rule_mapping_in_the_config_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "codex.orchestrator.yaml").write_text(
        "approvals: { allow: [{ command: x, escalate: maybe }] }\n"
    )
    with pytest.raises(CodexError, match="approvals"):
        Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
