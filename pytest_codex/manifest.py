"""The manifest: the run's evidence model.

A fresh manifest (:func:`new_manifest`), reading one (:func:`load_manifest`), finding runs
(:func:`iter_manifests`, :func:`find_manifest`), staleness (:func:`is_stale`), the task's
aggregates (:func:`update_task_metrics`) and its state mirror (:func:`write_state`). The sink
that folds events into the document is :class:`pytest_codex.sinks.manifest.ManifestSink`
(importable from here as before).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import (
    atomic_write_json,
    atomic_write_text,
    dumps,
    locked,
    open_nofollow,
    read_json,
    update_json,
)
from .errors import CodexError, RunNotFoundError
from .ids import is_run_id, validate_task_id
from .timeutil import now_iso

if TYPE_CHECKING:
    from .context import Context

SCHEMA_VERSION = 1
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "abandoned"})


def new_manifest(
    *,
    task_id: str,
    run_id: str,
    runner: str,
    pipeline_id: str | None,
    pipeline_title: str | None,
    parent_run_id: str | None,
    approval_policy: str,
    sandbox_mode: str,
    config: Mapping[str, Any],
    environment: Mapping[str, str | None],
    paths: Mapping[str, str],
    heartbeat_interval: float,
) -> dict[str, Any]:
    """A fresh manifest for a run that is starting (status ``in_progress``)."""
    now = now_iso()
    return {
        "schemaVersion": SCHEMA_VERSION,
        "taskId": task_id,
        "runId": run_id,
        "parentRunId": parent_run_id,
        "pipelineId": pipeline_id,
        "pipelineTitle": pipeline_title,
        "runner": runner,
        "status": "in_progress",
        "statusDetail": None,
        "startedAt": now,
        "updatedAt": now,
        "completedAt": None,
        "heartbeatAt": now,
        "heartbeatIntervalSeconds": heartbeat_interval,
        # Three missed beats make a run stale: a reader may treat it as dead.
        "heartbeatStaleAfterSeconds": heartbeat_interval * 3,
        "approvalProfile": {
            "approvalPolicy": approval_policy,
            "sandboxMode": sandbox_mode,
            "sandboxBackend": None,
        },
        "config": dict(config),
        "environment": dict(environment),
        "paths": dict(paths),
        "tests": [],
        "commands": [],
        "toolRuns": [],
        "guardrails": [],
        "approvals": [],
        "stages": [],
        "instructions": None,
        "metrics": {},
        "sinks": {},
        "summary": None,
        "resume_events": [],
        "reviews": [],
        "host": {
            # platform.python_version(), without importing platform (its regexes cost more).
            "python": sys.version.split()[0],
            "platform": sys.platform,
            "pid": os.getpid(),
        },
        "repository": _repository(paths),
    }


def _repository(paths: Mapping[str, str]) -> dict[str, Any]:
    """The run's repository identity (see :func:`pytest_codex.repository.repository_identity`)."""
    from .repository import repository_identity

    return repository_identity(Path(paths["root"]))


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest from disk (under its lock, so never mid-update by another writer)."""
    with locked(path):
        document: dict[str, Any] = read_json(path)
    return document


def is_stale(manifest: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether an ``in_progress`` manifest's heartbeat is older than its stale threshold."""
    from .timeutil import parse_timestamp

    if manifest.get("status") != "in_progress":
        return False
    beat = parse_timestamp(str(manifest["heartbeatAt"])).timestamp()
    limit = float(manifest.get("heartbeatStaleAfterSeconds") or 15)
    return (time.time() if now is None else now) - beat > limit


