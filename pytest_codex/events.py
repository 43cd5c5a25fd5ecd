"""The event envelope, the run's event bus, and the protocol sinks implement.

Producers call :meth:`EventBus.emit`; sinks subscribe. The bus stamps the envelope
(``v``, ``type``, ``timestamp``, gap-free ``seq``, ``runId``), scrubs secret values out of the
payload, and hands the event to every sink in subscription order. A sink that raises is
detached and reported through ``on_sink_failure`` (the manifest records it); the run goes on.
The JSONL writers live in :mod:`pytest_codex.sinks.jsonl` (importable from here as before).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from . import redact as _redact
from .atomic import open_nofollow
from .errors import CodexError
from .records import handler_name
from .timeutil import now_iso

ENVELOPE_VERSION = 1
_SCALARS = frozenset({int, float, bool, type(None)})
_TYPE = re.compile(r"[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*")
# One encoder for every envelope (json.dumps would build a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a run, in envelope form."""

    type: str
    payload: Mapping[str, Any]
    seq: int
    timestamp: str
    run_id: str
    v: int = ENVELOPE_VERSION
    # The envelope's JSON, encoded once for every sink that writes it (see to_json).
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

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
        """The envelope as one line of JSON (no trailing newline).

        Encoded on the first call and kept: every sink that writes JSON lines (the journal,
        ``--jsonl``) shares one encoding. The payload must not change after the event is
        emitted (the bus hands sinks its own redacted copy, which no producer holds)."""
        encoded = self._json
        if encoded is None:
            encoded = _ENCODER.encode(self.to_dict())
            object.__setattr__(self, "_json", encoded)
        return encoded

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


@runtime_checkable
class FinalizingSink(Sink, Protocol):
    """A sink that adds to the run summary before ``run:summary`` is emitted."""

    def finalize(self, summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Called once by :meth:`Run.finish` with the summary so far; the returned keys are
        merged into it (notification deliveries, ...). Waits here must be bounded."""
        ...


@runtime_checkable
class ReportingSink(Sink, Protocol):
    """A sink that reports its own health for ``sinks.<name>`` in the manifest."""

    def health(self) -> Mapping[str, Any]:
        """``state`` (``active``, ``closed``, ``disabled``, ...), ``error`` and details."""
        ...


def sink_health(sink: Sink) -> dict[str, Any]:
    """What the manifest records for a sink once it is closed."""
    if isinstance(sink, ReportingSink):
        return dict(sink.health())
    return {"state": "closed", "error": None}


class DispatchingSink:
    """Base of the built-in sinks: ``handle`` calls ``_on_<namespace>_<verb>(event)`` when the
    sink defines it (see :func:`pytest_codex.records.handler_name`); other events pass by."""

    name = "sink"

    @property
    def wants_chunk_data(self) -> bool:
        """Whether this sink reads the text of ``exec:chunk`` events (it handles them)."""
        return hasattr(self, "_on_exec_chunk")

    def handle(self, event: Event) -> None:
        """Dispatch the event to its handler, if any."""
        method = getattr(self, handler_name(event.type), None)
        if method is not None:
            method(event)

    def close(self) -> None:
        """Nothing to release by default."""


class Redactor:
    """The bus's redactor: :meth:`pytest_codex.redact.Redactor.value` over every payload
    (known secret values, every pattern, strings under secret-looking keys)."""

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        self._redactor = (
            _redact.Redactor.for_env() if secrets is None else _redact.Redactor(secrets)
        )
        self.secrets = self._redactor.secrets

    @classmethod
    def for_env(cls, *envs: Mapping[str, str] | None, extra: Iterable[str] = ()) -> Redactor:
        """A bus redactor for ``os.environ``, ``envs`` and ``extra`` secret values."""
        return cls(_redact.Redactor.for_env(*envs, extra=extra).secrets)

    def __call__(self, value: Any) -> Any:
        return self._redactor.value(value)

    def text(self, text: str) -> str:
        """One string, redacted."""
        return self._redactor.text(text)

    def identifier(self, text: str) -> str:
        """One identifier (node id, path, name): known secret values replaced, nothing
        else."""
        return self._redactor.identifier(text)


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
        self._valid_types: set[str] = set()  # types already checked against _TYPE
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

    def redact_text(self, text: str) -> str:
        """One string through the bus's redactor (for :meth:`emit` with ``redacted=True``)."""
        return self._redact.text(text)

    def redact_identifier(self, text: str) -> str:
        """One identifier through the bus's redactor: known secret values only (see
        :data:`pytest_codex.redact.IDENTIFIER_KEYS`)."""
        return self._redact.identifier(text)

    def emit(
        self, type: str, payload: Mapping[str, Any] | None = None, *, redacted: bool = False
    ) -> Event:
        """Emit one event to every sink and return it.

        ``redacted=True`` is for a producer that built the payload itself, on the hot path
        (one ``test:result`` per test): every string in it has been through
        :meth:`redact_text`, no key looks secret (:func:`pytest_codex.redact.is_secret_name`)
        or names an argv, and the producer keeps no reference to it. The bus then uses the
        payload as it is, which is what its own redaction would have produced."""
        if type not in self._valid_types:
            if not _TYPE.fullmatch(type):
                raise CodexError(f"event type {type!r} is not of the form 'namespace:verb'")
            self._valid_types.add(type)
        if redacted and payload is not None:
            clean = payload
        else:
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


def read_events(path: Path) -> Iterator[Event]:
    """The events of an ``events.jsonl`` file; a torn last line (killed writer) is skipped."""
    with os.fdopen(open_nofollow(path, os.O_RDONLY, create_dirs=False), encoding="utf-8") as handle:
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
