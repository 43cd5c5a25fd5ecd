"""Guardrail result caching, keyed by a fingerprint of the declared inputs.

The fingerprint hashes the guardrail's name and version, the task, the declared values, the
content of every file its globs match and, with ``git_range``, the base and HEAD commits and
the list of uncommitted changes. A result is reused only under the same fingerprint: any
input change (or a new guardrail version) runs the guardrail again. Entries live in
``<runs>/<task>/guardrail-cache/<name>.json`` and are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_codex.atomic import atomic_write_json, read_json

from .api import Guardrail, Inputs
from .files import find_files

CACHE_FORMAT = 1


def base_revision(root: Path, env: Mapping[str, str]) -> str | None:
    """The base of the change: ``BASE_SHA``, else ``origin/main``, else the root commit
    (None outside a git repository or before the first commit)."""
    candidates = [env["BASE_SHA"]] if env.get("BASE_SHA") else []
    candidates.append("origin/main")
    for candidate in candidates:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
        if sha:
            return sha
    roots = _git(root, "rev-list", "--max-parents=0", "HEAD")
    return roots.splitlines()[-1] if roots else None


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_state(root: Path, env: Mapping[str, str], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """What a change-range rule depends on: base, HEAD and the uncommitted changes (less the
    ``exclude`` directories: the run artifacts guardrails themselves write)."""
    pathspecs = [".", *(f":(exclude,top){path}" for path in exclude)]
    return {
        "base": base_revision(root, env),
        "head": _git(root, "rev-parse", "--verify", "--quiet", "HEAD") or None,
        "status": _git(root, "status", "--porcelain=v1", "--untracked-files=all", "--", *pathspecs),
    }


def fingerprint(
    guardrail: Guardrail,
    inputs: Inputs,
    *,
    root: Path,
    task_id: str | None,
    env: Mapping[str, str],
    exclude: Sequence[str] = (),
) -> str:
    """``sha256:<hex>`` of everything the result depends on."""
    digest = hashlib.sha256()
    header = {
        "format": CACHE_FORMAT,
        "name": guardrail.name,
        "version": guardrail.version,
        "task": task_id,
        "values": inputs.values,
        "git": git_state(root, env, exclude) if inputs.git_range else None,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for rel in find_files(root, inputs.globs):
        digest.update(b"\0" + rel.encode() + b"\0")
        try:
            digest.update(hashlib.sha256((root / rel).read_bytes()).digest())
        except OSError as exc:  # unreadable now: part of the state, not an error here
            digest.update(type(exc).__name__.encode())
    return f"sha256:{digest.hexdigest()}"


class ResultCache:
    """Stored guardrail results of one task (or of the repository, without a task)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_task(cls, runs_dir: Path, task_id: str | None) -> ResultCache:
        """The cache under ``<runs>/<task>/guardrail-cache``."""
        return cls(runs_dir / (task_id or "_repository") / "guardrail-cache")

    def _path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.directory / f"{safe}.json"

    def load(self, name: str, key: str) -> dict[str, Any] | None:
        """The stored entry for ``name`` under fingerprint ``key``, if any."""
        try:
            entry = read_json(self._path(name))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("fingerprint") != key:
            return None
        if not isinstance(entry.get("record"), dict):
            return None
        return entry

    def store(self, name: str, key: str, record: Mapping[str, Any], run_id: str | None) -> None:
        """Keep ``record`` (a ``guardrails[]`` record) as the result under ``key``."""
        atomic_write_json(
            self._path(name),
            {"fingerprint": key, "runId": run_id, "record": dict(record)},
        )
