"""``codex-orchestrator start <pipeline>`` and ``guardrails list|run``: pipelines of
commands and guardrails run as one run of the task."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..context import Context
from ..pipeline.model import Pipeline, Stage, find_pipeline
from ._options import (
    add_context_options,
    add_format_option,
    add_run_options,
    load_context,
    run_option_config,
)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    add_context_options(parser)
    add_format_option(parser)
    add_run_options(parser)
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every guardrail even when its inputs are unchanged since a cached result",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="guardrails report their findings without failing (failed becomes warned)",
    )


def register(subparsers: Any) -> None:
    """Add ``start`` and ``guardrails``."""
    start = subparsers.add_parser(
        "start",
        help="run a pipeline (stages of commands and guardrails) as a run of the task",
        description="Run PIPELINE's stages in order as one run of the task: command stages "
        "through the ToolOrchestrator and the exec runtime, guardrail stages through the "
        "guardrail toolkit. Each stage emits stage:start and stage:end and lands in the "
        "manifest's stages[]; the first stage that fails without allowFailure ends the "
        "pipeline and the rest are skipped. Built-ins: diagnostics (build, lint, test, "
        "spec-guard) and diagnostics-with-eval (+ eval); the config file's pipelines: add "
        "more or replace them.",
        epilog="Exit codes: 0 every stage passed (or failed with allowFailure), 1 a stage "
        "failed, 2 usage or configuration error.",
    )
    start.add_argument("pipeline", metavar="PIPELINE", help="pipeline id, e.g. diagnostics")
    _add_run_options(start)
    start.set_defaults(handler=run_start)

    guardrails = subparsers.add_parser(
        "guardrails",
        help="list the installed guardrails, or run some as a run of the task",
    )
    actions = guardrails.add_subparsers(dest="guardrails_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the available guardrails and whether enabled")
    add_context_options(listing)
    add_format_option(listing)
    listing.set_defaults(handler=run_list)
    running = actions.add_parser(
        "run",
        help="run guardrails (default: the enabled ones) as a run of the task",
        description="Run the named guardrails (default: guardrails.enabled, else all) as a "
        "run of the task; each is one stage, and its findings land in the manifest.",
        epilog="Exit codes: 0 no guardrail failed, 1 one failed, 2 usage or configuration error.",
    )
    running.add_argument("names", nargs="*", metavar="NAME", help="guardrails to run")
    _add_run_options(running)
    running.set_defaults(handler=run_guardrails)

    spec = subparsers.add_parser(
        "spec-guard",
        help="run the spec-guard guardrail as a run of the task (= guardrails run spec-guard)",
        description="Check that code changed since the base (BASE_SHA, else origin/main, else "
        "the root commit) comes with a spec change, and that every spec's last_review is "
        "recent; --dry-run reports without failing. The same as 'guardrails run spec-guard'.",
        epilog="Exit codes: 0 passed (or --dry-run), 1 failed, 2 usage or configuration error.",
    )
    _add_run_options(spec)
    spec.set_defaults(handler=run_guardrails, names=["spec-guard"])


def _context(args: argparse.Namespace) -> Context:
    cli, flags = run_option_config(args)
    return load_context(args, cli=cli, flags=flags)


def run_start(args: argparse.Namespace) -> int:
    """``start``."""
    context = _context(args)
    pipeline = find_pipeline(context.config, args.pipeline)
    return _run(args, context, pipeline)


def run_guardrails(args: argparse.Namespace) -> int:
    """``guardrails run``."""
    from guardrails.registry import available, enabled_names, select

    context = _context(args)
    settings = context.config.settings().guardrails
    names = enabled_names(explicit=args.names or None, env=context.env, settings=settings)
    chosen = select(available(settings, context.roots.root), names)
    stages = tuple(
        Stage(id=g.name, kind="guardrail", title=f"guardrail {g.name}", guardrail=g.name)
        for g in chosen
    )
    pipeline = Pipeline(id="guardrails", title="Guardrails", stages=stages, source="cli")
    return _run(args, context, pipeline)


def _run(args: argparse.Namespace, context: Context, pipeline: Pipeline) -> int:
    from ..events import Sink
    from ..execution import finish_on_error
    from ..pipeline.execute import execute_pipeline, pipeline_summary, resolve_guardrails
    from ..run import Run
    from ..sinks.human import HumanSink, TerminalStyle

    task = context.task_id()  # a missing task is a usage error before anything is written
    guardrails = resolve_guardrails(context.config, pipeline, context.roots.root)
    sinks: list[Sink] = []
    if args.format == "text":
        sinks.append(HumanSink(sys.stdout, stages=len(pipeline.stages), env=context.env))
    run = Run.start(
        context,
        task_id=task,
        runner="cli",
        pipeline_id=pipeline.id,
        pipeline_title=pipeline.title,
        sinks=sinks,
    )
    with finish_on_error(run):
        result = execute_pipeline(
            run, pipeline, guardrails=guardrails, use_cache=not args.no_cache, dry_run=args.dry_run
        )
    failed = [s["id"] for s in result.stages if s["status"] == "failed"]
    detail = f"stage {failed[0]} failed" if failed else None
    summary = run.finish(result.status, detail=detail, summary=pipeline_summary(result))
    if args.format == "json":
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        style = TerminalStyle.for_stream(sys.stdout, context.env)
        print(
            f"{pipeline.id}: {style.status(summary['status'])}"
            + (f" ({detail})" if detail else "")
            + f"; manifest: {run.paths.display(run.paths.manifest)}"
        )
    return 0 if result.status == "succeeded" else 1


def run_list(args: argparse.Namespace) -> int:
    """``guardrails list``."""
    from guardrails.registry import available, enabled_names

    context = load_context(args)
    settings = context.config.settings().guardrails
    found = available(settings, context.roots.root)
    enabled = enabled_names(explicit=None, env=context.env, settings=settings)
    rows = [
        {
            "name": g.name,
            "version": g.version,
            "enabled": enabled is None or g.name in enabled,
            "description": g.description,
        }
        for g in found.values()
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        flag = "enabled " if row["enabled"] else "disabled"
        print(f"{row['name']:14} v{row['version']:4} {flag} {row['description']}")
    return 0
