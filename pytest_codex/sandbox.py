"""Sandboxes for commands, and how to tell that a sandbox refused something.

Modes (the Codex CLI names):

``read-only``
    The whole filesystem is read-only; ``/tmp`` and ``/dev`` are private and writable (their
    contents vanish with the command); no network unless allowed.
``workspace-write``
    As ``read-only``, plus the workspace (and any extra writable roots) writable.
``danger-full-access``
    No sandbox at all.

Backends: ``bubblewrap`` (``bwrap``) and ``none``. A bubblewrap sandbox runs the command in
its own user, PID (with its own ``/proc``), IPC, UTS, mount and (without network) network
namespaces, with every capability dropped (``--cap-drop ALL``), in a new terminal session
(``--new-session``: no ``TIOCSTI`` into the caller's terminal) and dies with its parent.
What this bwrap and kernel allow is probed once (:func:`probe_bubblewrap`, remembered in the
hidden user state directory under a key of everything that decides it): the
full flag set first, then without each optional feature in turn; the status names the
features in force and the reason for every one that is missing, and the ``sandbox:backend``
event carries it into the manifest. When not even mount and network namespaces work, the
backend is ``none``: commands run unsandboxed, a warning is logged once and
:func:`sandbox_status` says why.

A sandbox is only ever an argv prefix (:meth:`Sandbox.prefix`, :meth:`Sandbox.wrap`), so any
runner can use it, including the exec runtime's PTY shells (which drop ``--new-session``:
their terminal is a PTY of their own, see ``runtime.pty_session.without_new_session``).

Protected paths (:func:`protected_paths`): the repository's ``.git``, the runs and out
directories, the configuration files and the session socket directory are bound read-only
*after* the writable roots, so a writable workspace cannot change what the orchestrator
later reads or runs outside the sandbox. A protected directory that does not exist yet and
that the orchestrator creates anyway (runs, out) is created first, then bound. Any other
missing protected path (``.git``, a config file not written yet) cannot be bound without
leaving a mount point on the host, so it is *watched*: when it appears after a sandboxed
command, the command is denied (signal ``protected-path-created``) and the planted entry is
moved aside (``<name>.planted-<hex>``) before anything reads it.

Permissions name what a sandbox lets a command do beyond reading: ``write-workspace``,
``write-outside-workspace`` and ``network``. Approval keys carry the permissions an
invocation asks for beyond the sandbox the orchestrator is configured with.

Denial detection (:func:`detect_denial`), exactly:

1. Only an *enforced* sandbox can deny (backend ``bubblewrap`` and a mode other than
   ``danger-full-access``); output of an unsandboxed command is never evidence.
2. Exit status 0, or no exit status (timed out, killed by the runner), is never a denial
   (except ``protected-path-created``).
3. Lines written by ``bwrap`` itself (``bwrap: ...``) are sandbox *set-up* failures, not
   policy denials, and are ignored.
4. Signals, matched in the output, case-insensitively:

   - ``read-only-file-system``: "Read-only file system" (EROFS). Our sandboxes mount
     everything they do not grant read-only, so this one counts wherever it appears.
   - ``operation-not-permitted``: "Operation not permitted" (EPERM), and
     ``permission-denied``: "Permission denied" (EACCES). Both also happen for reasons of
     their own (file modes, ownership), so they count only when the same line names an
     absolute path outside the sandbox's writable roots, and never with exit status 126 or
     127 (the shell's "cannot execute" and "not found").
   - ``resource-busy``: "Device or resource busy" (EBUSY: renaming or removing a
     protected path, which is a mount point), with the same path rule as EPERM.
   - ``network-unreachable``: "Network is unreachable"; ``connection-refused``: "Connection
     refused" (inside a network namespace only the sandbox's own loopback answers);
     ``name-resolution-failed``: "Temporary failure in name resolution", "Could not resolve
     host", "Name or service not known". Only when the sandbox has no network.
   - ``cwd-unavailable``: bwrap's own "Can't chdir to DIR" (the sandbox cannot enter the
     command's working directory). Not escalated: no wider sandbox is offered for it.
   - ``protected-path-created``: a watched protected path appeared (see above); counts
     even when the command exited 0.

5. A failed command is denied when at least one signal matched. Anything else (exit 1, 2,
   126, 127, ... without signals) is an ordinary failure and is not escalated.

The evidence records the signals, the exit status, the matching lines (redacted, at most
five) and the absolute paths they name.
"""

