"""Is a cited run manifest evidence that a task's checklist item is done?

Evidence is a manifest path of the form ``.runs/<task>/cli/<run-id>/manifest.json``
(repository-relative) that

1. names this task in its path,
2. exists,
3. parses as JSON,
4. validates against the published manifest schema (``schemas/manifest.schema.json``),
5. records this task as its ``taskId`` and its own run directory as its ``runId``, and
6. has ``status: succeeded``.

:func:`check_evidence` stops at the first of these that fails and says which, in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_codex import schemas

from .checklist.doc import RUNS_PREFIX, evidence_pattern
from .files import read_regular, why_unreadable

Problem = Literal["missing", "invalid", "wrong-task", "not-succeeded"]
PROBLEMS: tuple[Problem, ...] = ("missing", "invalid", "wrong-task", "not-succeeded")


@dataclass(frozen=True)
class EvidenceVerdict:
    """What one cited manifest proves: ``problem`` is None when it is good evidence;
    otherwise ``detail`` completes the sentence "<cited path> ..."."""

    cited: str
    problem: Problem | None = None
    detail: str | None = None
    status: str | None = None

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
    root: Path, cited: str, task_id: str, *, runs_prefix: str = RUNS_PREFIX
) -> EvidenceVerdict:
    """Check the manifest cited as ``cited`` (repository-relative) as evidence for
    ``task_id`` (see the module docstring)."""
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
    return EvidenceVerdict(cited, None, None, status)


def _schema_error(document: Any) -> str | None:
    """The most relevant manifest-schema error of ``document``, described in one line."""
    text = schemas.named_problem("manifest", document)
    if text is None:
        return None
    return text if len(text) <= 200 else text[:197] + "..."
