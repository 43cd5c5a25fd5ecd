"""The ``checklist`` guardrail: every ticked item of the task's checklist cites a manifest of
a succeeded run of the task, and the mirrors show the same.

The checklist (``tasks/tasks-<task>.md``) is a markdown document of ``- [ ]`` / ``- [x]``
items (see :mod:`guardrails.checklist.doc`). Each ``[x]`` item must cite at least one
``.runs/<task>/cli/<run-id>/manifest.json`` path, and each cited manifest must exist, be
valid JSON, validate against the manifest schema, belong to the task and have succeeded
(see :mod:`guardrails.evidence`). An open ``[ ]`` item must not cite evidence (tick it).
Every mirror (``docs/TASKS.md``, ``.agent/task/<task>.md``) must show each checklist item,
matched by its normalised key, with the same state and the same evidence; items of a
mirror that match no checklist item are ignored, and when a mirror has headings naming the
task (its id, or its number as a whole word) only the items under them are compared, so
one mirror may hold the checklists of several tasks.

Rules: ``checklist/evidence-missing``, ``checklist/evidence-invalid``,
``checklist/evidence-wrong-task``, ``checklist/evidence-not-succeeded``,
``checklist/evidence-not-evidence`` (ran nothing, collect-only, dry run, a failed guardrail),
``checklist/evidence-foreign`` (another repository), ``checklist/evidence-tampered`` (the
journal or the attestation disagrees), ``checklist/evidence-unsigned`` (no valid attestation
by a trusted key while ``evidence.require_signed`` is on),
``checklist/ticked-without-evidence``, ``checklist/evidence-on-open-item``,
``checklist/mirror-state-mismatch``, ``checklist/mirror-evidence-mismatch`` (errors),
``checklist/mirror-missing-item``, ``checklist/evidence-stale`` (a cited run's commit is not an
ancestor of HEAD) and ``checklist/no-items`` (warnings). The evidence rules are
:mod:`guardrails.evidence`'s; signing is described in docs/evidence.md.

Settings (``guardrails: {checklist: {...}}``): ``checklist`` (default
``tasks/tasks-{task}.md``) and ``mirrors`` (default ``[docs/TASKS.md,
.agent/task/{task}.md]``), templates as described in :mod:`guardrails.tasks`. Without a
checklist file the guardrail is skipped.

Its result depends on the checklist, the mirrors and the manifests the checklist cites
(their content is part of the fingerprint, so citing another run or a run's manifest
changing runs the guardrail again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.attestation import EvidencePolicy

from ..api import Finding, Guardrail, Inputs, Result
from ..context import GuardrailContext
from ..evidence import EvidenceVerdict, check_evidence
from ..tasks import Layout, TaskName, layout_for, read_bytes
from .doc import ChecklistDoc, ChecklistItem

_EVIDENCE_HINTS = {
    "missing": "run the work as a run of the task and cite the manifest it writes, or untick "
    "the item",
    "invalid": "cite the manifest.json codex-orchestrator wrote for a run of the task "
    "(manifests are not edited by hand)",
    "wrong-task": "cite a manifest under {runs}/{task}/cli/ (a run started with --task {task})",
    "not-succeeded": "cite a run of the task that succeeded, or untick the item",
    "not-evidence": "cite a run that executed tests or commands and failed no guardrail",
    "foreign": "cite a run recorded in this repository",
    "tampered": "the run's files changed after it finished; cite an untouched run, or run "
    "the work again",
    "unsigned": "cite a run attested by a key in evidence.trusted_keys (see "
    "'codex-orchestrator runs key' and docs/evidence.md)",
}


class ChecklistGuardrail(Guardrail):
    """Ticked checklist items cite a succeeded run of the task; mirrors agree."""

    name = "checklist"
    version = "2"
    shared_settings = ("tasks",)
    description = (
        "every [x] item of tasks/tasks-<task>.md cites the manifest of a succeeded run of the "
        "task, and docs/TASKS.md and .agent/task/<task>.md mirror it"
    )

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """The checklist, the mirrors and every manifest the checklist cites."""
        layout = layout_for(ctx)
        globs = [layout.checklist, *layout.mirrors]
        data = read_bytes(ctx.path(layout.checklist))
        if data is not None:
            doc = ChecklistDoc.from_bytes(data, runs_prefix=layout.runs_prefix)
            for item in doc.items:
                for path in item.evidence:
                    run_dir = path.rsplit("/", 1)[0]
                    globs.extend(
                        (
                            path,
                            f"{run_dir}/events.jsonl",
                            f"{run_dir}/attestation.intoto.jsonl",
                            f"{run_dir}/commands/*.log",
                        )
                    )
        policy = ctx.evidence_policy()
        return Inputs(
            globs=tuple(dict.fromkeys(globs)),
            values={
                "settings": dict(ctx.settings),
                "runsPrefix": layout.runs_prefix,
                "trustedKeys": sorted(k.keyid for k in policy.trusted),
                "requireSigned": policy.require_signed,
                "head": ctx.head_commit(),
            },
        )

    def run(self, ctx: GuardrailContext) -> Result:
        """Check the checklist's evidence, then each mirror against the checklist."""
        layout = layout_for(ctx)
        task = layout.task.task_id
        data = read_bytes(ctx.path(layout.checklist))
        if data is None:
            return Result.skipped(
                f"no checklist for {task} (looked for {layout.checklist}; set "
                "guardrails.checklist.checklist to use another file)"
            )
        doc = ChecklistDoc.from_bytes(data, runs_prefix=layout.runs_prefix)
        policy = ctx.evidence_policy()
        findings = list(_check_items(ctx.root, layout, doc, policy))
        mirrors = layout.mirror_files(ctx.root)
        for mirror in mirrors:
            mirror_data = read_bytes(ctx.path(mirror))
            if mirror_data is None:
                continue
            mirror_doc = ChecklistDoc.from_bytes(mirror_data, runs_prefix=layout.runs_prefix)
            findings.extend(compare_mirror(layout, doc, mirror, mirror_doc))
        ticked = sum(item.checked for item in doc.items)
        errors = sum(f.severity == "error" for f in findings)
        summary = (
            f"{len(doc.items)} items ({ticked} ticked) in {layout.checklist}, "
            f"{len(mirrors)} mirror{'s' if len(mirrors) != 1 else ''}: "
            f"{errors} error{'s' if errors != 1 else ''}, "
            f"{len(findings) - errors} warning{'s' if len(findings) - errors != 1 else ''}"
        )
        return Result.from_findings(findings, summary)


