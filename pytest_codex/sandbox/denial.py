"""How to tell that a sandbox refused something (:func:`detect_denial`), and the exit status a
shell would report for a program bubblewrap could not start (:func:`launch_status`).

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

import os
import re
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..redact import redact_text
from ._log import logger
from .policy import SandboxPolicy


class Sandbox(Protocol):
    """What denial detection needs of a sandbox (``bwrap.Sandbox``; a protocol, so this
    module does not import the command line that imports it)."""

    @property
    def enforced(self) -> bool: ...

    @property
    def policy(self) -> SandboxPolicy: ...

    def planted(self, watched: Iterable[Path] | None = None) -> tuple[Path, ...]: ...

    def is_writable(self, path: Path | str) -> bool: ...


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
