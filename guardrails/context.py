"""What a guardrail sees while it runs: the repository, the task, its settings, and a way to
run commands through the ToolOrchestrator."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_codex.errors import CodexError, ConfigError, UsageError

from .files import find_files

if TYPE_CHECKING:
    from pytest_codex.attestation import EvidencePolicy
    from pytest_codex.emitter import Emitter
    from pytest_codex.orchestrator import ToolOrchestrator, ToolResult
    from pytest_codex.runtime.runners import Runner

    from .snapshot import InputSnapshot


class GuardrailCommandError(CodexError):
    """A command a guardrail needed could not run (refused, denied, not found, ...)."""


@dataclass
class GuardrailContext:
    """The inputs of one guardrail run.

    ``settings`` is the guardrail's own section of the configuration
    (``guardrails: {<name>: {...}}``). ``dry_run`` asks for findings to be reported without
    failing. ``today`` is the date date-based rules measure against. ``shared`` is the
    session's :class:`~guardrails.snapshot.InputSnapshot` while the guardrail declares its
    inputs (None while it runs): :meth:`find`, :meth:`head_commit` and
    :meth:`evidence_policy` answer from it.
    """

    name: str
    root: Path
    task_id: str | None
    settings: Mapping[str, Any]
    emitter: Emitter
    runs_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)
    dry_run: bool = False
    orchestrator_factory: Callable[[], ToolOrchestrator] | None = None
    tool_runs: list[dict[str, Any]] = field(default_factory=list)
    _orchestrator: ToolOrchestrator | None = field(default=None, repr=False)
    shared: InputSnapshot | None = field(default=None, repr=False)

    # -- settings and paths -----------------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        """One setting of this guardrail, or ``default`` when it is not configured."""
        value = self.settings.get(key)
        return default if value is None else value

    def strings_setting(
        self, key: str, default: Sequence[str] = (), *, what: str = "glob"
    ) -> tuple[str, ...]:
        """A setting holding one string or a list of them (blank ones dropped); a
        :class:`ConfigError` naming the setting otherwise."""
        value: Any = self.setting(key, default)
        if isinstance(value, str):
            return (value,) if value.strip() else ()
        if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
            return tuple(item for item in value if item.strip())
        raise ConfigError(
            f"guardrails.{self.name}.{key} must be a {what} or a list of {what}s, not {value!r}"
        )

    def timeout_setting(self, key: str = "timeout_seconds") -> float | None:
        """A positive number of seconds, or None when not set."""
        value = self.setting(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(
                f"guardrails.{self.name}.{key} must be a positive number of seconds, not {value!r}"
            )
        return float(value)

    def command_setting(self, key: str = "command") -> list[str] | None:
        """A command setting (a string split like a shell would, or a list) as argv; None
        when not set, a :class:`ConfigError` when it is neither or empty."""
        value = self.setting(key)
        if value is None:
            return None
        setting = f"guardrails.{self.name}.{key}"
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise ConfigError(f"{setting}: cannot split {value!r}: {exc}") from exc
        elif isinstance(value, Sequence) and all(isinstance(a, str | int | float) for a in value):
            argv = [str(a) for a in value]
        else:
            raise ConfigError(f"{setting} must be a command string or a list of arguments")
        if not argv:
            raise ConfigError(f"{setting} is empty; give the command to run")
        return argv

    def require_task(self) -> str:
        """The task id; a :class:`UsageError` when the run has none."""
        if not self.task_id:
            raise UsageError(
                f"guardrail {self.name} needs a task id; pass --task / --codex-task or "
                "export MCP_RUNNER_TASK_ID"
            )
        return self.task_id

    def path(self, relative: str) -> Path:
        """A repository-relative path made absolute."""
        return self.root / relative

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the repository root (POSIX form) when inside it."""
        candidate = Path(path)
        if not candidate.is_absolute():
            return candidate.as_posix()
        try:
            return candidate.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(candidate)

    def find(self, patterns: Sequence[str]) -> list[str]:
        """Repository-relative files matching ``patterns`` (see :mod:`guardrails.files`)."""
        if self.shared is not None:
            return self.shared.find(patterns)
        return find_files(self.root, patterns)

    def head_commit(self) -> str | None:
        """The commit at ``HEAD`` (None outside git or before the first commit)."""
        if self.shared is not None:
            return self.shared.head()
        from pytest_codex.repository import head_commit

        return head_commit(self.root)

    def evidence_policy(self) -> EvidencePolicy:
        """The repository's evidence policy (``evidence:`` in its configuration file)."""
        if self.shared is not None:
            return self.shared.evidence_policy()
        from pytest_codex.attestation import evidence_policy

        return evidence_policy(self.root, self.env)

    # -- commands ---------------------------------------------------------------------------
    @property
    def orchestrator(self) -> ToolOrchestrator:
        """The ToolOrchestrator commands go through (created on first use)."""
        if self._orchestrator is None:
            if self.orchestrator_factory is None:
                raise UsageError(f"guardrail {self.name}: no ToolOrchestrator to run commands")
            self._orchestrator = self.orchestrator_factory()
        return self._orchestrator

    def run_command(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        reason: str | None = None,
    ) -> CommandOutput:
        """Run ``argv`` through the ToolOrchestrator (approval, sandbox, retries, a
        ``toolRuns[]`` record) with stdout and stderr kept apart (up to
        :data:`OUTPUT_CAP` bytes each in memory). Refusals and denials raise
        :class:`GuardrailCommandError`; a command that runs and fails is returned (check
        ``.ok`` / ``.exit_code``)."""
        from pytest_codex.orchestrator import ShellCommand

        streams: dict[str, str] = {"stdout": "", "stderr": ""}
        command = ShellCommand(
            list(argv),
            cwd=cwd or self.root,
            env=env,
            timeout=timeout,
            name=_tool_name(self.name),
            reason=reason or f"guardrail {self.name}",
            runner=_capturing_runner(streams),
        )
        try:
            result: ToolResult[None] = self.orchestrator.invoke(command)
        except CodexError as exc:
            record = getattr(exc, "record", None)
            if record is not None:
                self.tool_runs.append(_approval_entry(record))
            raise GuardrailCommandError(f"{' '.join(argv)}: {exc}") from exc
        self.tool_runs.append(_approval_entry(result.record))
        return CommandOutput(
            argv=tuple(argv),
            exit_code=result.exit_code,
            stdout=streams["stdout"],
            stderr=streams["stderr"],
            timed_out=bool(result.outcome and result.outcome.timed_out),
        )

    def run_git(self, *args: str) -> CommandOutput:
        """``git ARGS`` in the repository through :meth:`run_command`, with hooks, fsmonitor,
        filter drivers and system/global configuration off (see :mod:`pytest_codex.gitenv`):
        a planted ``.git/config`` runs nothing."""
        from pytest_codex.gitenv import git_program, safe_git_env, trusted_git_dir

        if not trusted_git_dir(self.root):
            raise GuardrailCommandError(
                f"{self.root / '.git'} points into the workspace (or is a symbolic link); "
                "guardrails read no git directory a command could have written"
            )
        return self.run_command(
            [git_program(self.root), *args],
            env=safe_git_env(self.root),
            reason=f"guardrail {self.name} reads git",
        )

    def git(self, *args: str) -> str:
        """``git ARGS`` in the repository; its stdout, or :class:`GuardrailCommandError`."""
        result = self.run_git(*args)
        if not result.ok:
            lines = (result.stderr or result.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit status {result.exit_code}"
            raise GuardrailCommandError(f"git {' '.join(args)} failed: {why}")
        return result.stdout


OUTPUT_CAP = 32 * 1024 * 1024


def _tool_name(guardrail: str) -> str:
    """The tool name a guardrail's commands are recorded (and approved) under."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in guardrail)
    return f"guardrail.{safe}"


@dataclass(frozen=True)
class CommandOutput:
    """A command a guardrail ran: its exit status and its two streams."""

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Whether it exited 0."""
        return self.exit_code == 0

    def last_line(self) -> str:
        """The last non-empty line of stderr (where commands say why they fail), else of
        stdout, else ``no output``."""
        for stream in (self.stderr, self.stdout):
            lines = [line.strip() for line in stream.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return "no output"


def _capturing_runner(streams: dict[str, str]) -> Runner:
    """A pipe-mode Runner keeping each attempt's stdout and stderr apart in ``streams``."""
    from pytest_codex.runtime.runners import capturing_runner

    return capturing_runner(streams, cap=OUTPUT_CAP)


def _approval_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """What ``guardrails[].approvals[]`` keeps of a command's ``toolRuns[]`` record."""
    return {
        "toolRunId": record.get("id"),
        "argv": record.get("argv"),
        "approvalSource": record.get("approvalSource"),
        "approvalKey": record.get("approvalKey"),
        "sandboxState": record.get("sandboxState"),
        "status": record.get("status"),
    }
