"""What every view of a run shares: its context, its paths, and the names derived from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ResolvedConfig
    from .context import Context
    from .paths import RunPaths


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
