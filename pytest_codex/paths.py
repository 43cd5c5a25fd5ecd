"""Where a run's files go: the repository root, the runs and out roots, one run's paths."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UnsafePathError
from .ids import is_run_id, validate_task_id

ROOT_ENV = "CODEX_ORCHESTRATOR_ROOT"
RUNS_DIR_ENV = "CODEX_ORCHESTRATOR_RUNS_DIR"
OUT_DIR_ENV = "CODEX_ORCHESTRATOR_OUT_DIR"
TASK_ENV = "MCP_RUNNER_TASK_ID"
# Set for the commands a run starts: a run they record names this one as its parent.
PARENT_RUN_ENV = "CODEX_ORCHESTRATOR_PARENT_RUN_ID"
STATE_DIR_ENV = "CODEX_ORCHESTRATOR_STATE_DIR"


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/pytest-codex`` or ``~/.config/pytest-codex``: the user's own
    configuration file, signing material and user-wide approvals (hidden from every sandbox)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "pytest-codex"


def user_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CODEX_ORCHESTRATOR_STATE_DIR``, else ``$XDG_STATE_HOME/codex-orchestrator``, else
    ``~/.local/state/codex-orchestrator``: the trust store, the guardrail cache key and the
    sandbox probe cache (hidden from every sandbox)."""
    env = os.environ if env is None else env
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(base) / "codex-orchestrator"


# A directory holding any of these is a repository root even without .git.
_ROOT_MARKERS = ("codex.orchestrator.yaml", "codex.orchestrator.yml", "codex.orchestrator.json")


def find_repo_root(start: Path) -> Path:
    """The repository root above ``start``: the nearest directory with ``.git``, else the
    nearest with a codex.orchestrator config file, else the nearest with ``pyproject.toml``,
    else ``start`` itself."""
    start = start.resolve()
    chain = [start, *start.parents]
    for markers in ((".git",), _ROOT_MARKERS, ("pyproject.toml",)):
        for directory in chain:
            if any((directory / marker).exists() for marker in markers):
                return directory
    return start


@dataclass(frozen=True)
class Roots:
    """The three roots every run hangs off."""

    root: Path
    runs_dir: Path
    out_dir: Path

    @classmethod
    def discover(
        cls,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        runs_dir: str | None = None,
        out_dir: str | None = None,
    ) -> Roots:
        """Resolve the roots: ``CODEX_ORCHESTRATOR_ROOT`` or the repository root of ``cwd``;
        ``runs_dir`` / ``out_dir`` (already resolved by the configuration: flag > env >
        file) relative to the root, defaulting to ``<root>/.runs`` and ``<root>/out``."""
        env = os.environ if env is None else env
        cwd = Path.cwd() if cwd is None else cwd
        override = env.get(ROOT_ENV)
        root = Path(override).resolve() if override else find_repo_root(cwd)
        runs = root / (runs_dir or env.get(RUNS_DIR_ENV) or ".runs")
        out = root / (out_dir or env.get(OUT_DIR_ENV) or "out")
        return cls(root=root, runs_dir=runs.resolve(), out_dir=out.resolve())

    def task_dir(self, task_id: str) -> Path:
        """``<runs>/<task>``: approvals, metrics and the task's runs."""
        return self.runs_dir / task_id

    def run_paths(self, task_id: str, run_id: str) -> RunPaths:
        """The paths of one run."""
        return RunPaths(self, task_id, run_id)


@dataclass(frozen=True)
class RunPaths:
    """Every file one run writes."""

    roots: Roots
    task_id: str
    run_id: str

    @property
    def root(self) -> Path:
        """The repository root."""
        return self.roots.root

    @property
    def runs_dir(self) -> Path:
        """The runs root (``.runs``)."""
        return self.roots.runs_dir

    @property
    def out_dir(self) -> Path:
        """The out root (``out``)."""
        return self.roots.out_dir

    @property
    def task_dir(self) -> Path:
        """``.runs/<task>``."""
        return self.roots.task_dir(self.task_id)

    @property
    def run_dir(self) -> Path:
        """``.runs/<task>/cli/<run-id>``: the run's artifact root."""
        return self.task_dir / "cli" / self.run_id

    @property
    def manifest(self) -> Path:
        """The manifest."""
        return self.run_dir / "manifest.json"

    @property
    def events(self) -> Path:
        """Every event, one JSON object per line."""
        return self.run_dir / "events.jsonl"

    @property
    def commands_dir(self) -> Path:
        """Full output logs of the run's commands."""
        return self.run_dir / "commands"

    @property
    def metrics(self) -> Path:
        """Per-task aggregates."""
        return self.task_dir / "metrics.json"

    @property
    def approvals(self) -> Path:
        """The task's persistent approval cache."""
        return self.task_dir / "approvals.json"

    @property
    def state(self) -> Path:
        """``out/<task>/state.json``: the last run's summary."""
        return self.out_dir / self.task_id / "state.json"

    def display(self, path: Path) -> str:
        """``path`` relative to the repository root when it is inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def confine_manifest(roots: Roots, manifest: Path, task_id: str | None = None) -> tuple[str, str]:
    """``(task id, run id)`` of ``manifest`` when it is exactly
    ``<runs>/<task>/cli/<run-id>/manifest.json`` of this repository's runs directory, with
    valid ids and no symlink below the runs directory (and of ``task_id`` when given); an
    :class:`UnsafePathError` otherwise. Ids come from the location, never from the file."""
    absolute = Path(os.path.abspath(manifest))
    try:
        parts = absolute.relative_to(roots.runs_dir).parts
    except ValueError:
        raise UnsafePathError(
            f"manifest {manifest} is outside this repository's runs directory "
            f"{roots.runs_dir}; pass a run id or a manifest under it"
        ) from None
    if len(parts) != 4 or parts[1] != "cli" or parts[3] != "manifest.json":
        raise UnsafePathError(
            f"manifest {manifest} is not <runs>/<task>/cli/<run-id>/manifest.json; "
            "pass a run id instead"
        )
    task, _, run_id, _ = parts
    validate_task_id(task, source=f"the task directory of {manifest}")
    if not is_run_id(run_id):
        raise UnsafePathError(f"manifest {manifest}: {run_id!r} is not a run id")
    if task_id is not None and task != task_id:
        raise UnsafePathError(
            f"manifest {manifest} belongs to task {task}, not {task_id}; "
            "pass the right --task or a run of this task"
        )
    walked = roots.runs_dir
    for name in parts:
        walked = walked / name
        try:
            info = os.lstat(walked)
        except FileNotFoundError:
            raise UnsafePathError(f"manifest {manifest} does not exist") from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(
                f"refusing manifest {manifest}: {walked} is a symbolic link (planted by a "
                "command?); remove it and run again"
            )
    return task, run_id
