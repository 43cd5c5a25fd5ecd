"""The ``collateral`` guardrail: the task's collateral exists, names the task and agrees.

A task's collateral is its ``tasks/index.json`` entry, its PRD / TECH_SPEC / ACTION_PLAN
documents, its checklist (``tasks/tasks-<task>.md``) and the checklist's mirrors
(``.agent/task/<task>.md``, ``docs/TASKS.md``). The guardrail checks that

* the index exists, is valid JSON with an ``items`` list, and has an entry for the task
  (``slug`` or ``id`` equal to the task id, or ``<id>-<slug>`` equal to it), once;
* the entry's ``path`` exists; its ``gate.log`` (when set) is a manifest path of this task
  whose run id is ``gate.run_id``;
* each document, the checklist and each mirror exists and mentions the task (its id, or
  its number as a whole word).

Rules (all errors unless noted): ``collateral/index-missing``, ``collateral/index-invalid``,
``collateral/index-no-entry``, ``collateral/index-duplicate-entry`` (warning),
``collateral/index-path-missing``, ``collateral/index-path-outside``,
``collateral/gate-log-wrong-task``,
``collateral/gate-run-id-mismatch``, ``collateral/gate-log-missing`` (warning: the gate's
manifest is not in this checkout), ``collateral/doc-missing``,
``collateral/checklist-missing``, ``collateral/mirror-missing``, ``collateral/unreferenced``.

When the repository has none of the collateral at all (no index, no document, no
checklist, no mirror) the guardrail is skipped.

Settings (``guardrails: {collateral: {...}}``): ``index``, ``checklist``, ``mirrors`` and
``docs``, as described in :mod:`guardrails.tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .api import Finding, Guardrail, Inputs, Result
from .checklist.doc import evidence_pattern
from .context import GuardrailContext
from .files import inside_repository, matches
from .tasks import Layout, TaskIndex, layout_for, read_text


class CollateralGuardrail(Guardrail):
    """The task's index entry, documents, checklist and mirrors exist and name the task."""

    name = "collateral"
    version = "1"
    shared_settings = ("tasks",)
    description = (
        "tasks/index.json, the PRD / TECH_SPEC / ACTION_PLAN docs, the checklist and its "
        "mirrors exist, name the task and agree"
    )

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """Every location the layout may read, plus the index entry's path and gate log."""
        layout = layout_for(ctx)
        globs = list(layout.globs())
        index = TaskIndex.load(ctx.root, layout.index)
        for _, entry in index.entries_for(layout.task.task_id):
            for value in (entry.get("path"), _gate(entry).get("log")):
                if isinstance(value, str) and value.strip() and inside_repository(value.strip()):
                    globs.append(value.strip().removeprefix("./"))
        return Inputs(
            globs=tuple(dict.fromkeys(globs)),
            values={"settings": dict(ctx.settings), "runsPrefix": layout.runs_prefix},
        )

    def run(self, ctx: GuardrailContext) -> Result:
        """Check the index, the documents, the checklist and the mirrors."""
        layout = layout_for(ctx)
        task = layout.task
        index = TaskIndex.load(ctx.root, layout.index)
        docs = {spec.kind: layout.locate_doc(ctx.root, spec) for spec in layout.docs}
        checklist_exists = ctx.path(layout.checklist).is_file()
        mirrors = layout.mirror_files(ctx.root)
        if not (index.exists or any(docs.values()) or checklist_exists or mirrors):
            looked = [layout.index, *(c for s in layout.docs for c in s.candidates)]
            looked += [layout.checklist, *layout.mirrors]
            return Result.skipped(
                f"no task collateral for {task.task_id} (looked for {', '.join(looked)})"
            )

        findings: list[Finding] = []
        mentioned: list[str] = []  # present documents that must name the task
        findings.extend(self._index_findings(ctx, layout, index, mentioned))
        for spec in layout.docs:
            found = docs[spec.kind]
            if found is None:
                findings.append(
                    Finding(
                        "collateral/doc-missing",
                        f"no {spec.kind} document for {task.task_id} "
                        f"(looked for {' and '.join(spec.candidates)})",
                        spec.candidates[0],
                        hint=f"create {spec.candidates[0]} naming the task, or point "
                        f"guardrails.collateral.docs.{spec.kind} at it",
                    )
                )
            else:
                mentioned.append(found)
        if checklist_exists:
            mentioned.append(layout.checklist)
        else:
            findings.append(
                Finding(
                    "collateral/checklist-missing",
                    f"no checklist for {task.task_id} (looked for {layout.checklist})",
                    layout.checklist,
                    hint=f"create {layout.checklist} with the task's '- [ ] ...' items, or "
                    "set guardrails.collateral.checklist",
                )
            )
        for template in layout.mirrors:
            if not any(m == template or matches(m, [template]) for m in mirrors):
                findings.append(
                    Finding(
                        "collateral/mirror-missing",
                        f"no checklist mirror {template} for {task.task_id}",
                        template,
                        hint=f"create {template} mirroring {layout.checklist}, or drop it "
                        "from guardrails.collateral.mirrors",
                    )
                )
        mentioned.extend(mirrors)
        for rel in dict.fromkeys(mentioned):
            if not task.mentioned_in(read_text(ctx.path(rel))):
                names = f"{task.task_id!r}" + (
                    f" or {task.number!r}" if task.number is not None else ""
                )
                findings.append(
                    Finding(
                        "collateral/unreferenced",
                        f"never mentions task {task.task_id} (neither {names} appears in it)",
                        rel,
                        hint=f"name the task in it (e.g. a title ending '({task.task_id})'), "
                        "or point the settings at the task's own document",
                    )
                )
        present = len(dict.fromkeys(mentioned)) + int(index.exists)
        errors = sum(f.severity == "error" for f in findings)
        return Result.from_findings(
            findings,
            f"{present} collateral files for {task.task_id}: "
            f"{errors} error{'s' if errors != 1 else ''}, "
            f"{len(findings) - errors} warning{'s' if len(findings) - errors != 1 else ''}",
        )

    def _index_findings(
        self, ctx: GuardrailContext, layout: Layout, index: TaskIndex, mentioned: list[str]
    ) -> list[Finding]:
        task_id = layout.task.task_id
        path = layout.index
        if not index.exists:
            return [
                Finding(
                    "collateral/index-missing",
                    f"no task index (looked for {path})",
                    path,
                    hint=f'create {path} as {{"items": [{{"id": ..., "slug": "{task_id}", '
                    '"path": ...}]}, or set guardrails.collateral.index',
                )
            ]
        if index.problem is not None:
            return [
                Finding(
                    "collateral/index-invalid",
                    index.problem.message,
                    path,
                    index.problem.line,
                    hint=f'fix {path}: it must be a JSON object with an "items" list',
                )
            ]
        entries = index.entries_for(task_id)
        if not entries:
            return [
                Finding(
                    "collateral/index-no-entry",
                    f"has no entry for task {task_id} (no item whose slug or id is "
                    f"{task_id!r}, or whose '<id>-<slug>' is)",
                    path,
                    hint=f'add {{"id": "{layout.task.number or task_id}", "slug": '
                    f'"{task_id}", "path": ...}} to its items',
                )
            ]
        findings: list[Finding] = []
        position, entry = entries[0]
        line = index.lines.get(position)
        if len(entries) > 1:
            lines = [str(index.lines.get(p, "?")) for p, _ in entries]
            findings.append(
                Finding(
                    "collateral/index-duplicate-entry",
                    f"has {len(entries)} entries for task {task_id} (lines {', '.join(lines)}); "
                    "the first is checked",
                    path,
                    line,
                    hint="keep one entry per task",
                    severity="warning",
                )
            )
        entry_path = entry.get("path")
        if not isinstance(entry_path, str) or not entry_path.strip():
            findings.append(
                Finding(
                    "collateral/index-path-missing",
                    f'entry for {task_id} has no "path"',
                    path,
                    line,
                    hint='set "path" to the task\'s PRD, e.g. tasks/<number>-prd-<name>.md',
                )
            )
        elif not inside_repository(entry_path.strip()):
            findings.append(
                Finding(
                    "collateral/index-path-outside",
                    f'entry for {task_id} has "path": {entry_path!r}, outside the repository',
                    path,
                    line,
                    hint="point it at the task's PRD inside the repository, e.g. "
                    "tasks/<number>-prd-<name>.md",
                )
            )
        else:
            rel = entry_path.strip().removeprefix("./")
            if ctx.path(rel).is_file():
                mentioned.append(rel)
            else:
                findings.append(
                    Finding(
                        "collateral/index-path-missing",
                        f'entry for {task_id} has "path": {entry_path!r}, which does not exist',
                        path,
                        line,
                        hint=f"create {rel} or correct the entry's path",
                    )
                )
        findings.extend(_gate_findings(ctx, layout, entry, line))
        return findings


