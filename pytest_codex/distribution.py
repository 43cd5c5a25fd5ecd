"""Whether the top-level ``guardrails`` package is this project's, and a fix that works when
it is not.

This project installs as ``pytest-codex-orchestrator`` and ships the top-level package
``guardrails``, a name other distributions ship too (guardrails-ai, openai-guardrails). pip
installs both into the same directory without a word: whichever came second overwrote the
first one's files. Our ``guardrails/__init__.py`` carries a marker line, so the check costs
one file read and one directory listing; :mod:`importlib.metadata` is consulted only to name
the other distribution once something is wrong.

- The marker is missing: ``import guardrails`` is the other distribution's package (installed
  after ours, or ahead of ours on ``sys.path``), and our guardrails cannot run: an error.
- The marker is there but the directory holds modules we do not ship: ours was installed over
  the other one, which is broken now: a warning (ours works).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import importlib.metadata

DISTRIBUTION = "pytest-codex-orchestrator"
MARKER = '__codex_owner__ = "pytest-codex-orchestrator"'
# What our ``guardrails`` package holds (tests/unit/test_distribution.py pins it to the tree).
GUARDRAILS_ENTRIES = frozenset(
    {
        "__init__.py",
        "api.py",
        "builtin.py",
        "cache.py",
        "checklist",
        "collateral.py",
        "context.py",
        "eval_harness.py",
        "evidence.py",
        "files.py",
        "hookspecs.py",
        "lint.py",
        "py.typed",
        "pytest_items.py",
        "registry.py",
        "session.py",
        "snapshot.py",
        "spec_guard.py",
        "tasks.py",
    }
)


class ImportNameClashError(ConfigError):
    """``import guardrails`` finds another distribution's package, not this project's."""


def guardrails_owner_problem() -> tuple[str, bool] | None:
    """None when ``guardrails`` is plainly ours; else ``(message, fatal)``: fatal when the
    package is another distribution's, a warning when ours was installed over another one."""
    spec = importlib.util.find_spec("guardrails")
    if spec is None or spec.origin is None:
        return None  # not installed at all: the import itself will say so
    init = Path(spec.origin)
    try:
        text = init.read_text(encoding="utf-8", errors="replace")
        entries = set(os.listdir(init.parent))
    except OSError:
        return None
    if MARKER not in text:
        others = _owners()
        who = " and ".join(others) or "another distribution"
        return (
            f"'import guardrails' loads {who}'s package ({init.parent}), not "
            f"{DISTRIBUTION}'s; {_fix(others)}",
            True,
        )
    foreign = sorted(entries - GUARDRAILS_ENTRIES - {"__pycache__"})
    if not foreign:
        return None
    others = _owners()
    who = " and ".join(others) or "another distribution"
    return (
        f"{DISTRIBUTION} was installed over {who}, which also ships 'guardrails' "
        f"({len(foreign)} foreign entries in {init.parent}, e.g. {foreign[0]}): {who} is "
        f"broken in this environment; {_fix(others)}",
        False,
    )


def check_guardrails_owner(warn: bool = True) -> None:
    """Raise :class:`ImportNameClashError` when ``guardrails`` is another distribution's; print
    the one-line warning to stderr when ours was installed over another one (``warn``)."""
    problem = guardrails_owner_problem()
    if problem is None:
        return
    message, fatal = problem
    if fatal:
        raise ImportNameClashError(message)
    if warn:
        import sys

        print(f"pytest-codex: warning: {message}", file=sys.stderr)


def _fix(others: list[str]) -> str:
    names = " ".join(o.split()[0] for o in others) or "<the other distribution>"
    return (
        f"fix: 'pip uninstall -y {names}' then '{_reinstall()}', "
        "or install them in separate virtual environments"
    )


def _reinstall() -> str:
    """How to put our files back as they were installed (a wheel file, an editable checkout,
    or the package index)."""
    import importlib.metadata
    import json

    try:
        text = importlib.metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        text = None
    spec = DISTRIBUTION
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        document = {}
    url = str(document.get("url", ""))
    if url.startswith("file://"):
        where = url.removeprefix("file://")
        if (document.get("dir_info") or {}).get("editable"):
            return f"pip install --no-deps -e {where}"
        spec = where
    return f"pip install --force-reinstall --no-deps {spec}"


def _owners() -> list[str]:
    """``name version`` of every installed distribution but ours that ships ``guardrails``."""
    import importlib.metadata

    found: set[str] = set()
    for dist in importlib.metadata.distributions():
        label = dist.metadata["Name"] or ""
        if re.sub(r"[-_.]+", "-", label).lower() == DISTRIBUTION:
            continue
        top_level = (dist.read_text("top_level.txt") or "").split()
        if "guardrails" in top_level or any(
            str(f).startswith("guardrails/") for f in dist.files or ()
        ):
            found.add(f"{label} {dist.version}")
    return sorted(found)
