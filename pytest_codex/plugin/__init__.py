"""The pytest adapter: ``pytest --codex-task <id>`` records the session as a run.

Inert unless a task id is given (``--codex-task`` or ``MCP_RUNNER_TASK_ID``): then one run per
session, every test recorded in the manifest, the session's exit status as the run status,
and the manifest path in the terminal summary. Under pytest-xdist only the controller owns
the run; workers enrich their reports (markers, events emitted by tests) and send them.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from . import assert_rewrite

# Before anything else of the package is imported (see pytest_codex.plugin.assert_rewrite).
assert_rewrite.opt_out()

from ..paths import TASK_ENV  # noqa: E402
from .fixtures import guardrails as guardrail_fixtures  # noqa: E402
from .fixtures import orchestrator as orchestrator_fixtures  # noqa: E402
from .fixtures import run as fixtures  # noqa: E402
from .fixtures import runtime as runtime_fixtures  # noqa: E402
from .state import PluginState, set_state  # noqa: E402

# Without a task the plugin must cost nothing: the run machinery (and the recorder, which
# imports it when the session starts) is imported only when a session records a run.
if TYPE_CHECKING:
    from ..context import Context
    from .recorder import CodexRecorder


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
    option = config.getoption("codex_task", None)
    if option is not None and not option.strip():
        # ``--codex-task=$TASK`` with TASK unset must not pass as a green, unrecorded run.
        pytest.exit(
            "pytest-codex: --codex-task is empty; pass a task id (or drop the option)",
            returncode=2,
        )
    return bool(option or os.environ.get(TASK_ENV))


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
    from ..distribution import check_guardrails_owner
    from ..errors import CodexError
    from ..run_options import option_config

    cli, flags = option_config(lambda o: config.getoption(o.pytest_dest), lambda o: o.pytest_flag)
    cli["task"] = config.getoption("codex_task")
    flags["task"] = "--codex-task"
    try:
        check_guardrails_owner()  # one line naming another owner of `guardrails`, with the fix
        context = Context.load(cli=cli, cli_flags=flags, task_flag="--codex-task")
        task_id = context.task_id()
    except CodexError as exc:
        pytest.exit(f"pytest-codex: {exc}", returncode=exc.exit_code)
    workerinput = getattr(config, "workerinput", None)
    private = False
    if workerinput is None:
        from ..run import recording_refusal

        refusal = recording_refusal(context)
        if refusal is not None:
            # Inside a sandbox (or facing a runs directory this process cannot write) the
            # session is a run of the task kept in a private temporary directory: fixtures and
            # markers work as usual, guardrails are the outer run's business, and nothing
            # reaches the repository's runs directory.
            context = _private(context)
            private = True
            sys.stderr.write(f"pytest-codex: {refusal}\n")
    recorder: CodexRecorder | None = None
    if workerinput is not None:
        from .worker import WORKERINPUT_KEY, ReportEnricher, WorkerRun

        info = workerinput.get(WORKERINPUT_KEY)
        worker_run = WorkerRun(context, info) if info is not None else None
        set_state(config, PluginState(context=context, worker_run=worker_run))
        # Workers send what the controller cannot see: markers and test-emitted events.
        config.pluginmanager.register(ReportEnricher(worker_run), "codex-report-enricher")
    else:
        from .recorder import CodexRecorder

        recorder = CodexRecorder(config, context, task_id, private=private)
        set_state(config, PluginState(context=context, recorder=recorder))
    try:
        from guardrails.pytest_items import register

        if not private:
            register(config, context)
    except CodexError as exc:
        pytest.exit(f"pytest-codex: {exc}", returncode=exc.exit_code)
    if recorder is not None:
        config.pluginmanager.register(recorder, "codex-recorder")


def _private(context: Context) -> Context:
    """``context`` with its runs and out directories in a fresh private temporary directory,
    and no notification or telemetry targets (they report the outer run's business)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from ..paths import Roots

    private = Path(tempfile.mkdtemp(prefix="codex-unrecorded-"))
    roots = Roots(root=context.roots.root, runs_dir=private / "runs", out_dir=private / "out")
    return dataclasses.replace(
        context, roots=roots, config=context.config.without("notify", "otel")
    )