from __future__ import annotations

import functools
import os
import re
import secrets as _secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any, Literal

from .errors import UnsafePathError, UsageError
from .redact import redact_text


class _Logger:
    """``logging.getLogger(__name__)``, imported when there is something to log."""

    def warning(self, message: str, *args: object) -> None:
        import logging

        logging.getLogger(__name__).warning(message, *args)


logger = _Logger()

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("read-only", "workspace-write", "danger-full-access")

BackendName = Literal["bubblewrap", "none"]
BackendChoice = Literal["auto", "bubblewrap", "none"]

WRITE_WORKSPACE = "write-workspace"
WRITE_OUTSIDE_WORKSPACE = "write-outside-workspace"
NETWORK = "network"
PERMISSIONS: tuple[str, ...] = (WRITE_WORKSPACE, WRITE_OUTSIDE_WORKSPACE, NETWORK)

_MODE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read-only": frozenset(),
    "workspace-write": frozenset({WRITE_WORKSPACE}),
    "danger-full-access": frozenset(PERMISSIONS),
}

# Writable inside every enforced sandbox: they are private to the sandbox.
_PRIVATE_ROOTS: tuple[Path, ...] = (Path("/tmp"), Path("/dev"))

_PROBE_TIMEOUT_SECONDS = 10.0


def validate_mode(mode: str) -> SandboxMode:
    """``mode`` if it is a sandbox mode, else a :class:`UsageError`."""
    for known in SANDBOX_MODES:
        if mode == known:
            return known
    raise UsageError(f"unknown sandbox mode {mode!r}; use one of {', '.join(SANDBOX_MODES)}")


# -- backend detection ------------------------------------------------------------------------
USER_NAMESPACE = "user-namespace"
PID_NAMESPACE = "pid-namespace"
IPC_UTS_NAMESPACES = "ipc-uts-namespaces"
CAP_DROP = "cap-drop"
NEW_SESSION = "new-session"
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
    NETWORK_NAMESPACE,
    CAPABILITIES_DROPPED,
)
_OPTIONAL: tuple[str, ...] = (
    USER_NAMESPACE,
    PID_NAMESPACE,
    IPC_UTS_NAMESPACES,
    CAP_DROP,
    NEW_SESSION,
)
_FEATURE_FLAGS: dict[str, tuple[str, ...]] = {
    USER_NAMESPACE: ("--unshare-user",),
    PID_NAMESPACE: ("--unshare-pid",),
    IPC_UTS_NAMESPACES: ("--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"),
    CAP_DROP: ("--cap-drop", "ALL"),
    NEW_SESSION: ("--new-session",),
}


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


def _feature_flags(features: Iterable[str]) -> list[str]:
    chosen = set(features)
    return [flag for name in _OPTIONAL if name in chosen for flag in _FEATURE_FLAGS[name]]


def _probe_argv(executable: str, features: Iterable[str] = _OPTIONAL) -> list[str]:
    # The very flags real commands use: a probe with fewer flags could pass where real
    # commands then fail in bwrap itself (e.g. --unshare-net without CAP_NET_ADMIN). The
    # command reports its effective capabilities, so "dropped" is observed, not assumed.
    return [
        executable,
        *_base_flags(),
        *_feature_flags(features),
        "--unshare-net",
        "--die-with-parent",
        "--",
        "cat",
        "/proc/self/status",
    ]


def _run_probe(argv: list[str]) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
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
    from .programs import ProgramNotFoundError, resolve

    try:
        return resolve("bwrap")
    except ProgramNotFoundError:
        return None