def _check_items(
    root: Path, layout: Layout, doc: ChecklistDoc, policy: EvidencePolicy
) -> list[Finding]:
    """The evidence findings of the checklist's own items."""
    task = layout.task.task_id
    path = layout.checklist
    findings: list[Finding] = []
    verdicts: dict[str, EvidenceVerdict] = {}
    if not doc.items:
        findings.append(
            Finding(
                "checklist/no-items",
                "has no checklist items ('- [ ] ...' lines)",
                path,
                hint="list the task's work as '- [ ] ...' items",
                severity="warning",
            )
        )
    for item in doc.items:
        where = f"item {item.number} '{item.label}'"
        if not item.checked:
            if item.evidence:
                findings.append(
                    Finding(
                        "checklist/evidence-on-open-item",
                        f"{where} is open [ ] but cites {_cites(item.evidence)}",
                        path,
                        item.line,
                        hint=f"tick it with 'codex-orchestrator checklist flip {item.number} "
                        "--manifest <path>', or remove the citation",
                    )
                )
            continue
        if not item.evidence:
            findings.append(
                Finding(
                    "checklist/ticked-without-evidence",
                    f"{where} is ticked [x] but cites no run manifest",
                    path,
                    item.line,
                    hint=f"cite the manifest of a succeeded run (Evidence: "
                    f"`{layout.runs_prefix}/{task}/cli/<run-id>/manifest.json`) or untick it",
                )
            )
            continue
        for cited in item.evidence:
            verdict = verdicts.get(cited)
            if verdict is None:
                verdict = check_evidence(
                    root, cited, task, runs_prefix=layout.runs_prefix, policy=policy
                )
                verdicts[cited] = verdict
            if verdict.problem is None:
                if verdict.warning is not None:
                    findings.append(
                        Finding(
                            "checklist/evidence-stale",
                            f"{where} cites {cited}, which {verdict.warning}",
                            path,
                            item.line,
                            hint="run the work again on the current history and cite that run",
                            severity="warning",
                        )
                    )
                continue
            hint = _EVIDENCE_HINTS[verdict.problem].format(runs=layout.runs_prefix, task=task)
            findings.append(
                Finding(
                    f"checklist/evidence-{verdict.problem}",
                    f"{where} is ticked but its evidence {verdict.describe()}",
                    path,
                    item.line,
                    hint=hint,
                )
            )
    return findings


