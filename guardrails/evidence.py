"""Is a cited run manifest evidence that a task's checklist item is done?

Evidence is a manifest path of the form ``.runs/<task>/cli/<run-id>/manifest.json``
(repository-relative) that

1. names this task in its path,
2. exists,
3. parses as JSON,
4. validates against the published manifest schema (``schemas/manifest.schema.json``),
5. records this task as its ``taskId`` and its own run directory as its ``runId``,
6. has ``status: succeeded``,
7. really ran something: at least one test executed (not skipped) or one command, and was
   neither collect-only (``collectOnly``) nor a dry run (a dry-run guardrail or stage),
8. failed no guardrail,
9. belongs to this repository (its recorded ``repository``: the same root commit, or the
   same root path outside git),
10. agrees with its own journal: ``events.jsonl`` exists and its last ``run:summary`` has the
    manifest's status (a command that rewrote its manifest leaves the journal behind), and
11. when the run has an attestation, or the repository requires one
    (``evidence.require_signed``), the attestation verifies: signed by a trusted key
    (``evidence.trusted_keys``) when any are trusted, every subject's digest unchanged.

:func:`check_evidence` stops at the first of these that fails and says which, in one line.
A good verdict may still carry a ``warning``: the run's commit is not an ancestor of HEAD
(stale evidence).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pytest_codex import schemas
from pytest_codex.attestation import EvidencePolicy

from .checklist.doc import RUNS_PREFIX, evidence_pattern
from .files import read_regular, why_unreadable

Problem = Literal[
    "missing",
    "invalid",
    "wrong-task",
    "not-succeeded",
    "not-evidence",
    "foreign",
    "tampered",
    "unsigned",
]
PROBLEMS: tuple[Problem, ...] = get_args(Problem)
EXECUTED_OUTCOMES = frozenset({"passed", "failed", "xfailed", "xpassed", "error"})


@dataclass(frozen=True)
class EvidenceVerdict:
    """What one cited manifest proves: ``problem`` is None when it is good evidence;
    otherwise ``detail`` completes the sentence "<cited path> ..."."""

    cited: str
    problem: Problem | None = None
    detail: str | None = None
    status: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the manifest is good evidence for the task."""
        return self.problem is None

    def describe(self) -> str:
        """One line: the cited path and what is wrong with it (or that it is good)."""
        if self.problem is None:
            return f"{self.cited} is a succeeded run of the task"
        return f"{self.cited} {self.detail}"


def check_evidence(
    root: Path,
    cited: str,
    task_id: str,
    *,
    runs_prefix: str = RUNS_PREFIX,
    policy: EvidencePolicy | None = None,
) -> EvidenceVerdict:
    """Check the manifest cited as ``cited`` (repository-relative) as evidence for
    ``task_id`` (see the module docstring) under ``policy`` (default: the repository's
    configured :class:`~pytest_codex.attestation.EvidencePolicy`)."""
    shape = evidence_pattern(runs_prefix).fullmatch(cited)
    if shape is None:
        return EvidenceVerdict(
            cited,
            "invalid",
            f"is not a run manifest path; cite {runs_prefix}/{task_id}/cli/<run-id>/manifest.json",
        )
    cited = shape.group("path")
    if shape.group("task") != task_id:
        return EvidenceVerdict(
            cited,
            "wrong-task",
            f"is a manifest of task {shape.group('task')}, not of {task_id}",
        )
    path = root / cited
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        return EvidenceVerdict(cited, "missing", what)
    data = read_regular(path)
    if data is None:
        return EvidenceVerdict(cited, "invalid", f"cannot be read ({why_unreadable(path)})")
    try:
        document: Any = json.loads(data)
    except UnicodeDecodeError:
        return EvidenceVerdict(cited, "invalid", "is not UTF-8 text")
    except RecursionError:
        return EvidenceVerdict(cited, "invalid", "is nested too deeply to be a manifest")
    except json.JSONDecodeError as exc:
        return EvidenceVerdict(
            cited,
            "invalid",
            f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
        )
    error = _schema_error(document)
    if error is not None:
        return EvidenceVerdict(
            cited, "invalid", f"does not validate against the manifest schema ({error})"
        )
    status = str(document["status"])
    if document["taskId"] != task_id:
        return EvidenceVerdict(
            cited,
            "wrong-task",
            f"records taskId {document['taskId']}, not {task_id}",
            status,
        )
    if document["runId"] != shape.group("run"):
        return EvidenceVerdict(
            cited,
            "invalid",
            f"records runId {document['runId']} but lies in run directory {shape.group('run')}",
            status,
        )
    if status != "succeeded":
        return EvidenceVerdict(
            cited, "not-succeeded", f"records status {status}, not succeeded", status
        )
    for check in (_ran_something, _no_failed_guardrail):
        why = check(document)
        if why is not None:
            return EvidenceVerdict(cited, "not-evidence", why, status)
    why = _foreign(document, root)
    if why is not None:
        return EvidenceVerdict(cited, "foreign", why, status)
    why = _journal_disagrees(document, path.parent)
    if why is not None:
        return EvidenceVerdict(cited, "tampered", why, status)
    if policy is None:
        from pytest_codex.attestation import evidence_policy

        policy = evidence_policy(root)
    verdict = _attestation(path.parent, policy, status)
    if verdict is not None:
        return EvidenceVerdict(cited, verdict[0], verdict[1], status)
    return EvidenceVerdict(cited, None, None, status, _stale(document, path.parent, root))


