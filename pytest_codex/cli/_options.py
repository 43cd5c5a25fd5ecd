"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run_options import RUN_OPTIONS, option_config

if TYPE_CHECKING:
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


def add_run_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The shared run options (:data:`pytest_codex.run_options.RUN_OPTIONS`)."""
    for option in RUN_OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.dest, "help": option.help_text}
        if option.choices is not None:
            kwargs["choices"] = list(option.choices)
        if option.metavar is not None:
            kwargs["metavar"] = option.metavar
        if option.repeatable:
            kwargs["action"] = "append"
        parser.add_argument(option.flag, *option.cli_aliases, **kwargs)


def run_option_config(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The configuration the parsed run options set, and each key's flag."""
    return option_config(lambda o: getattr(args, o.dest, None), lambda o: o.flag)


def load_context(
    args: argparse.Namespace,
    *,
    cli: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
) -> Context:
    """The context for a parsed command line (flags override env and config)."""
    from ..context import Context

    values = {"task": getattr(args, "task", None), **(cli or {})}
    return Context.load(
        cli=values,
        cli_flags={"task": "--task", **(flags or {})},
        config_file=getattr(args, "config_file", None),
    )


def with_command(parser: argparse.ArgumentParser, command: str) -> str:
    """``parser``'s usage line with ``command`` (e.g. ``-- CMD [ARGS...]``) at its end."""
    formatter = parser._get_formatter()
    formatter.add_usage(None, parser._actions, parser._mutually_exclusive_groups)
    usage = formatter.format_help().strip().removeprefix("usage: ")
    return f"{usage} {command}".replace("%", "%%")
