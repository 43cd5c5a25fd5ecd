"""Crash-safe file writes that never follow a symbolic link.

A reader must never see a half-written JSON document, even if the writer is killed with
SIGKILL mid-write: we write a temp file in the same directory, fsync it, then rename it over
the target (atomic on POSIX), and fsync the directory so the rename itself survives a power
cut.

The orchestrator is the unsandboxed parent of hostile commands, and those commands may have
written under ``.runs`` before. So every directory on the way to a file is opened one
component at a time with ``O_NOFOLLOW`` (a symlink anywhere in the path is refused with
:class:`~pytest_codex.errors.UnsafePathError`), the file itself is opened relative to that
directory descriptor with ``O_NOFOLLOW``, temp files are created with ``O_EXCL``, a file that
is appended to must be a regular file with one link, and locks are ``flock`` on such a
safely opened lock file (never truncated, never followed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import CodexError, UnsafePathError


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """JSON text as every file of the project writes it (UTF-8, stable key order kept)."""
    return json.dumps(document, indent=indent, ensure_ascii=False) + "\n"


# Permissions of a file these functions create (a replaced file keeps its own).
NEW_FILE_MODE = 0o644

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC


def _refuse_link(path: str, what: str = "a symbolic link") -> UnsafePathError:
    return UnsafePathError(
        f"refusing to use {path}: it is {what} (planted by a command?); remove it and run again"
    )


def open_dir(directory: Path, *, create: bool = True) -> int:
    """A descriptor of ``directory``, opened from ``/`` one component at a time without
    following any symlink (missing components are created when ``create``)."""
    absolute = os.path.abspath(directory)
    fd = os.open("/", _DIR_FLAGS)
    walked = ""
    try:
        for name in Path(absolute).parts[1:]:
            walked = f"{walked}/{name}"
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                child = _open_child_dir(name, fd, walked)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _refused_entry(name, fd, walked) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child_dir(name: str, parent: int, walked: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refused_entry(name, parent, walked) from None
        raise


def _refused_entry(name: str, parent: int, walked: str) -> OSError | UnsafePathError:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError as exc:
        return exc
    if stat.S_ISLNK(info.st_mode):
        return _refuse_link(walked)
    return NotADirectoryError(errno.ENOTDIR, "not a directory", walked)


def make_dirs(directory: Path, *, exist_ok: bool = True) -> None:
    """``mkdir -p`` that refuses a symlink anywhere on the way; with ``exist_ok=False`` the
    last component must be new (``FileExistsError`` otherwise)."""
    if not exist_ok:
        parent = open_dir(directory.parent)
        try:
            os.mkdir(directory.name, 0o777, dir_fd=parent)
        finally:
            os.close(parent)
    os.close(open_dir(directory))


def open_nofollow(
    path: Path, flags: int, mode: int = NEW_FILE_MODE, *, create_dirs: bool = True
) -> int:
    """Open the regular file ``path`` (``os.open`` flags) without following a symlink in any
    component; a file opened for writing must not have other hard links."""
    directory = open_dir(path.parent, create=create_dirs)
    try:
        try:
            fd = os.open(
                path.name,
                flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                mode,
                dir_fd=directory,
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse_link(str(path)) from None
            raise
    finally:
        os.close(directory)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_link(str(path), "not a regular file")
        if flags & _WRITE_FLAGS and info.st_nlink > 1:
            raise _refuse_link(str(path), "a hard link to another file")
        # Regular files ignore O_NONBLOCK; it only kept a planted FIFO from blocking us.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` atomically (temp file + fsync + rename), keeping the
    permissions of the file it replaces; the text is written exactly (no newline
    translation). A symlink at ``path`` or on the way to it is refused.

    ``durable=False`` skips both fsyncs: readers still only ever see the old or the new
    complete text (the rename is atomic, whoever is killed when), but after a power cut the
    file may hold the previous version, or (on some filesystems) be empty. For documents
    that are rewritten soon anyway (progress snapshots, caches); see docs/evidence.md."""
    directory = open_dir(path.parent)
    try:
        try:
            info = os.stat(path.name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            mode = NEW_FILE_MODE
        else:
            if stat.S_ISLNK(info.st_mode):
                raise _refuse_link(str(path))
            mode = stat.S_IMODE(info.st_mode)
        tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=directory,
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                # Created 0600: a replaced file keeps its own permissions.
                os.fchmod(handle.fileno(), mode)
                handle.write(text)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.replace(tmp, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=directory)
            raise
        if durable:
            with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
                os.fsync(directory)
    finally:
        os.close(directory)


def atomic_write_json(path: Path, document: Any, *, durable: bool = True) -> None:
    """Replace ``path`` with ``document`` as JSON, atomically (``durable``: as for
    :func:`atomic_write_text`)."""
    atomic_write_text(path, dumps(document), durable=durable)


class LockTimeoutError(CodexError):
    """Another process held a file's lock for longer than the timeout."""


class _Held:
    """One lock file of this process: a thread lock, the flock'ed descriptor, the depth."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.fd: int | None = None
        self.depth = 0


_HELD: dict[str, _Held] = {}
_HELD_GUARD = threading.Lock()


def lock_path(path: Path) -> Path:
    """The sibling lock file guarding ``path`` (``.<name>.lock``)."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` for the block (re-entrant in a thread).

    The lock file is opened with ``O_NOFOLLOW`` and never truncated: a lock file planted as a
    symlink is refused, it never makes us write through the link."""
    target = lock_path(path)
    key = os.path.abspath(target)
    with _HELD_GUARD:
        held = _HELD.setdefault(key, _Held())
    if not held.thread_lock.acquire(timeout=timeout):
        raise LockTimeoutError(f"could not lock {path} within {timeout:g}s; is another run stuck?")
    try:
        if held.depth == 0:
            held.fd = _flock(target, timeout)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)  # releases the flock
                held.fd = None
    finally:
        held.thread_lock.release()


def _flock(target: Path, timeout: float) -> int:
    fd = open_nofollow(target, os.O_RDWR | os.O_CREAT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockTimeoutError(
                    f"could not lock {target} within {timeout:g}s; is another run stuck?"
                ) from None
            time.sleep(0.01)


def read_json(path: Path) -> Any:
    """Parse a JSON file (a symlink at or on the way to ``path`` is refused)."""
    fd = open_nofollow(path, os.O_RDONLY, create_dirs=False)
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
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
