"""The programs the trusted side runs, found where no sandboxed command can plant one.

``PATH`` often names directories a command can write: a repository's ``.venv/bin`` (activated,
as ``make demo`` and most users do), ``./node_modules/.bin``, ``~/tmp/bin``, a relative entry
(``.``, ``bin``) that means the working directory. A ``git`` or ``python3`` planted there
would run outside the sandbox the next time the orchestrator spawns "git". So every program
the trusted side starts itself (git, the PTY shell, ``bwrap``, notify commands, the linter a
guardrail certifies with) is resolved here, once, to an absolute path, skipping:

- relative ``PATH`` entries (and empty ones, which mean the working directory);
- entries inside the workspace (the repository root, whether given or found from the working
  directory), or that resolve into it through a symbolic link;
- entries inside the temporary directories (``$TMPDIR``, ``/tmp``, ``/var/tmp``,
  ``/dev/shm``), which any local process can write.

A candidate that is itself a symbolic link into one of those places is skipped too. The
result is cached per (name, ``PATH``, workspace).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import UsageError
from .paths import ROOT_ENV, find_repo_root

SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


class ProgramNotFoundError(UsageError):
    """No program of that name outside the places a sandboxed command can write."""


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def untrusted_roots(workspace: Path | str | None = None) -> tuple[str, ...]:
    """The directories nothing is resolved from: the workspace and the scratch directories,
    each as given and as resolved."""
    roots: list[str] = []
    if workspace is None:
        env_root = os.environ.get(ROOT_ENV)
        workspace = Path(env_root) if env_root else find_repo_root(Path.cwd())
    for place in (str(workspace), tempfile.gettempdir(), *SCRATCH_DIRS):
        absolute = os.path.abspath(place)
        roots += [absolute, os.path.realpath(absolute)]
    return tuple(dict.fromkeys(roots))


def resolve(
    name: str, *, workspace: Path | str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The absolute path of program ``name`` (see the module doc); a name with a slash must
    be an absolute path outside the untrusted roots. :class:`ProgramNotFoundError` (exit 2)
    names what was skipped when there is none."""
    path = (os.environ if env is None else env).get("PATH") or os.defpath
    return _resolve(name, path, untrusted_roots(workspace))


@functools.lru_cache(maxsize=256)
def _resolve(name: str, search: str, untrusted: tuple[str, ...]) -> str:
    if "/" in name:
        if not os.path.isabs(name):
            raise ProgramNotFoundError(
                f"{name}: a relative program path runs whatever the working directory holds; "
                "give an absolute path outside the workspace, or a name found on PATH"
            )
        if _inside(os.path.realpath(name), untrusted) or _inside(os.path.abspath(name), untrusted):
            raise ProgramNotFoundError(
                f"{name}: lies in the workspace or a temporary directory, where a command can "
                "replace it; install it elsewhere"
            )
        return name
    skipped: list[str] = []
    for entry in search.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            skipped.append(entry or "(empty)")
            continue
        candidate = os.path.join(entry, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        if (
            _inside(os.path.abspath(entry), untrusted)
            or _inside(os.path.realpath(entry), untrusted)
            or _inside(os.path.realpath(candidate), untrusted)
        ):
            skipped.append(entry)
            continue
        return candidate
    also = f" (skipped {', '.join(dict.fromkeys(skipped))})" if skipped else ""
    raise ProgramNotFoundError(
        f"{name}: not found on PATH outside the workspace and temporary directories{also}; "
        "install it system-wide or put its directory on PATH"
    )


def git(workspace: Path | str | None = None) -> str:
    """The git the trusted side runs (see :func:`resolve`)."""
    return resolve("git", workspace=workspace)
