"""Keep pytest from rewriting the asserts of this package's own modules.

pytest rewrites the asserts of every module of a ``pytest11`` plugin's distribution, so that
assertion helpers in plugins report well. Ours holds no test assertions (its few asserts
are internal invariants), so rewriting only costs time: the AST of every module is parsed,
rewritten and compiled again on each run where bytecode is not written
(``PYTHONDONTWRITEBYTECODE=1``, common in containers), over a second per session. pytest
has no public way to take a mark back; this clears it on pytest's import hook where the
hook looks as expected, and otherwise leaves everything as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

PACKAGES = ("pytest_codex", "guardrails")


def opt_out(packages: Iterable[str] = PACKAGES) -> bool:
    """Unmark ``packages`` on pytest's assertion-rewriting import hook; whether a hook was
    found. Modules already imported stay as they are."""
    names = set(packages)
    found = False
    for finder in sys.meta_path:
        if type(finder).__name__ != "AssertionRewritingHook":
            continue
        marked = getattr(finder, "_must_rewrite", None)
        cache = getattr(finder, "_marked_for_rewrite_cache", None)
        if not isinstance(marked, set) or not isinstance(cache, dict):
            continue
        marked.difference_update(names)
        for name in [n for n in cache if n.split(".", 1)[0] in names]:
            del cache[name]
        found = True
    return found
