"""``codex-orchestrator review``: record a reviewer hand-off on a run's manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..paths import confine_manifest
from ..review import OUTCOMES, record_review
from ..run import find_manifest
from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``review``."""
    parser = subparsers.add_parser(
        "review",
        help="record a reviewer hand-off (outcome and reason) on a run's manifest",
        description="Record a reviewer hand-off on a manifest: actor, time, outcome, reason. "
        "It is appended to the manifest's reviews[], evented as review:recorded, and shown "
        "by 'runs show'. Approving a run that did not succeed needs --force.",
        epilog="Exit codes: 0 recorded, 2 usage error (no such run, or --outcome approved on "
        "a run that did not succeed without --force).",
    )
    parser.add_argument(
        "--manifest",
        default="latest",
        metavar="PATH|RUN|latest",
        help="manifest path, run id, or 'latest' run of the task (default: latest)",
    )
    parser.add_argument("--outcome", required=True, choices=OUTCOMES, help="review outcome")
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why, in one line")
    parser.add_argument(
        "--actor", metavar="NAME", help="who reviews (default: $CODEX_REVIEWER, else login)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="approve even though the run did not succeed (recorded as forced)",
    )
    add_context_options(parser)
    add_format_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Record the review."""
    ref = str(args.manifest)
    context = load_context(args)
    task = args.task or context.config.get("task")
    if ref.endswith(".json"):
        path = Path(ref)
        if not path.is_file():
            raise UsageError(f"manifest {path} not found; pass an existing manifest path")
    else:
        path = find_manifest(context, ref, task_id=task)
    # Only a manifest of this repository's runs directory (and of the task, when given).
    confine_manifest(context.roots, path, task)
    review = record_review(
        path, outcome=args.outcome, reason=args.reason, actor=args.actor, force=args.force
    )
    if args.format == "json":
        print(json.dumps(review, indent=2))
    else:
        forced = " (forced)" if review.get("forced") else ""
        print(f"review recorded on {path}: {review['outcome']}{forced} by {review['actor']}")
    return 0
