"""What bubblewrap can do on this host: the hardening features, the flags that give each, and
the probe that finds out which of them work here (:func:`probe_bubblewrap`), remembered in the
user state directory (hidden from every sandbox) under a key of everything that decides it.

The full flag set is tried first, then without each optional feature in turn; the status
names the features in force and the reason for every one that is missing, and the
``sandbox:backend`` event carries it into the manifest. When not even mount and network
namespaces work, the backend is ``none``: commands run unsandboxed, a warning is logged once
and :func:`sandbox_status` says why.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import UnsafePathError, UsageError
from ..paths import user_state_dir
from . import seccomp
from ._log import logger
from .policy import KERNEL_MASKED, KERNEL_READ_ONLY

BackendName = Literal["bubblewrap", "none"]
BackendChoice = Literal["auto", "bubblewrap", "none"]

_PROBE_TIMEOUT_SECONDS = 10.0

USER_NAMESPACE = "user-namespace"
PID_NAMESPACE = "pid-namespace"
IPC_UTS_NAMESPACES = "ipc-uts-namespaces"
CAP_DROP = "cap-drop"
NEW_SESSION = "new-session"
KERNEL_INTERFACES = "kernel-interfaces"
SECCOMP = "seccomp"
NETWORK_NAMESPACE = "network-namespace"
CAPABILITIES_DROPPED = "capabilities-dropped"
# Every hardening feature, strongest set first. The network namespace is not optional: without
# it no-network cannot be enforced, so a bwrap that cannot create one is no backend at all.
FEATURES: tuple[str, ...] = (
    USER_NAMESPACE,
    PID_NAMESPACE,
    IPC_UTS_NAMESPACES,
    CAP_DROP,
    NEW_SESSION,
    KERNEL_INTERFACES,
    SECCOMP,
    NETWORK_NAMESPACE,
    CAPABILITIES_DROPPED,
)
_OPTIONAL: tuple[str, ...] = (
    USER_NAMESPACE,
    PID_NAMESPACE,
    IPC_UTS_NAMESPACES,
    CAP_DROP,
    NEW_SESSION,
    KERNEL_INTERFACES,
    SECCOMP,
)
_FEATURE_FLAGS: dict[str, tuple[str, ...]] = {
    USER_NAMESPACE: ("--unshare-user",),
    PID_NAMESPACE: ("--unshare-pid",),
    IPC_UTS_NAMESPACES: ("--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"),
    CAP_DROP: ("--cap-drop", "ALL"),
    NEW_SESSION: ("--new-session",),
    SECCOMP: ("--seccomp", seccomp.SECCOMP_FD_ARG),
}


def base_flags() -> list[str]:
    """The root of every sandbox: the host read-only, private ``/dev``, ``/proc`` and
    ``/tmp``."""
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


@functools.cache
def _kernel_flags() -> tuple[str, ...]:
    # What this kernel has, once per process (the same kernel serves every sandbox).
    argv: list[str] = []
    for path in KERNEL_READ_ONLY:
        if os.path.lexists(path):
            argv += ["--ro-bind", path, path]
    for path in KERNEL_MASKED:
        if os.path.isdir(path):
            argv += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.lexists(path):
            # bwrap's binds are nodev: the device node cannot be opened, read or written.
            argv += ["--ro-bind", "/dev/null", path]
    return tuple(argv)


def kernel_flags(features: Iterable[str]) -> list[str]:
    """runc's read-only and masked ``/proc`` and ``/sys`` entries, when that feature is in
    force (after :func:`base_flags`: the sandbox's own ``/proc`` is mounted first)."""
    return list(_kernel_flags()) if KERNEL_INTERFACES in set(features) else []


def feature_flags(features: Iterable[str]) -> list[str]:
    """The namespace, capability, session and seccomp flags of ``features``."""
    chosen = set(features)
    return [flag for name in _OPTIONAL if name in chosen for flag in _FEATURE_FLAGS.get(name, ())]


@dataclass(frozen=True)
class BackendStatus:
    """Which backend sandboxes commands in this process, and why (as the manifest records it).

    ``features`` are the hardening features in force (:data:`FEATURES`; a status built by
    hand claims all of them); ``missing`` says, per missing feature, why it is missing.
    """

    backend: BackendName
    reason: str | None = None
    executable: str | None = None
    version: str | None = None
    features: tuple[str, ...] = FEATURES
    missing: tuple[tuple[str, str], ...] = ()

    def has(self, feature: str) -> bool:
        """Whether ``feature`` is in force (never, without a backend)."""
        return self.backend != "none" and feature in self.features

    def as_dict(self) -> dict[str, Any]:
        """``{"backend", "reason", "executable", "version", "features", "missing"}``
        (the ``sandbox:backend`` payload)."""
        return {
            "backend": self.backend,
            "reason": self.reason,
            "executable": self.executable,
            "version": self.version,
            "features": list(self.features) if self.backend != "none" else [],
            "missing": {name: why for name, why in self.missing},
        }


def _probe_argv(executable: str, features: Iterable[str] = _OPTIONAL) -> list[str]:
    # The very flags real commands use: a probe with fewer flags could pass where real
    # commands then fail in bwrap itself (e.g. --unshare-net without CAP_NET_ADMIN). The
    # command reports its effective capabilities, so "dropped" is observed, not assumed.
    return [
        executable,
        *base_flags(),
        *kernel_flags(features),
        *feature_flags(features),
        "--unshare-net",
        "--die-with-parent",
        "--",
        "cat",
        "/proc/self/status",
    ]


def _run_probe(argv: list[str]) -> tuple[bool, str]:
    try:
        with seccomp.spawn_args(argv) as (spawned, fds):
            done = subprocess.run(
                spawned,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
                pass_fds=fds,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not run: {exc}"
    if done.returncode == 0:
        return True, done.stdout
    return False, " ".join(done.stderr.split()) or f"exit status {done.returncode}"


def _bwrap_version(path: str) -> str | None:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and words else None


def _capabilities_zero(status_text: str) -> bool:
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16) == 0
    return False


def _filtered(status_text: str) -> bool:
    """Whether the probe ran under a seccomp filter (``Seccomp: 2``)."""
    for line in status_text.splitlines():
        if line.startswith("Seccomp:"):
            return line.split()[1:2] == ["2"]
    return False


@functools.cache
def probe_bubblewrap(executable: str | None = None, *, fresh: bool = False) -> BackendStatus:
    """What ``bwrap`` (or ``executable``) can do here; probed once per process and path,
    and logged once when it cannot sandbox at all or only with fewer features.

    A successful probe is remembered across processes in the user state directory (hidden
    from every sandbox), keyed by everything that decides it (:func:`_probe_key`); a key
    that differs, or a cache file that is unreadable or malformed, means a new probe.
    ``fresh`` (``doctor``) probes regardless, and refreshes the cache.
    """
    path = executable or _find_bwrap()
    if path is None:
        status = BackendStatus("none", "bwrap not found on PATH", features=())
        logger.warning("pytest-codex: commands run unsandboxed (%s)", status.reason)
        return status
    key = _probe_key(path)
    cached = None if fresh or key is None else _cached_probe(key, path)
    if cached is not None:
        _warn_weaker(cached)
        return cached
    status = _probe(path)
    if key is not None and status.backend == "bubblewrap":
        _store_probe(key, status)
    return status


def _find_bwrap() -> str | None:
    # bwrap runs unsandboxed: never one planted in the workspace (see pytest_codex.programs).
    from ..programs import ProgramNotFoundError, resolve

    try:
        return resolve("bwrap")
    except ProgramNotFoundError:
        return None


def _probe(path: str) -> BackendStatus:
    version = _bwrap_version(path)
    features = list(_OPTIONAL)
    missing: list[tuple[str, str]] = []
    no_filter = seccomp.unavailable_reason()
    if no_filter is not None:
        features.remove(SECCOMP)
        missing.append((SECCOMP, no_filter))
    ok, out = _run_probe(_probe_argv(path, features))
    if not ok:
        full_error = out
        # Give up one optional feature at a time, weakest loss first is unknowable, so try
        # each alone and keep every one that does not break the probe.
        for feature in _OPTIONAL:
            if feature not in features:
                continue
            trial = [f for f in features if f != feature]
            trial_ok, trial_out = _run_probe(_probe_argv(path, trial))
            if trial_ok:
                features, ok, out = trial, True, trial_out
                missing.append((feature, f"bwrap refused it: {full_error}"))
                break
        if not ok:
            ok, out = _run_probe(_probe_argv(path, ()))
            if ok:
                missing += [(f, f"bwrap refused it: {full_error}") for f in features]
                features = []
    if not ok:
        status = BackendStatus(
            "none", f"bwrap cannot create namespaces: {out}", path, version, features=()
        )
        logger.warning("pytest-codex: commands run unsandboxed (%s)", status.reason)
        return status
    if SECCOMP in features and not _filtered(out):
        features.remove(SECCOMP)
        missing.append((SECCOMP, "the sandboxed probe ran without the filter"))
    granted = [*features, NETWORK_NAMESPACE]
    if _capabilities_zero(out):
        granted.append(CAPABILITIES_DROPPED)
    else:
        missing.append((CAPABILITIES_DROPPED, "the sandboxed probe still had capabilities"))
    status = BackendStatus(
        "bubblewrap",
        None,
        path,
        version,
        tuple(f for f in FEATURES if f in granted),
        tuple(missing),
    )
    _warn_weaker(status)
    return status


def _warn_weaker(status: BackendStatus) -> None:
    if status.missing:
        logger.warning(
            "pytest-codex: the bubblewrap sandbox is weaker here: %s",
            "; ".join(f"no {name} ({why})" for name, why in status.missing),
        )


# -- the probe cache ----------------------------------------------------------------------------
PROBE_CACHE_FILE = "bwrap-probe.json"
_PROBE_CACHE_VERSION = 2
# What else decides the probe's answer: namespace sysctls (they change without a reboot) and
# this process's own limits (capabilities, seccomp, no_new_privs are inherited by bwrap).
_PROBE_SYSCTLS = (
    "/proc/sys/kernel/unprivileged_userns_clone",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    "/proc/sys/kernel/unprivileged_bpf_disabled",
)
_PROBE_STATUS_FIELDS = ("CapEff", "CapBnd", "CapPrm", "Seccomp", "NoNewPrivs")


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(65536).strip()
    except OSError:
        return None


def _probe_key(path: str) -> dict[str, Any] | None:
    """What decides the probe's answer: the bwrap binary (path, device, inode, size, mtime,
    ctime), the kernel (release, boot id), its namespace sysctls, this user and this
    process's capabilities and seccomp state, and the probed flags. None when the binary
    cannot be examined (then nothing is cached)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    status = _read_small("/proc/self/status") or ""
    limits = {
        name: value.strip()
        for line in status.splitlines()
        for name, sep, value in [line.partition(":")]
        if sep and name in _PROBE_STATUS_FIELDS
    }
    return {
        "bwrap": [
            os.path.realpath(path),
            path,
            info.st_dev,
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
            info.st_ctime_ns,
        ],
        "kernel": os.uname().release,
        "bootId": _read_small("/proc/sys/kernel/random/boot_id"),
        "sysctls": {name: _read_small(name) for name in _PROBE_SYSCTLS},
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "limits": limits,
        "flags": _probe_argv(path),
    }


def _probe_cache_path() -> Path:
    return user_state_dir() / PROBE_CACHE_FILE


def _cached_probe(key: dict[str, Any], path: str) -> BackendStatus | None:
    """The cached status for exactly ``key``, or None (absent, unreadable, malformed,
    another key)."""
    import json

    try:
        document = json.loads(_probe_cache_path().read_text(encoding="utf-8"))
        if document.get("v") != _PROBE_CACHE_VERSION or document.get("key") != key:
            return None
        status = document["status"]
        features = status["features"]
        missing = status["missing"]
        version = status["version"]
        if not (
            isinstance(features, list)
            and all(isinstance(f, str) and f in FEATURES for f in features)
            and NETWORK_NAMESPACE in features
            and isinstance(missing, list)
            and all(
                isinstance(m, list)
                and len(m) == 2
                and m[0] in FEATURES
                and m[0] not in features
                and isinstance(m[1], str)
                for m in missing
            )
            and (version is None or isinstance(version, str))
        ):
            return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return BackendStatus(
        "bubblewrap",
        None,
        path,
        version,
        tuple(f for f in FEATURES if f in features),
        tuple((str(name), str(why)) for name, why in missing),
    )


def _store_probe(key: dict[str, Any], status: BackendStatus) -> None:
    """Remember a successful probe (atomically; best effort: a cache that cannot be written
    only costs the next process a probe)."""
    import json

    from ..atomic import atomic_write_text

    document = {
        "v": _PROBE_CACHE_VERSION,
        "key": key,
        "status": {
            "version": status.version,
            "features": list(status.features),
            "missing": [list(m) for m in status.missing],
        },
    }
    target = _probe_cache_path()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(document, sort_keys=True) + "\n", durable=False)
    except (OSError, UnsafePathError):
        return


def resolve_backend(choice: BackendChoice = "auto") -> BackendStatus:
    """The backend for ``choice``: ``auto`` and ``bubblewrap`` use bwrap when it works."""
    if choice == "none":
        return BackendStatus("none", "sandbox backend 'none' was requested", features=())
    if choice not in ("auto", "bubblewrap"):
        raise UsageError(f"unknown sandbox backend {choice!r}; use auto, bubblewrap or none")
    return probe_bubblewrap()


def sandbox_status(choice: BackendChoice = "auto") -> dict[str, Any]:
    """What sandboxes commands on this host (:meth:`BackendStatus.as_dict`)."""
    return resolve_backend(choice).as_dict()
