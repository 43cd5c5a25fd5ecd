"""``codex-orchestrator plan [PIPELINE]``: what ``start PIPELINE`` would run, running nothing."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``plan``."""
    plan = subparsers.add_parser(
        "plan",
        help="show the stages a pipeline would run, and what the cache would serve",
        description="Show PIPELINE's stages in order (command stages with their argv, "
        "guardrail stages with their guardrail) and, for each guardrail, whether its inputs "
        "are unchanged since a cached result that 'start' would reuse. Runs nothing and "
        "writes nothing.",
        epilog="Exit codes: 0 ok, 2 usage or configuration error (e.g. an unknown pipeline).",
    )
    plan.add_argument(
        "pipeline",
        metavar="PIPELINE",
        nargs="?",
        default="diagnostics",
        help="pipeline id (default: diagnostics)",
    )
    plan.add_argument(
        "--no-cache", action="store_true", help="plan as 'start --no-cache' would run"
    )
    add_context_options(plan)
    add_format_option(plan)
    plan.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """``plan``."""
    from ..pipeline.model import find_pipeline
    from ..pipeline.plan import plan_pipeline

    context = load_context(args)
    pipeline = find_pipeline(context.config, args.pipeline)
    try:
        task: str | None = context.task_id()
    except Exception:  # a plan needs no task; without one the cache is not consulted
        task = None
    planned = plan_pipeline(context, pipeline, task_id=task, use_cache=not args.no_cache)
    if args.format == "json":
        print(json.dumps(planned, indent=2))
        return 0
    print(f"{planned['pipeline']}: {planned['title']} ({len(planned['stages'])} stages)")
    for number, stage in enumerate(planned["stages"], start=1):
        flag = " (allowed to fail)" if stage["allowFailure"] else ""
        if stage["kind"] == "command":
            what = "$ " + shlex.join(stage["command"])
        else:
            cache = stage["cache"]
            if cache == "hit":
                cache = f"cached from {stage['cachedFrom']}: {stage.get('cachedStatus')}"
            what = f"guardrail {stage['guardrail']} v{stage['version']} [{cache}]"
        print(f"  {number}. {stage['id']}: {what}{flag}")
    if task is None:
        print("  (no task: pass --task or set MCP_RUNNER_TASK_ID to see cached results)")
    return 0
