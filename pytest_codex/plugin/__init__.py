"""The pytest adapter: ``pytest --codex-task <id>`` records the session as a run.

Inert unless a task id is given (``--codex-task`` or ``MCP_RUNNER_TASK_ID``): then one run per
session, every test recorded in the manifest, the session's exit status as the run status,
and the manifest path in the terminal summary. Under pytest-xdist only the controller owns
the run; workers enrich their reports (markers, events emitted by tests) and send them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from . import assert_rewrite

# Before anything else of the package is imported (see pytest_codex.plugin.assert_rewrite).
assert_rewrite.opt_out()

from ..paths import TASK_ENV  # noqa: E402
from .fixtures import guardrails as guardrail_fixtures  # noqa: E402
from .fixtures import orchestrator as orchestrator_fixtures  # noqa: E402
from .fixtures import run as fixtures  # noqa: E402
from .fixtures import runtime as runtime_fixtures  # noqa: E402
from .state import context_key, recorder_key, worker_run_key  # noqa: E402

# Without a task the plugin must cost nothing: the run machinery is imported only when a
# session records a run.
if TYPE_CHECKING:
    from ..context import Context
    from ..run import Run
    from .recorder import TestRecordBuilder

WORKERINPUT_KEY = "codex_run"

# The fixture modules are registered by pytest_configure rather than named in
# ``pytest_plugins``, which would mark them for assertion rewriting again.
FIXTURE_MODULES = (fixtures, orchestrator_fixtures, runtime_fixtures, guardrail_fixtures)

MARKERS = {
    "codex_approval": (
        "codex_approval(key, scope='session'): pre-grant an approval for the tool "
        "orchestrator used by this test"
    ),
    "codex_guardrail": "codex_guardrail(name): the item runs (or exercises) a guardrail",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``codex`` option group."""
    group = parser.getgroup("codex", "pytest-codex run manifests (codex-orchestrator)")
    group.addoption(
        "--codex-task",
        metavar="TASK",
        default=None,
        help=f"record this session as a run of TASK (also: ${TASK_ENV}); writes "
        ".runs/TASK/cli/<run-id>/manifest.json",
    )
    group.addoption(
        "--codex-pipeline",
        metavar="ID",
        default=None,
        help="pipeline id recorded in the manifest (default: pytest)",
    )
    group.addoption(
        "--codex-guardrails",
        metavar="NAMES",
        default=None,
        help="comma-separated guardrails to collect as test items (guardrails::<name>); "
        "'none' for none (default: ini codex_guardrails, then guardrails.enabled in the "
        "config file, then every installed guardrail)",
    )
    group.addoption(
        "--codex-dry-run",
        action="store_true",
        default=False,
        help="guardrail items report their findings without failing (failed becomes warned)",
    )
    group.addoption(
        "--codex-no-cache",
        action="store_true",
        default=False,
        help="run every guardrail even when its inputs are unchanged since a cached result",
    )
    parser.addini(
        "codex_guardrails",
        type="args",
        default=[],
        help="guardrails to collect as test items under --codex-task (names; 'none' for none)",
    )
    from ..run_options import RUN_OPTIONS

    for option in RUN_OPTIONS:
        group.addoption(
            option.pytest_flag,
            dest=option.pytest_dest,
            choices=list(option.choices) if option.choices is not None else None,
            metavar=option.metavar,
            action="append" if option.repeatable else "store",
            default=None,
            help=option.help_text,
        )


