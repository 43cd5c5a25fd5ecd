"""Generate ``docs/cli.md`` from the real argument parser (``python -m pytest_codex.cli.docs``).

The test suite regenerates it and compares, so the reference can never drift from ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator


def _subcommands(
    parser: argparse.ArgumentParser, prefix: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, f"{prefix} {name}")


def generate() -> str:
    """The CLI reference as Markdown."""
    from . import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    try:
        parser = build_parser()
        parts = [
            "# `codex-orchestrator` command reference\n",
            "Generated from the parser by `python -m pytest_codex.cli.docs > docs/cli.md`; the "
            "test suite fails when this file and `--help` disagree.\n",
        ]
        for path, sub in _subcommands(parser, "codex-orchestrator"):
            parts.append(f"## `{path}`\n\n```text\n{sub.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def option_strings() -> dict[str, list[str]]:
    """Every visible option string of every (sub)command, keyed by the command path."""
    from . import build_parser

    return {
        path: [
            s
            for action in sub._actions
            if action.help != argparse.SUPPRESS
            for s in action.option_strings
        ]
        for path, sub in _subcommands(build_parser(), "codex-orchestrator")
    }


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(generate())