def _probe(path: str) -> BackendStatus:
    version = _bwrap_version(path)
    features = list(_OPTIONAL)
    ok, out = _run_probe(_probe_argv(path, features))
    missing: list[tuple[str, str]] = []
    if not ok:
        full_error = out
        # Give up one optional feature at a time, weakest loss first is unknowable, so try
        # each alone and keep every one that does not break the probe.
        for feature in _OPTIONAL:
            trial = [f for f in features if f != feature]
            trial_ok, trial_out = _run_probe(_probe_argv(path, trial))
            if trial_ok:
                features, ok, out = trial, True, trial_out
                missing.append((feature, f"bwrap refused it: {full_error}"))
                break
        if not ok:
            ok, out = _run_probe(_probe_argv(path, ()))
            if ok:
                features = []
                missing = [(f, f"bwrap refused it: {full_error}") for f in _OPTIONAL]
    if not ok:
        status = BackendStatus(
            "none", f"bwrap cannot create namespaces: {out}", path, version, features=()
        )
        logger.warning("pytest-codex: commands run unsandboxed (%s)", status.reason)
        return status
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
_PROBE_CACHE_VERSION = 1
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

    from .atomic import atomic_write_text

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


# -- protected paths ----------------------------------------------------------------------------
SOCKET_DIR_NAME = "codex-sessions"
STATE_DIR_ENV = "CODEX_ORCHESTRATOR_STATE_DIR"
SIGNING_KEY_ENV = "CODEX_ORCHESTRATOR_SIGNING_KEY"
# Secrets that travel in the environment and never reach a sandboxed command.
HIDDEN_VARIABLES = ("CODEX_ORCHESTRATOR_SIGNING_KEY_PEM",)


@dataclass(frozen=True)
class Protected:
    """A path a sandboxed command must never change; ``create`` pre-creates a missing
    directory (one the orchestrator creates anyway) so it can be bound read-only."""

    path: Path
    create: bool = False
    # Neither readable nor writable inside: signing keys and the cache key (a tmpfs over a
    # directory, /dev/null over a file), in every sandbox mode.
    hide: bool = False


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/pytest-codex`` or ``~/.config/pytest-codex`` (signing material,
    user-wide approvals)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "pytest-codex"


