"""Config allow/deny rules, shell-wrapper canonicalisation and known-safe commands.

Shell wrappers. ``sh -c SCRIPT`` and its spellings (``sh -ec``, ``sh -e -c``, ``bash -xc``,
``bash -lc``, ``bash --noprofile -o pipefail -c`` ...) are judged by their SCRIPT:
:func:`canonical_command` turns a wrapper around one simple command (no operator,
redirection, substitution, expansion or glob; no extra positional arguments) into that
command's argv, so ``sh -c 'git status'`` is ``git status`` for keys and rules alike. Any
other script is *compound*: it keeps its whole argv, and only a grant or allow rule for
exactly that argv decides it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .keys import Decision

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
SAFE_COMMANDS: frozenset[str] = frozenset(
    {
        "ls", "cat", "pwd", "echo", "head", "tail", "wc", "grep", "rg", "find", "true",
        "false", "which", "whoami", "id", "uname", "stat", "file", "basename", "dirname",
        "realpath", "nl", "cut", "tr", "sort", "printenv", "test", "[",
    }
)  # fmt: skip
SAFE_GIT_SUBCOMMANDS = frozenset({"status", "log", "diff", "show", "rev-parse", "ls-files"})


@dataclass(frozen=True)
class _Unsafe:
    """Options that make an otherwise read-only command write, delete or run programs."""

    words: frozenset[str] = frozenset()  # whole arguments (find's -exec, git's -c)
    short: frozenset[str] = frozenset()  # letters, also inside clusters (-no) and attached (-ofile)
    long: tuple[str, ...] = ()  # --name, --name=value, and (getopt) any unique abbreviation
    abbreviations: bool = True


_UNSAFE: dict[str, _Unsafe] = {
    "find": _Unsafe(
        words=frozenset({"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint",
                         "-fprint0", "-fprintf", "-fls"}),
        abbreviations=False,
    ),
    "rg": _Unsafe(long=("pre",), abbreviations=False),
    "sort": _Unsafe(short=frozenset("o"), long=("output", "compress-program")),
    "file": _Unsafe(short=frozenset("C"), long=("compile",)),
    "git": _Unsafe(long=("output", "ext-diff", "exec-path", "config-env")),
}  # fmt: skip
# git's options before the sub-command that set configuration (and so run programs).
_GIT_GLOBAL_UNSAFE = ("-c", "--config-env", "--exec-path")
# Shell options that take a value (``-o pipefail``), and long options that take none.
_SHELL_VALUE_OPTIONS = frozenset("oO")
_CONTROL_OPERATORS = frozenset({";", "&&", "||", "|", "&", ";;", "|&"})
# Characters that make a script more than one plain simple command.
_SHELL_SPECIAL = frozenset("$`\\*?[]{}()<>|&;~#!\n\"'=")
# Deny-rule option aliases: long spellings and the capital -R mean the same as these.
_OPTION_ALIASES = {"--recursive": "-r", "-R": "-r", "--force": "-f"}


def shell_script(argv: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """For a shell wrapper (``sh -c``, ``bash -lc``, ``sh -e -c`` ...), ``(SCRIPT, extra
    arguments)``; None for anything else (a script file, ``sh`` alone, another program)."""
    if len(argv) < 3 or os.path.basename(argv[0]) not in SHELLS:
        return None
    seen_c = False
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if arg.startswith("--"):
            index += 1  # --login, --noprofile, --norc, --posix ...: no value
            continue
        if len(arg) > 1 and arg[0] in "-+":
            letters = arg[1:]
            seen_c = seen_c or "c" in letters
            index += 2 if any(letter in _SHELL_VALUE_OPTIONS for letter in letters) else 1
            continue
        break
    if not seen_c or index >= len(argv):
        return None
    return argv[index], tuple(argv[index + 1 :])


def _simple_tokens(script: str) -> list[str] | None:
    """The words of ``script`` when it is one plain simple command, else None."""
    if not script.strip() or any(char in _SHELL_SPECIAL for char in script):
        return None
    tokens = script.split()
    return tokens or None


def canonical_command(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` with shell wrappers around one simple command unwrapped (module docstring).

    ``sh -c 'git status'`` and ``bash -lc 'git  status'`` are ``("git", "status")``; a
    compound script (``;``, ``&&``, ``|``, ``$(...)``, backticks, redirections, quotes,
    expansions, extra arguments) keeps its whole argv.
    """
    current = tuple(argv)
    for _ in range(8):  # sh -c "bash -c 'ls'" unwraps too; the bound stops silly nesting
        found = shell_script(current)
        if found is None:
            return current
        script, extra = found
        tokens = _simple_tokens(script)
        if tokens is None or extra:
            return current
        current = tuple(tokens)
    return current


