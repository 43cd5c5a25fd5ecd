"""Crash-safe file writes.

A reader must never see a half-written JSON document, even if the writer is killed with
SIGKILL mid-write: we write a temp file in the same directory, fsync it, then ``os.replace``
it over the target (atomic on POSIX), and fsync the directory so the rename itself survives
a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """JSON text as every file of the project writes it (UTF-8, stable key order kept)."""
    return json.dumps(document, indent=indent, ensure_ascii=False) + "\n"


# Permissions of a file these functions create (a replaced file keeps its own).
NEW_FILE_MODE = 0o644


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file + fsync + rename), keeping the
    permissions of the file it replaces; the text is written exactly (no newline
    translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            # mkstemp creates 0600: a replaced file keeps its own permissions.
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON, atomically."""
    atomic_write_text(path, dumps(document))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - some filesystems refuse O_RDONLY on dirs
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def lock_for(path: Path) -> FileLock:
    """The inter-process lock guarding ``path`` (a sibling ``.lock`` file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.with_name(f".{path.name}.lock")))


@contextlib.contextmanager
def locked(path: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lock of ``path`` for the block."""
    with lock_for(path).acquire(timeout=timeout):
        yield


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    with path.open("r", encoding="utf-8") as handle:
        return json.load(handle)


def update_json(path: Path, update: Any, default: Any) -> Any:
    """Read-modify-write ``path`` under its lock; ``update(doc) -> doc``. Returns the result."""
    with locked(path):
        try:
            current = read_json(path)
        except (FileNotFoundError, json.JSONDecodeError):
            current = default
        result = update(current)
        atomic_write_json(path, result)
        return result
