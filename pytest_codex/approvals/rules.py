"""Config allow/deny rules, shell-script canonicalisation and known-safe commands."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .keys import Decision

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
SAFE_COMMANDS: frozenset[str] = frozenset(
    {
        "ls", "cat", "pwd", "echo", "head", "tail", "wc", "grep", "rg", "find", "true",
        "false", "which", "whoami", "id", "uname", "stat", "file", "basename", "dirname",
        "realpath", "nl", "cut", "tr", "sort", "printenv", "test", "[",
    }
)  # fmt: skip
SAFE_GIT_SUBCOMMANDS = frozenset({"status", "log", "diff", "show", "rev-parse", "ls-files"})
# Options that make an otherwise read-only command write, delete or run other programs.
_UNSAFE_OPTIONS: dict[str, tuple[str, ...]] = {
    "find": ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf",
             "-fls"),
    "rg": ("--pre", "--pre-glob"),
    "sort": ("-o", "--output"),
    "git": ("--output", "--ext-diff", "-c", "--exec-path"),
}  # fmt: skip
_SCRIPT_FLAGS = frozenset({"-c", "-lc", "-ic", "-cl"})
_CONTROL_OPERATORS = frozenset({";", "&&", "||", "|", "&", ";;", "|&"})


def split_shell_script(argv: Sequence[str]) -> list[list[str]] | None:
    """For ``sh -c SCRIPT``-style argv, the simple commands of SCRIPT; None otherwise.

    Returns ``[[]]``-free lists of tokens split on ``;``, ``&&``, ``||``, ``|``, ``&`` and
    newlines. A script with redirections, substitutions, subshells or unbalanced quotes
    yields ``[]`` (cannot be vouched for).
    """
    if len(argv) < 3 or os.path.basename(argv[0]) not in SHELLS or argv[1] not in _SCRIPT_FLAGS:
        return None
    script = argv[2]
    if any(mark in script for mark in ("$(", "`", "<(", ">(")):
        return []
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _CONTROL_OPERATORS:
            commands.append([])
        elif token and set(token) <= set("();<>|&"):
            return []  # a redirection or subshell: may write anywhere
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def is_known_safe(argv: Sequence[str]) -> bool:
    """Whether ``argv`` only reads: a :data:`SAFE_COMMANDS` command (``git`` only with a
    :data:`SAFE_GIT_SUBCOMMANDS` sub-command) without an option that writes or runs
    programs; for ``sh -c SCRIPT``, every simple command of SCRIPT."""
    script = split_shell_script(argv)
    if script is not None:
        return bool(script) and all(_is_safe_simple(command) for command in script)
    return _is_safe_simple(argv)


def _is_safe_simple(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    program = os.path.basename(argv[0])
    unsafe = _UNSAFE_OPTIONS.get(program, ())
    if any(arg == opt or arg.startswith(opt + "=") for arg in argv[1:] for opt in unsafe):
        return False
    if program == "git":
        subcommand = next((a for a in argv[1:] if not a.startswith("-")), None)
        return subcommand in SAFE_GIT_SUBCOMMANDS
    return program in SAFE_COMMANDS


@dataclass(frozen=True)
class RuleMatch:
    """A config rule that decided a command."""

    decision: Decision
    pattern: str


@dataclass(frozen=True)
class ApprovalRules:
    """Command prefix rules from the config (``approvals: {allow: [...], deny: [...]}``).

    A rule is a command written as you would type it (``"git status"``, ``"rm -rf"``):

    - ``deny`` matches when its words appear, in order and adjacent, anywhere in the argv
      or in any simple command of an ``sh -c`` script (``"rm -rf"`` denies
      ``sudo rm -rf /``): denial is deliberately broad.
    - ``allow`` matches when the argv starts with its words (``"pytest"`` allows
      ``pytest -q``), or, for an ``sh -c`` script, when every simple command does and the
      script has no redirection or substitution.

    A rule is a standing decision about a command: it answers every question about it,
    including a sandbox escalation. Deny rules apply under every policy, even to commands
    that would need no approval. Rules apply to shell commands, not Python callables.
    """

    allow: tuple[tuple[str, ...], ...] = ()
    deny: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ApprovalRules:
        """Rules from the ``approvals`` config value (``allow`` / ``deny`` lists)."""
        if not config:
            return cls()

        def patterns(name: str) -> tuple[tuple[str, ...], ...]:
            values = config.get(name) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(f"approvals.{name} must be a list of command strings")
            try:
                return tuple(tuple(shlex.split(v)) for v in values if v.strip())
            except ValueError as exc:
                raise ConfigError(f"approvals.{name}: cannot split a rule: {exc}") from exc

        return cls(allow=patterns("allow"), deny=patterns("deny"))

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny)

    def match(self, argv: Sequence[str]) -> RuleMatch | None:
        """The deny rule, else the allow rule, deciding ``argv``; None when none applies."""
        script = split_shell_script(argv)
        candidates = [list(argv), *(script or [])]
        for pattern in self.deny:
            if any(_contains(command, pattern) for command in candidates):
                return RuleMatch("denied", shlex.join(pattern))
        for pattern in self.allow:
            if _starts_with(argv, pattern):
                return RuleMatch("approved", shlex.join(pattern))
        if script:
            found = [self._allowing(command) for command in script]
            if all(found):
                return RuleMatch("approved", " + ".join(dict.fromkeys(p for p in found if p)))
        return None

    def _allowing(self, command: Sequence[str]) -> str | None:
        for pattern in self.allow:
            if _starts_with(command, pattern):
                return shlex.join(pattern)
        return None


def _starts_with(argv: Sequence[str], pattern: Sequence[str]) -> bool:
    return bool(pattern) and list(argv[: len(pattern)]) == list(pattern)


def _contains(argv: Sequence[str], pattern: Sequence[str]) -> bool:
    size = len(pattern)
    items = list(argv)
    return size > 0 and any(items[i : i + size] == list(pattern) for i in range(len(items)))
