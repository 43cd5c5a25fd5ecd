"""One look at the repository, shared by the guardrails of a batch while none of them runs.

Every guardrail's fingerprint needs some of the same facts: which files match its globs,
the content digest of each, the git state of the change range, ``HEAD``, the evidence
policy. An :class:`InputSnapshot` computes each of them once, when first asked, and
answers every later question from memory: a directory is walked once, a file is stat'ed
(and, unless the signed memo vouches for it, hashed) once, git is asked once.

A snapshot is only true while nothing changes the repository, so it is scoped: a
:class:`~guardrails.GuardrailSession` keeps one for a batch of guardrails (``run_all``,
``shared_inputs()``) and drops it as soon as one of them actually runs (its commands may
have written files). A lone ``run()`` uses a snapshot of its own.

git is asked with as few processes as the answer allows: the names (``HEAD`` and the base
candidates) are resolved by one ``git cat-file --batch-check``, started first and read
last, so it runs while ``git config`` (for the filter drivers to switch off) and ``git
status`` run; a batch that computes its fingerprints ahead asks in a thread
(:meth:`InputSnapshot.start_git`) while this process hashes files. git's index is never
taken as proof that a file is unchanged: the index lives in ``.git``, which a command can
rewrite (``update-index --assume-unchanged``, or stat data copied from the edited file);
file content is vouched for only by the signed memo (see
:class:`guardrails.cache.FileDigests`).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_codex.errors import UsageError
from pytest_codex.gitenv import BASE_ENV, git_program, safe_git_env, trusted_git_dir

from .files import find_files, walk_files

if TYPE_CHECKING:
    from pytest_codex.attestation import EvidencePolicy

GIT_TIMEOUT = 30
_HEX = frozenset("0123456789abcdef")


def _git(root: Path, *args: str, env: Mapping[str, str]) -> str:
    # Unsandboxed: never with repository-controlled hooks, fsmonitor or filters, never a git
    # planted in the workspace, never in a git directory the workspace points to.
    if not trusted_git_dir(root):
        return ""
    try:
        done = subprocess.run(
            [git_program(root), *args],
            cwd=root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, UsageError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


class _PendingRefs:
    """``git cat-file --batch-check`` resolving ``names`` to commits, started now and read
    by :meth:`result` (so other git calls run meanwhile). Reading refs runs no filter: the
    base environment (hooks and fsmonitor off) is enough."""

    def __init__(self, root: Path, names: Sequence[str]) -> None:
        # A name cannot span lines of the batch input: one with a newline resolves to nothing.
        self.names = list(names)
        self._asked = [name for name in self.names if "\n" not in name and "\0" not in name]
        self._process: subprocess.Popen[str] | None = None
        if not self._asked or not trusted_git_dir(root):
            return
        try:
            self._process = subprocess.Popen(
                [git_program(root), "cat-file", "--batch-check"],
                cwd=root,
                env={**os.environ, **BASE_ENV},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except (OSError, UsageError):
            self._process = None

    def result(self) -> dict[str, str]:
        """Each name's commit sha (``""`` when it names no commit or git failed)."""
        found = dict.fromkeys(self.names, "")
        if self._process is None:
            return found
        query = "".join(f"{name}\n" for name in self._asked)
        try:
            stdout, _ = self._process.communicate(query, timeout=GIT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.communicate()
            return found
        if self._process.returncode != 0:
            return found
        # One line per name, in order: "<sha> commit <size>", else "<name> missing" (or
        # "ambiguous", ...): the name is echoed, so only the exact three-field form counts.
        for name, line in zip(self._asked, stdout.split("\n"), strict=False):
            parts = line.split()
            if (
                len(parts) == 3
                and parts[1] == "commit"
                and len(parts[0]) in (40, 64)
                and set(parts[0]) <= _HEX
                and parts[2].isdigit()
            ):
                found[name] = parts[0]
        return found


def base_candidates(env: Mapping[str, str]) -> list[str]:
    """The names the change range's base may have, in order: ``BASE_SHA``, ``origin/main``."""
    return ([env["BASE_SHA"]] if env.get("BASE_SHA") else []) + ["origin/main"]


def _commit(name: str) -> str:
    return f"{name}^{{commit}}"


def read_git_state(
    root: Path, env: Mapping[str, str], exclude: Sequence[str] = ()
) -> tuple[dict[str, Any], str | None]:
    """``(git_state(...), HEAD)``: see :func:`guardrails.cache.git_state`; three git
    processes, two of them at the same time."""
    candidates = base_candidates(env)
    refs = _PendingRefs(root, ["HEAD", *(_commit(c) for c in candidates)])
    # Pathspecs relative to the root (which may be a subdirectory of the git repository).
    pathspecs = [".", *(f":(exclude){path}" for path in exclude)]
    status = _git(
        root,
        "status",
        "--porcelain=v2",
        "--branch",
        # Upstream ahead/behind counts are no input, and counting them walks history; a
        # staged rename is as well told apart as a deletion and an addition.
        "--no-ahead-behind",
        "--no-renames",
        "--untracked-files=all",
        # git never starts inside a submodule (whose git directory a command may have written)
        "--ignore-submodules=dirty",
        "--",
        *pathspecs,
        env=safe_git_env(root),
    )
    resolved = refs.result()
    bases: list[list[str]] = []
    for candidate in candidates:
        sha = resolved[_commit(candidate)]
        bases.append([candidate, sha])
        if sha:
            break
    return {"status": status, "bases": bases}, resolved["HEAD"] or None


class InputSnapshot:
    """What the fingerprints of a batch of guardrails share (see the module docstring).

    ``digest_files(rels)`` gives the files' content digests (a session passes its signed
    memo's :meth:`~guardrails.cache.FileDigests.many`);
    ``exclude`` are the directories (relative to ``root``) guardrails themselves write,
    which ``git status`` must not count as changes.
    """

    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, str],
        digest_files: Callable[[Sequence[str]], list[bytes]],
        exclude: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.env = env
        self.exclude = tuple(exclude)
        self._digest_files = digest_files
        self._digests: dict[str, bytes] = {}
        self._listings: dict[str, list[str]] = {}
        self._descended: set[str] | None = None  # the directories the root walk entered
        self._git: dict[str, Any] | None = None
        self._git_thread: threading.Thread | None = None
        self._git_outcome: tuple[dict[str, Any], str | None] | BaseException | None = None
        self._head: str | None = None
        self._head_known = False
        self._policy: EvidencePolicy | None = None
        self._fingerprints: dict[int, tuple[object, str, dict[str, Any] | None]] = {}

    # -- files ------------------------------------------------------------------------------
    def find(self, patterns: Sequence[str]) -> list[str]:
        """:func:`guardrails.files.find_files` over directory listings made once."""
        return find_files(self.root, patterns, walk=self._walk)

    def _walk(self, root: Path, start: str) -> list[str]:
        listing = self._listings.get(start)
        if listing is None:
            if start and self._descended is not None and start in self._descended:
                # The root walk entered this directory under the same pruning rules: its
                # files are the ones below it there.
                prefix = start + "/"
                listing = [rel for rel in self._listings[""] if rel.startswith(prefix)]
            elif start:
                listing = walk_files(root, start)
            else:
                self._descended = set()
                listing = walk_files(root, "", descended=self._descended)
            self._listings[start] = listing
        return listing

    def digests(self, rels: Sequence[str]) -> list[bytes]:
        """The content digests of ``rels`` (each asked of ``digest_files`` once)."""
        known = self._digests
        missing = [rel for rel in dict.fromkeys(rels) if rel not in known]
        if missing:
            known.update(zip(missing, self._digest_files(missing), strict=True))
        return [known[rel] for rel in rels]

    # -- git --------------------------------------------------------------------------------
    def start_git(self) -> None:
        """Ask git for :meth:`git_state` in a thread now, so that git runs while this
        process hashes files; :meth:`git_state` waits for the answer."""
        if self._git is not None or self._git_thread is not None:
            return

        def ask() -> None:
            try:
                self._git_outcome = read_git_state(self.root, self.env, self.exclude)
            except BaseException as exc:  # re-raised by git_state(), in the caller's thread
                self._git_outcome = exc

        self._git_thread = threading.Thread(target=ask, name="guardrail-git-state", daemon=True)
        self._git_thread.start()

    def git_state(self) -> dict[str, Any]:
        """The change range's state (see :func:`guardrails.cache.git_state`)."""
        if self._git is None:
            if self._git_thread is not None:
                self._git_thread.join()
                outcome, self._git_thread, self._git_outcome = self._git_outcome, None, None
                if isinstance(outcome, BaseException):
                    raise outcome
                assert outcome is not None
            else:
                outcome = read_git_state(self.root, self.env, self.exclude)
            self._git, head = outcome
            if not self._head_known:
                self._head, self._head_known = head, True
        return self._git

    def head(self) -> str | None:
        """The commit at ``HEAD`` (None outside git or before the first commit)."""
        if not self._head_known and self._git_thread is not None:
            self.git_state()  # being asked already: HEAD comes with it
        if not self._head_known:
            self._head = _PendingRefs(self.root, ["HEAD"]).result()["HEAD"] or None
            self._head_known = True
        return self._head

    # -- fingerprints computed ahead ---------------------------------------------------------
    def remember(self, guardrail: object, key: str, entry: dict[str, Any] | None) -> None:
        """Keep ``guardrail``'s fingerprint, and the cache entry stored under it (None:
        none), under this snapshot."""
        self._fingerprints[id(guardrail)] = (guardrail, key, entry)

    def remembered(self, guardrail: object) -> tuple[str, dict[str, Any] | None] | None:
        """The fingerprint and cache entry kept for ``guardrail``, if any."""
        kept = self._fingerprints.get(id(guardrail))
        return (kept[1], kept[2]) if kept is not None and kept[0] is guardrail else None

    # -- configuration ----------------------------------------------------------------------
    def evidence_policy(self) -> EvidencePolicy:
        """The repository's evidence policy (its configuration file, read once)."""
        if self._policy is None:
            from pytest_codex.attestation import evidence_policy

            self._policy = evidence_policy(self.root, self.env)
        return self._policy
