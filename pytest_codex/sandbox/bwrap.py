"""The bubblewrap command line: a :class:`Sandbox` is a policy applied to a workspace by a
backend, and only ever an argv prefix (:meth:`Sandbox.prefix`, :meth:`Sandbox.wrap`), so any
runner can use it, including the exec runtime's PTY shells (which drop ``--new-session``:
their terminal is a PTY of their own, see ``runtime.pty_session.without_new_session``). A
prefix carries the seccomp filter as a placeholder: spawn it through
:func:`~pytest_codex.sandbox.seccomp.spawn_args`.

The mounts, in order (a later mount wins):

1. the host read-only, private ``/dev``, ``/proc`` and ``/tmp``;
2. runc's read-only and masked kernel interfaces (``/proc/sys``, ``/proc/sysrq-trigger``,
   ``/proc/kcore``, ``/sys/firmware``, ...: :data:`~pytest_codex.sandbox.policy.KERNEL_MASKED`);
3. the writable roots (``workspace-write``: the workspace, ``--add-dir`` roots, the working
   directory);
4. the protected paths inside them, read-only (``policy.protected_paths``): a directory the
   orchestrator creates anyway (runs, out) is created first, then bound as one; a missing or
   empty ``.codex``/``.agents`` gets an empty read-only tmpfs whose mount point stays, empty
   (removing it would race a concurrent sandbox); any other missing protected path (``.git``
   in a directory that is not a repository yet, a configuration file not written yet) is
   *watched*: when it appears after a sandboxed command, the command is denied (signal
   ``protected-path-created``) and the planted entry is moved aside
   (``<name>.planted-<hex>``) before anything reads it;
5. the interpreter and packages the orchestrator runs from, read-only where a writable root
   holds them (:func:`~pytest_codex.sandbox.policy.orchestrator_install_paths`);
6. the hidden paths (key material): an empty tmpfs over a directory, an unopenable device
   node over a file, in every mode.

Permissions name what a sandbox lets a command do beyond reading: ``write-workspace``,
``write-outside-workspace`` and ``network``. Approval keys carry the permissions an
invocation asks for beyond the sandbox the orchestrator is configured with.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ._log import logger
from .backend import (
    NEW_SESSION,
    BackendChoice,
    BackendStatus,
    base_flags,
    feature_flags,
    kernel_flags,
    resolve_backend,
)
from .denial import CWD_UNAVAILABLE, DenialEvidence
from .policy import (
    HIDDEN_VARIABLES,
    PRIVATE_ROOTS,
    SANDBOX_ENV,
    Protected,
    SandboxMode,
    SandboxPolicy,
    inside,
    orchestrator_install_paths,
    validate_mode,
)


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
            return (self.workspace, *self.writable_roots, *PRIVATE_ROOTS)
        return PRIVATE_ROOTS

    def is_writable(self, path: Path | str) -> bool:
        """Whether a command in this sandbox may write ``path``."""
        if not self.enforced:
            return True
        target = Path(path)
        if self.policy.mode == "workspace-write" and inside(
            target, [*(p.path for p in self.protected), *orchestrator_install_paths()]
        ):
            return False
        return inside(target, self.writable_paths())

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
        """The protected paths missing right now, and the placeholder directories missing or
        empty (take this just before a command starts and pass it to :func:`detect_denial`,
        so only what appeared *during* it counts)."""
        return self._missing_protected()

    def planted(self, watched: Iterable[Path] | None = None) -> tuple[Path, ...]:
        """Which of ``watched`` (default: the protected paths missing when the sandbox was
        made) exist now. An empty placeholder directory (the mount point of a ``.codex`` or
        ``.agents`` that was missing) is the sandbox's, not planted: it stays, empty (git
        ignores empty directories), because removing it would pull the mount point from under
        a concurrent sandbox of the same workspace that is being set up."""
        if not self.enforced or self.policy.mode != "workspace-write":
            return ()
        paths = self._watched if watched is None else tuple(watched)
        placeholders = {p.path for p in self.protected if p.placeholder}
        return tuple(
            path
            for path in paths
            if os.path.lexists(path) and not (path in placeholders and _empty_directory(path))
        )

    def _covers(self, path: Path) -> bool:
        if self.policy.mode == "workspace-write":
            return inside(path, (self.workspace, *self.writable_roots))
        return not inside(path, [Path("/tmp")]) or inside(path, [self.workspace])

    def _missing_protected(self) -> tuple[Path, ...]:
        if not self.enforced or self.policy.mode != "workspace-write":
            return ()
        roots = (self.workspace, *self.writable_roots)
        return tuple(
            p.path
            for p in self.protected
            if not p.create
            and inside(p.path, roots)
            and (not os.path.lexists(p.path) or (p.placeholder and _empty_directory(p.path)))
        )

    def _build_prefix(self, extra: tuple[Path, ...] = ()) -> list[str]:
        if not self.enforced or self.status.executable is None:
            return []
        features = self.status.features
        argv = [self.status.executable, *base_flags(), *kernel_flags(features)]
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
            argv += _install_binds(roots)
        argv += self._hidden_binds()
        for name in HIDDEN_VARIABLES:
            argv += ["--unsetenv", name]
        argv += ["--setenv", SANDBOX_ENV, self.policy.label]
        argv += feature_flags(f for f in features if f != NEW_SESSION or self.new_session)
        if not self.policy.network:
            argv.append("--unshare-net")
        argv.append("--die-with-parent")
        argv.append("--")
        return argv

    def _hidden_binds(self) -> list[str]:
        # Last of the mounts, so nothing bound before uncovers them.
        argv: list[str] = []
        for entry in self.protected:
            if not entry.hide or inside(entry.path, [Path("/tmp")]):
                continue  # the private /tmp hides what lives there already
            if entry.create and not os.path.lexists(entry.path):
                # A user directory created now cannot be planted in later.
                with contextlib.suppress(OSError):
                    entry.path.mkdir(mode=0o700, parents=True)
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
            if entry.hide or not inside(path, roots):
                continue  # hidden below, or already read-only (or private /tmp, invisible)
            if entry.placeholder and (not os.path.lexists(path) or _empty_directory(path)):
                # An empty read-only tmpfs; bwrap makes the mount point, which stays (empty).
                argv += ["--tmpfs", str(path), "--remount-ro", str(path)]
                continue
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


def _empty_directory(path: Path) -> bool:
    """Whether ``path`` is a directory (not a symlink to one) with nothing in it."""
    try:
        if path.is_symlink() or not path.is_dir():
            return False
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _install_binds(roots: tuple[Path, ...]) -> list[str]:
    """The orchestrator's own interpreter and packages, read-only where a writable root holds
    them (a ``.venv`` in the workspace, an editable install's sources). A prefix that holds a
    writable root itself is left alone (binding it would make the root read-only): ``doctor``
    says so."""
    argv: list[str] = []
    for path in orchestrator_install_paths():
        if inside(path, roots) and not any(inside(root, [path]) for root in roots):
            argv += ["--ro-bind", str(path), str(path)]
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
        if path != tmp and path.is_absolute() and inside(path, [tmp]) and path.is_dir():
            found.add(path)
    return sorted(p for p in found if not any(o != p and inside(p, [o]) for o in found))