def tool_metrics(tool_runs: list[Any]) -> dict[str, Any]:
    """A run's approval metrics counted from its ``toolRuns[]``: ``approvalRequests`` (runs
    that needed approval), ``cacheHits`` (those the approval cache answered), their ratio
    ``approvalReuse`` and ``retries`` (attempts beyond the first)."""
    requests = hits = retries = 0
    for record in tool_runs:
        source = record.get("approvalSource") if isinstance(record, Mapping) else None
        requests += source not in (None, "not-required")
        hits += source == "cache"
        retries += int(record.get("retryCount") or 0) if isinstance(record, Mapping) else 0
    return {
        "approvalRequests": requests,
        "cacheHits": hits,
        "approvalReuse": hits / requests if requests else None,
        "retries": retries,
    }


def run_contribution(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What one run adds to its task's metrics (replaced, not added, when it finishes again)."""
    tests: dict[str, int] = {}
    for record in manifest.get("tests", []):
        tests[record["outcome"]] = tests.get(record["outcome"], 0) + 1
    commands = manifest.get("commands", [])
    metrics = tool_metrics(manifest.get("toolRuns", []))
    return {
        "status": manifest["status"],
        "tests": tests,
        "commands": len(commands),
        "commandsDurationMs": sum(float(c.get("durationMs") or 0) for c in commands),
        "approvalRequests": metrics["approvalRequests"],
        "cacheHits": metrics["cacheHits"],
    }


def update_task_metrics(path: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Fold a finished run into ``.runs/<task>/metrics.json`` (read-modify-write under lock):
    per run first (``perRun``, so a resumed run replaces its earlier contribution), then the
    task's totals from those."""

    def fold(current: Any) -> dict[str, Any]:
        doc: dict[str, Any] = current if isinstance(current, dict) else {}
        doc.setdefault("taskId", manifest["taskId"])
        found = doc.get("perRun")
        per_run: dict[str, Any] = found if isinstance(found, dict) else {}
        per_run[manifest["runId"]] = run_contribution(manifest)
        doc["perRun"] = per_run
        runs = list(per_run.values())
        doc["runs"] = len(runs)
        by_status: dict[str, int] = {}
        tests: dict[str, int] = {}
        for run in runs:
            by_status[run["status"]] = by_status.get(run["status"], 0) + 1
            for outcome, count in run["tests"].items():
                tests[outcome] = tests.get(outcome, 0) + count
        doc["byStatus"], doc["tests"] = by_status, tests
        doc["commands"] = {
            "count": sum(r["commands"] for r in runs),
            "totalDurationMs": sum(r["commandsDurationMs"] for r in runs),
        }
        requests = sum(r["approvalRequests"] for r in runs)
        hits = sum(r["cacheHits"] for r in runs)
        doc["approvals"] = {
            "requests": requests,
            "cacheHits": hits,
            "approvalReuse": hits / requests if requests else None,
        }
        doc["lastRun"] = {
            "runId": manifest["runId"],
            "status": manifest["status"],
            "completedAt": manifest.get("completedAt"),
            "manifest": manifest["paths"]["manifest"],
        }
        doc["updatedAt"] = now_iso()
        return doc

    result: dict[str, Any] = update_json(path, fold, {})
    return result


def write_state(path: Path, summary: Mapping[str, Any]) -> None:
    """Mirror the last run's summary to ``out/<task>/state.json`` (not fsynced: it mirrors
    the final manifest's ``summary``, which is; see docs/manifest.md, "Durability")."""
    with locked(path):
        atomic_write_json(path, dict(summary), durable=False)


def latency_summary(samples: list[float]) -> dict[str, Any]:
    """Count, p50 and p95 (nearest rank) of latency samples in milliseconds."""
    if not samples:
        return {"count": 0, "p50": None, "p95": None}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return round(ordered[index], 3)

    return {"count": len(ordered), "p50": rank(0.5), "p95": rank(0.95)}


def iter_manifests(context: Context, task_id: str | None = None) -> list[Path]:
    """Every manifest under the runs root (of one task when given), oldest first."""
    runs_dir = context.roots.runs_dir
    if task_id is not None:
        tasks = [runs_dir / validate_task_id(task_id)]
    elif runs_dir.is_dir():
        tasks = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    else:
        tasks = []
    found = [
        run / "manifest.json"
        for task in tasks
        if (task / "cli").is_dir()
        for run in (task / "cli").iterdir()
        if is_run_id(run.name) and (run / "manifest.json").is_file()
    ]
    # Run ids sort by time, so sorting on the directory name is chronological.
    return sorted(found, key=lambda p: p.parent.name)


def find_manifest(context: Context, run_ref: str, *, task_id: str | None = None) -> Path:
    """The manifest of run ``run_ref``: a run id, or ``latest``, the newest *top-level* run
    (one without a ``parentRunId``: not the pytest run a command of another run recorded),
    else the newest run when every run has a parent."""
    if run_ref == "latest":
        manifests = iter_manifests(context, task_id)
        if not manifests:
            where = f"task {task_id}" if task_id else str(context.roots.runs_dir)
            raise RunNotFoundError(f"no runs found for {where}; start one first")
        return next((p for p in reversed(manifests) if not _has_parent(p)), manifests[-1])
    if not is_run_id(run_ref):
        raise RunNotFoundError(
            f"{run_ref!r} is not a run id (YYYY-MM-DDTHH-MM-SS-mmmZ-xxxxxxxx) or 'latest'"
        )
    for manifest in iter_manifests(context, task_id):
        if manifest.parent.name == run_ref:
            return manifest
    raise RunNotFoundError(
        f"run {run_ref} not found under {context.roots.runs_dir}; list runs with "
        "'codex-orchestrator runs list'"
    )


def _has_parent(path: Path) -> bool:
    """Whether the manifest at ``path`` names a parent run (an unreadable one does not: it
    is shown, with its problem, rather than skipped)."""
    try:
        document: Any = load_manifest(path)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and bool(document.get("parentRunId"))


def mark_abandoned(task_dir: Path, *, by: str, now: float | None = None) -> list[Path]:
    """Mark every ``in_progress`` run of a task whose heartbeat is stale as ``abandoned`` (a
    terminal status; the detail says when it last beat and who marked it). A manifest that
    cannot be read is left alone. Returns the manifests it marked."""
    marked: list[Path] = []
    runs = task_dir / "cli"
    if not runs.is_dir():
        return marked
    for path in sorted(runs.glob("*/manifest.json")):
        if not _maybe_in_progress(path):
            continue
        try:
            with locked(path):
                document: Any = read_json(path)
                if not isinstance(document, dict) or not is_stale(document, now):
                    continue
                if RunLock(path.parent).held_by_another():
                    continue  # late heartbeats (a loaded machine), but its writer lives
                stamp = now_iso()
                document["status"] = "abandoned"
                document["statusDetail"] = (
                    f"heartbeat stale since {document['heartbeatAt']}; marked abandoned by {by}"
                )
                document["completedAt"] = stamp
                document["updatedAt"] = stamp
                atomic_write_text(path, dumps(document, indent=None))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        marked.append(path)
    return marked


def _maybe_in_progress(path: Path) -> bool:
    """A cheap look at the head of a manifest (``status`` comes early in the document), so
    that the next run of a task does not parse every finished manifest of the task."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"in_progress"' in head or b'"status"' not in head


class RunLock:
    """The exclusive lock of one run directory, held by the process writing the run from
    start (or resume) to finish, so that concurrent resumes append one after another and
    none loses another's records or reuses its ``seq``. The kernel drops it when a writer
    dies, so a killed run never blocks the next writer."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".run.lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Block until this process holds the lock."""
        import fcntl

        # Never through a link a command may have planted (see atomic).
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, create_dirs=False)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def held_by_another(self) -> bool:
        """Whether a live writer holds the lock now (a dead one holds nothing: the kernel
        dropped its lock). Never blocks."""
        import fcntl

        try:
            fd = open_nofollow(self.path, os.O_RDONLY, create_dirs=False)
        except (OSError, CodexError):
            return False  # no lock file: no writer ever held it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing also drops the lock we may just have taken
        return False

    def release(self) -> None:
        """Let the next writer in (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
