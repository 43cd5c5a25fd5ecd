"""One server session's state: its run, its runtime, its running commands.

A server session is one run of the task (``runner: cli``, pipeline ``mcp``), started when
the server starts (or resumed, ``--resume RUN``) and finished when the client disconnects:
``succeeded`` when every command it ran exited 0, else ``failed`` with how many did not
(refused, denied and killed commands count as not), ``cancelled`` when the server was
interrupted (a signal) while commands were still running. Every command goes through a fresh
:class:`~pytest_codex.orchestrator.ToolOrchestrator` of that run (so the protected paths
include run directories created meanwhile) sharing one approval cache (so ``session``
grants last for the server's life), and through one
:class:`~pytest_codex.runtime.ExecSessionManager`, whose processes are all killed when the
session ends. This module knows nothing of MCP.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..approvals import ApprovalCache, ApprovalRequest, Approver
from ..config import ExecSettings, OrchestratorSettings, ResolvedConfig
from ..emitter import RecordingEmitter
from ..errors import UsageError
from ..execution import CommandExecution, execute_command
from ..orchestrator import ShellCommand, ToolOrchestrator
from ..paths import PARENT_RUN_ENV, TASK_ENV
from ..run import Run
from ..runtime import ExecSessionManager
from ..sandbox import protected_paths
from .live import Collected, LiveCommand, LiveCommands

# As Codex's unified exec: a pager would wait for a key nobody presses.
COMMAND_ENV = {"PAGER": "cat", "GIT_PAGER": "cat"}


def argv_of(command: str) -> list[str]:
    """The argv an ``exec_command`` runs (and its approval key is made of)."""
    return ["bash", "-c", command]


class McpSession:
    """The run and runtime behind one MCP server session."""

    def __init__(self, run: Run, *, writable_roots: Sequence[Path] = ()) -> None:
        self.run = run
        self.root = Path(run.paths.root)
        self.writable_roots = tuple(writable_roots)
        config = getattr(run, "config", None)
        settings = ExecSettings.from_config(config)
        known = config.secret_values() if isinstance(config, ResolvedConfig) else []
        self.manager = ExecSessionManager(**settings.manager_options(), secrets=known)
        self.cache = ApprovalCache.for_task(Path(run.paths.runs_dir), run.task_id)
        self.live = LiveCommands()
        self._lock = threading.Lock()
        self.commands = 0
        self.failures = 0
        self._closed = False

    def cwd_for(self, workdir: str | None) -> Path:
        """The command's directory: ``workdir`` (relative to the run's root), else the root."""
        cwd = self.root if not workdir else (self.root / workdir).resolve()
        if not cwd.is_dir():
            raise UsageError(f"workdir {workdir!r} is not a directory under {self.root}")
        return cwd

    def start(
        self,
        command: str,
        *,
        workdir: str | None,
        tty: bool,
        approver: Approver,
    ) -> LiveCommand:
        """Start ``command`` (``bash -c COMMAND``) in a worker thread; see :mod:`.live`."""
        if not command.strip():
            raise UsageError("cmd is empty; pass the shell command to run")
        cwd = self.cwd_for(workdir)
        run = self.run
        env = self.command_env()

        def work(live: LiveCommand) -> CommandExecution:
            orchestrator = ToolOrchestrator.for_run(
                run,
                approver=approver,
                cache=self.cache,
                writable_roots=self.writable_roots,
                protected=protected_paths(run.paths, config=run.config),
            )
            execution = execute_command(
                run,
                argv_of(command),
                cwd=cwd,
                env=env,
                mode="pty" if tty else "pipe",
                orchestrator=orchestrator,
                manager=self.manager,
                writable_roots=self.writable_roots,
                observer=live.observe,
                on_start=live.started,
            )
            with self._lock:
                self.commands += 1
                self.failures += execution.status != "succeeded"
            return execution

        return self.live.start(tty, work)

    def command_env(self) -> dict[str, str]:
        """What a command gets on top of the server's environment."""
        return {**COMMAND_ENV, TASK_ENV: self.run.task_id, PARENT_RUN_ENV: self.run.run_id}

    def pending_question(self, command: str, workdir: str | None) -> ApprovalRequest | None:
        """The question running ``command`` would put to a person before it runs (None when
        the policy, a rule or a remembered grant answers): what the server asks through
        elicitation before it starts the command. Nothing is recorded in the run."""
        if not command.strip():
            return None
        settings = OrchestratorSettings.from_config(getattr(self.run, "config", None))
        orchestrator = ToolOrchestrator.from_settings(
            RecordingEmitter(),  # not the run: asking is not an invocation
            settings,
            workspace=self.root,
            cache=self.cache,
            backend="none",  # the question does not depend on the sandbox
        )
        tool = ShellCommand(argv_of(command), self.cwd_for(workdir), self.command_env())
        return orchestrator.pending_question(tool)

    def report(self, live: LiveCommand, collected: Collected) -> Collected:
        """Forget ``live`` once a call has reported its end."""
        if collected.session_id is None:
            self.live.reported(live)
        return collected

    def status(self) -> dict[str, Any]:
        """This session's run and its counts."""
        with self._lock:
            commands, failures = self.commands, self.failures
        return {
            "runId": self.run.run_id,
            "taskId": self.run.task_id,
            "manifestPath": str(self.run.paths.manifest),
            "commands": commands,
            "failedCommands": failures,
            "runningCommands": self.live.running(),
        }

    def close(self, *, interrupted: bool = False) -> None:
        """Kill what still runs, wait for its records, finish the run. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.manager.close_all()
        self.live.join(timeout=10.0)
        self.manager.close_all()
        with self._lock:
            commands, failures = self.commands, self.failures
        if self.run.finished:
            return
        if interrupted:
            status, detail = "cancelled", "the MCP server was stopped while commands ran"
        elif failures:
            status = "failed"
            detail = f"{failures} of {commands} commands did not exit 0"
        else:
            status, detail = "succeeded", None
        self.run.finish(
            status,
            detail=detail,
            summary={"mcp": {"commands": commands, "failedCommands": failures}},
        )
