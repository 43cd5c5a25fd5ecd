"""Which repository a run belongs to, and at which commit: the identity recorded in
manifests and attestations, and compared when a run is cited as evidence.

git runs here with the repository's own hooks, fsmonitor and filters off (see
:mod:`pytest_codex.gitenv`): reading a repository's identity never executes its code.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .gitenv import BASE_ENV, git_program, safe_git_env, trusted_git_dir


def _git(root: Path, *args: str, env: Mapping[str, str] | None = None) -> str | None:
    if not trusted_git_dir(root):
        return None
    try:
        done = subprocess.run(
            [git_program(root), *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, **(env if env is not None else safe_git_env(root))},
        )
    except (OSError, subprocess.SubprocessError, UsageError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def path_hash(root: Path) -> str:
    """``sha256:`` of the repository root's resolved path (identity outside git)."""
    return "sha256:" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()


def head_commit(root: Path) -> str | None:
    """The commit at HEAD (None outside git or before the first commit): one git call."""
    return _git(root, "rev-parse", "--verify", "-q", "HEAD", env=BASE_ENV) or None


def git_state(root: Path) -> dict[str, Any]:
    """The ``commit`` at HEAD and whether tracked files are ``dirty`` (None outside git)."""
    # Reading refs and config never runs a filter: the base environment (hooks, fsmonitor
    # off) is enough there, and the filter listing (one more git) is paid by status only.
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD", env=BASE_ENV)
    status = (
        _git(
            root,
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--ignore-submodules=dirty",
            env=safe_git_env(root),
        )
        if commit
        else None
    )
    return {"commit": commit or None, "dirty": bool(status) if status is not None else None}


def repository_identity(root: Path) -> dict[str, Any]:
    """Which repository ``root`` is, and at which commit: ``rootCommit`` (its first commit,
    shared by every clone), ``remote`` (origin's URL), ``pathHash``, ``commit``, ``dirty``."""
    state = git_state(root)
    env = BASE_ENV
    roots = _git(root, "rev-list", "--max-parents=0", "HEAD", env=env) if state["commit"] else None
    remote = (
        _git(root, "config", "--get", "remote.origin.url", env=env) if state["commit"] else None
    )
    return {
        "rootCommit": sorted(roots.split())[0] if roots else None,
        "remote": remote or None,
        "pathHash": path_hash(root),
        **state,
    }


def same_repository(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether two identities name one repository: the same root commit when both have one
    (clones and teammates' checkouts), otherwise the same root path."""
    if recorded.get("rootCommit") and current.get("rootCommit"):
        return bool(recorded["rootCommit"] == current["rootCommit"])
    return bool(recorded.get("pathHash") == current.get("pathHash"))


def is_ancestor(root: Path, commit: str) -> bool | None:
    """Whether ``commit`` is an ancestor of HEAD in ``root`` (None when git cannot tell)."""
    if not trusted_git_dir(root):
        return None
    try:
        done = subprocess.run(
            [git_program(root), "merge-base", "--is-ancestor", commit, "HEAD"],
            cwd=root,
            capture_output=True,
            timeout=30,
            check=False,
            env={**os.environ, **safe_git_env(root)},
        )
    except (OSError, subprocess.SubprocessError, UsageError):
        return None
    return {0: True, 1: False}.get(done.returncode)
