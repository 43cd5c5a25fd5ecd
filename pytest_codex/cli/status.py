"""``codex-orchestrator status RUN [--watch]``: a live view of a run from its manifest."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..terminal import visible
from ._options import add_context_options, add_format_option, load_context

FAILED = frozenset({"failed", "cancelled", "abandoned"})


def register(subparsers: Any) -> None:
    """Add ``status``."""
    status = subparsers.add_parser(
        "status",
        help="show what a run is doing now (stage, command, elapsed, heartbeat age)",
        description="Show RUN's status from its manifest and events: the stage and command "
        "running, elapsed time, test counts and the heartbeat's age (a stale heartbeat means "
        "the process died). --watch refreshes until the run ends.",
        epilog="Exit codes: 0 running or succeeded, 1 failed, cancelled, abandoned or stale, "
        "2 usage error (e.g. no such run).",
    )
    status.add_argument(
        "run", metavar="RUN", nargs="?", default="latest", help="a run id (default: latest)"
    )
    status.add_argument(
        "--watch", action="store_true", help="refresh until the run ends (Ctrl-C to stop)"
    )
    status.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="--watch refresh (default 1 s)"
    )
    add_context_options(status)
    add_format_option(status)
    status.set_defaults(handler=run_status_command)


def line(view: dict[str, Any]) -> str:
    """One line for a human."""
    parts = [f"{view['runId']} {view['status']}" + (" (stale)" if view["stale"] else "")]
    if view["elapsedSeconds"] is not None:
        parts.append(f"{view['elapsedSeconds']:.1f}s")
    stage = view["stage"]
    if stage:
        of = f"/{stage['total']}" if stage.get("total") else ""
        parts.append(f"stage {stage['index']}{of} {stage['id']} ({stage['elapsedSeconds']:.1f}s)")
    command = view["command"]
    if command:
        argv = " ".join(command["argv"] or [])
        parts.append(f"$ {argv[:60]} ({command['elapsedSeconds']:.1f}s, {command['bytes']} B)")
    tests = view["tests"]
    if tests:
        parts.append(", ".join(f"{n} {k}" for k, n in sorted(tests.items())))
    if view["heartbeatAgeSeconds"] is not None:
        parts.append(f"heartbeat {view['heartbeatAgeSeconds']:.1f}s ago")
    if view.get("statusDetail"):
        parts.append(str(view["statusDetail"]))
    return " · ".join(parts)


def run_status_command(args: argparse.Namespace) -> int:
    """``status``."""
    from ..pipeline.model import available_pipelines
    from ..run import find_manifest
    from ..status import run_status

    context = load_context(args)
    path = find_manifest(context, args.run, task_id=args.task or None)
    pipelines = available_pipelines(context.config)
    interactive = sys.stdout.isatty() and args.format == "text"
    previous = None
    while True:
        view = run_status(path)
        pipeline = pipelines.get(str(view["pipelineId"]))
        if view["stage"] is not None and pipeline is not None:
            view["stage"]["total"] = len(pipeline.stages)
        text = json.dumps(view) if args.format == "json" else line(view)
        if interactive and args.watch:
            sys.stdout.write("\r\x1b[2K" + visible(text)[:200])
            sys.stdout.flush()
        elif text != previous:
            print(visible(text), flush=True)
        previous = text
        if not args.watch or view["status"] != "in_progress" or view["stale"]:
            break
        time.sleep(max(0.1, args.interval))
    if interactive and args.watch:
        print()
    return 1 if view["status"] in FAILED or view["stale"] else 0
