"""The controller side of a recording session: :class:`CodexRecorder` owns the run.

It starts the run before anything else (xdist configures its workers after that), folds the
phase reports of every test into one ``test:result`` record (:mod:`.reports`), records
collection errors, and finishes the run with the session's exit status. Under pytest-xdist
it is the only writer: workers send their reports (:mod:`.worker`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .reports import TestRecordBuilder, marker_names
from .worker import WORKERINPUT_KEY

if TYPE_CHECKING:
    from ..context import Context
    from ..run import Run


# How many distinct sets of marker names the recorder keeps one redacted list for.
_REDACTED_CACHE = 4096


class CodexRecorder:
    """Owns the run of a session (controller only) and records every test into it."""

    def __init__(
        self, config: pytest.Config, context: Context, task_id: str, *, private: bool = False
    ) -> None:
        self.config = config
        self.context = context
        self.task_id = task_id
        # A run in a private temporary directory (inside a sandbox): nothing of it is evidence.
        self.private = private
        self.run: Run | None = None
        self.summary: dict[str, Any] | None = None
        self._pending: dict[str, TestRecordBuilder] = {}
        # Without xdist the controller collects the items itself: markers are read once here
        # instead of riding on every report.
        self._markers: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}
        self._collected = 0
        self._interruption: str | None = None
        self._redacted_names: dict[tuple[str, ...], list[str]] = {}

    @property
    def collect_only(self) -> bool:
        """Whether the session only collects (``--co`` / ``--collect-only``): no test runs."""
        return bool(self.config.getoption("collectonly", False))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start the run before anything else (xdist configures its workers after this)."""
        from ..ids import is_run_id
        from ..paths import PARENT_RUN_ENV
        from ..run import Run

        pipeline = self.config.getoption("codex_pipeline") or "pytest"
        parent = self.context.env.get(PARENT_RUN_ENV) or None
        self.run = Run.start(
            self.context,
            task_id=self.task_id,
            runner="pytest",
            pipeline_id=pipeline,
            parent_run_id=parent if parent and is_run_id(parent) else None,
            check_recording=not self.private,
        )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Remember each item's marker names (the reports do not carry them)."""
        parents: dict[int, frozenset[str]] = {}
        shared: dict[tuple[str, ...], list[str]] = {}  # one list per set of names
        markers = {}
        for item in items:
            names = marker_names(item, parents)
            markers[item.nodeid] = shared.setdefault(tuple(names), names)
        self._markers = markers

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """How many items the session collected (after deselection)."""
        self._collected = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell each xdist worker which run it works for."""
        if self.run is not None:
            node.workerinput[WORKERINPUT_KEY] = {
                "taskId": self.run.task_id,
                "runId": self.run.run_id,
            }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase report; emit ``test:result`` when the test is complete."""
        run = self.run
        if run is None:
            return
        events = getattr(report, "codex_events", None)
        if events:
            for event in events:
                run.emit(event["type"], event["payload"])
        nodeid = report.nodeid
        builder = self._pending.get(nodeid)
        if builder is None:
            builder = self._pending[nodeid] = TestRecordBuilder(report)
            if not builder.markers:
                builder.markers = self._markers.get(nodeid, [])
        builder.add(report)
        if builder.complete:
            self._complete(nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Collection errors are recorded as errored tests, so nothing fails silently."""
        if self.run is None or not report.failed:
            return
        record = {
            "nodeid": report.nodeid or "<collection>",
            "outcome": "error",
            "durationMs": 0.0,
            "markers": [],
            "location": {"path": report.nodeid.split("::")[0], "line": None, "domain": None},
            "failure": "collection error: "
            + (str(report.longreprtext).strip().splitlines() or [""])[-1],
            "worker": None,
            "reruns": 0,
        }
        self._count("error")
        self.run.emit("test:result", {"test": record})

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C: the test it interrupted keeps the interruption's text."""
        crash = getattr(excinfo.getrepr(style="short"), "reprcrash", None)
        where = f" ({crash.path}:{crash.lineno})" if crash is not None else ""
        self._interruption = f"interrupted: {excinfo.exconly().strip()}{where}"

    def _complete(self, nodeid: str) -> None:
        builder = self._pending.pop(nodeid)
        run = self.run
        assert run is not None
        # The record is redacted here, string by string (the user's strings only), and the
        # bus takes it as it is: one test:result per test is the plugin's hot path.
        record = builder.redacted_record(
            run.bus.redact_text, self._redact_names, run.bus.redact_identifier
        )
        self._count(record["outcome"])
        if builder.reruns:
            self._count("rerun", builder.reruns)  # pytest counts each rerun attempt
        run.bus.emit("test:result", {"test": record}, redacted=True)

    def _redact_names(self, names: list[str]) -> list[str]:
        # One list per set of marker names, shared by the records (fewer objects for the
        # garbage collector to walk: a suite's records stay alive until the session ends).
        key = tuple(names)
        shared = self._redacted_names.get(key)
        if shared is None:
            assert self.run is not None
            # The redactor remembers the short strings it has seen: each name costs one look.
            shared = [self.run.bus.redact_identifier(name) for name in names]
            if len(self._redacted_names) < _REDACTED_CACHE:
                self._redacted_names[key] = shared
        return shared

    def _count(self, outcome: str, n: int = 1) -> None:
        self._counts[outcome] = self._counts.get(outcome, 0) + n

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Finish the run; the session's exit status becomes its status."""
        run = self.run
        if run is None or run.finished:
            return
        for nodeid in list(self._pending):  # a test whose teardown never came
            if self._interruption is not None:
                self._pending[nodeid].interrupted(self._interruption)
            self._complete(nodeid)
        code = int(exitstatus)
        extra: dict[str, Any] = {}
        if self.collect_only and code == pytest.ExitCode.OK:
            # Collecting proves nothing: never a succeeded run (so never evidence).
            status = "cancelled"
            detail = f"collect-only: {self._collected} tests collected, none ran"
        elif code == pytest.ExitCode.OK:
            status, detail = "succeeded", None
        elif code == pytest.ExitCode.INTERRUPTED:
            status, detail = "cancelled", self._interruption or "pytest was interrupted"
        else:
            status = "failed"
            detail = (
                f"pytest exited with {pytest.ExitCode(code).name} ({code})"
                if code in {int(c) for c in pytest.ExitCode}
                else f"pytest exited with {code}"
            )
        if self.collect_only:
            extra["collectOnly"] = True
        tests = dict(sorted(self._counts.items()))
        tests["total"] = sum(n for outcome, n in self._counts.items() if outcome != "rerun")
        if self.collect_only:
            tests["collected"] = self._collected
        self.summary = run.finish(
            status,
            detail=detail,
            summary={"result": {"exitCode": code}, "tests": tests, **extra},
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line naming the manifest."""
        if self.run is None:
            return
        status = self.summary["status"] if self.summary else self.run.status
        terminalreporter.write_sep("-", "codex run")
        if self.private:
            terminalreporter.write_line(
                f"codex: run {self.run.run_id} {status}, not recorded (inside a sandbox; the "
                "run that started this command records it)"
            )
            return
        terminalreporter.write_line(
            f"codex: run {self.run.run_id} {status}; manifest: {self.run.paths.manifest}"
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """A session that never finished (internal error) still ends its run."""
        if self.run is not None and not self.run.finished:
            self.run.finish("failed", detail="pytest ended before the session finished")


__all__ = ["WORKERINPUT_KEY", "CodexRecorder", "TestRecordBuilder"]
