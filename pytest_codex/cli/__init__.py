"""``codex-orchestrator``: the command-line adapter over the library.

Each sub-command lives in its own module of this package exposing ``register(subparsers)``;
this module parses, dispatches, and maps errors to exit codes in one place:
0 success, 1 failure, 2 usage or configuration error, 3 approval refused, 4 sandbox denial,
5 retries exhausted, 124 timeout, 130 interrupted; ``exec`` passes the command's status on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CodexError

EXIT_INTERRUPTED = 130

COMMAND_MODULES = (
    "pytest_codex.cli.runs",
    "pytest_codex.cli.schema",
    "pytest_codex.cli.review",
    "pytest_codex.cli.approvals",
    "pytest_codex.cli.exec",
    "pytest_codex.cli.instructions",
    "pytest_codex.cli.start",
    "pytest_codex.cli.checklist",
    "pytest_codex.cli.doctor",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 (argparse's own convention)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to check the CLI reference in docs/)."""
    import importlib

    parser = _Parser(
        prog="codex-orchestrator",
        description=(
            "Run commands, pipelines and guardrails for a task, with approvals, sandboxing "
            "and a run manifest (.runs/<task>/cli/<run-id>/manifest.json) as evidence."
        ),
        epilog=(
            "Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 approval refused, "
            "4 sandbox denied, 5 retries exhausted, 124 timed out; exec passes the "
            "command's own exit status through."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from .exec import split_command

    parser = build_parser()
    options, command = split_command(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(options)
    args.command = command
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    if command is not None and not getattr(args, "takes_command", False):
        parser.error("'--' and a command are only accepted by exec and resume")
    try:
        return int(handler(args))
    except CodexError as exc:
        print(f"codex-orchestrator: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codex-orchestrator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
