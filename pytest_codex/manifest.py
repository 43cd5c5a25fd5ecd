"""The manifest: the run's evidence, built from its events and written atomically.

:class:`ManifestSink` subscribes to the run's bus and folds events into the manifest document
(``test:result`` into ``tests[]``, ``tool:complete`` into ``toolRuns[]``, ...). Every write goes
through :func:`~pytest_codex.atomic.atomic_write_json` under the manifest's file lock, so the
file on disk is always a complete, schema-valid document. Frequent events (test results) are
written at most once per ``min_interval`` seconds; the heartbeat and the run's end write the rest.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import schemas
from .atomic import atomic_write_json, atomic_write_text, dumps, locked, read_json, update_json
from .events import Event
from .timeutil import now_iso

SCHEMA_VERSION = 1
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "abandoned"})

# event type -> (list section, payload key holding the record; None = the payload itself)
LIST_SECTIONS: dict[str, tuple[str, str | None]] = {
    "test:result": ("tests", "test"),
    "exec:end": ("commands", "command"),
    "tool:complete": ("toolRuns", "toolRun"),
    "approval:decided": ("approvals", "approval"),
    "guardrail:result": ("guardrails", "guardrail"),
    "stage:end": ("stages", "stage"),
    "review:recorded": ("reviews", "review"),
    "run:resume": ("resume_events", "resume"),
}
# Events whose changes may wait for the next throttled write.
# (The first manifest is already on disk when a run starts, so the start-up events need not
# force writes of their own either.)
THROTTLED = frozenset(
    {
        "test:result",
        "metrics:update",
        "run:start",
        "instructions:loaded",
        "sink:status",
        "sandbox:backend",
    }
)


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
            "python": platform.python_version(),
            "platform": sys.platform,
            "pid": os.getpid(),
        },
        "repository": _repository(paths),
    }


def _repository(paths: Mapping[str, str]) -> dict[str, Any]:
    """The run's repository identity (see :func:`pytest_codex.attestation.repository_identity`)."""
    from .attestation import repository_identity

    return repository_identity(Path(paths["root"]))


class ManifestSink:
    """Folds a run's events into its manifest and keeps the file on disk current."""

    name = "manifest"

    def __init__(
        self,
        path: Path,
        document: dict[str, Any],
        *,
        validate: bool = False,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.before_write = before_write
        self.document = document
        self.validate = validate
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.RLock()
        self._dirty = False
        self._last_write = float("-inf")
        self._closed = False
        self._latencies: list[float] = [
            float(c.get("durationMs") or 0.0) for c in document.get("commands", [])
        ]

    # -- folding events -------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Fold one event into the document; write now or soon."""
        with self._lock:
            if not self._apply(event):
                return
            self._dirty = True
            self.document["updatedAt"] = event.timestamp
            if event.type not in THROTTLED or self._due():
                self.write()

    def _apply(self, event: Event) -> bool:
        doc = self.document
        payload = event.payload
        section = LIST_SECTIONS.get(event.type)
        if section is not None:
            name, key = section
            record = payload.get(key, payload) if key else payload
            doc[name].append(record)
            if event.type == "exec:end":
                self._latencies.append(float(record.get("durationMs") or 0.0))
                doc["metrics"]["commandLatencyMs"] = latency_summary(self._latencies)
            if event.type == "tool:complete":
                # Every orchestrator of the run reports its own running totals; the run's
                # are counted from the run's records, so no orchestrator overwrites another's.
                doc["metrics"].update(tool_metrics(doc["toolRuns"]))
            return True
        if event.type == "metrics:update":
            doc["metrics"].update(payload.get("metrics", {}))
            return True
        if event.type == "instructions:loaded":
            doc["instructions"] = payload.get("instructions")
            return True
        if event.type == "sink:status":
            state = {k: v for k, v in payload.items() if k != "name"}
            doc["sinks"][str(payload["name"])] = state
            return True
        if event.type == "sandbox:backend":
            doc["approvalProfile"]["sandboxBackend"] = dict(payload)
            return True
        if event.type == "run:status":
            doc["status"] = payload["status"]
            doc["statusDetail"] = payload.get("detail")
            return True
        if event.type == "run:summary":
            doc["summary"] = dict(payload)
            doc["status"] = payload["status"]
            doc["statusDetail"] = payload.get("statusDetail")
            if payload["status"] in TERMINAL_STATUSES:
                doc["completedAt"] = payload["run"].get("completedAt") or event.timestamp
            return True
        return False

    # -- writing --------------------------------------------------------------------------
    def _due(self) -> bool:
        return self._clock() - self._last_write >= self.min_interval

    def write(self) -> None:
        """Write the document now (validated first when ``validate`` is on)."""
        with self._lock:
            if self.before_write is not None:
                self.before_write()  # the journal first: see JsonlFileSink
            if self.validate:
                schemas.validate("manifest", self.document, what=f"manifest {self.path}")
            with locked(self.path):
                # Compact JSON: with an indent, json falls back to its pure-Python encoder,
                # several times slower on a large manifest.
                atomic_write_text(self.path, dumps(self.document, indent=None))
            self._dirty = False
            self._last_write = self._clock()

    def flush(self) -> None:
        """Write pending changes, if any."""
        with self._lock:
            if self._dirty:
                self.write()

    def beat(self) -> None:
        """Refresh the heartbeat and write (with any pending changes)."""
        with self._lock:
            if self._closed:
                return
            now = now_iso()
            self.document["heartbeatAt"] = now
            self.document["updatedAt"] = now
            self.write()

    def record_sink(self, name: str, state: str, error: str | None = None) -> None:
        """Record the health of a sink (``detached`` after it raised) and write."""
        with self._lock:
            self.document["sinks"][name] = {"state": state, "error": error, "at": now_iso()}
            self._dirty = True
            if not self._closed:
                self.write()

    def record_health(self, name: str, health: Mapping[str, Any], *, write: bool = False) -> None:
        """Record a sink's health report (``state`` plus sink-specific details)."""
        with self._lock:
            self.document["sinks"][name] = dict(health)
            self._dirty = True
            if write and not self._closed:
                self.write()

    def close(self) -> None:
        """Write what is pending; the sink takes no more writes after this."""
        with self._lock:
            if self._closed:
                return
            self.document["sinks"].setdefault(self.name, {})
            self.document["sinks"][self.name] = {"state": "closed", "error": None}
            self.write()
            self._closed = True


class Heartbeat:
    """A daemon thread that refreshes a manifest's heartbeat every ``interval`` seconds."""

    def __init__(self, sink: ManifestSink, interval: float) -> None:
        self._sink = sink
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="codex-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sink.beat()
            except Exception:  # a failed beat is retried at the next interval
                continue

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 1)


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
    """Mirror the last run's summary to ``out/<task>/state.json``."""
    with locked(path):
        atomic_write_json(path, dict(summary))


def latency_summary(samples: list[float]) -> dict[str, Any]:
    """Count, p50 and p95 (nearest rank) of latency samples in milliseconds."""
    if not samples:
        return {"count": 0, "p50": None, "p95": None}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return round(ordered[index], 3)

    return {"count": len(ordered), "p50": rank(0.5), "p95": rank(0.95)}


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

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the next writer in (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
