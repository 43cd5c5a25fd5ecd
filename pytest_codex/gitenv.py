"""The git the orchestrator runs, and the environment it runs under: no
repository-controlled code.

A hostile command may have written git configuration the orchestrator's own git would read
(``core.fsmonitor``, a ``core.hooksPath``, filter drivers, in the repository's ``.git/config``
through an ``include.path``, in a submodule's or an embedded repository's git directory)
before the orchestrator runs git itself, so every git the orchestrator spawns:

- is found by absolute path outside the workspace (:func:`git_program`, see
  :mod:`pytest_codex.programs`), never a ``git`` planted in a repository's ``.venv/bin``;
- gets command-line-scope configuration (``GIT_CONFIG_COUNT``; it wins over every config
  file, like ``git -c``, without changing the argv that approvals judge): hooks and fsmonitor
  off, submodule recursion off (``submodule.recurse=false``,
  ``diff.ignoreSubmodules=dirty``: git never starts inside a submodule, whose git directory
  a command may have written), no pager, no transport (``protocol.allow=never``), and the
  ``clean``/``smudge``/``process`` command of every filter driver the configuration declares
  emptied (an empty filter command is no filter);
- reads no system or global configuration and makes no optional index writes;
- runs only in a repository whose git directory is ``<root>/.git`` itself or lies outside
  the workspace (:func:`trusted_git_dir`): a ``.git`` *file* pointing into the workspace
  (``gitdir: somewhere/the/agent/wrote``), or a ``.git`` symbolic link, is not trusted.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .errors import UsageError

# Configuration that can make a read-only git command run a program.
_NEUTRAL = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", ""),
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "dirty"),
    ("status.submoduleSummary", "false"),
    ("core.pager", "cat"),
    ("protocol.allow", "never"),
)
_FILTER_COMMANDS = (".clean", ".smudge", ".process")


def _as_env(pairs: list[tuple[str, str]]) -> dict[str, str]:
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": str(len(pairs)),
    }
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


BASE_ENV: Mapping[str, str] = _as_env(list(_NEUTRAL))


def git_program(root: Path | None = None) -> str:
    """The absolute path of the git the orchestrator runs for the repository at ``root``."""
    from .programs import git

    return git(root)


def trusted_git_dir(root: Path) -> bool:
    """Whether the orchestrator may run git in ``root``: its ``.git`` is a directory, or a
    ``gitdir:`` file (a worktree, a submodule checkout) pointing outside ``root``, or absent
    (git then finds a repository above ``root``, outside the workspace)."""
    dot_git = root / ".git"
    if dot_git.is_symlink():
        return False
    if not dot_git.is_file():
        return True
    try:
        with dot_git.open("r", encoding="utf-8", errors="replace") as handle:
            first = handle.read(4096).splitlines()[0] if dot_git.stat().st_size else ""
    except (OSError, IndexError):
        return False
    if not first.startswith("gitdir:"):
        return False
    target = Path(first.removeprefix("gitdir:").strip())
    target = (root / target) if not target.is_absolute() else target
    resolved, workspace = os.path.realpath(target), os.path.realpath(root)
    return not (resolved == workspace or resolved.startswith(workspace + os.sep))


def safe_git_env(root: Path) -> dict[str, str]:
    """Variables to add to the environment of a git run in ``root`` (see module doc)."""
    pairs = list(_NEUTRAL)
    try:
        listed = subprocess.run(
            [git_program(root), "config", "--list", "--name-only"],
            cwd=root,
            env={**os.environ, **BASE_ENV},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired, UsageError):
        listed = ""
    for name in sorted(set(listed.split())):
        if name.startswith("filter.") and name.endswith(_FILTER_COMMANDS):
            pairs.append((name, ""))
    return _as_env(pairs)
