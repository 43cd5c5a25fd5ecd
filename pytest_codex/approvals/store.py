"""Remembered decisions: grants, the approval cache and the task's ``approvals.json``.

Also the library side of ``codex-orchestrator approvals list|revoke``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import UsageError
from ..ids import validate_task_id
from ..redact import REDACTED, redact_text
from ..timeutil import now_iso
from .keys import SCOPES, ApprovalKey, Decision, Scope, validate_scope

APPROVALS_FILE = "approvals.json"
FILE_VERSION = 2
"""Version 2 keys carry ``digest`` (of the raw argv) and ``escalate``; see :func:`_migrate_v1`."""


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
    legacy = isinstance(document, Mapping) and document.get("version", 1) == 1
    for item in items if isinstance(items, list) else []:
        try:
            if legacy:
                item = _migrate_v1(item)
                if item is None:
                    continue
            grant = Grant.from_json(item)
        except (ValueError, TypeError, KeyError, UsageError):
            continue
        grants[grant.key.canonical()] = grant
    return grants


def _migrate_v1(item: Any) -> dict[str, Any] | None:
    """A version-1 grant as version 2, or None when it cannot be matched exactly any more.

    Version 1 stored only the redacted argv: a grant whose argv holds a redaction marker
    stood for every command that redacts alike, so it is dropped (ask again). The others
    were stored as typed, so their digest is that of their argv. Version 1 had no escalation
    flag; only escalations asked for permissions, so a grant with permissions is one.
    """
    if not isinstance(item, Mapping):
        return None
    argv = item.get("argv")
    if not isinstance(argv, list):
        return None
    if any(REDACTED in str(arg) for arg in argv):
        return None
    fields = {k: v for k, v in item.items() if k not in ("key", "digest", "escalate")}
    return {**fields, "escalate": bool(item.get("permissions"))}


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


def list_approvals(runs_dir: Path, task: str) -> list[dict[str, Any]]:
    """The task's persisted decisions, as stored (key, tool, argv, decision, approver, ...)."""
    return [grant.to_json() for grant in load_task_grants(approvals_path(runs_dir, task))]


def revoke_approvals(runs_dir: Path, task: str, key: str | None) -> int:
    """Forget the task's decision for exactly ``key`` (all of them: None); how many went."""
    path = approvals_path(runs_dir, task)
    if not path.exists():
        return 0
    canonical = None if key is None else ApprovalKey.parse(key).canonical()
    return revoke_task_grants(path, canonical)
