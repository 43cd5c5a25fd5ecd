"""``codex-orchestrator approvals list|revoke``: read and prune a task's persistent approvals.

The work is done by :func:`pytest_codex.approvals.list_approvals` and
:func:`~pytest_codex.approvals.revoke_approvals` (re-exported here); this module parses and prints.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..approvals import approvals_path, list_approvals, revoke_approvals
from ..errors import CodexError, UsageError
from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``approvals`` and its sub-commands."""
    approvals = subparsers.add_parser("approvals", help="list and revoke persistent approvals")
    actions = approvals.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list the task's remembered approvals")
    add_context_options(listing)
    add_format_option(listing)
    listing.set_defaults(handler=run)

    revoke = actions.add_parser("revoke", help="forget one remembered approval, or all")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("key", nargs="?", metavar="KEY", help="the approval key, as listed")
    target.add_argument("--all", action="store_true", help="forget every approval of the task")
    add_context_options(revoke)
    revoke.set_defaults(handler=run)


add_parser = register
__all__ = ["add_parser", "list_approvals", "register", "revoke_approvals", "run"]


def run(args: argparse.Namespace) -> int:
    """Dispatch ``approvals list`` / ``approvals revoke``."""
    context = load_context(args)
    runs_dir, task = context.roots.runs_dir, context.task_id()
    if args.approvals_command == "list":
        rows = list_approvals(runs_dir, task)
        if getattr(args, "format", "text") == "json":
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        elif not rows:
            print(f"no approvals for task {task} ({approvals_path(runs_dir, task)})")
        else:
            print(f"{'DECISION':9} {'APPROVER':28} {'DECIDED AT':25} KEY")
            for row in rows:
                print(
                    f"{row['decision']:9} {row['approver']!s:28} {row['decidedAt']!s:25} "
                    f"{row['key']}"
                )
        return 0
    if args.approvals_command == "revoke":
        key = None if args.all else args.key
        removed = revoke_approvals(runs_dir, task, key)
        if key is not None and not removed:
            raise CodexError(
                f"no approval with key {key!r} for task {task}; "
                "see 'codex-orchestrator approvals list'"
            )
        print(f"revoked {removed} approval{'s' if removed != 1 else ''} of task {task}")
        return 0
    raise UsageError(f"unknown approvals action {args.approvals_command!r}")
