"""Guardrails as pytest items: under ``pytest --codex-task <id>`` each enabled guardrail is
one test item, ``guardrails::<name>``, marked ``codex_guardrail``.

The items are added before ``-k`` / ``-m`` deselection, so both select them like any test.
A ``failed`` guardrail fails its item with every finding as ``path:line: rule: message``;
``skipped`` skips it with the guardrail's reason; ``warned`` passes with a
:class:`GuardrailWarning` per finding. The record (findings, duration, cache status, the
approvals its commands used) goes onto the run's bus as ``guardrail:result``, so it lands in
the manifest's ``guardrails[]``; under pytest-xdist the worker running the item sends it
with the report and the controller records it.

Consecutive guardrail items (in one process) run as one batch of the session
(:meth:`GuardrailSession.shared_inputs`): no test runs between them, so their fingerprints
share one look at the repository; the batch ends before any other item runs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_codex.plugin.state import session_run

from .api import Guardrail
from .registry import available, enabled_names, select
from .session import GuardrailSession

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from pytest_codex.context import Context

GROUP_NAME = "guardrails"
MARKER = "codex_guardrail"


class GuardrailWarning(UserWarning):
    """A guardrail that passed with warning findings."""


class GuardrailFailed(Exception):
    """Raised by a guardrail item whose guardrail failed; carries its record."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record.get("summary") or f"guardrail {record['name']} failed")
        self.record = record


def enabled_guardrails(config: pytest.Config, context: Context) -> list[Guardrail]:
    """``--codex-guardrails`` > ``CODEX_ORCHESTRATOR_GUARDRAILS`` > ini ``codex_guardrails``
    > ``guardrails.enabled`` in the config file > every available guardrail."""
    settings = context.config.get("guardrails") or {}
    names = enabled_names(
        explicit=config.getoption("codex_guardrails", None),
        env=context.env,
        settings=settings,
        ini=config.getini("codex_guardrails"),
    )
    if names == []:
        return []  # nothing to discover: no entry points scanned, no guardrail imported
    return select(available(settings, context.roots.root, workspace_modules=True), names)


class GuardrailItems:
    """Adds the guardrail items to the collection and runs them (controller and workers)."""

    def __init__(self, config: pytest.Config, guardrails: Sequence[Guardrail]) -> None:
        self.config = config
        self.guardrails = list(guardrails)
        self._session: GuardrailSession | None = None
        self._batch: contextlib.ExitStack | None = None
        self._upcoming: list[Guardrail] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Append one item per enabled guardrail (before -k/-m deselection runs)."""
        if not self.guardrails:
            return
        group = GuardrailGroup.from_parent(session, name=GROUP_NAME, nodeid=GROUP_NAME)
        group.guardrails = self.guardrails
        collected = group.collect()
        items.extend(collected)
        # The items join after the collectors ran: report them, so the terminal's
        # "collected N items" counts them like any test.
        report = pytest.CollectReport(group.nodeid, "passed", None, list[Any](collected))
        config.hook.pytest_collectreport(report=report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A skipped guardrail is reported at its node id, not at a line of this plugin."""
        report = yield
        if isinstance(item, GuardrailItem) and report.skipped:
            longrepr = report.longrepr
            if isinstance(longrepr, tuple) and len(longrepr) == 3:
                # No line: the terminal then prints "SKIPPED [1] guardrails::name: reason".
                report.longrepr = (item.nodeid, None, longrepr[2])  # type: ignore[assignment]
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """End the batch of guardrail items when the next item is not one (a test may
        change the repository)."""
        if isinstance(item, GuardrailItem) and self._batch is None:
            self._upcoming = _consecutive_guardrails(item)
        try:
            return (yield)
        finally:
            if not isinstance(nextitem, GuardrailItem):
                self.end_batch()

    def pytest_sessionfinish(self) -> None:
        """No batch outlives the session."""
        self.end_batch()

    def run(self, guardrail: Guardrail) -> dict[str, Any]:
        """Run ``guardrail`` in the batch of the current guardrail items; its record."""
        session = self.session()
        if self._batch is None:
            self._batch = contextlib.ExitStack()
            self._batch.enter_context(session.shared_inputs())
            session.prepare(self._upcoming or [guardrail])
            self._upcoming = []
        return session.run(guardrail)

    def end_batch(self) -> None:
        """Close the current batch, if any."""
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.close()

    def session(self) -> GuardrailSession:
        """This process's guardrail session, bound to the run (or its xdist stand-in)."""
        if self._session is None:
            from pytest_codex.approvals import DenyApprover

            run = session_run(self.config)
            if run is None:
                raise pytest.UsageError(
                    "pytest-codex: guardrail items need a run; pass --codex-task"
                )
            # A test session never waits on a terminal: what rules and the cache do not
            # approve is denied, and recorded as such.
            self._session = GuardrailSession.for_run(
                run,
                approver=DenyApprover(),
                use_cache=not self.config.getoption("codex_no_cache", False),
                dry_run=bool(self.config.getoption("codex_dry_run", False)),
            )
        return self._session


