"""Approval policies, scopes and keys: what an approval is about and how keys cover requests.

See :mod:`pytest_codex.approvals` for the key text form and the coverage rule.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..digests import keyed_digest
from ..errors import UsageError
from ..redact import redact_argv
from ..sandbox import PERMISSIONS

ApprovalPolicy = Literal["never", "on-request", "on-failure", "untrusted"]
APPROVAL_POLICIES: tuple[ApprovalPolicy, ...] = ("never", "on-request", "on-failure", "untrusted")
Scope = Literal["once", "session", "task"]
SCOPES: tuple[Scope, ...] = ("once", "session", "task")
Decision = Literal["approved", "denied"]
ApprovalSource = Literal["cache", "prompt", "rule", "policy", "not-required"]


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


def argv_digest(argv: Sequence[str]) -> str:
    """The keyed digest of ``argv`` exactly as given (JSON of the list): what keys are
    matched by. An HMAC-SHA256 under this user's local key
    (:func:`pytest_codex.digests.keyed_digest`), so a recorded digest cannot be checked
    against guesses of a secret in the argv."""
    text = json.dumps(list(argv), ensure_ascii=False, separators=(",", ":"))
    return keyed_digest(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class ApprovalKey:
    """What an approval is about: tool, argv, cwd, extra sandbox permissions, escalation.

    ``argv`` is the display form (redacted); ``digest`` is :func:`argv_digest` of the *raw*
    argv and is what an exact key is matched by, so two commands that redact alike never
    share a key. It defaults to the digest of ``argv`` (a key typed by hand is its own raw
    argv). ``escalate`` marks a decision about leaving the configured sandbox.
    """

    tool: str
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    permissions: frozenset[str] = frozenset()
    prefix: bool = False
    escalate: bool = False
    digest: str = ""

    def __post_init__(self) -> None:
        _validate_tool(self.tool)
        unknown = set(self.permissions) - set(PERMISSIONS)
        if unknown:
            raise UsageError(
                f"unknown permission {sorted(unknown)[0]!r} in approval key; "
                f"use {', '.join(PERMISSIONS)}"
            )
        if not self.digest:
            object.__setattr__(self, "digest", argv_digest(self.argv))
        elif len(self.digest) != 64 or any(c not in "0123456789abcdef" for c in self.digest):
            raise UsageError(
                f"approval key digest {self.digest!r} is not a 64-digit HMAC-SHA256; copy the "
                "key as listed"
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
        escalate: bool = False,
    ) -> ApprovalKey:
        """The key of an invocation: matched by the digest of the raw ``argv``, shown redacted
        (no secret reaches a key's text)."""
        raw = tuple(argv or ())
        redacted = tuple(redact_argv(raw, secrets)) if raw else ()
        return cls(
            tool,
            redacted,
            None if cwd is None else str(cwd),
            frozenset(permissions),
            escalate=escalate,
            digest=argv_digest(raw),
        )

    @property
    def redacted(self) -> bool:
        """Whether ``argv`` differs from the raw argv (the text form then carries ``sha=``)."""
        return self.digest != argv_digest(self.argv)

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
        prefix = escalate = False
        digest = ""
        for item in filter(None, qualifiers.split(";")):
            name, _, value = item.partition("=")
            if name == "cwd":
                cwd = _unescape_cwd(value)
            elif name == "perms":
                permissions = {p for p in value.split(",") if p}
            elif name == "prefix" and not value:
                prefix = True
            elif name == "escalate" and not value:
                escalate = True
            elif name == "sha" and value:
                digest = value
            else:
                raise UsageError(
                    f"approval key {text!r}: unknown qualifier {item!r}; "
                    "use cwd=, perms=, prefix, escalate, sha="
                )
        try:
            argv = tuple(shlex.split(rest)) if rest else ()
        except ValueError as exc:
            raise UsageError(f"approval key {text!r}: cannot split the command: {exc}") from exc
        return cls(head, argv, cwd, frozenset(permissions), prefix, escalate, digest)

    @classmethod
    def coerce(cls, key: ApprovalKey | str) -> ApprovalKey:
        """``key`` itself, or parsed from its text form."""
        return key if isinstance(key, ApprovalKey) else cls.parse(key)

    def canonical(self) -> str:
        """The text form; equal keys have equal text (``sha=`` only for redacted argv)."""
        qualifiers = []
        if self.cwd is not None:
            qualifiers.append(f"cwd={_escape_cwd(self.cwd)}")
        if self.permissions:
            qualifiers.append("perms=" + ",".join(sorted(self.permissions)))
        if self.prefix:
            qualifiers.append("prefix")
        if self.escalate:
            qualifiers.append("escalate")
        if self.redacted:
            qualifiers.append(f"sha={self.digest}")
        head = self.tool + (f"[{';'.join(qualifiers)}]" if qualifiers else "")
        return f"{head}:{shlex.join(self.argv)}" if self.argv else head

    def __str__(self) -> str:
        return self.canonical()

    def covers(self, request: ApprovalKey) -> bool:
        """Whether a decision about this key also decides ``request`` (module docstring)."""
        if self.tool != request.tool or (request.escalate and not self.escalate):
            return False
        if self.prefix:
            if request.argv[: len(self.argv)] != self.argv:
                return False
        elif request.prefix or request.digest != self.digest:
            return False
        if self.cwd is not None:
            if request.cwd is None:
                return False
            if request.cwd != self.cwd and not Path(request.cwd).is_relative_to(self.cwd):
                return False
        return request.permissions <= self.permissions

    def to_json(self) -> dict[str, Any]:
        """The key's fields as stored in ``approvals.json`` (argv redacted, matched by digest)."""
        return {
            "key": self.canonical(),
            "tool": self.tool,
            "argv": list(self.argv),
            "digest": self.digest,
            "cwd": self.cwd,
            "permissions": sorted(self.permissions),
            "prefix": self.prefix,
            "escalate": self.escalate,
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
                bool(document.get("escalate", False)),
                str(document.get("digest") or ""),
            )
        return cls.parse(str(document["key"]))
