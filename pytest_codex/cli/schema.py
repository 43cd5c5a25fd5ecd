"""``codex-orchestrator schema <name>``: print a published JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import schemas


def register(subparsers: Any) -> None:
    """Add ``schema``."""
    parser = subparsers.add_parser(
        "schema",
        help="print one of the published JSON Schemas",
        description="Print a published JSON Schema (Draft 2020-12). Names: "
        + ", ".join(schemas.SCHEMA_FILES),
    )
    parser.add_argument("name", metavar="NAME", help="schema name (e.g. manifest, event, config)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema."""
    print(json.dumps(schemas.load_schema(args.name), indent=2))
    return 0
