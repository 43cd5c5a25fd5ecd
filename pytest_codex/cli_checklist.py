"""``codex-orchestrator checklist verify|flip``: check a task's checklist evidence and
collateral, or tick one item with the manifest of a succeeded run as its evidence.

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
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_common import add_context_options, add_format_option, load_context
from .errors import CodexError, UsageError

if TYPE_CHECKING:
    from guardrails.checklist_doc import ChecklistDoc, ChecklistItem


class FlipRefused(CodexError):
    """``checklist flip`` will not tick the item (exit code 1); nothing was changed."""

    exit_code = 1


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
        "record a succeeded run; otherwise nothing is changed. Every new file text is "
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
    from guardrails import GuardrailSession
    from guardrails.checklist import ChecklistGuardrail
    from guardrails.collateral import CollateralGuardrail
    from guardrails.tasks import Layout

    from .emitter import RecordingEmitter

    context = load_context(args)
    task = context.task_id()
    settings = context.config.get("guardrails") or {}
    for name in ("checklist", "collateral"):  # bad settings are configuration errors (2)
        Layout.from_settings(task, _section(settings, name))
    session = GuardrailSession.standalone(context, task, emitter=RecordingEmitter())
    session.use_cache = not args.no_cache
    records = [session.run(g) for g in (ChecklistGuardrail(), CollateralGuardrail())]
    status = _overall(records)
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


def _section(settings: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = settings.get(name)
    return value if isinstance(value, Mapping) else {}


def _overall(records: Sequence[Mapping[str, Any]]) -> str:
    statuses = {str(r["status"]) for r in records}
    for status in ("failed", "warned", "passed"):
        if status in statuses:
            return status
    return "skipped"


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
@dataclass
class FileChange:
    """One file ``flip`` rewrites: its old bytes (to detect concurrent edits) and new text."""

    rel: str
    path: Path
    old: bytes
    new_text: str
    line: int


@dataclass
class FlipPlan:
    """Everything ``flip`` will do, computed and checked before anything is written."""

    item: dict[str, Any]
    manifest: str
    changes: list[FileChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_flip(args: argparse.Namespace) -> int:
    """``checklist flip``."""
    context = load_context(args)
    task = context.task_id()
    settings = _section(context.config.get("guardrails") or {}, "checklist")
    plan = plan_flip(
        context.roots.root,
        task,
        settings,
        str(args.item),
        str(args.manifest),
        runs_dir=context.roots.runs_dir,
        cwd=Path.cwd(),
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


def plan_flip(
    root: Path,
    task: str,
    settings: Mapping[str, Any],
    selector: str,
    manifest: str,
    *,
    runs_dir: Path,
    cwd: Path,
) -> FlipPlan:
    """Decide what ticking ``selector`` with ``manifest`` changes; :class:`UsageError` for
    a missing checklist or an item that cannot be told, :class:`FlipRefused` when the
    manifest is not evidence or the item is already ticked."""
    from guardrails.checklist import match_mirror
    from guardrails.checklist_doc import ChecklistDoc
    from guardrails.evidence import check_evidence
    from guardrails.tasks import Layout, runs_prefix_for

    runs_prefix = runs_prefix_for(_relative(runs_dir, root) or str(runs_dir))
    layout = Layout.from_settings(task, settings, runs_prefix=runs_prefix)
    checklist_path = root / layout.checklist
    if not checklist_path.is_file():
        raise UsageError(
            f"no checklist for {task}: {layout.checklist} does not exist; create it or set "
            "guardrails.checklist.checklist"
        )
    old = checklist_path.read_bytes()
    doc = ChecklistDoc.from_bytes(old, runs_prefix=runs_prefix)
    item = select_item(doc, selector, layout.checklist)
    label = f"item {item.number} '{item.label}'"
    if item.checked:
        cites = f" (evidence: {', '.join(item.evidence)})" if item.evidence else ""
        raise FlipRefused(
            f"{label} at {layout.checklist}:{item.line} is already ticked{cites}; nothing to do"
        )
    rel = _manifest_rel(manifest, root=root, cwd=cwd, runs_dir=runs_dir, task=task)
    verdict = check_evidence(root, rel, task, runs_prefix=runs_prefix)
    if not verdict.ok:
        raise FlipRefused(
            f"not ticking {label}: {verdict.describe()}; cite the manifest of a succeeded "
            f"run of {task}"
        )
    plan = FlipPlan(
        item={"number": item.number, "line": item.line, "label": item.label, "key": item.key},
        manifest=verdict.cited,
    )
    plan.changes.append(_ticked(layout.checklist, checklist_path, old, item.line, verdict.cited))
    for mirror in layout.mirror_files(root):
        path = root / mirror
        if _same_file(path, checklist_path):
            continue
        data = path.read_bytes()
        mirror_doc = ChecklistDoc.from_bytes(data, runs_prefix=runs_prefix)
        pair = next(
            (p for p in match_mirror(layout.task, doc, mirror_doc).pairs if p[0] is item), None
        )
        if pair is None:
            plan.warnings.append(
                f"{mirror} has no item '{item.label}'; it was not changed (add the item there)"
            )
        elif pair[1].checked:
            plan.warnings.append(
                f"{mirror}:{pair[1].line} already shows [x] for '{item.label}'; it was not changed"
            )
        else:
            plan.changes.append(_ticked(mirror, path, data, pair[1].line, verdict.cited))
    for change in plan.changes:  # the new texts must parse as intended before any write
        after = ChecklistDoc.parse(change.new_text.lstrip("\ufeff"), runs_prefix=runs_prefix)
        before = ChecklistDoc.from_bytes(change.old, runs_prefix=runs_prefix)
        now, was = after.item_at(change.line), before.item_at(change.line)
        flipped = [
            a.line
            for a, b in zip(after.items, before.items, strict=False)
            if a.checked != b.checked
        ]
        if (
            now is None
            or was is None
            or len(after.items) != len(before.items)
            or flipped != [change.line]
            or verdict.cited not in now.evidence
        ):
            raise FlipRefused(
                f"ticking {label} would not change {change.rel} as intended; edit it by hand"
            )
    return plan


def select_item(doc: ChecklistDoc, selector: str, where: str) -> ChecklistItem:
    """The checklist item ``selector`` names: a 1-based number, an item's key, or a
    case-insensitive part of the text of exactly one item; a :class:`UsageError` listing
    the candidates otherwise."""
    from guardrails.checklist_doc import item_key

    items = list(doc.items)
    if not items:
        raise UsageError(f"{where} has no checklist items ('- [ ] ...' lines) to tick")
    text = selector.strip()
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= len(items):
            raise UsageError(
                f"{where} has {len(items)} items; pick a number from 1 to {len(items)}"
            )
        return items[number - 1]
    key = item_key(text)
    found = [i for i in items if i.key == key] if key else []
    if not found:
        needle = text.lower()
        found = [i for i in items if needle and (needle in i.text.lower() or key in i.key)]
    if len(found) == 1:
        return found[0]
    if not found:
        listing = "; ".join(f"{i.number} {i.state} {i.label}" for i in items[:20])
        more = f"; ... ({len(items) - 20} more)" if len(items) > 20 else ""
        raise UsageError(
            f"no item of {where} matches {selector!r}; pass a number or a part of one of: "
            f"{listing}{more}"
        )
    listing = "; ".join(f"{i.number} {i.state} {i.label}" for i in found[:20])
    raise UsageError(
        f"{len(found)} items of {where} match {selector!r}: {listing}; pass its number or more "
        "of its text"
    )


def _relative(path: Path, root: Path) -> str | None:
    for candidate, base in ((Path(os.path.abspath(path)), root), (path.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def _manifest_rel(manifest: str, *, root: Path, cwd: Path, runs_dir: Path, task: str) -> str:
    """The repository-relative path of ``--manifest`` (a path or a run id of the task)."""
    from .ids import is_run_id

    if is_run_id(manifest):
        path = runs_dir / task / "cli" / manifest / "manifest.json"
    else:
        given = Path(manifest).expanduser()
        options = [given] if given.is_absolute() else [cwd / given, root / given]
        path = next((p for p in options if p.exists()), options[0])
    rel = _relative(path, root)
    if rel is None:
        raise FlipRefused(
            f"{manifest} is outside the repository {root}; cite a manifest under its "
            f".runs/{task}/cli/ directory"
        )
    return rel


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _ticked(rel: str, path: Path, data: bytes, line: int, evidence: str) -> FileChange:
    """The change ticking the item on ``line`` of ``path`` (whose content is ``data``)."""
    from guardrails.checklist_doc import tick

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlipRefused(
            f"{rel} is not valid UTF-8 (byte {exc.start}); re-save it as UTF-8 and flip again"
        ) from exc
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    return FileChange(rel, path, data, bom + tick(text[len(bom) :], line, evidence), line)


def apply_flip(plan: FlipPlan) -> None:
    """Write the planned changes atomically (each file keeps its permissions); refuses
    (before the first write) when a file changed since it was read."""
    from .atomic import atomic_write_text

    for change in plan.changes:
        try:
            current = change.path.read_bytes()
        except OSError as exc:
            raise FlipRefused(
                f"{change.rel} cannot be read again ({exc}); nothing changed"
            ) from exc
        if current != change.old:
            raise FlipRefused(
                f"{change.rel} changed while flipping; nothing changed, run the command again"
            )
    for change in plan.changes:
        atomic_write_text(change.path.resolve(), change.new_text)
