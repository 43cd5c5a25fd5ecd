"""Installed entry point names, read without importing :mod:`importlib.metadata`.

pluggy's entry point scan imports :mod:`importlib.metadata` (a fifth of ``exec``'s start-up)
even when nothing would be loaded; reading the ``entry_points.txt`` files first tells whether
the scan is needed at all.
"""

from __future__ import annotations

import sys


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
