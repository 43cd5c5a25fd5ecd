"""Guardrail result caching, keyed by a fingerprint of the declared inputs.

The fingerprint hashes the guardrail's name and version, the task, the declared values, the
content of every file its globs match and, with ``git_range``, the base and HEAD commits and
the list of uncommitted changes (``git status``: which files, not their content; a guardrail
that reads changed files declares them as globs too). A result is reused only under the
same fingerprint: any input change (or a new guardrail version) runs the guardrail again.
Entries live in ``<runs>/<task>/guardrail-cache/<name>.json``, the file-digest memo next
to them; both are written atomically and signed over their exact bytes (see
:func:`cache_secret`). What the fingerprints of several guardrails share (listings, digests,
git) is looked up once by a :class:`~guardrails.snapshot.InputSnapshot`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_codex.atomic import atomic_write_text, open_nofollow
from pytest_codex.errors import CodexError

from .api import Guardrail, Inputs
from .snapshot import InputSnapshot, read_git_state

# 2: entries and the memo are signed (HMAC-SHA256, see cache_secret); 3: over their bytes;
# 4: fingerprints are keyed too (a declared value may hold a secret).
CACHE_FORMAT = 4
# Files modified this recently are hashed every time (see FileDigests).
RACY_SECONDS = 2


def git_state(root: Path, env: Mapping[str, str], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """What a change-range rule depends on: ``git status`` (``HEAD``, the branch and the
    uncommitted changes, less the ``exclude`` directories: the run artifacts guardrails
    themselves write) and the base (``BASE_SHA`` resolved, else ``origin/main``; without
    either the base is the root commit, which ``HEAD`` already determines). Three git
    processes (see :mod:`guardrails.snapshot`)."""
    return read_git_state(root, env, exclude)[0]


def fingerprint(
    guardrail: Guardrail,
    inputs: Inputs,
    *,
    root: Path,
    task_id: str | None,
    env: Mapping[str, str],
    exclude: Sequence[str] = (),
    digest_file: Callable[[str], bytes] | None = None,
    snapshot: InputSnapshot | None = None,
) -> str:
    """``hmac-sha256:<hex>`` of everything the result depends on, keyed with
    :func:`cache_secret` (the declared values may hold a secret, and the fingerprint is
    recorded as ``inputsHash``: it must not be checkable against guesses offline).
    ``digest_file(rel)`` gives a file's content digest (default: hash it now; a session passes
    a memo); ``snapshot`` answers for the repository instead when given (a session's batch
    shares one)."""
    if snapshot is None:
        one = digest_file or (lambda rel: file_digest(root / rel))
        snapshot = InputSnapshot(
            root, env=env, exclude=exclude, digest_files=lambda rels: [one(rel) for rel in rels]
        )
    digest = hmac.new(cache_secret(env), digestmod=hashlib.sha256)
    header = {
        "format": CACHE_FORMAT,
        "name": guardrail.name,
        "version": guardrail.version,
        "task": task_id,
        "values": inputs.values,
        "git": snapshot.git_state() if inputs.git_range else None,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    files = snapshot.find(inputs.globs)
    for rel, content in zip(files, snapshot.digests(files), strict=True):
        digest.update(b"\0" + os.fsencode(rel) + b"\0" + content)
    return f"hmac-sha256:{digest.hexdigest()}"


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


STATE_DIR_ENV = "CODEX_ORCHESTRATOR_STATE_DIR"
KEY_FILE = "cache-hmac.key"
_SECRETS: dict[str, bytes] = {}


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where this user's signing key for guardrail caches lives, outside every workspace and
    hidden from the sandbox (:func:`pytest_codex.sandbox.user_state_dir`)."""
    from pytest_codex.sandbox import user_state_dir

    return user_state_dir(env)


def cache_secret(env: Mapping[str, str] | None = None) -> bytes:
    """The key that signs the guardrail result cache and its file-digest memo, so a command
    that can write under ``.runs`` cannot plant a "passed" result or a stale digest. Kept
    0600 in :func:`state_dir` (created on first use); when that is not writable, a key for
    this process only (cached results then last one process)."""
    directory = state_dir(env)
    where = str(directory)
    if where in _SECRETS:
        return _SECRETS[where]
    try:
        secret = _load_or_create_key(directory)
    except OSError:
        secret = os.urandom(32)
    _SECRETS[where] = secret
    return secret


def _load_or_create_key(directory: Path) -> bytes:
    from pytest_codex.digests import load_or_create_key

    return load_or_create_key(directory, KEY_FILE)


# A signed file is its body's compact JSON with the signature as a last member:
# ``{...,"mac":"<64 hex>"}``. The HMAC covers the exact bytes of the body (``{...}``), so
# checking it needs no parsing and no re-serialising; the file stays one JSON document.
_MAC_FIELD = b',"mac":"'
_MAC_TAIL = b'"}\n'
_SIGNED_TAIL = len(_MAC_FIELD) + 64 + len(_MAC_TAIL)


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def signed_text(secret: bytes, body: Mapping[str, Any]) -> str:
    """``body`` as the signed JSON document :func:`verified` accepts (``body`` must have at
    least one member)."""
    text = json.dumps(dict(body), separators=(",", ":"), default=str).encode()
    return (text[:-1] + _MAC_FIELD + _mac(secret, text) + _MAC_TAIL).decode()


