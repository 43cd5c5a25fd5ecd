"""Repository-relative glob matching for guardrail inputs.

``**`` crosses directories, ``*`` and ``?`` stay within one, ``[...]`` is a character class.
Walking prunes directories no guardrail means to read (VCS data, virtual environments,
caches, run artifacts) unless a pattern names them explicitly, so matching stays cheap on a
real checkout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
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
        "build",
        "dist",
        "out",
    }
)
_MAGIC = re.compile(r"[*?\[]")


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


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether the repository-relative POSIX ``path`` matches any of ``patterns``."""
    return any(glob_regex(p).match(path) for p in patterns)


def _literal_prefix(pattern: str) -> str:
    """The directory part of ``pattern`` before its first wildcard (``""`` for the root)."""
    pattern = pattern.strip().lstrip("/").removeprefix("./")
    match = _MAGIC.search(pattern)
    if match is None:
        return pattern
    head = pattern[: match.start()]
    return head.rsplit("/", 1)[0] if "/" in head else ""


def find_files(root: Path, patterns: Sequence[str]) -> list[str]:
    """Every file under ``root`` matching ``patterns``, as sorted repository-relative paths."""
    found: set[str] = set()
    by_start: dict[str, list[str]] = {}
    for pattern in patterns:
        prefix = _literal_prefix(pattern)
        if not _MAGIC.search(pattern) and (root / prefix).is_file():
            found.add(prefix)  # a plain path: no walk needed
            continue
        by_start.setdefault(prefix, []).append(pattern)
    for start, group in by_start.items():
        base = root / start if start else root
        if not base.is_dir():
            continue
        for directory, dirnames, filenames in os.walk(base):
            rel_dir = os.path.relpath(directory, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
            dirnames[:] = sorted(d for d in dirnames if d not in PRUNED_DIRS)
            for filename in filenames:
                rel = f"{rel_dir}/{filename}" if rel_dir else filename
                if matches(rel, group):
                    found.add(rel)
    return sorted(found)
