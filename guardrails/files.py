"""Repository-relative glob matching for guardrail inputs.

``**`` crosses directories, ``*`` and ``?`` stay within one, ``[...]`` is a character class.
Walking prunes directories no guardrail means to read (VCS data, virtual environments,
caches, run artifacts) unless a pattern names them explicitly, so matching stays cheap on a
real checkout.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

PRUNED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".runs",
        ".demo",
    }
)
# Build outputs and run state at the top of the repository; deeper down these names are
# ordinary packages (``mypkg/build/``), so they are walked there.
PRUNED_TOP_DIRS = frozenset({"build", "dist", "out"})
# The characters that make a pattern a glob.
MAGIC = re.compile(r"[*?\[]")


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression a repository-relative glob stands for."""
    pattern = pattern.strip().lstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


# What a guardrail reads of one document (a checklist, an index, a manifest) at the most.
MAX_READ_BYTES = 64 * 1024 * 1024


def read_regular(path: Path, limit: int = MAX_READ_BYTES) -> bytes | None:
    """The content of ``path`` when it is a regular file (a symlink to one is fine) of at
    most ``limit`` bytes; None otherwise. A FIFO or a device would block or never end."""
    try:
        # Checked before opening: opening a FIFO blocks, and a device never ends.
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def why_unreadable(path: Path, limit: int = MAX_READ_BYTES) -> str:
    """Why :func:`read_regular` gives None for ``path``, in a few words."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > limit:
        return f"larger than {limit // (1024 * 1024)} MiB"
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return "changed while being read"


def inside_repository(rel: str) -> bool:
    """Whether ``rel`` names a place inside the repository (relative, never climbing out)."""
    normal = os.path.normpath(rel.replace("\\", "/"))
    return not os.path.isabs(normal) and normal != ".." and not normal.startswith("../")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether the repository-relative POSIX ``path`` matches any of ``patterns``."""
    return any(glob_regex(p).match(path) for p in patterns)


def _literal_prefix(pattern: str) -> str:
    """The directory part of ``pattern`` before its first wildcard (``""`` for the root)."""
    pattern = pattern.strip().lstrip("/").removeprefix("./")
    match = MAGIC.search(pattern)
    if match is None:
        return pattern
    head = pattern[: match.start()]
    return head.rsplit("/", 1)[0] if "/" in head else ""


def walk_files(root: Path, start: str, *, descended: set[str] | None = None) -> list[str]:
    """Every file under the repository-relative directory ``start`` (``""``: the root), as
    repository-relative paths, pruning :data:`PRUNED_DIRS` (and :data:`PRUNED_TOP_DIRS` at
    the top) below ``start``; the directories entered are added to ``descended``."""
    base = root / start if start else root
    if not base.is_dir():
        return []
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(base):
        rel_dir = os.path.relpath(directory, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if descended is not None:
            descended.add(rel_dir)
        pruned = PRUNED_DIRS | PRUNED_TOP_DIRS if not rel_dir else PRUNED_DIRS
        dirnames[:] = sorted(d for d in dirnames if d not in pruned)
        prefix = f"{rel_dir}/" if rel_dir else ""
        found.extend(prefix + filename for filename in filenames)
    return found


def find_files(
    root: Path,
    patterns: Sequence[str],
    *,
    walk: Callable[[Path, str], Sequence[str]] = walk_files,
) -> list[str]:
    """Every file under ``root`` matching ``patterns``, as sorted repository-relative paths.
    ``walk(root, start)`` lists the files under a directory (default :func:`walk_files`; an
    :class:`~guardrails.snapshot.InputSnapshot` passes listings it made once)."""
    found: set[str] = set()
    by_start: dict[str, list[str]] = {}
    for pattern in patterns:
        prefix = _literal_prefix(pattern)
        if not MAGIC.search(pattern) and (root / prefix).is_file():
            found.add(prefix)  # a plain path: no walk needed
            continue
        by_start.setdefault(prefix, []).append(pattern)
    for start, group in by_start.items():
        regexes = [glob_regex(p) for p in group]
        found.update(rel for rel in walk(root, start) if any(r.match(rel) for r in regexes))
    return sorted(found)
