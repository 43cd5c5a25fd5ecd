"""The event envelope, the run's event bus, and JSONL writers.

Producers call :meth:`EventBus.emit`; sinks subscribe. The bus stamps the envelope
(``v``, ``type``, ``timestamp``, gap-free ``seq``, ``runId``), scrubs secret values out of the
payload, and hands the event to every sink in subscription order. A sink that raises is
detached and reported through ``on_sink_failure`` (the manifest records it); the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from .errors import CodexError
from .redact import REDACTED, secret_values
from .timeutil import now_iso

ENVELOPE_VERSION = 1
_TYPE = re.compile(r"[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a run, in envelope form."""

    type: str
    payload: Mapping[str, Any]
    seq: int
    timestamp: str
    run_id: str
    v: int = ENVELOPE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (field order as published)."""
        return {
            "v": self.v,
            "type": self.type,
            "timestamp": self.timestamp,
            "seq": self.seq,
            "runId": self.run_id,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        """The envelope as one line of JSON (no trailing newline)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event from its envelope."""
        return cls(
            type=data["type"],
            payload=data["payload"],
            seq=data["seq"],
            timestamp=data["timestamp"],
            run_id=data["runId"],
            v=data.get("v", ENVELOPE_VERSION),
        )


@runtime_checkable
class Sink(Protocol):
    """Something that receives every event of a run."""

    name: str

    def handle(self, event: Event) -> None:
        """Take one event. Raising detaches the sink; it must not block for long."""
        ...

    def close(self) -> None:
        """Release what the sink holds; called once when the run ends."""
        ...


class Redactor:
    """Replaces known secret values in every string of a payload."""

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        self.secrets = list(secret_values() if secrets is None else secrets)

    def __call__(self, value: Any) -> Any:
        if not self.secrets:
            return value
        return self._scrub(value)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value


SinkFailureHandler = Callable[[str, BaseException], None]


class EventBus:
    """Stamps, redacts and dispatches the events of one run. Thread-safe."""

    def __init__(
        self,
        run_id: str,
        *,
        start_seq: int = 0,
        redactor: Redactor | None = None,
        on_sink_failure: SinkFailureHandler | None = None,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.run_id = run_id
        self._seq = start_seq
        self._sinks: list[Sink] = []
        self._lock = threading.RLock()
        self._redact = redactor or Redactor()
        self._on_sink_failure = on_sink_failure
        self._clock = clock
        self.failures: dict[str, str] = {}

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event emitted."""
        return self._seq

    @property
    def sinks(self) -> list[Sink]:
        """The attached sinks, in dispatch order."""
        return list(self._sinks)

    def subscribe(self, sink: Sink) -> None:
        """Attach a sink; it receives every event emitted from now on."""
        with self._lock:
            self._sinks.append(sink)

    def unsubscribe(self, sink: Sink) -> None:
        """Detach a sink (no-op when it is not attached)."""
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def emit(self, type: str, payload: Mapping[str, Any] | None = None) -> Event:
        """Emit one event to every sink and return it."""
        if not _TYPE.fullmatch(type):
            raise CodexError(f"event type {type!r} is not of the form 'namespace:verb'")
        clean = self._redact(payload) if payload else {}
        # Seq assignment and dispatch happen under one lock so every sink sees events
        # in seq order even when several threads emit.
        with self._lock:
            self._seq += 1
            event = Event(type, clean, self._seq, self._clock(), self.run_id)
            for sink in list(self._sinks):
                try:
                    sink.handle(event)
                except Exception as exc:
                    self._detach(sink, exc)
        return event

    def _detach(self, sink: Sink, exc: BaseException) -> None:
        self._sinks.remove(sink)
        name = getattr(sink, "name", type(sink).__name__)
        self.failures[name] = f"{type(exc).__name__}: {exc}"
        if self._on_sink_failure is not None:
            # A broken failure handler must not stop the run either.
            with contextlib.suppress(Exception):
                self._on_sink_failure(name, exc)

    def close(self) -> None:
        """Close every sink (errors are recorded, never raised) and detach them."""
        with self._lock:
            for sink in list(self._sinks):
                try:
                    sink.close()
                except Exception as exc:
                    self._detach(sink, exc)
            self._sinks.clear()


class JsonlFileSink:
    """Appends every event to a file, one envelope per line.

    Lines go out through ``write(2)`` on an ``O_APPEND`` descriptor, so a process killed at
    any moment leaves whole lines behind. Frequent event types (``buffered``, test results by
    default) are batched for at most ``max_delay`` seconds (a timer writes them out even when
    no other event follows, so a process killed later loses none of them); any other event,
    :meth:`flush`
    (called before every manifest write, so the manifest never claims an event the journal
    lacks) and :meth:`close` write them out.
    """

    def __init__(
        self,
        path: Path,
        name: str = "events",
        *,
        buffered: frozenset[str] = frozenset({"test:result"}),
        max_delay: float = 0.25,
        max_lines: int = 512,
    ) -> None:
        self.name = name
        self.path = path
        self.buffered = buffered
        self.max_delay = max_delay
        self.max_lines = max_lines
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def handle(self, event: Event) -> None:
        """Append the event's line (now, or with the next flush for buffered types)."""
        line = (event.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            if event.type in self.buffered:
                if not self._pending:
                    self._oldest = time.monotonic()
                    self._schedule()
                self._pending.append(line)
                if (
                    len(self._pending) >= self.max_lines
                    or time.monotonic() - self._oldest >= self.max_delay
                ):
                    self._write_pending()
                return
            self._pending.append(line)
            self._write_pending()

    def _schedule(self) -> None:
        # Called with the lock held, when a batch starts. A timer that is armed has not yet
        # taken the lock, so it will write this batch too.
        if self._timer is None:
            self._timer = threading.Timer(self.max_delay, self._timed_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending or self._fd is None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        written = os.write(self._fd, data)
        while written < len(data):  # short writes are rare on regular files, but possible
            written += os.write(self._fd, data[written:])

    def flush(self) -> None:
        """Write any batched lines now."""
        with self._lock:
            self._write_pending()

    def close(self) -> None:
        """Write what is batched and close the file."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._write_pending()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class JsonlStreamSink:
    """Writes every event to a text stream (stdout for ``--jsonl``), flushing each line."""

    def __init__(
        self,
        stream: IO[str],
        name: str = "stdout",
        render: Callable[[Event], Iterable[str]] | None = None,
    ) -> None:
        self.name = name
        self.stream = stream
        self.render = render

    def handle(self, event: Event) -> None:
        """Write the event's line(s)."""
        lines = [event.to_json()] if self.render is None else list(self.render(event))
        for line in lines:
            self.stream.write(line + "\n")
        if lines:
            self.stream.flush()

    def close(self) -> None:
        """Flush the stream (it is not ours to close)."""
        self.stream.flush()


def read_events(path: Path) -> Iterator[Event]:
    """The events of an ``events.jsonl`` file; a torn last line (killed writer) is skipped."""
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            yield Event.from_dict(json.loads(line))


def last_seq(path: Path) -> int:
    """The ``seq`` of the last complete event in an ``events.jsonl`` file (0 when none)."""
    seq = 0
    try:
        for event in read_events(path):
            seq = event.seq
    except FileNotFoundError:
        return 0
    return seq
