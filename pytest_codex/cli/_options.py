"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..context import Context


def add_context_options(parser: argparse.ArgumentParser, *, task: bool = True) -> None:
    """``--task`` and ``--config-file``, as every run-aware command takes them."""
    if task:
        parser.add_argument(
            "--task",
            metavar="TASK",
            help="task id (default: $MCP_RUNNER_TASK_ID, then 'task' in the config file)",
        )
    parser.add_argument(
        "--config-file",
        metavar="FILE",
        type=Path,
        help="config file (default: codex.orchestrator.yaml|yml|json or [tool.codex-orchestrator] "
        "in pyproject.toml at the repository root)",
    )


def add_format_option(parser: argparse.ArgumentParser, default: str = "text") -> None:
    """``--format json|text``."""
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default=default,
        help=f"output format (default: {default})",
    )


def load_context(args: argparse.Namespace, **cli: Any) -> Context:
    """The context for a parsed command line (flags override env and config)."""
    values = {"task": getattr(args, "task", None), **cli}
    return Context.load(cli=values, config_file=getattr(args, "config_file", None))