def _ran_something(document: dict[str, Any]) -> str | None:
    """Why the run proves nothing ran, or None."""
    if document.get("collectOnly"):
        return "is a collect-only run (pytest --collect-only executes no test)"
    dry = [g.get("name") for g in document.get("guardrails") or [] if g.get("dryRun")]
    dry += [s.get("name") for s in document.get("stages") or [] if s.get("dryRun")]
    if dry:
        return f"is a dry run ({', '.join(str(n) for n in dry[:3])} reported without failing)"
    executed = sum(1 for t in document.get("tests") or [] if t.get("outcome") in EXECUTED_OUTCOMES)
    commands = len(document.get("commands") or [])
    if executed == 0 and commands == 0:
        return "ran nothing (no test executed and no command)"
    return None


def _no_failed_guardrail(document: dict[str, Any]) -> str | None:
    failed = [
        g.get("name")
        for g in document.get("guardrails") or []
        if g.get("status") in ("failed", "error")
    ]
    if failed:
        return f"has failed guardrails ({', '.join(str(n) for n in failed[:3])})"
    return None


def _foreign(document: dict[str, Any], root: Path) -> str | None:
    """Why the run belongs to another repository, or None."""
    from pytest_codex.repository import path_hash, repository_identity, same_repository

    recorded = document.get("repository")
    if isinstance(recorded, dict):
        if same_repository(recorded, repository_identity(root)):
            return None
        where = recorded.get("remote") or recorded.get("rootCommit") or "another path"
        return f"was recorded in another repository ({where})"
    recorded_root = (document.get("paths") or {}).get("root")
    if recorded_root and path_hash(Path(str(recorded_root))) == path_hash(root):
        return None
    return f"records no repository identity and another root ({recorded_root})"


def _journal_disagrees(document: dict[str, Any], run_dir: Path) -> str | None:
    """Why ``events.jsonl`` contradicts the manifest, or None."""
    import os
    import stat

    journal = run_dir / "events.jsonl"
    try:  # a journal may be large: streamed, not read whole (a FIFO is refused first)
        if not stat.S_ISREG(os.stat(journal).st_mode):
            raise OSError("not a regular file")
        final: str | None = None
        with journal.open("rb") as handle:
            for line in handle:
                if b'"run:summary"' not in line:
                    continue
                try:
                    event: Any = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("type") == "run:summary":
                    final = str((event.get("payload") or {}).get("status"))
    except OSError:
        return "has no events.jsonl journal beside it (manifests are derived from events)"
    if final != document["status"]:
        said = f"status {final}" if final else "no run:summary"
        return f"records status {document['status']} but its events.jsonl ends with {said}"
    return None


def _attestation(run_dir: Path, policy: EvidencePolicy, status: str) -> tuple[Problem, str] | None:
    """The attestation's problem, or None (verified, or absent and not required)."""
    from pytest_codex.attestation import ATTESTATION_FILE, verify_run

    if not (run_dir / ATTESTATION_FILE).is_file():
        if policy.require_signed:
            return "unsigned", f"has no {ATTESTATION_FILE} (evidence.require_signed is on)"
        return None
    result = verify_run(run_dir, policy.trusted, require_signature=bool(policy.trusted))
    if result.ok:
        predicate = result.statement.get("predicate") or {}
        if predicate.get("status") != status:
            return "tampered", (
                f"records status {status} but its attestation says {predicate.get('status')}"
            )
        return None
    if result.problem == "signature":
        return "unsigned", f"has an attestation that does not verify: {result.detail}"
    return "tampered", f"has an attestation that does not verify: {result.detail}"


def _stale(document: dict[str, Any], run_dir: Path, root: Path) -> str | None:
    """A warning when the run's commit is not an ancestor of HEAD, else None."""
    from pytest_codex.repository import is_ancestor

    commit = (document.get("repository") or {}).get("commit")
    if not commit:
        return None
    if is_ancestor(root, str(commit)) is False:
        return f"was recorded at commit {str(commit)[:12]}, which is not an ancestor of HEAD"
    return None


def _schema_error(document: Any) -> str | None:
    """The most relevant manifest-schema error of ``document``, described in one line."""
    text = schemas.named_problem("manifest", document)
    if text is None:
        return None
    return text if len(text) <= 200 else text[:197] + "..."