def verified(secret: bytes, path: Path) -> dict[str, Any] | None:
    """The body of the signed document at ``path`` when its signature holds; None when it
    is missing, unreadable, a symlink, malformed or not signed with ``secret``."""
    try:
        fd = open_nofollow(path, os.O_RDONLY, create_dirs=False)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
    except (OSError, CodexError):
        return None
    tail = data[-_SIGNED_TAIL:]
    if len(data) <= _SIGNED_TAIL or not (tail.startswith(_MAC_FIELD) and tail.endswith(_MAC_TAIL)):
        return None
    body = data[:-_SIGNED_TAIL] + b"}"
    if not hmac.compare_digest(tail[len(_MAC_FIELD) : -len(_MAC_TAIL)], _mac(secret, body)):
        return None
    try:
        loaded = json.loads(body)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


class FileDigests:
    """File digests memoised by ``(size, mtime, inode, ctime)``, like git's index: a file whose stat
    is unchanged since it was hashed is not read again, within a session and, through the
    ``store`` file, across sessions. A file modified within the last :data:`RACY_SECONDS`
    is never memoised, since a same-size write in the same clock tick would not change its
    stat."""

    def __init__(self, root: Path, store: Path | None = None, secret: bytes | None = None) -> None:
        self.root = root
        self._root = str(root)
        self.store = store
        self._secret = secret
        self._memo: dict[str, list[Any]] | None = None
        self._dirty = False

    @property
    def secret(self) -> bytes:
        """The key the stored memo is signed with (see :func:`cache_secret`)."""
        if self._secret is None:
            self._secret = cache_secret()
        return self._secret

    def _load(self) -> dict[str, list[Any]]:
        if self._memo is None:
            self._memo = {}
            if self.store is not None:
                # Planted or malformed content is no memo: every file is hashed again. A
                # signed memo is one this user's orchestrator wrote: its entries are checked
                # for shape when used, not all of them up front.
                loaded = verified(self.secret, self.store)
                if loaded is not None and loaded.get("format") == CACHE_FORMAT:
                    files = loaded.get("files")
                    if isinstance(files, dict) and loaded.get("store") == str(self.store):
                        self._memo = files
        return self._memo

    def __call__(self, rel: str) -> bytes:
        """The content digest of the repository-relative file ``rel``."""
        return self.many([rel])[0]

    def many(self, rels: Sequence[str]) -> list[bytes]:
        """The content digests of ``rels``, in order. This runs for every input file on
        every cached run: files are stat'ed relative to a descriptor of their directory
        (opened once per directory and call), which spares the kernel the whole path."""
        memo = self._load()
        racy_before = time.time_ns() - RACY_SECONDS * 1_000_000_000
        directories: dict[str, int | None] = {}
        digests: list[bytes] = []
        try:
            for rel in rels:
                directory, _, name = rel.rpartition("/")
                fd = directories.get(directory, -1)
                if fd == -1:
                    fd = directories[directory] = self._open_dir(directory)
                try:
                    if fd is None or not name:
                        info = os.stat(os.path.join(self._root, rel))
                    else:
                        info = os.stat(name, dir_fd=fd)
                except OSError as exc:
                    digests.append(type(exc).__name__.encode())
                    continue
                known = memo.get(rel)
                # ctime too: a command can restore a file's mtime (touch -d), never its ctime.
                if (
                    type(known) is list
                    and len(known) == 5
                    and known[0] == info.st_size
                    and known[1] == info.st_mtime_ns
                    and known[2] == info.st_ino
                    and known[3] == info.st_ctime_ns
                ):
                    try:
                        digests.append(bytes.fromhex(known[4]))
                        continue
                    except (TypeError, ValueError):
                        pass
                value = file_digest(Path(self._root, rel))
                if max(info.st_mtime_ns, info.st_ctime_ns) < racy_before:
                    key = [info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns]
                    memo[rel] = [*key, value.hex()]
                    self._dirty = True
                digests.append(value)
        finally:
            for fd in directories.values():
                if fd is not None:
                    os.close(fd)
        return digests

    def _open_dir(self, directory: str) -> int | None:
        """A descriptor of the repository-relative ``directory`` (None: stat full paths)."""
        try:
            return os.open(
                os.path.join(self._root, directory),
                os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
            )
        except OSError:
            return None  # the per-file stat then reports why

    def save(self) -> None:
        """Write the memo to ``store`` when it learned something (best effort: it is only a
        memo, so a failed write costs speed, never correctness)."""
        if not self._dirty or self.store is None or self._memo is None:
            return
        body = {"format": CACHE_FORMAT, "store": str(self.store), "files": self._memo}
        try:
            atomic_write_text(self.store, signed_text(self.secret, body))
        except (OSError, CodexError):  # a symlink planted at the memo is not written through
            return
        self._dirty = False


class ResultCache:
    """Stored guardrail results of one task (or of the repository, without a task)."""

    def __init__(self, directory: Path, secret: bytes | None = None) -> None:
        self.directory = directory
        self._secret = secret

    @property
    def secret(self) -> bytes:
        """The key entries are signed with (see :func:`cache_secret`)."""
        if self._secret is None:
            self._secret = cache_secret()
        return self._secret

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
        # Only an entry this user's orchestrator signed, for this guardrail, counts: a
        # command that can write under .runs cannot plant a "passed" result.
        entry = verified(self.secret, self._path(name))
        if entry is None or entry.get("fingerprint") != key or entry.get("name") != name:
            return None
        if not isinstance(entry.get("record"), dict):
            return None
        return entry

    def store(self, name: str, key: str, record: Mapping[str, Any], run_id: str | None) -> None:
        """Keep ``record`` (a ``guardrails[]`` record) as the result under ``key``."""
        body = {"name": name, "fingerprint": key, "runId": run_id, "record": dict(record)}
        try:
            atomic_write_text(self._path(name), signed_text(self.secret, body))
        except CodexError as exc:  # a planted symlink: refused, reported like a failed write
            raise OSError(str(exc)) from exc
