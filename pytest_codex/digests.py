"""Keyed digests of what may hold a secret, with a key no workspace can read.

An approval key is matched by a digest of the raw argv, and that digest is recorded (the
key's ``sha=``, ``approvals.json``, ``events.jsonl``): a plain SHA-256 of ``--password
hunter22`` gives the password back to anyone who hashes guesses. So every digest of an argv,
an environment or anything else that may hold a secret is an HMAC-SHA256 under a local key
(:func:`keyed_digest`), kept 0600 in the per-user state directory
(:func:`pytest_codex.sandbox.user_state_dir`), which every sandbox hides. The guardrail
cache's signing key lives there too (:func:`local_key` with its own file name).

Where the directory cannot hold a key (not writable, or not ours), a key for this process
only is used: digests then match within the process, and a stored approval is asked for
again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from .sandbox import user_state_dir

DIGEST_KEY_FILE = "digest-hmac.key"
KEY_BYTES = 32
_KEYS: dict[tuple[str, str], bytes] = {}
_LOCK = threading.Lock()


def local_key(name: str, env: Mapping[str, str] | None = None) -> bytes:
    """The key in ``name`` under this user's state directory (created 0600 on first use);
    a key for this process only when the directory cannot hold one (see the module
    docstring)."""
    directory = user_state_dir(env)
    where = (str(directory), name)
    with _LOCK:
        key = _KEYS.get(where)
        if key is None:
            try:
                key = load_or_create_key(directory, name)
            except OSError:
                key = os.urandom(KEY_BYTES)
            _KEYS[where] = key
    return key


def load_or_create_key(directory: Path, name: str) -> bytes:
    """Read the key file ``directory/name``, creating the 0700 directory and a random 0600
    key first when missing; :class:`PermissionError` when either is not ours alone."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{directory} is not a 0700 directory of ours")
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise PermissionError(f"{path} is not a 0600 file of ours")
        key = handle.read(64)
    if len(key) < KEY_BYTES:
        raise PermissionError(f"{path} is too short to be a key")
    return key


def keyed_digest(data: bytes, env: Mapping[str, str] | None = None) -> str:
    """The HMAC-SHA256 of ``data`` under this user's digest key, as 64 hex digits."""
    return hmac.new(local_key(DIGEST_KEY_FILE, env), data, hashlib.sha256).hexdigest()