class GuardrailGroup(pytest.Collector):
    """The ``guardrails`` collector: the parent of every guardrail item."""

    guardrails: Sequence[Guardrail] = ()

    def collect(self) -> list[pytest.Item]:
        """One :class:`GuardrailItem` per guardrail."""
        items: list[pytest.Item] = []
        for guardrail in self.guardrails:
            item = GuardrailItem.from_parent(self, name=guardrail.name)
            item.guardrail = guardrail
            item.add_marker(pytest.mark.codex_guardrail(guardrail.name))
            items.append(item)
        return items


class GuardrailItem(pytest.Item):
    """One guardrail run as a test."""

    guardrail: Guardrail

    def runtest(self) -> None:
        """Run the guardrail (or reuse its cached result) and report its status."""
        plugin = self.config.pluginmanager.get_plugin(PLUGIN_NAME)
        if not isinstance(plugin, GuardrailItems):
            raise pytest.UsageError("pytest-codex: the guardrail plugin is not active")
        record = plugin.run(self.guardrail)
        self.user_properties.append(("codex_guardrail", record["status"]))
        status = record["status"]
        if status == "failed":
            raise GuardrailFailed(record)
        if status == "skipped":
            pytest.skip(record.get("summary") or f"guardrail {self.name} had nothing to check")
        if status == "warned":
            for finding in record["findings"]:
                # Attributed to the finding's file and line, where the problem is.
                warnings.warn_explicit(
                    GuardrailWarning(f"{finding['rule']}: {finding['message']}"),
                    GuardrailWarning,
                    filename=str(finding.get("path") or f"guardrails::{self.name}"),
                    lineno=int(finding.get("line") or 0),
                )

    def repr_failure(
        self,
        excinfo: ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        """The findings, one ``path:line: rule: message (hint)`` per line."""
        if isinstance(excinfo.value, GuardrailFailed):
            record = excinfo.value.record
            lines = [
                f"guardrail {record['name']} failed"
                + (f": {record['summary']}" if record.get("summary") else "")
                + (" (cached result)" if record.get("cached") else "")
            ]
            lines.extend(f"  {_render(f)}" for f in record["findings"])
            return "\n".join(lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item is reported: the repository root, as ``guardrail <name>``."""
        return self.path, None, f"guardrail {self.name}"


def _consecutive_guardrails(item: GuardrailItem) -> list[Guardrail]:
    """The guardrails of ``item`` and of the guardrail items right after it in this
    process's run order (under xdist only its own: the scheduler decides the rest)."""
    if hasattr(item.config, "workerinput"):
        return [item.guardrail]
    items = item.session.items
    try:
        start = items.index(item)
    except ValueError:
        return [item.guardrail]
    found: list[Guardrail] = []
    for following in items[start:]:
        if not isinstance(following, GuardrailItem):
            break
        found.append(following.guardrail)
    return found


def _render(finding: dict[str, Any]) -> str:
    from .api import Finding

    return Finding.from_record(finding).render()


PLUGIN_NAME = "codex-guardrails"


def register(config: pytest.Config, context: Context) -> None:
    """Set up guardrail items for a session that records a run of ``context`` (called by
    the plugin)."""
    guardrails = enabled_guardrails(config, context)
    config.pluginmanager.register(GuardrailItems(config, guardrails), PLUGIN_NAME)
