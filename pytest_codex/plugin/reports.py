"""Turning pytest reports into ``test:result`` records.

A test produces up to three reports (setup, call, teardown); :class:`TestRecordBuilder`
folds them into one record with the outcome pytest users expect (passed, failed, skipped,
xfailed, xpassed, error). It works on reports as they reach the controller, so it sees the
same thing with or without pytest-xdist.

Other plugins change the sequence: pytest-rerunfailures reports each failed attempt as
``rerun`` (the record keeps the final attempt's outcome and counts the reruns), and
pytest-xdist reports a crashed worker's test once, as ``???`` (``failed``, as pytest says).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..redact import redact_text

_MAX_FAILURE = 1000


class TestRecordBuilder:
    """Accumulates the phase reports of one test and builds its record."""

    __test__ = False  # not a test class, whatever pytest's collection thinks of the name

    def __init__(self, report: pytest.TestReport) -> None:
        path, lineno, domain = report.location
        self.nodeid = report.nodeid
        self.location = {
            "path": str(path),
            "line": None if lineno is None else lineno + 1,
            "domain": domain,
        }
        self.outcome: str | None = None
        self.failure: str | None = None
        self.duration = 0.0
        self.markers: list[str] = list(getattr(report, "codex_markers", []) or [])
        self.worker: str | None = getattr(report, "node", None) and _worker_id(report)
        self.reruns = 0
        self.complete = False
        self._rerun_pending = False

    def add(self, report: pytest.TestReport) -> None:
        """Fold one phase report in (:attr:`complete` turns true with the test's last one)."""
        self.duration += float(report.duration or 0.0)
        if not self.markers:
            self.markers = list(getattr(report, "codex_markers", []) or [])
        when: str = report.when  # xdist adds "???" (a crashed worker)
        wasxfail = hasattr(report, "wasxfail")
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]
            # A failed attempt that pytest-rerunfailures runs again: only the last counts.
            self.reruns += 1
            self.outcome = self.failure = None
            self._rerun_pending = when != "teardown"
            return
        if when == "setup":
            self._rerun_pending = False
        if when == "teardown" and self._rerun_pending:
            # The teardown of an attempt that is run again (rerunfailures' own teardown).
            self._rerun_pending = False
            return
        if when in ("teardown", "???"):
            self.complete = True
        if when == "call":
            if report.passed:
                self.outcome = "xpassed" if wasxfail else "passed"
            elif report.skipped:
                self.outcome = "xfailed" if wasxfail else "skipped"
                self.failure = _skip_reason(report)
            else:
                self.outcome = "failed"
                self.failure = _failure_text(report)
        elif when == "setup":
            if report.failed:
                self.outcome = "error"
                self.failure = "error in setup: " + _failure_text(report)
            elif report.skipped:
                self.outcome = "xfailed" if wasxfail else "skipped"
                self.failure = _skip_reason(report)
        elif when == "???":  # xdist: the worker running this test crashed
            self.outcome = "failed"
            text = "worker crashed: " + _failure_text(report)
            self.failure = text if self.failure is None else f"{self.failure}; {text}"
        elif report.failed:  # teardown
            text = "error in teardown: " + _failure_text(report)
            if self.outcome in (None, "passed", "skipped", "xfailed", "xpassed"):
                self.outcome = "error"
                self.failure = text
            else:
                self.failure = f"{self.failure}; {text}"

    def interrupted(self, text: str) -> None:
        """The session was interrupted (Ctrl-C) while this test ran: say so."""
        if self.outcome in (None, "passed"):
            self.outcome = "error"
            self.failure = text
        else:
            self.failure = f"{self.failure}; {text}" if self.failure else text

    def record(self) -> dict[str, Any]:
        """The ``tests[]`` record."""
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome or "error",
            "durationMs": round(self.duration * 1000, 3),
            "markers": self.markers,
            "location": self.location,
            "failure": None if self.failure is None else redact_text(self.failure)[:_MAX_FAILURE],
            "worker": self.worker,
            "reruns": self.reruns,
        }

    def redacted_record(
        self,
        text: Callable[[str], str],
        names: Callable[[list[str]], list[str]] | None = None,
        identifier: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """The ``tests[]`` record with every string that comes from the user's code (node id,
        location, marker names, failure, worker id) passed through ``text`` (the bus's
        redactor): what the bus's own redaction of :meth:`record` gives, for
        ``emit(..., redacted=True)``. The outcome is one of the plugin's own words, the
        numbers are numbers, and no key looks secret. The failure is redacted with ``text``
        before it is cut to length (:meth:`record` uses the environment's secrets only).
        ``names`` (default: ``text`` on each name) redacts the list of marker names, which
        may then be one list shared by every record with the same markers (records are
        never changed once emitted). ``identifier`` (default: ``text``) redacts the node id,
        the location and the worker id: identifiers, which only known secret values may
        change (the bus's ``redact_identifier``), never heuristics."""
        name = identifier or text
        location = self.location
        path, domain = location["path"], location["domain"]
        failure, worker, markers = self.failure, self.worker, self.markers
        return {  # the keys of record(), in its order
            "nodeid": name(self.nodeid),
            "outcome": self.outcome or "error",
            "durationMs": round(self.duration * 1000, 3),
            "markers": names(markers) if names else [name(marker) for marker in markers],
            "location": {
                "path": name(path) if isinstance(path, str) else path,
                "line": location["line"],
                "domain": name(domain) if isinstance(domain, str) else domain,
            },
            # Redacted before it is cut (a secret across the cut would leave its first
            # half), then as the bus would.
            "failure": None if failure is None else text(text(failure)[:_MAX_FAILURE]),
            "worker": name(worker) if isinstance(worker, str) else worker,
            "reruns": self.reruns,
        }


def marker_names(item: pytest.Item, parents: dict[int, frozenset[str]]) -> list[str]:
    """The names of every marker of ``item`` and its parents (``item.iter_markers()``),
    sorted; ``parents`` caches the names of each parent chain (one module holds many
    tests), keyed by the parent's id for the session's lifetime."""
    parent = item.parent
    inherited: frozenset[str] = frozenset()
    if parent is not None:
        cached = parents.get(id(parent))
        if cached is None:
            cached = parents[id(parent)] = frozenset(m.name for m in parent.iter_markers())
        inherited = cached
    own = item.own_markers
    if not own:
        return sorted(inherited)
    return sorted(inherited.union(m.name for m in own))


def _worker_id(report: pytest.TestReport) -> str | None:
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return getattr(gateway, "id", None)


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message:
        path = getattr(crash, "path", None)
        line = getattr(crash, "lineno", None)
        where = f" ({path}:{line})" if path else ""
        return str(message).strip().splitlines()[0] + where if message.strip() else where
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else "failed"


def _skip_reason(report: pytest.TestReport) -> str | None:
    if hasattr(report, "wasxfail"):
        reason = str(report.wasxfail)
        return f"xfail: {reason}" if reason else "xfail"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