def _cites(evidence: Sequence[str]) -> str:
    return ", ".join(evidence) if evidence else "no evidence"


@dataclass(frozen=True)
class MirrorMatch:
    """The items of a mirror paired with the checklist's, by key and occurrence."""

    pairs: tuple[tuple[ChecklistItem, ChecklistItem], ...]
    missing: tuple[ChecklistItem, ...]


def match_mirror(task: TaskName, doc: ChecklistDoc, mirror: ChecklistDoc) -> MirrorMatch:
    """Pair each checklist item with the mirror item of the same key (the n-th checklist
    item of a key with the n-th mirror item of that key), looking only at the mirror's
    section(s) about the task when it has any."""
    by_key: dict[str, list[ChecklistItem]] = {}
    for item in mirror.scoped(task.patterns()):
        by_key.setdefault(item.key, []).append(item)
    seen: dict[str, int] = {}
    pairs: list[tuple[ChecklistItem, ChecklistItem]] = []
    missing: list[ChecklistItem] = []
    for item in doc.items:
        occurrence = seen.get(item.key, 0)
        seen[item.key] = occurrence + 1
        candidates = by_key.get(item.key, [])
        if occurrence < len(candidates):
            pairs.append((item, candidates[occurrence]))
        else:
            missing.append(item)
    return MirrorMatch(tuple(pairs), tuple(missing))


def compare_mirror(
    layout: Layout, doc: ChecklistDoc, mirror: str, mirror_doc: ChecklistDoc
) -> list[Finding]:
    """The findings of one mirror against the checklist."""
    checklist = layout.checklist
    matched = match_mirror(layout.task, doc, mirror_doc)
    findings: list[Finding] = []
    hint = "make the mirror show what the checklist shows ('codex-orchestrator checklist flip' "
    hint += "updates both)"
    for item, other in matched.pairs:
        if item.checked != other.checked:
            findings.append(
                Finding(
                    "checklist/mirror-state-mismatch",
                    f"{mirror}:{other.line} shows {other.state} for '{item.label}' but "
                    f"{checklist}:{item.line} shows {item.state}",
                    mirror,
                    other.line,
                    hint=hint,
                )
            )
        elif set(item.evidence) != set(other.evidence):
            findings.append(
                Finding(
                    "checklist/mirror-evidence-mismatch",
                    f"{mirror}:{other.line} cites {_cites(other.evidence)} for '{item.label}' "
                    f"but {checklist}:{item.line} cites {_cites(item.evidence)}",
                    mirror,
                    other.line,
                    hint=hint,
                )
            )
    if matched.missing and not matched.pairs:
        count = len(matched.missing)
        findings.append(
            Finding(
                "checklist/mirror-missing-item",
                f"has none of the {count} item{'s' if count != 1 else ''} of {checklist} "
                f"(no '- [ ]' / '- [x]' line with the same text)",
                mirror,
                hint="copy the checklist's items into the mirror, or drop the file from "
                "guardrails.checklist.mirrors",
                severity="warning",
            )
        )
    else:
        for item in matched.missing:
            findings.append(
                Finding(
                    "checklist/mirror-missing-item",
                    f"has no item '{item.label}' ({checklist}:{item.line} shows {item.state})",
                    mirror,
                    hint="copy the item (same text before ' — ' / '; Evidence') into the mirror",
                    severity="warning",
                )
            )
    return findings
