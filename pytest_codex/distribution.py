"""Which distribution owns our import names, and a clear error when another one does.

This project installs as ``pytest-codex-orchestrator`` and owns two top-level import names,
``pytest_codex`` and ``guardrails``. Other distributions use the same names (guardrails-ai
and openai-guardrails install ``guardrails``; an unrelated pytest-codex ships
``pytest_codex``), and pip overwrites such files without a word, after which imports fail
with errors that name neither project. :func:`check_import_names` compares where each name
is found (and, for a wheel install, the recorded hash of its ``__init__.py``) with what this
distribution installed. That costs one metadata lookup and one small file hash; only when
something is wrong are the other installed distributions searched for the owner.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import importlib.metadata

DISTRIBUTION = "pytest-codex-orchestrator"
IMPORT_NAMES = ("pytest_codex", "guardrails")


class ImportNameClashError(ConfigError):
    """Another installed distribution owns one of this project's import names."""


def check_import_names(names: tuple[str, ...] = IMPORT_NAMES) -> None:
    """Raise :class:`ImportNameClashError` when an import name is not ours on disk.

    Does nothing when this distribution is not installed (a bare source checkout).
    """
    if _looks_right(names):
        return  # the common case, without importing importlib.metadata (a third of start-up)
    import importlib.metadata

    try:
        ours = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return
    for name in names:
        problem = _problem(ours, name)
        if problem is not None:
            raise ImportNameClashError(_message(ours, name, problem))


def _dist_info() -> Path | None:
    """Our ``.dist-info`` directory, the first along ``sys.path`` (as importlib.metadata
    finds it), or None."""
    import os

    prefix = DISTRIBUTION.replace("-", "_") + "-"
    for entry in sys.path:
        base = entry or "."
        try:  # what Path(base).glob(prefix + "*.dist-info") finds, without fnmatch's regex
            found = sorted(
                name
                for name in os.listdir(base)
                if name.startswith(prefix) and name.endswith(".dist-info")
            )
        except OSError:
            continue
        if found:
            return Path(base) / found[0] if len(found) == 1 else None  # two: the full check
    return None


def _looks_right(names: tuple[str, ...]) -> bool:
    """Whether every name is plainly ours, read straight from our ``.dist-info`` (editable:
    ``direct_url.json``; wheel: ``RECORD``). False means "not sure": the full check runs."""
    info = _dist_info()
    if info is None:
        return False
    try:
        direct = (info / "direct_url.json").read_text()
    except OSError:
        direct = ""
    editable = _editable_from_text(direct) if direct else None
    record: dict[str, str] = {}
    if editable is None:
        try:
            for line in (info / "RECORD").read_text().splitlines():
                path, _, rest = line.partition(",")
                record[path] = rest.partition(",")[0]
        except OSError:
            return False
    for name in names:
        spec = importlib.util.find_spec(name)
        found = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if editable is not None:
            if found != (editable / name / "__init__.py").resolve():
                return False
            continue
        entry = record.get(f"{name}/__init__.py")
        if entry is None or not entry.startswith("sha256="):
            return False
        expected = (info.parent / name / "__init__.py").resolve()
        if found != expected:
            return False
        digest = hashlib.sha256(expected.read_bytes()).digest()
        if "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != entry:
            return False
    return True


def _problem(ours: importlib.metadata.Distribution, name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    found = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    editable = _editable_root(ours)
    if editable is not None:
        expected = (editable / name / "__init__.py").resolve()
        if found != expected:
            return f"it is imported from {found or 'nowhere'}, not from {expected}"
        return None
    record = {str(f): f for f in ours.files or ()}
    entry = record.get(f"{name}/__init__.py")
    if entry is None:
        return None  # an install that does not ship this name (nothing to compare)
    expected = Path(str(ours.locate_file(entry))).resolve()
    if found != expected:
        return f"it is imported from {found or 'nowhere'}, not from {expected}"
    if entry.hash is not None and entry.hash.mode == "sha256":
        digest = hashlib.sha256(expected.read_bytes()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != entry.hash.value:
            return f"{expected} was overwritten by another installation"
    return None


def _editable_root(dist: importlib.metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    return _editable_from_text(text)


def _editable_from_text(text: str) -> Path | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    url = str(document.get("url", ""))
    if not (document.get("dir_info") or {}).get("editable") or not url.startswith("file://"):
        return None
    return Path(url.removeprefix("file://"))


def owners(name: str) -> list[str]:
    """``name version`` of every installed distribution other than ours that ships the
    top-level import ``name`` (slow: reads each distribution's metadata)."""
    import importlib.metadata

    found: set[str] = set()
    for dist in importlib.metadata.distributions():
        label = dist.metadata["Name"] or ""
        if re.sub(r"[-_.]+", "-", label).lower() == DISTRIBUTION:
            continue
        top_level = (dist.read_text("top_level.txt") or "").split()
        files = {str(f) for f in dist.files or ()}
        if name in top_level or f"{name}/__init__.py" in files:
            found.add(f"{label} {dist.version}")
    return sorted(found)


def _message(ours: importlib.metadata.Distribution, name: str, problem: str) -> str:
    others = owners(name)
    who = " and ".join(others) if others else "another installation"
    return (
        f"the import name '{name}' belongs to {who} as well as {DISTRIBUTION} {ours.version} "
        f"({problem}); install them in separate virtual environments, or uninstall "
        f"{others[0].split()[0] if others else 'the other one'} and run "
        f"'pip install --force-reinstall {DISTRIBUTION}'"
    )


def entry_point_names(group: str) -> list[str] | None:
    """The names of every installed entry point of ``group`` (once per distribution that
    declares it), read as :mod:`importlib.metadata` reads them but without importing it: the
    ``entry_points.txt`` of each ``*.dist-info``/``*.egg-info`` directory along ``sys.path``.

    None means "not sure" (a zip or egg on ``sys.path``, or a finder other than the standard
    path finder that can list distributions): ask importlib.metadata instead.
    """
    import importlib.machinery
    import os

    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder:
            return None
    names: list[str] = []
    for entry in sys.path:
        base = entry or "."
        if base.lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(base)
        except NotADirectoryError:
            return None  # a zip file: its metadata is read through zipfile
        except OSError:
            continue
        for child in children:
            if not child.lower().endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(base, child, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            except UnicodeDecodeError:
                return None
            names.extend(_entry_points_in(text, group))
    return names


def _entry_points_in(text: str, group: str) -> list[str]:
    """The entry point names of ``group`` in an ``entry_points.txt`` text (parsed as
    importlib.metadata's ``Sectioned`` does: stripped lines, ``#`` comments, ``[group]``)."""
    found: list[str] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group:
            found.append(line.split("=", 1)[0].strip())
    return found
