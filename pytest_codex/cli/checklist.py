"""``codex-orchestrator checklist verify|flip``: check a task's checklist evidence and
collateral, or tick one item with the manifest of a succeeded run as its evidence (the
flip itself is :mod:`guardrails.checklist.flip`).

``verify`` runs the ``checklist`` and ``collateral`` guardrails outside any run (results are
cached under ``.runs/<task>/guardrail-cache/`` like every guardrail result). ``flip`` ticks
one open item in the checklist and in every mirror that has it, appending
``; Evidence: `.runs/<task>/cli/<run-id>/manifest.json```; it refuses, changing nothing, unless
the manifest is of a succeeded run of the task. Locations come from
``guardrails.checklist`` (and ``guardrails.collateral`` for ``verify``) in the configuration;
see :mod:`guardrails.tasks`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``checklist`` and its sub-commands ``verify`` and ``flip``."""
    checklist = subparsers.add_parser(
        "checklist",
        help="verify a task's checklist evidence and collateral, or tick an item",
        description="Work with the task's checklist (tasks/tasks-<task>.md) and its mirrors "
        "(docs/TASKS.md, .agent/task/<task>.md): an item may be ticked [x] only with the "
        "manifest of a succeeded run of the task as its evidence.",
    )
    actions = checklist.add_subparsers(dest="checklist_command", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify",
        help="run the checklist and collateral guardrails and report their findings",
        description="Run the checklist guardrail (every [x] item cites the manifest of a "
        "succeeded run of the task; the mirrors show the same states and evidence) and the "
        "collateral guardrail (tasks/index.json, the PRD / TECH_SPEC / ACTION_PLAN docs, the "
        "checklist and its mirrors exist and name the task), outside any run. Text output: "
        "one line per guardrail, then its findings as 'path:line: rule: message'.",
        epilog="Exit codes: 0 no guardrail failed (warnings and skips are fine), 1 a "
        "guardrail failed, 2 usage or configuration error (e.g. no task id).",
    )
    add_context_options(verify)
    add_format_option(verify)
    verify.add_argument(
        "--no-cache",
        action="store_true",
        help="run both guardrails even when their inputs are unchanged since a cached result",
    )
    verify.set_defaults(handler=run_verify)

    flip = actions.add_parser(
        "flip",
        help="tick one item [x] in the checklist and its mirrors, citing a manifest",
        description="Tick ITEM in the checklist and in every mirror that has it, appending "
        "'; Evidence: `<manifest>`' with the manifest's repository-relative path. The "
        "manifest must exist, validate against the manifest schema, belong to the task and "
        "this repository, record a succeeded run that executed tests or commands (not "
        "collect-only, no dry run, no failed guardrail), agree with its events.jsonl and, "
        "when it has one or evidence.require_signed is on, carry a valid attestation "
        "(docs/evidence.md); otherwise nothing is changed. Every new file text is "
        "computed and checked before the first (atomic) write. A mirror without the item is "
        "reported as a warning and does not block the flip.",
        epilog="Exit codes: 0 ticked, 1 refused (manifest not valid evidence, item already "
        "ticked, a file changed meanwhile), 2 usage or configuration error (no task, no "
        "checklist, no item or several items match ITEM).",
    )
    flip.add_argument(
        "item",
        metavar="ITEM",
        help="the item: its 1-based number among the checklist's items, its text before "
        "' — ' / '; Evidence', or a case-insensitive part of its text matching one item",
    )
    flip.add_argument(
        "--manifest",
        required=True,
        metavar="PATH|RUN",
        help="the evidence: a manifest path (.runs/<task>/cli/<run-id>/manifest.json) or a "
        "run id of the task",
    )
    add_context_options(flip)
    add_format_option(flip)
    flip.set_defaults(handler=run_flip)


# -- verify ---------------------------------------------------------------------------------
def run_verify(args: argparse.Namespace) -> int:
    """``checklist verify``."""
    from guardrails.checklist.verify import verify_checklist

    context = load_context(args)
    task = context.task_id()
    records, status = verify_checklist(context, task, use_cache=not args.no_cache)
    if args.format == "json":
        print(
            json.dumps(
                {"task": task, "guardrails": records, "status": status},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print("\n".join(render_verify(records)))
    return 1 if status == "failed" else 0


def render_verify(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text report: per guardrail, ``name: status (N findings, cached)`` (a skipped one
    gives its reason) followed by its findings, one ``path:line: rule: message`` line each."""
    from guardrails import Finding

    lines: list[str] = []
    for record in records:
        findings = [Finding.from_record(f) for f in record["findings"]]
        notes: list[str] = []
        if record["status"] == "skipped" and record.get("summary"):
            notes.append(str(record["summary"]))
        if findings:
            notes.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}")
        if record.get("cached"):
            notes.append("cached")
        suffix = f" ({', '.join(notes)})" if notes else ""
        lines.append(f"{record['name']}: {record['status']}{suffix}")
        lines.extend(f.render() for f in findings)
    return lines


# -- flip -----------------------------------------------------------------------------------
def run_flip(args: argparse.Namespace) -> int:
    """``checklist flip``."""
    context = load_context(args)
    task = context.task_id()
    from guardrails.checklist import ChecklistGuardrail
    from guardrails.checklist.flip import apply_flip, plan_flip
    from guardrails.session import guardrail_settings

    settings = guardrail_settings(context.config.settings().guardrails, ChecklistGuardrail())

    from ..attestation import EvidencePolicy

    plan = plan_flip(
        context.roots.root,
        task,
        settings,
        str(args.item),
        str(args.manifest),
        runs_dir=context.roots.runs_dir,
        cwd=Path.cwd(),
        policy=EvidencePolicy.from_settings(context.config.get("evidence"), context.roots.root),
    )
    apply_flip(plan)
    for warning in plan.warnings:
        print(f"codex-orchestrator: warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "item": plan.item,
                    "manifest": plan.manifest,
                    "changed": [c.rel for c in plan.changes],
                    "warnings": plan.warnings,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(
            f"ticked item {plan.item['number']} '{plan.item['label']}' with evidence "
            f"{plan.manifest}"
        )
        for change in plan.changes:
            print(f"changed {change.rel}")
    return 0