def _gate(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    gate = entry.get("gate")
    return gate if isinstance(gate, Mapping) else {}


def _gate_findings(
    ctx: GuardrailContext, layout: Layout, entry: Mapping[str, Any], line: int | None
) -> list[Finding]:
    """``gate.log`` names a manifest of this task whose run id is ``gate.run_id``."""
    gate = _gate(entry)
    log, run_id = gate.get("log"), gate.get("run_id")
    task_id = layout.task.task_id
    path = layout.index
    if log is None and run_id is None:
        return []
    expected = f"{layout.runs_prefix}/{task_id}/cli/<run-id>/manifest.json"
    if not isinstance(log, str) or not log.strip():
        return [
            Finding(
                "collateral/gate-run-id-mismatch",
                f"entry for {task_id} has gate.run_id {run_id!r} but no gate.log",
                path,
                line,
                hint=f"set gate.log to {expected} of that run, or clear gate.run_id",
            )
        ]
    log = log.strip().removeprefix("./")
    shape = evidence_pattern(layout.runs_prefix).fullmatch(log)
    if shape is None or shape.group("task") != task_id:
        whose = f"task {shape.group('task')}" if shape is not None else "no task run"
        return [
            Finding(
                "collateral/gate-log-wrong-task",
                f"entry for {task_id} has gate.log {log}, a manifest of {whose}, not of {task_id}",
                path,
                line,
                hint=f"point gate.log at {expected}",
            )
        ]
    findings: list[Finding] = []
    if run_id is not None and str(run_id) != shape.group("run"):
        findings.append(
            Finding(
                "collateral/gate-run-id-mismatch",
                f"entry for {task_id} has gate.run_id {run_id!r} but gate.log {log} is run "
                f"{shape.group('run')}",
                path,
                line,
                hint="make gate.run_id the run id in gate.log's path",
            )
        )
    if not ctx.path(log).is_file():
        findings.append(
            Finding(
                "collateral/gate-log-missing",
                f"entry for {task_id} has gate.log {log}, which is not in this checkout",
                path,
                line,
                hint="check in or restore the gate run's manifest, or update gate.log",
                severity="warning",
            )
        )
    return findings
