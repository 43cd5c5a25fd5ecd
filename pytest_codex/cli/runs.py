"""``codex-orchestrator runs list|show``: read the manifests runs left."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import CodexError
from ..manifest import is_stale, load_manifest
from ..run import find_manifest, iter_manifests
from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``runs`` and its sub-commands."""
    runs = subparsers.add_parser("runs", help="list and show recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = runs_sub.add_parser("list", help="list runs, oldest first")
    add_context_options(listing)
    add_format_option(listing)
    listing.set_defaults(handler=run_list)

    show = runs_sub.add_parser("show", help="show one run's manifest")
    show.add_argument("run", metavar="RUN", help="a run id, or 'latest'")
    add_context_options(show)
    add_format_option(show)
    show.set_defaults(handler=run_show)


def _row(path: Path) -> dict[str, Any]:
    try:
        manifest = load_manifest(path)
    except (OSError, ValueError) as exc:
        return {"runId": path.parent.name, "status": "unreadable", "error": str(exc)}
    return {
        "runId": manifest["runId"],
        "taskId": manifest["taskId"],
        "status": manifest["status"],
        "stale": is_stale(manifest),
        "runner": manifest["runner"],
        "pipelineId": manifest.get("pipelineId"),
        "startedAt": manifest["startedAt"],
        "completedAt": manifest.get("completedAt"),
        "tests": len(manifest.get("tests", [])),
        "commands": len(manifest.get("commands", [])),
        "manifest": str(path),
    }


def run_list(args: argparse.Namespace) -> int:
    """``runs list``."""
    context = load_context(args)
    task = args.task or None
    rows = [_row(path) for path in iter_manifests(context, task)]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {context.roots.runs_dir}")
        return 0
    print(f"{'RUN ID':36} {'TASK':28} {'STATUS':18} {'RUNNER':7} {'TESTS':>5} {'CMDS':>5}")
    for row in rows:
        status = str(row["status"]) + (" (stale)" if row.get("stale") else "")
        print(
            f"{row['runId']:36} {row.get('taskId', '?')!s:28} {status:18} "
            f"{row.get('runner', '?')!s:7} {row.get('tests', 0):>5} {row.get('commands', 0):>5}"
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``runs show``."""
    context = load_context(args)
    path = find_manifest(context, args.run, task_id=args.task or None)
    try:
        manifest = load_manifest(path)
    except (OSError, ValueError) as exc:
        raise CodexError(f"{path}: cannot read the manifest ({exc})") from exc
    if args.format == "json":
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
        return 0
    print(render_manifest(manifest, path))
    return 0


def render_manifest(manifest: dict[str, Any], path: Path) -> str:
    """A short human view of a manifest."""
    status = manifest["status"] + (" (stale heartbeat)" if is_stale(manifest) else "")
    lines = [
        f"run       {manifest['runId']}",
        f"task      {manifest['taskId']}",
        f"status    {status}"
        + (f" - {manifest['statusDetail']}" if manifest["statusDetail"] else ""),
        f"runner    {manifest['runner']} (pipeline {manifest.get('pipelineId')})",
        f"started   {manifest['startedAt']}",
        f"completed {manifest.get('completedAt') or '-'}",
        f"approvals {manifest['approvalProfile']['approvalPolicy']}, "
        f"sandbox {manifest['approvalProfile']['sandboxMode']}",
        f"manifest  {path}",
    ]
    instructions = manifest.get("instructions")
    if instructions:
        included = [src["path"] for src in instructions["sources"] if not src.get("skipped")]
        lines.append(f"instructions {instructions['combinedHash'][:19]}... ({', '.join(included)})")
    for name, health in sorted(manifest.get("sinks", {}).items()):
        if health.get("state") not in ("closed", "active"):
            lines.append(f"sink      {name}: {health['state']} ({health.get('error')})")
    tests = manifest.get("tests", [])
    if tests:
        counts: dict[str, int] = {}
        for record in tests:
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
        lines.append("tests     " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for label, key in (
        ("commands", "commands"),
        ("toolRuns", "toolRuns"),
        ("guardrails", "guardrails"),
    ):
        if manifest.get(key):
            lines.append(f"{label:9} {len(manifest[key])}")
    for guardrail in manifest.get("guardrails", []):
        cached = ", cached" if guardrail.get("cached") else ""
        lines.append(
            f"  guardrail {guardrail['name']}: {guardrail['status']} "
            f"({len(guardrail['findings'])} findings{cached})"
        )
    for review in manifest.get("reviews", []):
        lines.append(
            f"review    {review['outcome']} by {review['actor']} at {review['recordedAt']}: "
            f"{review['reason']}"
        )
    return "\n".join(lines)