def _lex(script: str) -> list[str] | None:
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return None


def split_shell_script(argv: Sequence[str]) -> list[list[str]] | None:
    """For a shell-wrapper argv (see :func:`shell_script`), the simple commands of SCRIPT;
    None otherwise.

    Returns lists of tokens split on ``;``, ``&&``, ``||``, ``|``, ``&`` and newlines. A
    script with redirections, substitutions, expansions, subshells, extra arguments or
    unbalanced quotes yields ``[]`` (cannot be vouched for).
    """
    found = shell_script(argv)
    if found is None:
        return None
    script, extra = found
    if extra or any(mark in script for mark in ("$", "`", "<(", ">(")):
        return []
    tokens = _lex(script)
    if tokens is None:
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
    programs (``sort -o``, ``git -c``, ``file -C``, ``find -delete`` ...); for a shell
    wrapper, every simple command of its script, none with a glob (a file named
    ``-delete`` would become an option)."""
    command = canonical_command(argv)
    script = split_shell_script(command)
    if script is not None:
        return bool(script) and all(
            _is_safe_simple(part) and not any(set(arg) & set("*?[") for arg in part[1:])
            for part in script
        )
    return _is_safe_simple(command)


def _is_safe_simple(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    program = os.path.basename(argv[0])
    if program not in SAFE_COMMANDS and program != "git":
        return False
    args = list(argv[1:])
    if program == "git":
        index = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
        if any(a.split("=")[0] in _GIT_GLOBAL_UNSAFE for a in args[:index]):
            return False
        if index >= len(args) or args[index] not in SAFE_GIT_SUBCOMMANDS:
            return False
    unsafe = _UNSAFE.get(program)
    return unsafe is None or not any(_is_unsafe_option(arg, unsafe) for arg in _options(args))


def _options(args: Sequence[str]) -> Iterator[str]:
    for arg in args:
        if arg == "--":
            return
        if arg.startswith("-") and arg != "-":
            yield arg


def _is_unsafe_option(arg: str, unsafe: _Unsafe) -> bool:
    if arg in unsafe.words:
        return True
    if arg.startswith("--"):
        name = arg[2:].split("=", 1)[0]
        if not name:
            return False
        if unsafe.abbreviations:
            return any(option.startswith(name) for option in unsafe.long)
        return name in unsafe.long
    return any(letter in unsafe.short for letter in arg[1:])  # a cluster: -no, -ofile, -zC


@dataclass(frozen=True)
class RuleMatch:
    """A config rule that decided a command."""

    decision: Decision
    pattern: str


Pattern = tuple[str, ...]


@dataclass(frozen=True)
class ApprovalRules:
    """Command rules from the config (``approvals: {allow: [...], deny: [...]}``).

    A rule is a command written as you would type it (``"git status"``, ``"rm -rf"``), or,
    for ``allow``, a mapping ``{command: "git push", escalate: true}``:

    - ``deny`` matches when its program appears anywhere in the argv, in any command of a
      shell script (substitutions and ``eval`` strings included) or behind a wrapper
      (``sudo``, ``env``, ``xargs``), with at least the rule's options and its other words
      in order. Options match in any spelling: ``"rm -rf"`` denies ``rm -fr``,
      ``rm -r -f``, ``rm -Rf``, ``rm --recursive --force``, ``rm -rfv`` ... Denial is
      deliberately broad, and applies to every question (running and escalating).
    - ``allow`` matches when the canonical argv (:func:`canonical_command`) starts with its
      words (``"pytest"`` allows ``pytest -q`` and ``sh -c 'pytest -q'``). A compound
      script matches only a rule that is exactly its argv.
    - An allow rule lets a command run in the configured sandbox; only a rule with
      ``escalate: true`` also approves leaving it (a sandbox escalation).

    Deny rules apply under every policy, even to commands that would need no approval.
    Rules apply to shell commands, not Python callables.
    """

    allow: tuple[Pattern, ...] = ()
    deny: tuple[Pattern, ...] = ()
    escalate: tuple[Pattern, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ApprovalRules:
        """Rules from the ``approvals`` config value (``allow`` / ``deny`` lists)."""
        if not config:
            return cls()
        allow: list[Pattern] = []
        escalate: list[Pattern] = []
        for rule in _rule_list(config, "allow"):
            pattern, escalates = _parse_rule("allow", rule)
            if pattern:
                allow.append(pattern)
                if escalates:
                    escalate.append(pattern)
        deny = []
        for rule in _rule_list(config, "deny"):
            pattern, escalates = _parse_rule("deny", rule)
            if escalates:
                raise ConfigError("approvals.deny: 'escalate' belongs to allow rules only")
            if pattern:
                deny.append(pattern)
        return cls(allow=tuple(allow), deny=tuple(deny), escalate=tuple(escalate))

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny)

    def match(self, argv: Sequence[str], *, escalate: bool = False) -> RuleMatch | None:
        """The deny rule, else the allow rule, deciding ``argv``; None when none applies.

        ``escalate=True`` asks about leaving the sandbox: only ``escalate: true`` allow
        rules answer it.
        """
        for pattern in self.deny:
            if any(_deny_matches(command, pattern) for command in _commands_within(argv)):
                return RuleMatch("denied", shlex.join(pattern))
        command = canonical_command(argv)
        compound = shell_script(command) is not None
        for pattern in self.escalate if escalate else self.allow:
            if pattern == command if compound else _starts_with(command, pattern):
                return RuleMatch("approved", shlex.join(pattern))
        return None


def _rule_list(config: Mapping[str, Any], name: str) -> list[Any]:
    values = config.get(name) or []
    if not isinstance(values, list):
        raise ConfigError(f"approvals.{name} must be a list of command strings")
    return values


def _parse_rule(name: str, rule: Any) -> tuple[Pattern, bool]:
    escalates = False
    command = rule
    if isinstance(rule, Mapping):
        unknown = set(rule) - {"command", "escalate"}
        if unknown or "command" not in rule:
            raise ConfigError(
                f"approvals.{name}: a rule mapping takes 'command' and 'escalate', "
                f"got {sorted(map(str, rule))}"
            )
        command, escalates = rule["command"], rule.get("escalate", False)
        if not isinstance(escalates, bool):
            raise ConfigError(f"approvals.{name}: 'escalate' must be true or false")
    if isinstance(command, list) and all(isinstance(word, str) for word in command):
        return tuple(command), escalates
    if not isinstance(command, str):
        raise ConfigError(f"approvals.{name} must be a list of command strings")
    try:
        return tuple(shlex.split(command)), escalates
    except ValueError as exc:
        raise ConfigError(f"approvals.{name}: cannot split a rule: {exc}") from exc


def _starts_with(argv: Sequence[str], pattern: Sequence[str]) -> bool:
    return bool(pattern) and list(argv[: len(pattern)]) == list(pattern)


def _commands_within(argv: Sequence[str], depth: int = 0) -> Iterator[list[str]]:
    """``argv`` and, leniently, every command hidden in its arguments: shell scripts,
    substitutions, ``eval``/``sh -c`` strings. For deny rules, which must not be dodged."""
    yield list(argv)
    if depth > 4:
        return
    for arg in argv[1:]:
        if any(char.isspace() for char in arg) or any(c in arg for c in ";&|`$()"):
            for segment in _segments(arg):
                yield from _commands_within(segment, depth + 1)


def _segments(script: str) -> Iterator[list[str]]:
    flat = script
    for mark in ("$(", "`", "(", ")", "{", "}", "\n"):
        flat = flat.replace(mark, " ; ")
    tokens = _lex(flat) or flat.split()
    segment: list[str] = []
    for token in tokens:
        if token and set(token) <= set("();<>|&"):
            if segment:
                yield segment
            segment = []
        else:
            segment.append(token)
    if segment:
        yield segment


def _option_set(args: Sequence[str]) -> tuple[set[str], list[str]]:
    """The options of ``args`` normalised (clusters split, aliases and abbreviations
    resolved) and its other words, in order."""
    options: set[str] = set()
    words: list[str] = []
    ended = False
    for arg in args:
        if ended or arg == "-" or not arg.startswith("-"):
            words.append(arg)
        elif arg == "--":
            ended = True
        elif arg.startswith("--"):
            name = arg.split("=", 1)[0]
            full = next((a for a in _OPTION_ALIASES if len(name) > 3 and a.startswith(name)), name)
            options.add(_OPTION_ALIASES.get(full, full))
        else:
            for letter in arg[1:]:
                options.add(_OPTION_ALIASES.get(f"-{letter}", f"-{letter}"))
    return options, words


def _deny_matches(command: Sequence[str], pattern: Pattern) -> bool:
    if not pattern:
        return False
    program = os.path.basename(pattern[0])
    wanted_options, wanted_words = _option_set(pattern[1:])
    for index, token in enumerate(command):
        if os.path.basename(token) != program:
            continue
        options, words = _option_set(command[index + 1 :])
        if wanted_options <= options and _in_order(wanted_words, words):
            return True
    return False


def _in_order(wanted: Sequence[str], words: Sequence[str]) -> bool:
    remaining = iter(words)
    return all(any(word == have for have in remaining) for word in wanted)
