"""The manifest sink: folds a run's events into its manifest and keeps the file current.

``test:result`` goes into ``tests[]``, ``tool:complete`` into ``toolRuns[]``, and so on (see
:data:`LIST_SECTIONS`); the other events the manifest records have a ``_on_<namespace>_<verb>``
method. Every write goes through :func:`~pytest_codex.atomic.atomic_write_text` under the
manifest's file lock, so the file on disk is always a complete, schema-valid document.
Frequent events (test results) are written at most once per ``min_interval`` seconds; the
heartbeat and the run's end write the rest.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import records as r
from .. import schemas
from ..atomic import atomic_write_text, dumps, locked
from ..events import Event
from ..manifest import TERMINAL_STATUSES, latency_summary, tool_metrics
from ..records import handler_name
from ..timeutil import now_iso

# From this many tests on, the records are encoded once each and spliced into every write.
_SPLICE_MIN = 64
# json.dumps(document, indent=None, ensure_ascii=False) item by item (see atomic.dumps).
_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False)

# event type -> (list section, payload key holding the record; None = the payload itself)
LIST_SECTIONS: dict[str, tuple[str, str | None]] = {
    r.TEST_RESULT: ("tests", "test"),
    r.EXEC_END: ("commands", "command"),
    r.TOOL_COMPLETE: ("toolRuns", "toolRun"),
    r.APPROVAL_DECIDED: ("approvals", "approval"),
    r.GUARDRAIL_RESULT: ("guardrails", "guardrail"),
    r.STAGE_END: ("stages", "stage"),
    r.REVIEW_RECORDED: ("reviews", "review"),
    r.RUN_RESUME: ("resume_events", "resume"),
}
# Events whose changes may wait for the next throttled write.
# (The first manifest is already on disk when a run starts, so the start-up events need not
# force writes of their own either.)
THROTTLED = frozenset(
    {
        r.TEST_RESULT,
        r.METRICS_UPDATE,
        r.RUN_START,
        r.INSTRUCTIONS_LOADED,
        r.SINK_STATUS,
        r.SANDBOX_BACKEND,
        # A suite's guardrail items finish one after another, each in a fraction of a
        # second: one write for all of them, not one of the whole (large) manifest each.
        r.GUARDRAIL_RESULT,
    }
)


class ManifestSink:
    """Folds a run's events into its manifest and keeps the file on disk current."""

    name = "manifest"
    wants_chunk_data = False  # counts and offsets only

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
        self._lock = threading.RLock()  # the document
        self._file_lock = threading.Lock()  # the file: versions reach it in order
        self._version = 0  # of the last version prepared
        self._stored = 0  # of the last version on disk
        self._dirty = False
        self._last_write = float("-inf")
        self._closed = False
        self._closing = False
        self._timer: threading.Timer | None = None
        self._encoded_records: list[Any] = []
        self._encoded_texts: list[str] = []
        self._placeholder = f"codex-tests-{secrets.token_hex(16)}"
        self._placeholder_json = f'"{self._placeholder}"'
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
            else:
                self._schedule()

    def _schedule(self) -> None:
        # A throttled change reaches the file within ``min_interval`` even when no other
        # event follows (a session killed later keeps it).
        if self._timer is not None:
            return  # armed, and not yet holding the lock: it writes this change too
        delay = max(0.0, self.min_interval - (self._clock() - self._last_write))
        self._timer = threading.Timer(delay, self._timed_flush)
        self._timer.daemon = True
        self._timer.start()

    def _timed_flush(self) -> None:
        # The document is encoded under the lock, the file written after it is released: the
        # producer's next event (a test's result) need not wait for the disk.
        with self._lock:
            self._timer = None
            if self._closed or not self._dirty:
                return
            job = self._prepare()
        self._store(job)

    def _apply(self, event: Event) -> bool:
        section = LIST_SECTIONS.get(event.type)
        if section is not None:
            name, key = section
            record = event.payload.get(key, event.payload) if key else event.payload
            self.document[name].append(record)
        method = getattr(self, handler_name(event.type), None)
        if method is not None:
            method(event.payload, event)
        return section is not None or method is not None

    def _on_exec_end(self, payload: Mapping[str, Any], event: Event) -> None:
        record: r.CommandRecord = payload.get("command", payload)
        self._latencies.append(float(record.get("durationMs") or 0.0))
        self.document["metrics"]["commandLatencyMs"] = latency_summary(self._latencies)

    def _on_tool_complete(self, payload: Mapping[str, Any], event: Event) -> None:
        # Every orchestrator of the run reports its own running totals; the run's are
        # counted from the run's records, so no orchestrator overwrites another's.
        self.document["metrics"].update(tool_metrics(self.document["toolRuns"]))

    def _on_metrics_update(self, payload: Mapping[str, Any], event: Event) -> None:
        self.document["metrics"].update(payload.get("metrics", {}))

    def _on_instructions_loaded(self, payload: Mapping[str, Any], event: Event) -> None:
        self.document["instructions"] = payload.get("instructions")

    def _on_sink_status(self, payload: Mapping[str, Any], event: Event) -> None:
        state = {k: v for k, v in payload.items() if k != "name"}
        self.document["sinks"][str(payload["name"])] = state

    def _on_sandbox_backend(self, payload: Mapping[str, Any], event: Event) -> None:
        self.document["approvalProfile"]["sandboxBackend"] = dict(payload)

    def _on_run_status(self, payload: Mapping[str, Any], event: Event) -> None:
        self.document["status"] = payload["status"]
        self.document["statusDetail"] = payload.get("detail")

    def _on_run_summary(self, payload: Mapping[str, Any], event: Event) -> None:
        doc = self.document
        doc["summary"] = dict(payload)
        doc["status"] = payload["status"]
        doc["statusDetail"] = payload.get("statusDetail")
        if payload.get("collectOnly"):
            doc["collectOnly"] = True
        if payload["status"] in TERMINAL_STATUSES:
            doc["completedAt"] = payload["run"].get("completedAt") or event.timestamp

    # -- writing --------------------------------------------------------------------------
    def _due(self) -> bool:
        return self._clock() - self._last_write >= self.min_interval

    def write(self) -> None:
        """Write the document now (validated first when ``validate`` is on)."""
        self._store(self._prepare())

    def _prepare(self) -> tuple[int, str, bool]:
        """The document's next version, numbered, with the journal flushed first (so the
        file never claims an event ``events.jsonl`` lacks)."""
        with self._lock:
            if self.before_write is not None:
                self.before_write()  # the journal first: see JsonlFileSink
            if self.validate:
                schemas.validate("manifest", self.document, what=f"manifest {self.path}")
            text = self._encode()
            self._version += 1
            self._dirty = False
            self._last_write = self._clock()
            return self._version, text, self._final()

    def _store(self, job: tuple[int, str, bool]) -> None:
        """Write a prepared version unless a newer one is already on disk (two threads may
        prepare in one order and reach the file in the other)."""
        version, text, durable = job
        try:
            with self._file_lock:  # never held while taking self._lock
                if version <= self._stored:
                    return
                with locked(self.path):
                    atomic_write_text(self.path, text, durable=durable)
                self._stored = version
        except BaseException:
            with self._lock:
                self._dirty = True  # not on disk: the next write tries again
            raise

    def _encode(self) -> str:
        """The document as :func:`~pytest_codex.atomic.dumps` writes it (compact: with an
        indent, json falls back to its pure-Python encoder), each ``tests[]`` record encoded
        once for all writes: a suite's thousands of records are not encoded again at every
        throttled write. A record is re-encoded when it is no longer the same object."""
        tests = self.document.get("tests")
        if not isinstance(tests, list) or len(tests) < _SPLICE_MIN:
            return dumps(self.document, indent=None)
        # Two parallel lists (the records encoded, and their text) rather than one of pairs:
        # a pair per test would be one more object per test for the garbage collector.
        records, texts = self._encoded_records, self._encoded_texts
        keep = min(len(records), len(tests))
        for index in range(keep):
            if records[index] is not tests[index]:
                keep = index
                break
        del records[keep:], texts[keep:]
        records.extend(tests[keep:])
        texts.extend(_RECORD_ENCODER.encode(record) for record in tests[keep:])
        body = dumps({**self.document, "tests": self._placeholder}, indent=None)
        # The placeholder is a random word no other string of the document holds.
        return body.replace(self._placeholder_json, "[" + ", ".join(texts) + "]", 1)

    def _final(self) -> bool:
        # fsync only what must survive a power cut: the run's outcome (a terminal status) and
        # the closing write. Progress snapshots are atomic renames, complete after any kill,
        # and superseded by the final write (docs/manifest.md, "Durability").
        return self._closing or self.document.get("status") in TERMINAL_STATUSES

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
            job = self._prepare()
        self._store(job)  # as _timed_flush: producers do not wait for the disk

    def record_sink(self, name: str, state: str, error: str | None = None) -> None:
        """Record the health of a sink (``detached`` after it raised) and write."""
        self.record_health(name, {"state": state, "error": error, "at": now_iso()}, write=True)

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
            if self._timer is not None:
                self._timer.cancel()
            self.document["sinks"][self.name] = {"state": "closed", "error": None}
            self._closing = True
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
