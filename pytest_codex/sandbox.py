"""Sandboxes for commands, and how to tell that a sandbox refused something.

Modes (the Codex CLI names):

``read-only``
    The whole filesystem is read-only; ``/tmp`` and ``/dev`` are private and writable (their
    contents vanish with the command); no network unless allowed.
``workspace-write``
    As ``read-only``, plus the workspace (and any extra writable roots) writable.
``danger-full-access``
    No sandbox at all.

Backends: ``bubblewrap`` (``bwrap``: mount and network namespaces) and ``none``. When ``bwrap``
is missing or cannot create namespaces (probed once per process with the very flags the
sandbox uses), the backend is ``none``: commands run unsandboxed, a warning is logged once
and :func:`sandbox_status` says why, so the manifest can record it.

A sandbox is only ever an argv prefix (:meth:`Sandbox.prefix`, :meth:`Sandbox.wrap`), so any
runner can use it, including the exec runtime's PTY shells. ``--new-session`` is off by
default for that reason: it would detach a PTY shell from its controlling terminal.

Permissions name what a sandbox lets a command do beyond reading: ``write-workspace``,
``write-outside-workspace`` and ``network``. Approval keys carry the permissions an
invocation asks for beyond the sandbox the orchestrator is configured with.

Denial detection (:func:`detect_denial`), exactly:

1. Only an *enforced* sandbox can deny (backend ``bubblewrap`` and a mode other than
   ``danger-full-access``); output of an unsandboxed command is never evidence.
2. Exit status 0, or no exit status (timed out, killed by the runner), is never a denial.
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
   - ``network-unreachable``: "Network is unreachable"; ``name-resolution-failed``:
     "Temporary failure in name resolution", "Could not resolve host", "Name or service not
     known". Only when the sandbox has no network.

5. A failed command is denied when at least one signal matched. Anything else (exit 1, 2,
   126, 127, ... without signals) is an ordinary failure and is not escalated.

The evidence records the signals, the exit status, the matching lines (redacted, at most
five) and the absolute paths they name.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import UsageError
from .redact import redact_text

logger = logging.getLogger(__name__)

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
@dataclass(frozen=True)
class BackendStatus:
    """Which backend sandboxes commands in this process, and why (as the manifest records it)."""

    backend: BackendName
    reason: str | None = None
    executable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """``{"backend", "reason", "executable"}`` (the ``sandbox:backend`` payload)."""
        return {"backend": self.backend, "reason": self.reason, "executable": self.executable}


def _probe_argv(executable: str) -> list[str]:
    # The most restrictive set of flags we ever use: a probe with fewer flags could pass where
    # real commands then fail in bwrap itself (e.g. --unshare-net without CAP_NET_ADMIN).
    return [executable, *_base_flags(), "--unshare-net", "--die-with-parent", "--", "true"]


@functools.cache
def probe_bubblewrap(executable: str | None = None) -> BackendStatus:
    """Whether ``bwrap`` (or ``executable``) can sandbox commands here; probed once per
    process and path, and logged once when it cannot."""
    path = executable or shutil.which("bwrap")
    if path is None:
        status = BackendStatus("none", "bwrap not found on PATH")
    else:
        try:
            probe = subprocess.run(
                _probe_argv(path),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            status = BackendStatus("none", f"bwrap could not run: {exc}", path)
        else:
            if probe.returncode == 0:
                return BackendStatus("bubblewrap", None, path)
            detail = " ".join(probe.stderr.split()) or f"exit status {probe.returncode}"
            status = BackendStatus("none", f"bwrap cannot create namespaces: {detail}", path)
    logger.warning("pytest-codex: commands run unsandboxed (%s)", status.reason)
    return status


def resolve_backend(choice: BackendChoice = "auto") -> BackendStatus:
    """The backend for ``choice``: ``auto`` and ``bubblewrap`` use bwrap when it works."""
    if choice == "none":
        return BackendStatus("none", "sandbox backend 'none' was requested")
    if choice not in ("auto", "bubblewrap"):
        raise UsageError(f"unknown sandbox backend {choice!r}; use auto, bubblewrap or none")
    return probe_bubblewrap()


def sandbox_status(choice: BackendChoice = "auto") -> dict[str, Any]:
    """``{"backend": "bubblewrap"|"none", "reason": ..., "executable": ...}`` for this host."""
    return resolve_backend(choice).as_dict()


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
    """One sandbox: a policy applied to a workspace by a backend."""

    policy: SandboxPolicy
    workspace: Path
    status: BackendStatus
    writable_roots: tuple[Path, ...] = ()
    new_session: bool = False
    _prefix: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: a sandbox is immutable, and prefixes are built on every attempt.
        object.__setattr__(self, "_prefix", tuple(self._build_prefix()))

    @classmethod
    def create(
        cls,
        mode: SandboxMode | str = "workspace-write",
        workspace: Path | str = ".",
        *,
        network: bool = False,
        backend: BackendChoice | BackendStatus = "auto",
        writable_roots: Iterable[Path | str] = (),
        new_session: bool = False,
    ) -> Sandbox:
        """A sandbox for ``workspace`` (resolved) in ``mode``, on the given backend."""
        status = backend if isinstance(backend, BackendStatus) else resolve_backend(backend)
        return cls(
            policy=SandboxPolicy(validate_mode(mode), network),
            workspace=Path(workspace).resolve(),
            status=status,
            writable_roots=tuple(Path(root).resolve() for root in writable_roots),
            new_session=new_session,
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
        """Where a command in this sandbox may write (everywhere: ``(Path("/"),)``)."""
        if not self.enforced:
            return (Path("/"),)
        if self.policy.mode == "workspace-write":
            return (self.workspace, *self.writable_roots, *_PRIVATE_ROOTS)
        return _PRIVATE_ROOTS

    def prefix(self, cwd: Path | str | None = None) -> list[str]:
        """The argv prefix that runs a command in this sandbox (empty when unsandboxed).

        With ``cwd``, bwrap changes into it and fails loudly when the sandbox cannot see it,
        instead of silently starting the command in ``$HOME``.
        """
        if not self._prefix:
            return []
        if cwd is None:
            return list(self._prefix)
        return [*self._prefix[:-1], "--chdir", str(cwd), "--"]

    def wrap(self, argv: Sequence[str], cwd: Path | str | None = None) -> list[str]:
        """``argv`` run in this sandbox."""
        return [*self.prefix(cwd), *argv]

    def with_policy(self, policy: SandboxPolicy) -> Sandbox:
        """The same sandbox under another policy."""
        return replace(self, policy=policy)

    def escalation(self, evidence: DenialEvidence) -> SandboxPolicy | None:
        """The next, less restricted policy to try after ``evidence``; None when there is none.

        A refused write goes from ``read-only`` to ``workspace-write`` when every path it
        names is in the workspace, and otherwise to ``danger-full-access``; a refused network
        turns the network on and keeps the mode.
        """
        current = self.policy
        if current.mode == "danger-full-access":
            return None
        network = current.network or evidence.network
        if evidence.filesystem:
            if current.mode == "read-only" and all(
                _inside(Path(path), (self.workspace, *self.writable_roots))
                for path in evidence.paths
            ):
                return SandboxPolicy("workspace-write", network)
            return SandboxPolicy("danger-full-access", True)
        if evidence.network and not current.network:
            return SandboxPolicy(current.mode, True)
        return None

    def _build_prefix(self) -> list[str]:
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
        for root in (self.workspace, *(self.writable_roots if writable else ())):
            if root.exists():
                argv += ["--bind" if writable else "--ro-bind", str(root), str(root)]
        if not self.policy.network:
            argv.append("--unshare-net")
        argv.append("--die-with-parent")
        if self.new_session:
            argv.append("--new-session")
        argv.append("--")
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
    normal = Path(os.path.normpath(path))
    return any(normal == root or normal.is_relative_to(root) for root in roots)


# -- denial detection ---------------------------------------------------------------------------
_FILESYSTEM_SIGNALS: dict[str, tuple[str, ...]] = {
    "read-only-file-system": ("read-only file system",),
    "operation-not-permitted": ("operation not permitted",),
    "permission-denied": ("permission denied",),
}
_NETWORK_SIGNALS: dict[str, tuple[str, ...]] = {
    "network-unreachable": ("network is unreachable",),
    "name-resolution-failed": (
        "temporary failure in name resolution",
        "could not resolve host",
        "name or service not known",
    ),
}
# Signals that also have ordinary causes: they need a path outside the writable roots.
_NEEDS_OUTSIDE_PATH = frozenset({"operation-not-permitted", "permission-denied"})
_CANNOT_EXECUTE = frozenset({126, 127})
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s:'\"`,;()\[\]{}<>|]*")
_MAX_EXCERPT_LINES = 5
_MAX_LINE_CHARS = 300
# Denials are reported where they happen, near the end; a huge log is not scanned whole.
_SCAN_TAIL_CHARS = 256 * 1024


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
) -> DenialEvidence | None:
    """The evidence that ``sandbox`` denied a command, or None (see the module docstring)."""
    if sandbox is None or not sandbox.enforced or exit_code is None or exit_code == 0:
        return None
    writable = sandbox.writable_paths()
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
        outside = [p for p in named if not _inside(Path(p), writable)]
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
