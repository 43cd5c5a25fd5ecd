"""The one thing producers know about the event stream: something they can ``emit`` to.

Producers (the ToolOrchestrator, the exec runtime, pipelines, guardrails) take an
:class:`Emitter`; a :class:`~pytest_codex.run.Run` is one, and so is the
:class:`RecordingEmitter` tests use. The run's bus adds the envelope (``v``, ``seq``,
``timestamp``, ``runId``) itself, so producers never see sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Emitter(Protocol):
    """Anything events can be emitted to."""

    def emit(self, type: str, payload: Mapping[str, Any]) -> Any:
        """Emit one event of ``type`` (``namespace:verb``) with a JSON-serialisable payload."""
        ...


class RecordingEmitter:
    """An emitter that keeps every event in memory, in order (for tests and dry runs)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        """Record the event."""
        self.events.append((type, dict(payload)))

    def of_type(self, type: str) -> list[dict[str, Any]]:
        """The payloads of every recorded event of ``type``."""
        return [payload for kind, payload in self.events if kind == type]

    @property
    def types(self) -> list[str]:
        """The types of the recorded events, in order."""
        return [kind for kind, _ in self.events]
