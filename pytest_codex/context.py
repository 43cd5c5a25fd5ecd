"""Where a run happens and under what configuration: roots + resolved config + task id."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DEFAULTS, ResolvedConfig, resolve_config
from .errors import UsageError
from .ids import validate_task_id
from .paths import OUT_DIR_ENV, ROOT_ENV, RUNS_DIR_ENV, TASK_ENV, Roots, find_repo_root


@dataclass(frozen=True)
class Context:
    """The roots and the resolved configuration for one invocation."""

    roots: Roots
    config: ResolvedConfig
    env: Mapping[str, str]
    task_flag: str = "--task"

    @classmethod
    def load(
        cls,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        cli: Mapping[str, Any] | None = None,
        cli_flags: Mapping[str, str] | None = None,
        config_file: Path | None = None,
        task_flag: str = "--task",
        secrets: Iterable[str] = (),
    ) -> Context:
        """Resolve the root, then the configuration (which may move the runs/out roots).
        ``secrets``: more values every redactor of the run knows (the credentials in Codex
        ``-c`` overrides, which the configuration does not keep)."""
        env = dict(os.environ if env is None else env)
        cwd = Path.cwd() if cwd is None else cwd
        root = Path(env[ROOT_ENV]).resolve() if env.get(ROOT_ENV) else find_repo_root(cwd)
        config = resolve_config(
            root, cli=cli, cli_flags=cli_flags, env=env, config_file=config_file
        )
        if secrets:
            config = dataclasses.replace(config, extra_secrets=(*config.extra_secrets, *secrets))
        roots = Roots(
            root=root,
            runs_dir=(root / str(config.get("runs_dir") or DEFAULTS["runs_dir"])).resolve(),
            out_dir=(root / str(config.get("out_dir") or DEFAULTS["out_dir"])).resolve(),
        )
        return cls(roots=roots, config=config, env=env, task_flag=task_flag)

    def task_id(self) -> str:
        """The validated task id (flag > MCP_RUNNER_TASK_ID > config); UsageError if none."""
        task = self.config.get("task")
        source = self.config.source("task") or ""
        if task is None:
            raise UsageError(
                f"no task id; pass {self.task_flag} <id>, export {TASK_ENV}, "
                "or set 'task' in the config file"
            )
        label = {"cli": self.task_flag, f"env:{TASK_ENV}": TASK_ENV}.get(
            source, f"task in {source.removeprefix('config:')}"
        )
        return validate_task_id(str(task), source=label)

    def environment_defaults(self) -> dict[str, str | None]:
        """What the manifest records as environment defaults."""
        return {
            TASK_ENV: self.env.get(TASK_ENV),
            ROOT_ENV: self.env.get(ROOT_ENV) or str(self.roots.root),
            RUNS_DIR_ENV: self.env.get(RUNS_DIR_ENV) or str(self.roots.runs_dir),
            OUT_DIR_ENV: self.env.get(OUT_DIR_ENV) or str(self.roots.out_dir),
        }
