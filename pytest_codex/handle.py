"""What every view of a run shares, and the type of every ``run`` parameter.

:class:`RunHandle` is what callers of a run really use (``emit``, ids, paths, config,
context). A :class:`~pytest_codex.run.Run` is one; so is the xdist worker's stand-in
(:class:`~pytest_codex.plugin.worker.WorkerRun`). Producers, use cases and fixtures take a
``RunHandle``, never a ``Run``, so they neither build buses nor know sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .config import ResolvedConfig
    from .context import Context
    from .paths import RunPaths


@runtime_checkable
class RunHandle(Protocol):
    """A run as its producers and adapters see it."""

    @property
    def context(self) -> Context:
        """The context the run was started in (roots, env, resolved config)."""
        ...

    @property
    def paths(self) -> RunPaths:
        """The run's paths (root, run dir, manifest, events, commands, task dirs)."""
        ...

    @property
    def task_id(self) -> str:
        """The task this run belongs to."""
        ...

    @property
    def run_id(self) -> str:
        """The run id."""
        ...

    @property
    def run_dir(self) -> Path:
        """The run's artifact root."""
        ...

    @property
    def config(self) -> ResolvedConfig:
        """The resolved configuration."""
        ...

    def emit(self, type: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Emit one event (``namespace:verb``) on the run."""
        ...


class RunIdentity:
    """Identity of a run (a :class:`~pytest_codex.run.Run`, or its stand-in in a worker)."""

    context: Context
    paths: RunPaths

    @property
    def task_id(self) -> str:
        """The task this run belongs to."""
        return self.paths.task_id

    @property
    def run_id(self) -> str:
        """The run id (``YYYY-MM-DDTHH-MM-SS-mmmZ-<8 hex>``)."""
        return self.paths.run_id

    @property
    def run_dir(self) -> Path:
        """The run's artifact root."""
        return self.paths.run_dir

    @property
    def config(self) -> ResolvedConfig:
        """The resolved configuration."""
        return self.context.config


__all__ = ["RunHandle", "RunIdentity"]
