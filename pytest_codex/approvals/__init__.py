"""Approvals: canonical keys, the approval cache, config rules, approvers and the chain.

Policies (the Codex CLI meanings; :class:`~pytest_codex.orchestrator.ToolOrchestrator`
applies them):

``never``
    Never asks anyone. What needs fresh consent fails fast with
    :class:`~pytest_codex.errors.ApprovalRefusedError` (or, for a sandbox escalation,
    :class:`~pytest_codex.errors.SandboxDeniedError`), unless a rule or a cached grant
    already allows it.
``on-request`` (default)
    Asks when the invocation declares ``requires_approval=True``, and to escalate after a
    sandbox denial.
``on-failure``
    Asks only to escalate after a sandbox denial.
``untrusted``
    Asks for everything except known-safe read-only commands (:func:`is_known_safe`; a
    Python callable only when it declares ``safe=True``), and to escalate after a sandbox
    denial.

The chain answers each question in order: config rules (deny first), then the cache, then
the approver (never under ``never``).

Keys. An :class:`ApprovalKey` is (tool, argv, cwd, permissions), with ``argv`` redacted and
``permissions`` the sandbox permissions the invocation asks for *beyond the sandbox the
orchestrator is configured with* (empty: "run it in the configured sandbox"). Its text form::

    <tool>[cwd=<dir>;perms=<p>,<p>;prefix]:<argv, shell-quoted>

with the bracket part (and each item in it) present only when set, e.g. ``shell:git status``
or ``shell[cwd=/repo;perms=network]:curl https://example.org``.

Coverage. A remembered grant (or denial) *covers* a request when all of these hold:

- same tool;
- argv: equal, or, for a ``prefix`` grant, the request's argv starts with the grant's;
- cwd: the grant has none, or the request's cwd is the grant's or below it;
- permissions: the request's are a subset of the grant's (a grant for
  ``{write-outside-workspace, network}`` covers a request for ``{network}`` and for none).

When both a grant and a denial cover a request, the denial wins; remembering a decision for
a key replaces any earlier decision for the very same key.

Scopes: ``once`` is never remembered, ``session`` lives in the :class:`ApprovalCache`
instance, ``task`` is persisted to ``<runs_dir>/<task>/approvals.json`` (under a file lock,
written atomically) and survives runs. Nothing stored holds a secret value: keys are built
from redacted argv, reasons are redacted, and only metadata is kept.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from .. import atomic
from ..errors import ConfigError, UsageError
from ..ids import validate_task_id
from ..records import ApprovalRecord as ApprovalRecord  # re-exported: it was defined here
from ..redact import redact_argv, redact_text
from ..sandbox import PERMISSIONS
from ..timeutil import now_iso

ApprovalPolicy = Literal["never", "on-request", "on-failure", "untrusted"]
APPROVAL_POLICIES: tuple[ApprovalPolicy, ...] = ("never", "on-request", "on-failure", "untrusted")
Scope = Literal["once", "session", "task"]
SCOPES: tuple[Scope, ...] = ("once", "session", "task")
Decision = Literal["approved", "denied"]
ApprovalSource = Literal["cache", "prompt", "rule", "policy", "not-required"]

APPROVALS_FILE = "approvals.json"
FILE_VERSION = 1


def validate_policy(policy: str) -> ApprovalPolicy:
    """``policy`` if it is an approval policy, else a :class:`UsageError`."""
    for known in APPROVAL_POLICIES:
        if policy == known:
            return known
    raise UsageError(
        f"unknown approval policy {policy!r}; use one of {', '.join(APPROVAL_POLICIES)}"
    )


def validate_scope(scope: str) -> Scope:
    """``scope`` if it is an approval scope, else a :class:`UsageError`."""
    for known in SCOPES:
        if scope == known:
            return known
    raise UsageError(f"unknown approval scope {scope!r}; use one of {', '.join(SCOPES)}")


# -- keys ---------------------------------------------------------------------------------------
def _validate_tool(tool: str) -> str:
    if not tool or any(not (c.isalnum() or c in "_.-") for c in tool):
        raise UsageError(
            f"tool name {tool!r} is not valid; use letters, digits, '.', '_' and '-' only"
        )
    return tool


def _escape_cwd(cwd: str) -> str:
    return cwd.replace("%", "%25").replace(";", "%3B").replace("]", "%5D")


def _unescape_cwd(text: str) -> str:
    return text.replace("%5D", "]").replace("%3B", ";").replace("%25", "%")


@dataclass(frozen=True)
class ApprovalKey:
    """What an approval is about: tool, redacted argv, cwd and extra sandbox permissions."""

    tool: str
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    permissions: frozenset[str] = frozenset()
    prefix: bool = False

    def __post_init__(self) -> None:
        _validate_tool(self.tool)
        unknown = set(self.permissions) - set(PERMISSIONS)
        if unknown:
            raise UsageError(
                f"unknown permission {sorted(unknown)[0]!r} in approval key; "
                f"use {', '.join(PERMISSIONS)}"
            )

    @classmethod
    def for_invocation(
        cls,
        tool: str,
        argv: Sequence[str] | None,
        cwd: Path | str | None,
        permissions: Iterable[str] = (),
        *,
        secrets: Iterable[str] | None = None,
    ) -> ApprovalKey:
        """The key of an invocation; ``argv`` is redacted here, so no secret reaches a key."""
        redacted = tuple(redact_argv(argv, secrets)) if argv else ()
        return cls(tool, redacted, None if cwd is None else str(cwd), frozenset(permissions))

    @classmethod
    def parse(cls, text: str) -> ApprovalKey:
        """The key written as :meth:`canonical` (see the module docstring)."""
        bracket, colon = text.find("["), text.find(":")
        qualifiers = ""
        rest: str | None
        if bracket >= 0 and (colon < 0 or bracket < colon):
            # The cwd may hold ':' (never ']', which is escaped): the part ends at ']:'.
            head, closing = text[:bracket], text.find("]:", bracket)
            if closing >= 0:
                qualifiers, rest = text[bracket + 1 : closing], text[closing + 2 :]
            elif text.endswith("]"):
                qualifiers, rest = text[bracket + 1 : -1], None
            else:
                raise UsageError(f"approval key {text!r} has an unclosed '['")
        else:
            head, sep, after = text.partition(":")
            rest = after if sep else None
        cwd: str | None = None
        permissions: set[str] = set()
        prefix = False
        for item in filter(None, qualifiers.split(";")):
            name, _, value = item.partition("=")
            if name == "cwd":
                cwd = _unescape_cwd(value)
            elif name == "perms":
                permissions = {p for p in value.split(",") if p}
            elif name == "prefix" and not value:
                prefix = True
            else:
                raise UsageError(
                    f"approval key {text!r}: unknown qualifier {item!r}; use cwd=, perms=, prefix"
                )
        try:
            argv = tuple(shlex.split(rest)) if rest else ()
        except ValueError as exc:
            raise UsageError(f"approval key {text!r}: cannot split the command: {exc}") from exc
        return cls(head, argv, cwd, frozenset(permissions), prefix)

    @classmethod
    def coerce(cls, key: ApprovalKey | str) -> ApprovalKey:
        """``key`` itself, or parsed from its text form."""
        return key if isinstance(key, ApprovalKey) else cls.parse(key)

    def canonical(self) -> str:
        """The text form; equal keys have equal text."""
        qualifiers = []
        if self.cwd is not None:
            qualifiers.append(f"cwd={_escape_cwd(self.cwd)}")
        if self.permissions:
            qualifiers.append("perms=" + ",".join(sorted(self.permissions)))
        if self.prefix:
            qualifiers.append("prefix")
        head = self.tool + (f"[{';'.join(qualifiers)}]" if qualifiers else "")
        return f"{head}:{shlex.join(self.argv)}" if self.argv else head

    def __str__(self) -> str:
        return self.canonical()

    def covers(self, request: ApprovalKey) -> bool:
        """Whether a decision about this key also decides ``request`` (module docstring)."""
        if self.tool != request.tool:
            return False
        if self.prefix:
            if request.argv[: len(self.argv)] != self.argv:
                return False
        elif request.prefix or request.argv != self.argv:
            return False
        if self.cwd is not None:
            if request.cwd is None:
                return False
            if request.cwd != self.cwd and not Path(request.cwd).is_relative_to(self.cwd):
                return False
        return request.permissions <= self.permissions

    def to_json(self) -> dict[str, Any]:
        """The key's fields as stored in ``approvals.json``."""
        return {
            "key": self.canonical(),
            "tool": self.tool,
            "argv": list(self.argv),
            "cwd": self.cwd,
            "permissions": sorted(self.permissions),
            "prefix": self.prefix,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ApprovalKey:
        """The key stored by :meth:`to_json` (falls back to its text form)."""
        if "tool" in document and "argv" in document:
            return cls(
                str(document["tool"]),
                tuple(str(a) for a in document.get("argv") or ()),
                document.get("cwd"),
                frozenset(str(p) for p in document.get("permissions") or ()),
                bool(document.get("prefix", False)),
            )
        return cls.parse(str(document["key"]))


# -- remembered decisions and the cache -----------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    """A remembered decision: an approval or a denial, who made it and when."""

    key: ApprovalKey
    decision: Decision
    scope: Scope
    approver: str
    decided_at: str = field(default_factory=now_iso)
    reason: str | None = None

    @property
    def approved(self) -> bool:
        """Whether this is an approval (not a denial)."""
        return self.decision == "approved"

    def to_json(self) -> dict[str, Any]:
        """The grant as stored in ``approvals.json``."""
        return {
            **self.key.to_json(),
            "decision": self.decision,
            "scope": self.scope,
            "approver": self.approver,
            "decidedAt": self.decided_at,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Grant:
        """A grant stored by :meth:`to_json`."""
        decision = document.get("decision")
        scope = document.get("scope", "task")
        if decision not in ("approved", "denied") or scope not in SCOPES:
            raise ValueError(f"not an approval grant: {dict(document)!r}")
        return cls(
            key=ApprovalKey.from_json(document),
            decision=decision,
            scope=scope,
            approver=str(document.get("approver", "unknown")),
            decided_at=str(document.get("decidedAt", "")),
            reason=document.get("reason"),
        )


def approvals_path(runs_dir: Path, task_id: str) -> Path:
    """``<runs_dir>/<task>/approvals.json``."""
    return Path(runs_dir) / validate_task_id(task_id) / APPROVALS_FILE


class ApprovalCache:
    """Remembered decisions: ``session`` ones in memory, ``task`` ones in ``path`` too.

    The file is re-read only when it changed (size, mtime, inode), so other processes'
    grants and revocations are seen without paying a read per lookup.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._session: dict[str, Grant] = {}
        self._task: dict[str, Grant] = {}
        self._task_stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_task(cls, runs_dir: Path, task_id: str) -> ApprovalCache:
        """The cache persisted at ``<runs_dir>/<task>/approvals.json``."""
        return cls(approvals_path(runs_dir, task_id))

    # -- reading -----------------------------------------------------------------------------
    def lookup(self, key: ApprovalKey) -> Grant | None:
        """The remembered decision covering ``key`` (a covering denial wins), or None."""
        approval: Grant | None = None
        with self._lock:
            candidates = [*self._session.values(), *self._load_task().values()]
        for grant in candidates:
            if grant.key.covers(key):
                if not grant.approved:
                    return grant
                approval = approval or grant
        return approval

    def grants(self, scope: Scope | None = None) -> list[Grant]:
        """Every remembered decision (``session`` then ``task``), optionally of one scope."""
        with self._lock:
            every = [*self._session.values(), *self._load_task().values()]
        return [g for g in every if scope is None or g.scope == scope]

    def _load_task(self) -> dict[str, Grant]:
        if self.path is None:
            return self._task
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._task, self._task_stamp = {}, None
            return self._task
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp != self._task_stamp:
            self._task = _grants_by_key(_read_document(self.path))
            self._task_stamp = stamp
        return self._task

    # -- writing -----------------------------------------------------------------------------
    def remember(self, grant: Grant) -> None:
        """Keep ``grant`` for its scope (``once``: not at all; ``task``: in the file too)."""
        if grant.scope == "once":
            return
        canonical = grant.key.canonical()
        if grant.scope == "session":
            with self._lock:
                self._session[canonical] = grant
            return
        if self.path is None:
            raise UsageError(
                "a task-scoped approval needs a persistent cache; "
                "create it with ApprovalCache.for_task(runs_dir, task_id)"
            )

        def fold(document: Any) -> dict[str, Any]:
            grants = _grants_by_key(document)
            grants[canonical] = grant
            return _document(grants.values())

        with self._lock:
            atomic.update_json(self.path, fold, default=None)
            self._task_stamp = None

    def grant(
        self,
        key: ApprovalKey | str,
        *,
        scope: Scope = "session",
        decision: Decision = "approved",
        approver: str = "api",
        reason: str | None = None,
    ) -> Grant:
        """Remember a decision made ahead of time (a pre-grant); returns it."""
        if validate_scope(scope) == "once":
            raise UsageError(
                "a pre-granted approval must be 'session' or 'task' scoped, not 'once'"
            )
        grant = Grant(
            ApprovalKey.coerce(key),
            decision,
            scope,
            approver,
            reason=None if reason is None else redact_text(reason),
        )
        self.remember(grant)
        return grant

    def revoke(self, key: ApprovalKey | str | None = None) -> int:
        """Forget the decision for exactly ``key`` (every decision: None); how many went."""
        canonical = None if key is None else ApprovalKey.coerce(key).canonical()
        removed = 0
        with self._lock:
            if canonical is None:
                removed, self._session = len(self._session), {}
            elif self._session.pop(canonical, None) is not None:
                removed += 1
        if self.path is not None and self.path.exists():
            removed += revoke_task_grants(self.path, canonical)
            with self._lock:
                self._task_stamp = None
        return removed


def _read_document(path: Path) -> Any:
    try:
        return atomic.read_json(path)
    except (FileNotFoundError, ValueError):
        # A missing or unreadable file holds no grants; the next write replaces it whole.
        return None


def _grants_by_key(document: Any) -> dict[str, Grant]:
    grants: dict[str, Grant] = {}
    items = document.get("grants", []) if isinstance(document, Mapping) else []
    for item in items if isinstance(items, list) else []:
        try:
            grant = Grant.from_json(item)
        except (ValueError, TypeError, KeyError, UsageError):
            continue
        grants[grant.key.canonical()] = grant
    return grants


def _document(grants: Iterable[Grant]) -> dict[str, Any]:
    return {"version": FILE_VERSION, "grants": [g.to_json() for g in grants]}


def load_task_grants(path: Path) -> list[Grant]:
    """The grants persisted in an ``approvals.json``."""
    return list(_grants_by_key(_read_document(path)).values())


def revoke_task_grants(path: Path, canonical: str | None) -> int:
    """Remove the grant for ``canonical`` (every grant: None) from ``path``; how many went."""
    removed = 0

    def fold(document: Any) -> dict[str, Any]:
        nonlocal removed
        grants = _grants_by_key(document)
        if canonical is None:
            removed = len(grants)
            grants = {}
        elif grants.pop(canonical, None) is not None:
            removed = 1
        return _document(grants.values())

    atomic.update_json(path, fold, default=None)
    return removed


# -- rules and known-safe commands ----------------------------------------------------------------
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


# -- approvers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalRequest:
    """One question put to an approver."""

    key: ApprovalKey
    tool: str
    argv: tuple[str, ...] | None
    cwd: str | None
    reason: str
    kind: Literal["run", "escalate"] = "run"
    permissions: frozenset[str] = frozenset()
    evidence: Mapping[str, Any] | None = None

    @property
    def command(self) -> str:
        """The (redacted) command, shell-quoted, or the tool name."""
        return shlex.join(self.argv) if self.argv else self.tool


@dataclass(frozen=True)
class ApprovalAnswer:
    """An approver's answer; ``scope=None`` means the orchestrator's default scope."""

    decision: Decision
    scope: Scope | None = None
    reason: str | None = None
    approver: str | None = None

    @property
    def approved(self) -> bool:
        """Whether this is an approval."""
        return self.decision == "approved"


def to_answer(value: ApprovalAnswer | bool | str | tuple[Any, ...] | None) -> ApprovalAnswer:
    """An :class:`ApprovalAnswer` from a short form.

    ``True``/``"approve"``/``"approved"``/``"yes"``/``"y"`` approve; ``False``/``None``/
    ``"deny"``/``"denied"``/``"no"``/``"n"`` deny; a ``(decision, scope)`` tuple also sets
    the scope.
    """
    if isinstance(value, ApprovalAnswer):
        return value
    if isinstance(value, tuple):
        decision = to_answer(value[0]).decision
        scope = validate_scope(str(value[1])) if len(value) > 1 and value[1] else None
        reason = str(value[2]) if len(value) > 2 and value[2] else None
        return ApprovalAnswer(decision, scope, reason)
    if value is True:
        return ApprovalAnswer("approved")
    if value is False or value is None:
        return ApprovalAnswer("denied")
    word = value.strip().lower()
    if word in ("approve", "approved", "yes", "y", "allow"):
        return ApprovalAnswer("approved")
    if word in ("deny", "denied", "no", "n", "refuse"):
        return ApprovalAnswer("denied")
    raise UsageError(f"cannot read {value!r} as an approval answer; use 'approve' or 'deny'")


class Approver(ABC):
    """Who is asked when rules and the cache have no answer."""

    #: Recorded as the ``approver`` of its decisions (``prompt:tty``, ``callback:<name>``).
    name: str = "approver"
    #: Recorded as the ``source`` of its decisions.
    source: ApprovalSource = "prompt"

    @abstractmethod
    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Answer one request."""


class DenyApprover(Approver):
    """Denies everything: the approver of non-interactive runs."""

    name = "deny"
    source: ApprovalSource = "policy"

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Deny."""
        return ApprovalAnswer("denied", "once", "no approver is configured (non-interactive)")


class CallbackApprover(Approver):
    """A Python callable decides: ``func(request) -> bool | str | ApprovalAnswer | tuple``."""

    def __init__(
        self,
        func: Callable[[ApprovalRequest], ApprovalAnswer | bool | str | tuple[Any, ...] | None],
        name: str | None = None,
    ) -> None:
        self.func = func
        label = name or getattr(func, "__qualname__", None) or type(func).__name__
        self.name = f"callback:{label}"

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Call the callable."""
        return to_answer(self.func(request))


class ScriptedApprover(Approver):
    """Answers from a list, in order, and records every request (for tests).

    With no answer left it denies, so an unexpected question shows up as a refusal.
    """

    name = "prompt:scripted"

    def __init__(
        self, answers: Iterable[ApprovalAnswer | bool | str | tuple[Any, ...]] = ()
    ) -> None:
        self.answers: list[ApprovalAnswer] = [to_answer(a) for a in answers]
        self.requests: list[ApprovalRequest] = []

    def queue(self, *answers: ApprovalAnswer | bool | str | tuple[Any, ...]) -> ScriptedApprover:
        """Append answers; returns self."""
        self.answers.extend(to_answer(a) for a in answers)
        return self

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """The next answer (a denial when the script is exhausted)."""
        self.requests.append(request)
        if not self.answers:
            return ApprovalAnswer("denied", "once", "scripted approver has no answer left")
        return self.answers.pop(0)

    @property
    def asked(self) -> int:
        """How many requests were made."""
        return len(self.requests)


_TTY_CHOICES: dict[str, tuple[Decision, Scope | None]] = {
    "y": ("approved", "once"),
    "yes": ("approved", "once"),
    "s": ("approved", "session"),
    "t": ("approved", "task"),
    "n": ("denied", "once"),
    "no": ("denied", "once"),
    "": ("denied", "once"),
    "d": ("denied", "session"),
}


class TtyApprover(Approver):
    """Asks on the terminal (``/dev/tty``, or the given streams).

    Without streams it opens ``/dev/tty`` for each question; when there is no terminal it
    denies without waiting. Answers: ``y`` once, ``s`` for the session, ``t`` for the task,
    ``n`` (default) deny, ``d`` deny for the session.
    """

    name = "prompt:tty"

    def __init__(self, input: IO[str] | None = None, output: IO[str] | None = None) -> None:
        self.input = input
        self.output = output

    @staticmethod
    def available() -> bool:
        """Whether a terminal is attached (stdin is a TTY and ``/dev/tty`` opens)."""
        if not sys.stdin or not sys.stdin.isatty():
            return False
        try:
            with open("/dev/tty", "r+", encoding="utf-8"):
                return True
        except OSError:
            return False

    def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Print the question and read one answer line."""
        if self.input is not None:
            return self._ask(request, self.input, self.output or sys.stderr)
        try:
            terminal = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115
        except OSError:
            return ApprovalAnswer("denied", "once", "no terminal to ask on")
        with terminal:
            if not terminal.isatty():
                return ApprovalAnswer("denied", "once", "no terminal to ask on")
            return self._ask(request, terminal, terminal)

    def _ask(self, request: ApprovalRequest, input: IO[str], output: IO[str]) -> ApprovalAnswer:
        where = f" in {request.cwd}" if request.cwd else ""
        output.write(
            f"\n[codex] approve {request.command!r}{where}?\n  reason: {request.reason}\n"
            "  [y] once  [s] session  [t] task  [n] deny (default)  [d] deny for session: "
        )
        output.flush()
        line = input.readline()
        choice = _TTY_CHOICES.get(line.strip().lower())
        if not line or choice is None:
            return ApprovalAnswer("denied", "once", "no valid answer on the terminal")
        return ApprovalAnswer(choice[0], choice[1])


def default_approver() -> Approver:
    """The terminal when one is attached, else :class:`DenyApprover`."""
    return TtyApprover() if TtyApprover.available() else DenyApprover()


def coerce_approver(approver: Approver | Callable[..., Any] | None) -> Approver:
    """An :class:`Approver` from an approver, a callable (a callback) or None (default)."""
    if approver is None:
        return default_approver()
    if isinstance(approver, Approver):
        return approver
    if callable(approver):
        return CallbackApprover(approver)
    raise UsageError(f"approver must be an Approver or a callable, not {type(approver).__name__}")


# -- the chain ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """How an approval question was answered."""

    decision: Decision
    source: ApprovalSource
    scope: Scope
    approver: str
    reason: str | None
    key: ApprovalKey
    decided_at: str = field(default_factory=now_iso)

    @property
    def approved(self) -> bool:
        """Whether the invocation may proceed."""
        return self.decision == "approved"

    @property
    def fresh(self) -> bool:
        """Whether this is a new decision (not a cache hit): it gets an ``approvals[]`` record."""
        return self.source != "cache"

    def to_record(self, tool: str) -> ApprovalRecord:
        """The ``approvals[]`` record."""
        return ApprovalRecord(
            key=self.key.canonical(),
            tool=tool,
            decision=self.decision,
            source=self.source,
            scope=self.scope,
            approver=self.approver,
            decidedAt=self.decided_at,
            reason=self.reason,
        )


class ApprovalChain:
    """Rules, then the cache, then the approver; remembers what the approver decides."""

    def __init__(
        self,
        *,
        cache: ApprovalCache,
        approver: Approver,
        rules: ApprovalRules | None = None,
        default_scope: Scope = "once",
    ) -> None:
        self.cache = cache
        self.approver = approver
        self.rules = rules or ApprovalRules()
        self.default_scope = validate_scope(default_scope)

    def rule_for(self, argv: Sequence[str] | None) -> RuleMatch | None:
        """The rule deciding ``argv`` (commands only)."""
        return self.rules.match(argv) if argv and self.rules else None

    def resolve(
        self,
        request: ApprovalRequest,
        *,
        raw_argv: Sequence[str] | None,
        may_ask: bool,
        policy: ApprovalPolicy,
        on_ask: Callable[[ApprovalRequest], None] | None = None,
    ) -> Resolution:
        """Answer ``request``; ``may_ask=False`` (policy ``never``) never reaches the approver.

        ``raw_argv`` is the unredacted argv, used only to match rules.
        """
        rule = self.rule_for(raw_argv)
        if rule is not None:
            return Resolution(
                rule.decision, "rule", "once", f"rule:{rule.pattern}", None, request.key
            )
        cached = self.cache.lookup(request.key)
        if cached is not None:
            return Resolution(
                cached.decision, "cache", cached.scope, cached.approver, cached.reason, cached.key
            )
        if not may_ask:
            return Resolution(
                "denied",
                "policy",
                "once",
                f"policy:{policy}",
                f"approval policy {policy!r} does not ask for approval",
                request.key,
            )
        if on_ask is not None:
            on_ask(request)
        answer = self.approver.ask(request)
        scope = validate_scope(answer.scope or self.default_scope)
        reason = None if answer.reason is None else redact_text(answer.reason)
        who = answer.approver or self.approver.name
        resolution = Resolution(
            answer.decision, self.approver.source, scope, who, reason, request.key
        )
        self.cache.remember(
            Grant(request.key, answer.decision, scope, who, resolution.decided_at, reason)
        )
        return resolution
