"""``codex-orchestrator instructions``: print the merged instructions or their sources."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``instructions``."""
    parser = subparsers.add_parser(
        "instructions",
        help="print the merged AGENTS.md instructions, or the sources report",
        description="Load the instruction hierarchy (AGENTS.md -> docs/AGENTS.md -> "
        ".agent/AGENTS.md, or Codex CLI's per-directory mode) and print the merged text; "
        "--report prints the sources with their hashes; --format json prints both.",
    )
    parser.add_argument(
        "--report", action="store_true", help="print the sources report instead of the text"
    )
    parser.add_argument(
        "--cwd",
        type=Path,
        default=None,
        metavar="DIR",
        help="working directory for the per-directory (codex) mode (default: current)",
    )
    add_context_options(parser, task=False)
    add_format_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the instructions."""
    from ..instructions import format_report, instructions_config_from_mapping, load_instructions

    context = load_context(args)
    config = instructions_config_from_mapping(context.config.get("instructions") or {})
    loaded = load_instructions(
        context.roots.root, cwd=args.cwd or Path.cwd(), config=config, env=context.env
    )
    if args.format == "json":
        print(json.dumps({**loaded.to_manifest(), "text": loaded.text}, indent=2))
    elif args.report:
        print(format_report(loaded))
    else:
        print(loaded.text, end="" if loaded.text.endswith("\n") else "\n")
    return 0
