"""Guardrail result caching, keyed by a fingerprint of the declared inputs.

The fingerprint hashes the guardrail's name and version, the task, the declared values, the
content of every file its globs match and, with ``git_range``, the base and HEAD commits and
the list of uncommitted changes (``git status``: which files, not their content; a guardrail
that reads changed files declares them as globs too). A result is reused only under the
same fingerprint: any input change (or a new guardrail version) runs the guardrail again.
Entries live in
``<runs>/<task>/guardrail-cache/<name>.json`` and are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_codex.atomic import atomic_write_json, read_json

from .api import Guardrail, Inputs
from .files import find_files

CACHE_FORMAT = 1
# Files modified this recently are hashed every time (see FileDigests).
RACY_SECONDS = 2


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
    """What a change-range rule depends on, in two git calls: ``HEAD`` and the uncommitted
    changes (less the ``exclude`` directories: the run artifacts guardrails themselves
    write), and the base (``BASE_SHA`` resolved, else ``origin/main``; without either the
    base is the root commit, which ``HEAD`` already determines)."""
    # Pathspecs relative to the root (which may be a subdirectory of the git repository).
    pathspecs = [".", *(f":(exclude){path}" for path in exclude)]
    status = _git(
        root, "status", "--porcelain=v2", "--branch", "--untracked-files=all", "--", *pathspecs
    )
    bases: list[list[str]] = []
    for candidate in ([env["BASE_SHA"]] if env.get("BASE_SHA") else []) + ["origin/main"]:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
        bases.append([candidate, sha])
        if sha:
            break
    return {"status": status, "bases": bases}


def fingerprint(
    guardrail: Guardrail,
    inputs: Inputs,
    *,
    root: Path,
    task_id: str | None,
    env: Mapping[str, str],
    exclude: Sequence[str] = (),
    digest_file: Callable[[str], bytes] | None = None,
) -> str:
    """``sha256:<hex>`` of everything the result depends on. ``digest_file(rel)`` gives a
    file's content digest (default: hash it now; a session passes a memo)."""
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
    read = digest_file or (lambda rel: file_digest(root / rel))
    for rel in find_files(root, inputs.globs):
        digest.update(b"\0" + os.fsencode(rel) + b"\0" + read(rel))
    return f"sha256:{digest.hexdigest()}"


def file_digest(path: Path) -> bytes:
    """The SHA-256 of a file's content (an unreadable file digests as its error's name: the
    state it is in is part of the inputs, not an error here)."""
    digest = hashlib.sha256()
    try:
        # Checked before opening: opening a FIFO blocks, and a device never ends.
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b"not-a-regular-file"
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError as exc:
        return type(exc).__name__.encode()
    return digest.digest()


class FileDigests:
    """File digests memoised by ``(size, mtime, inode)``, like git's index: a file whose stat
    is unchanged since it was hashed is not read again, within a session and, through the
    ``store`` file, across sessions. A file modified within the last :data:`RACY_SECONDS`
    is never memoised, since a same-size write in the same clock tick would not change its
    stat."""

    def __init__(self, root: Path, store: Path | None = None) -> None:
        self.root = root
        self._root = str(root)
        self.store = store
        self._memo: dict[str, list[Any]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list[Any]]:
        if self._memo is None:
            self._memo = {}
            if self.store is not None:
                try:
                    loaded = read_json(self.store)
                except (OSError, ValueError):
                    loaded = None
                if isinstance(loaded, dict) and loaded.get("format") == CACHE_FORMAT:
                    files = loaded.get("files")
                    self._memo = files if isinstance(files, dict) else {}
        return self._memo

    def __call__(self, rel: str) -> bytes:
        # Plain strings and os.stat: this runs once per input file on every cached run.
        path = os.path.join(self._root, rel)
        try:
            info = os.stat(path)
        except OSError as exc:
            return type(exc).__name__.encode()
        key = [info.st_size, info.st_mtime_ns, info.st_ino]
        memo = self._load()
        known = memo.get(rel)
        if isinstance(known, list) and len(known) == 4 and known[:3] == key:
            return bytes.fromhex(str(known[3]))
        value = file_digest(Path(path))
        if time.time_ns() - info.st_mtime_ns > RACY_SECONDS * 1_000_000_000:
            memo[rel] = [*key, value.hex()]
            self._dirty = True
        return value

    def save(self) -> None:
        """Write the memo to ``store`` when it learned something (best effort: it is only a
        memo, so a failed write costs speed, never correctness)."""
        if not self._dirty or self.store is None or self._memo is None:
            return
        try:
            atomic_write_json(self.store, {"format": CACHE_FORMAT, "files": self._memo})
        except OSError:
            return
        self._dirty = False


class ResultCache:
    """Stored guardrail results of one task (or of the repository, without a task)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def digests_path(self) -> Path:
        """Where the file digest memo of this cache is kept."""
        return self.directory / "memo" / "file-digests.json"

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
