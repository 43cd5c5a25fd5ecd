"""One exception hierarchy for the whole library.

Every message is one line: what went wrong, where, and how to fix it. The CLI maps the
classes to exit codes in one place (:func:`pytest_codex.cli.main`), through ``exit_code``.
"""

from __future__ import annotations


class CodexError(Exception):
    """Base class of every error pytest-codex raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        # Messages must stay one line: they are printed as-is by the CLI and pytest.
        super().__init__(" ".join(message.split("\n")))

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self)


class UsageError(CodexError):
    """Bad command-line usage or a bad argument value (exit code 2)."""

    exit_code = 2


class TaskIdError(UsageError):
    """A task id that is empty, too long, or not made of ``[A-Za-z0-9._-]``."""


class ConfigError(UsageError):
    """A configuration file or value that cannot be used (exit code 2)."""


class SchemaValidationError(CodexError):
    """A document does not validate against one of the published JSON Schemas."""


class RunNotFoundError(UsageError):
    """No run matches the given run id (or there is no run for ``latest``)."""


class ApprovalRefusedError(CodexError):
    """An invocation needed approval and did not get it (exit code 3)."""

    exit_code = 3


class SandboxError(CodexError):
    """The sandbox cannot be set up as its backend status promised (its seccomp filter
    cannot be built, say): nothing runs, rather than running less confined."""


class SandboxDeniedError(CodexError):
    """A command was denied by the sandbox and could not be escalated (exit code 4)."""

    exit_code = 4


class RetryExhaustedError(CodexError):
    """A tool invocation failed on every allowed attempt (exit code 5)."""

    exit_code = 5


class ExecError(CodexError):
    """The exec runtime could not start, drive or stop a process."""


class ExecTimeoutError(ExecError):
    """A command exceeded its per-command timeout (exit code 124, like timeout(1))."""

    exit_code = 124


class UnsafePathError(CodexError):
    """A path the orchestrator writes or trusts is a symlink, a hard link, not a regular file,
    or resolves outside where it must be (exit code 2)."""

    exit_code = 2