def _task_requested(config: pytest.Config) -> bool:
    task = config.getoption("codex_task", None)
    if task is not None and not task.strip():
        # A CI variable that is unset must not give a green job without a manifest.
        raise pytest.UsageError(
            "--codex-task is empty; pass a task id (--codex-task=<id>) or drop the option"
        )
    return bool(task or os.environ.get(TASK_ENV))


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and fixtures; when a task is given, set up the run (controller) or
    its proxy."""
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for module in FIXTURE_MODULES:
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, module.__name__)
    if not _task_requested(config):
        return
    from ..context import Context
    from ..errors import CodexError
    from ..run_options import option_config
    from .worker import WorkerRun

    cli, flags = option_config(lambda o: config.getoption(o.pytest_dest), lambda o: o.pytest_flag)
    cli["task"] = config.getoption("codex_task")
    flags["task"] = "--codex-task"
    try:
        context = Context.load(cli=cli, cli_flags=flags, task_flag="--codex-task")
        task_id = context.task_id()
    except CodexError as exc:
        pytest.exit(f"pytest-codex: {exc}", returncode=exc.exit_code)
    config.stash[context_key] = context
    try:
        from guardrails.pytest_items import register

        register(config)
    except CodexError as exc:
        pytest.exit(f"pytest-codex: {exc}", returncode=exc.exit_code)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # Workers send what the controller cannot see: markers and test-emitted events.
        config.pluginmanager.register(ReportEnricher(), "codex-report-enricher")
        info = workerinput.get(WORKERINPUT_KEY)
        if info is not None:
            config.stash[worker_run_key] = WorkerRun(context, info)
        return
    recorder = CodexRecorder(config, context, task_id)
    config.stash[recorder_key] = recorder
    config.pluginmanager.register(recorder, "codex-recorder")


class ReportEnricher:
    """Attaches marker names and test-emitted events to every report (in workers too)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        # Plain JSON-able attributes survive xdist's report serialisation; markers ride on
        # the first report of a test only.
        if call.when == "setup":
            report.codex_markers = sorted({m.name for m in item.iter_markers()})  # type: ignore[attr-defined]
        worker_run = item.config.stash.get(worker_run_key, None)
        if worker_run is not None:
            report.codex_events = worker_run.drain()  # type: ignore[attr-defined]
        return report


class CodexRecorder:
    """Owns the run of a session (controller only) and records every test into it."""

    def __init__(self, config: pytest.Config, context: Context, task_id: str) -> None:
        self.config = config
        self.context = context
        self.task_id = task_id
        self.run: Run | None = None
        self.summary: dict[str, Any] | None = None
        self._pending: dict[str, TestRecordBuilder] = {}
        # Without xdist the controller collects the items itself: markers are read once here
        # instead of riding on every report.
        self._markers: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}

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
        )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Remember each item's marker names (the reports do not carry them)."""
        self._markers = {
            item.nodeid: sorted({m.name for m in item.iter_markers()}) for item in items
        }

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
        for event in getattr(report, "codex_events", None) or ():
            run.emit(event["type"], event["payload"])
        builder = self._pending.get(report.nodeid)
        if builder is None:
            from .recorder import TestRecordBuilder

            builder = self._pending[report.nodeid] = TestRecordBuilder(report)
            if not builder.markers:
                builder.markers = self._markers.get(report.nodeid, [])
        builder.add(report)
        if report.when in ("teardown", "???"):
            self._complete(report.nodeid)

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
        }
        self._count("error")
        self.run.emit("test:result", {"test": record})

    def _complete(self, nodeid: str) -> None:
        builder = self._pending.pop(nodeid)
        record = builder.record()
        self._count(record["outcome"])
        assert self.run is not None
        self.run.emit("test:result", {"test": record})

    def _count(self, outcome: str) -> None:
        self._counts[outcome] = self._counts.get(outcome, 0) + 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Finish the run; the session's exit status becomes its status."""
        run = self.run
        if run is None or run.finished:
            return
        for nodeid in list(self._pending):  # a test whose teardown never came (crash)
            self._complete(nodeid)
        code = int(exitstatus)
        if code == pytest.ExitCode.OK:
            status, detail = "succeeded", None
        elif code == pytest.ExitCode.INTERRUPTED:
            status, detail = "cancelled", "pytest was interrupted"
        else:
            status = "failed"
            detail = (
                f"pytest exited with {pytest.ExitCode(code).name} ({code})"
                if code in (set(int(c) for c in pytest.ExitCode))
                else f"pytest exited with {code}"
            )
        tests = dict(sorted(self._counts.items()))
        tests["total"] = sum(self._counts.values())
        self.summary = run.finish(
            status, detail=detail, summary={"result": {"exitCode": code}, "tests": tests}
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line naming the manifest."""
        if self.run is None:
            return
        status = self.summary["status"] if self.summary else self.run.status
        terminalreporter.write_sep("-", "codex run")
        terminalreporter.write_line(
            f"codex: run {self.run.run_id} {status}; manifest: {self.run.paths.manifest}"
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """A session that never finished (internal error) still ends its run."""
        if self.run is not None and not self.run.finished:
            self.run.finish("failed", detail="pytest ended before the session finished")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