def user_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CODEX_ORCHESTRATOR_STATE_DIR``, else ``$XDG_STATE_HOME/codex-orchestrator``, else
    ``~/.local/state/codex-orchestrator`` (the key that signs guardrail caches)."""
    env = os.environ if env is None else env
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(base) / "codex-orchestrator"


def session_socket_dir() -> Path:
    """Where session servers listen (see ``runtime.session_server.socket_path``)."""
    return Path(tempfile.gettempdir()) / SOCKET_DIR_NAME


def protected_paths(
    roots: Any,
    *,
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    child_runs: bool = False,
) -> tuple[Protected, ...]:
    """The paths to keep read-only for a run whose ``roots`` (anything with ``root``,
    ``runs_dir`` and ``out_dir``: :class:`~pytest_codex.paths.Roots`, ``RunPaths``, a
    Context's ``roots``) are given: ``.git``, runs and out (approval stores, guardrail cache
    and memo live under runs), every configuration file the orchestrator reads, the user
    configuration directory and the session socket directory.

    ``child_runs``: for commands that record runs of their own (``exec -- pytest``, a pipeline
    stage running the suite under the plugin), new run directories may be created under the
    runs directory, but every run directory that exists already (the parent's own included),
    every approval store, task metrics file and its lock, the guardrail caches and the out
    directory stay read-only (docs/sandbox.md says what that leaves open).
    """
    root = Path(roots.root).resolve()
    found: list[Protected] = [Protected(root / ".git")]
    for name in ("runs_dir", "out_dir"):  # a stand-in run may know only some of them
        where = getattr(roots, name, None)
        if where is None:
            continue
        if not child_runs or name == "out_dir":
            # A child run leaves the out directory to its parent (see Run.finish).
            found.append(Protected(Path(where).resolve(), create=True))
        else:
            runs = Path(where).resolve()
            found += [Protected(m.parent) for m in sorted(runs.glob("*/*/*/manifest.json"))]
            for pattern in ("approvals.json", "metrics.json", ".metrics.json.lock"):
                found += [Protected(a) for a in sorted(runs.glob(f"*/{pattern}"))]
            # The guardrail cache and its memo: a child's guardrails cannot store results
            # (a failed store costs the cache, never the result), and nothing planted there
            # can pass later runs' guardrails.
            found += [Protected(c) for c in sorted(runs.glob("*/guardrail-cache"))]
            task_dir = getattr(roots, "task_dir", None)  # a run's paths know their task
            if isinstance(task_dir, Path):
                found.append(Protected(Path(task_dir).resolve() / "guardrail-cache", create=True))
    found += [Protected(root / name) for name in _CONFIG_FILE_NAMES]
    pyproject = root / "pyproject.toml"
    if _holds_orchestrator_table(pyproject):
        found.append(Protected(pyproject))
    env = os.environ if env is None else env
    named = config_file or env.get("CODEX_ORCHESTRATOR_CONFIG")
    if named:
        found.append(Protected(Path(named).resolve()))
    found += [
        Protected(user_config_dir(env), hide=True),
        Protected(user_state_dir(env), hide=True),
        Protected(session_socket_dir()),
    ]
    if env.get(SIGNING_KEY_ENV):  # a signing key kept elsewhere than the user config dir
        found.append(Protected(Path(env[SIGNING_KEY_ENV]).expanduser(), hide=True))
    unique: dict[Path, Protected] = {}
    for entry in found:
        unique.setdefault(entry.path, entry)
    return tuple(unique.values())


# The names config.CONFIG_FILES reads (config is not imported: it pulls in the schema layer).
_CONFIG_FILE_NAMES = (
    "codex.orchestrator.yaml",
    "codex.orchestrator.yml",
    "codex.orchestrator.json",
)


def _holds_orchestrator_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    if "codex-orchestrator" not in text and "\\u" not in text and "\\U" not in text:
        return False  # without an escape, the table's name is in the text of a file holding it
    import tomllib

    try:
        return "codex-orchestrator" in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        # Unparseable today, perhaps parseable after the command: protect it anyway.
        return "codex-orchestrator" in text


# -- policies and sandboxes ---------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxPolicy:
    """A mode plus whether the network is allowed (always, under ``danger-full-access``)."""

    mode: SandboxMode
    network: bool = False

    def __post_init__(self) -> None:
        validate_mode(self.mode)
        if self.mode == "danger-full-access" and not self.network:
            object.__setattr__(self, "network", True)

    @property
    def permissions(self) -> frozenset[str]:
        """What this policy lets a command do beyond reading."""
        granted = _MODE_PERMISSIONS[self.mode]
        return granted | {NETWORK} if self.network else granted

    @property
    def label(self) -> str:
        """``workspace-write``, or ``workspace-write+network`` when the network is on."""
        if self.network and self.mode != "danger-full-access":
            return f"{self.mode}+network"
        return self.mode


@dataclass(frozen=True)
class DenialEvidence:
    """Why a failed command is believed to have been denied by its sandbox."""

    signals: tuple[str, ...]
    exit_code: int | None
    excerpt: str
    paths: tuple[str, ...] = ()

    @property
    def filesystem(self) -> bool:
        """Whether a write was refused."""
        return any(signal in _FILESYSTEM_SIGNALS for signal in self.signals)

    @property
    def network(self) -> bool:
        """Whether the network was refused."""
        return any(signal in _NETWORK_SIGNALS for signal in self.signals)

    def as_record(self) -> dict[str, Any]:
        """``{"signals", "exitCode", "excerpt", "paths"}`` as records carry it."""
        return {
            "signals": list(self.signals),
            "exitCode": self.exit_code,
            "excerpt": self.excerpt,
            "paths": list(self.paths),
        }


@dataclass(frozen=True)
class Sandbox:
    """One sandbox: a policy applied to a workspace by a backend.

    ``protected`` paths stay read-only even inside writable roots (see the module docstring
    and :func:`protected_paths`).
    """

    policy: SandboxPolicy
    workspace: Path
    status: BackendStatus
    writable_roots: tuple[Path, ...] = ()
    new_session: bool = True
    protected: tuple[Protected, ...] = ()
    _watched: tuple[Path, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_watched", self._missing_protected())
        if self._confines() and self.policy.mode == "workspace-write":
            # What building the prefix would create (the protected directories made first
            # and then bound), now; the prefix itself is built per command (:meth:`prefix`).
            self._protected_binds((self.workspace, *self.writable_roots))

    def _confines(self) -> bool:
        return self.enforced and self.status.executable is not None

    @classmethod
    def create(
        cls,
        mode: SandboxMode | str = "workspace-write",
        workspace: Path | str = ".",
        *,
        network: bool = False,
        backend: BackendChoice | BackendStatus = "auto",
        writable_roots: Iterable[Path | str] = (),
        new_session: bool = True,
        protected: Iterable[Protected | Path | str] = (),
    ) -> Sandbox:
        """A sandbox for ``workspace`` (resolved) in ``mode``, on the given backend."""
        status = backend if isinstance(backend, BackendStatus) else resolve_backend(backend)
        return cls(
            policy=SandboxPolicy(validate_mode(mode), network),
            workspace=Path(workspace).resolve(),
            status=status,
            writable_roots=tuple(Path(root).resolve() for root in writable_roots),
            new_session=new_session,
            protected=tuple(
                p if isinstance(p, Protected) else Protected(Path(p).resolve()) for p in protected
            ),
        )

    @property
    def mode(self) -> SandboxMode:
        """The sandbox mode."""
        return self.policy.mode

    @property
    def enforced(self) -> bool:
        """Whether commands are really confined (a backend and a mode that confines)."""
        return self.status.backend != "none" and self.policy.mode != "danger-full-access"

    @property
    def state(self) -> Literal["sandboxed", "unsandboxed"]:
        """``sandboxed`` when enforced, else ``unsandboxed``."""
        return "sandboxed" if self.enforced else "unsandboxed"

    def writable_paths(self) -> tuple[Path, ...]:
        """Where a command in this sandbox may write (everywhere: ``(Path("/"),)``), not
        counting the protected paths inside them (:meth:`is_writable`)."""
        if not self.enforced:
            return (Path("/"),)
        if self.policy.mode == "workspace-write":
            return (self.workspace, *self.writable_roots, *_PRIVATE_ROOTS)
        return _PRIVATE_ROOTS

    def is_writable(self, path: Path | str) -> bool:
        """Whether a command in this sandbox may write ``path``."""
        if not self.enforced:
            return True
        target = Path(path)
        if self.policy.mode == "workspace-write" and _inside(
            target, [p.path for p in self.protected]
        ):
            return False
        return _inside(target, self.writable_paths())

    def prefix(self, cwd: Path | str | None = None) -> list[str]:
        """The argv prefix that runs a command in this sandbox (empty when unsandboxed).

        With ``cwd``, bwrap changes into it and fails loudly when the sandbox cannot see it,
        instead of silently starting the command in ``$HOME``. Under ``workspace-write`` the
        working directory is writable (as in Codex), wherever it is (``/tmp`` included);
        under ``read-only`` a working directory under the private ``/tmp`` stays visible,
        read-only.
        """
        if not self._confines():
            return []
        # Built afresh: a protected path that appeared since (a config file the parent
        # wrote, say) is bound read-only from now on.
        if cwd is None:
            return self._build_prefix()
        where = Path(os.path.abspath(cwd))
        extra = (where,) if not self._covers(where) and where.is_dir() else ()
        argv = self._build_prefix(extra=extra)
        return [*argv[:-1], "--chdir", str(where), "--"]

    def wrap(self, argv: Sequence[str], cwd: Path | str | None = None) -> list[str]:
        """``argv`` run in this sandbox."""
        return [*self.prefix(cwd), *argv]

    def with_policy(self, policy: SandboxPolicy) -> Sandbox:
        """The same sandbox under another policy."""
        return replace(self, policy=policy)

    def escalation(self, evidence: DenialEvidence) -> SandboxPolicy | None:
        """The next, less restricted policy to try after ``evidence``; None when there is none.

        A refused write goes from ``read-only`` to ``workspace-write`` when every path it
        names is writable there (the workspace, less the protected paths), and otherwise to
        ``danger-full-access``; a refused network turns the network on and keeps the mode.
        A working directory the sandbox cannot enter is not escalated.
        """
        current = self.policy
        if current.mode == "danger-full-access" or CWD_UNAVAILABLE in evidence.signals:
            return None
        network = current.network or evidence.network
        if evidence.filesystem:
            wider = self.with_policy(SandboxPolicy("workspace-write", network))
            if current.mode == "read-only" and all(
                wider.is_writable(path) for path in evidence.paths
            ):
                return SandboxPolicy("workspace-write", network)
            return SandboxPolicy("danger-full-access", True)
        if evidence.network and not current.network:
            return SandboxPolicy(current.mode, True)
        return None

    def watch(self) -> tuple[Path, ...]:
        """The protected paths missing right now (take this just before a command starts and
        pass it to :func:`detect_denial`, so only what appeared *during* it counts)."""
        return self._missing_protected()

    def planted(self, watched: Iterable[Path] | None = None) -> tuple[Path, ...]:
        """Which of ``watched`` (default: the protected paths missing when the sandbox was
        made) exist now."""
        if not self.enforced or self.policy.mode != "workspace-write":
            return ()
        paths = self._watched if watched is None else tuple(watched)
        return tuple(path for path in paths if os.path.lexists(path))

    def _covers(self, path: Path) -> bool:
        if self.policy.mode == "workspace-write":
            return _inside(path, (self.workspace, *self.writable_roots))
        return not _inside(path, [Path("/tmp")]) or _inside(path, [self.workspace])

    def _missing_protected(self) -> tuple[Path, ...]:
        if not self.enforced or self.policy.mode != "workspace-write":
            return ()
        roots = (self.workspace, *self.writable_roots)
        return tuple(
            p.path
            for p in self.protected
            if not p.create and _inside(p.path, roots) and not os.path.lexists(p.path)
        )

    def _build_prefix(self, extra: tuple[Path, ...] = ()) -> list[str]:
        if not self.enforced or self.status.executable is None:
            return []
        argv = [self.status.executable, *_base_flags()]
        # The private /tmp would hide a Python environment living there (a CI checkout
        # under /tmp, say): the interpreter running us and its import path (an editable
        # install's sources included) stay visible, read-only.
        for path in _python_paths_under_tmp():
            argv += ["--ro-bind", str(path), str(path)]
        writable = self.policy.mode == "workspace-write"
        # Bound after the private /tmp, so a workspace that lives under /tmp stays visible.
        roots = (self.workspace, *(self.writable_roots if writable else ()), *extra)
        for root in roots:
            if root.exists():
                argv += ["--bind" if writable else "--ro-bind", str(root), str(root)]
        if writable:
            argv += self._protected_binds(roots)
        argv += self._hidden_binds()
        for name in HIDDEN_VARIABLES:
            argv += ["--unsetenv", name]
        argv += _feature_flags(
            f for f in self.status.features if f != NEW_SESSION or self.new_session
        )
        if not self.policy.network:
            argv.append("--unshare-net")
        argv.append("--die-with-parent")
        argv.append("--")
        return argv

    def _hidden_binds(self) -> list[str]:
        # Last of the mounts, so nothing bound before uncovers them.
        argv: list[str] = []
        for entry in self.protected:
            if not entry.hide or _inside(entry.path, [Path("/tmp")]):
                continue  # the private /tmp hides what lives there already
            if entry.path.is_dir():
                argv += ["--tmpfs", str(entry.path)]
            elif entry.path.is_file():
                argv += ["--ro-bind", "/dev/null", str(entry.path)]
        return argv

    def _protected_binds(self, roots: tuple[Path, ...]) -> list[str]:
        # After the writable binds: a later mount wins, and a mount point cannot be renamed
        # or removed from inside (EBUSY), so the protection cannot be moved out of the way.
        argv: list[str] = []
        for entry in self.protected:
            path = entry.path
            if entry.hide or not _inside(path, roots):
                continue  # hidden below, or already read-only (or private /tmp, invisible)
            present = os.path.lexists(path)
            if entry.create and not present:
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    logger.warning("pytest-codex: cannot create %s to protect it (%s)", path, exc)
                    continue
                present = True
            if present:
                # A symlink is bound at its target, which is what writes through it reach.
                source = path.resolve() if path.is_symlink() else path
                if source.exists():
                    argv += ["--ro-bind", str(source), str(source)]
        return argv


def _python_paths_under_tmp() -> list[Path]:
    """``sys.prefix``, ``sys.base_prefix`` and the ``sys.path`` directories that live under
    ``/tmp`` (never ``/tmp`` itself), less those inside another one."""
    tmp = Path("/tmp")
    found: set[Path] = set()
    for entry in (sys.prefix, sys.base_prefix, *sys.path):
        if not entry:
            continue
        path = Path(entry)
        if path.is_file():  # a zip archive on the path: its directory
            path = path.parent
        if path != tmp and path.is_absolute() and _inside(path, [tmp]) and path.is_dir():
            found.add(path)
    return sorted(p for p in found if not any(o != p and _inside(p, [o]) for o in found))


def _base_flags() -> list[str]:
    return ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    """Whether ``path`` (normalised) is one of ``roots`` or below one: what
    ``normal == root or normal.is_relative_to(root)`` says, comparing the roots' cached
    parts instead of parsing each root again (this runs for every protected path)."""
    parts = Path(os.path.normpath(path)).parts
    for root in roots:
        prefix = (root if isinstance(root, PurePath) else Path(root)).parts
        if prefix:
            if parts[: len(prefix)] == prefix:
                return True
        elif not parts or not parts[0].startswith("/"):  # "." holds every relative path
            return True
    return False


# -- denial detection ---------------------------------------------------------------------------
CWD_UNAVAILABLE = "cwd-unavailable"
PROTECTED_PATH_CREATED = "protected-path-created"
_FILESYSTEM_SIGNALS: dict[str, tuple[str, ...]] = {
    "read-only-file-system": ("read-only file system",),
    "operation-not-permitted": ("operation not permitted",),
    "permission-denied": ("permission denied",),
    "resource-busy": ("device or resource busy",),
    PROTECTED_PATH_CREATED: (),
}
_NETWORK_SIGNALS: dict[str, tuple[str, ...]] = {
    "network-unreachable": ("network is unreachable",),
    "connection-refused": ("connection refused",),
    "name-resolution-failed": (
        "temporary failure in name resolution",
        "could not resolve host",
        "name or service not known",
    ),
}
# Signals that also have ordinary causes: they need a path outside the writable roots.
_NEEDS_OUTSIDE_PATH = frozenset({"operation-not-permitted", "permission-denied", "resource-busy"})
_CANNOT_EXECUTE = frozenset({126, 127})
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s:'\"`,;()\[\]{}<>|]*")
_MAX_EXCERPT_LINES = 5
_MAX_LINE_CHARS = 300
# Denials are reported where they happen, near the end; a huge log is not scanned whole.
_SCAN_TAIL_CHARS = 256 * 1024
_BWRAP_CHDIR_FAILURE = re.compile(r"^bwrap: Can't chdir to (?P<path>/[^\n]*?): [^\n]*$", re.M)


_BWRAP_EXEC_FAILURE = re.compile(r"^bwrap: execvp [^\n]*: (?P<why>[^\n]*)$", re.MULTILINE)


def launch_status(exit_code: int | None, output: str, sandboxed: bool) -> int | None:
    """The exit status as the shell would report it. bubblewrap reports a program it cannot
    start (``bwrap: execvp NAME: No such file or directory``) as exit status 1; the shell
    says 127 for "not found" and 126 for "cannot execute", and so do we."""
    if not sandboxed or exit_code != 1 or "bwrap: execvp " not in output:
        return exit_code
    match = _BWRAP_EXEC_FAILURE.search(output[-4096:])
    if match is None:
        return exit_code
    return 127 if "No such file" in match.group("why") else 126


def detect_denial(
    exit_code: int | None,
    output: str,
    sandbox: Sandbox | None,
    *,
    secrets: Iterable[str] | None = None,
    watched: Iterable[Path] | None = None,
) -> DenialEvidence | None:
    """The evidence that ``sandbox`` denied a command, or None (see the module docstring).

    A watched protected path that appeared is moved aside here (``<name>.planted-<hex>``),
    before anything outside the sandbox can read it; ``watched`` is :meth:`Sandbox.watch`
    taken when the command started (default: when the sandbox was made).
    """
    if sandbox is None or not sandbox.enforced:
        return None
    planted = _quarantine(sandbox.planted(watched))
    if planted:
        known = list(secrets) if secrets is not None else None
        excerpt = "\n".join(
            f"created protected path {p} (moved to {moved})" for p, moved in planted
        )
        return DenialEvidence(
            signals=(PROTECTED_PATH_CREATED,),
            exit_code=exit_code,
            excerpt=redact_text(excerpt, known),
            paths=tuple(redact_text(str(p), known) for p, _ in planted),
        )
    if exit_code is None or exit_code == 0:
        return None
    chdir = _BWRAP_CHDIR_FAILURE.search(output[-4096:])
    if chdir is not None:
        known = list(secrets) if secrets is not None else None
        return DenialEvidence(
            signals=(CWD_UNAVAILABLE,),
            exit_code=exit_code,
            excerpt=redact_text(chdir.group(0)[:_MAX_LINE_CHARS], known),
            paths=(redact_text(chdir.group("path"), known),),
        )
    check_network = not sandbox.policy.network
    signals: list[str] = []
    lines: list[str] = []
    paths: list[str] = []
    for line in output[-_SCAN_TAIL_CHARS:].splitlines():
        lowered = line.lower()
        if lowered.lstrip().startswith("bwrap:"):
            continue
        matched = _line_signals(lowered, exit_code, check_network)
        if not matched:
            continue
        named = [p for p in _ABSOLUTE_PATH.findall(line) if p != "/"]
        outside = [p for p in named if not sandbox.is_writable(p)]
        matched = [s for s in matched if s not in _NEEDS_OUTSIDE_PATH or outside]
        if not matched:
            continue
        signals += [s for s in matched if s not in signals]
        paths += [p for p in named if p not in paths]
        if len(lines) < _MAX_EXCERPT_LINES:
            lines.append(line.strip()[:_MAX_LINE_CHARS])
    if not signals:
        return None
    known = list(secrets) if secrets is not None else None
    return DenialEvidence(
        signals=tuple(signals),
        exit_code=exit_code,
        excerpt=redact_text("\n".join(lines), known),
        paths=tuple(redact_text(p, known) for p in paths),
    )


def _quarantine(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    moved: list[tuple[Path, Path]] = []
    for path in paths:
        target = path.with_name(f"{path.name}.planted-{_secrets.token_hex(4)}")
        try:
            os.rename(path, target)
        except OSError as exc:
            logger.warning("pytest-codex: cannot move planted %s aside (%s)", path, exc)
            target = path
        moved.append((path, target))
    return moved


def _line_signals(lowered: str, exit_code: int, check_network: bool) -> list[str]:
    found: list[str] = []
    for name, needles in _FILESYSTEM_SIGNALS.items():
        if name in _NEEDS_OUTSIDE_PATH and exit_code in _CANNOT_EXECUTE:
            continue
        if any(needle in lowered for needle in needles):
            found.append(name)
    if check_network:
        for name, needles in _NETWORK_SIGNALS.items():
            if any(needle in lowered for needle in needles):
                found.append(name)
    return found
