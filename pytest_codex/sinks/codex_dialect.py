"""The Codex CLI ``exec --json`` dialect, rendered from our events.

A run is one Codex *thread* (``thread_id`` = run id) with one *turn* per invocation:
``thread.started``, ``turn.started``, then a ``command_execution`` item per command
(``item.started``, ``item.updated`` as output arrives, ``item.completed``), an
``agent_message`` item carrying the summary (or the structured output as a JSON string), and
``turn.completed`` (usage all zeros: no model ran) or ``turn.failed``. The shapes follow Codex
CLI and its TypeScript SDK, so ``@openai/codex-sdk`` can drive ``codex-orchestrator``; item
statuses are only those the SDK's types declare (:data:`ITEM_STATUSES`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..events import Event
from ..records import CommandRecord, ToolRunRecord, handler_name
from ..summary import command_text, failure_message, summary_line

__all__ = [
    "AGGREGATE_CAP",
    "ITEM_STATUSES",
    "UPDATES_PER_SECOND",
    "ZERO_USAGE",
    "CodexDialect",
    "command_text",
    "failure_message",
    "summary_line",
]

# CommandExecutionStatus in @openai/codex-sdk's index.d.ts: nothing else is ever emitted.
ITEM_STATUSES = ("in_progress", "completed", "failed")

ZERO_USAGE: dict[str, int] = {
    "input_tokens": 0,
    "cached_input_tokens": 0,
    "cache_write_input_tokens": 0,
    "output_tokens": 0,
    "reasoning_output_tokens": 0,
}
# The aggregated output an item carries is capped (head and tail kept) so a chatty command
# cannot make every item.updated line huge; the full output is in the command's log.
AGGREGATE_CAP = 64 * 1024
# At most this many item.updated lines a second per item, each after at least as much new
# output as the previous update carried (the first chunk goes out at once; item.completed
# carries the final aggregated output): stdout stays linear in the output, about N + 2 caps.
UPDATES_PER_SECOND = 4


class _Aggregate:
    def __init__(self) -> None:
        self.head = ""
        self.tail = ""
        self.omitted = 0

    def add(self, text: str) -> None:
        half = AGGREGATE_CAP // 2
        if len(self.head) < half:
            take = half - len(self.head)
            self.head += text[:take]
            text = text[take:]
        if not text:
            return
        self.tail += text
        if len(self.tail) > half:
            self.omitted += len(self.tail) - half
            self.tail = self.tail[-half:]

    def text(self) -> str:
        if self.omitted:
            return f"{self.head}\n[... {self.omitted} characters omitted ...]\n{self.tail}"
        return self.head + self.tail


class CodexDialect:
    """Turns envelope events into Codex ``exec --json`` events (stateful, one per run)."""

    def __init__(
        self,
        *,
        structured_output: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.structured_output = structured_output
        self._clock = clock
        # Per item: when it last had an item.updated, how much output that carried, and how
        # much has arrived since.
        self._updated: dict[str, list[float]] = {}
        self._next_item = 0
        self._items: dict[str, dict[str, Any]] = {}
        self._outputs: dict[str, _Aggregate] = {}
        self._turn_open = False

    def _item_id(self) -> str:
        item_id = f"item_{self._next_item}"
        self._next_item += 1
        return item_id

    def __call__(self, event: Event) -> list[str]:
        """The Codex lines for one event (often none)."""
        return [json.dumps(obj, ensure_ascii=False) for obj in self.translate(event)]

    def translate(self, event: Event) -> Iterator[dict[str, Any]]:
        """The Codex events (as dicts) for one envelope event."""
        method = getattr(self, handler_name(event.type), None)
        if method is not None:
            yield from method(event)

    def _on_run_start(self, event: Event) -> Iterator[dict[str, Any]]:
        yield {"type": "thread.started", "thread_id": event.run_id}
        yield {"type": "turn.started"}
        self._turn_open = True

    _on_run_resume = _on_run_start

    def _on_exec_begin(self, event: Event) -> Iterator[dict[str, Any]]:
        item: dict[str, Any] = {
            "id": self._item_id(),
            "type": "command_execution",
            "command": command_text(event.payload.get("argv", "")),
            "aggregated_output": "",
            "status": "in_progress",
        }
        key = str(event.payload.get("correlationId"))
        self._items[key] = item
        self._outputs[key] = _Aggregate()
        yield {"type": "item.started", "item": dict(item)}

    def _on_exec_chunk(self, event: Event) -> Iterator[dict[str, Any]]:
        key = str(event.payload.get("correlationId"))
        item = self._items.get(key)
        if item is None:
            return
        data = str(event.payload.get("data", ""))
        self._outputs[key].add(data)
        now = self._clock()
        last = self._updated.get(key)
        if last is not None:
            last[2] += len(data)
            if now - last[0] < 1.0 / UPDATES_PER_SECOND or last[2] < last[1]:
                return  # throttled: a later update (or item.completed) carries this output
        text = self._outputs[key].text()
        self._updated[key] = [now, float(len(text)), 0.0]
        item["aggregated_output"] = text
        yield {"type": "item.updated", "item": dict(item)}

    def _on_exec_end(self, event: Event) -> Iterator[dict[str, Any]]:
        record: CommandRecord = event.payload.get("command", event.payload)
        key = str(record.get("correlationId"))
        item = self._items.pop(key, None)
        if item is None:
            return
        output = self._outputs.pop(key, None)
        self._updated.pop(key, None)
        if output is not None:
            item["aggregated_output"] = output.text()
        exit_code = record.get("exitCode")
        item["status"] = "completed" if exit_code == 0 else "failed"
        item["exit_code"] = exit_code if exit_code is not None else -1
        yield {"type": "item.completed", "item": item}

    def _on_tool_complete(self, event: Event) -> Iterator[dict[str, Any]]:
        tool_run: ToolRunRecord = event.payload.get("toolRun", {})
        if tool_run.get("status") in ("refused", "denied") and self._items:
            # The command never ran (or was stopped by the sandbox): failed, the only
            # status of an ended command_execution besides completed that the SDK's types
            # know (CommandExecutionStatus = in_progress | completed | failed).
            for key in list(self._items):
                item = self._items.pop(key)
                output = self._outputs.pop(key, None)
                self._updated.pop(key, None)
                if output is not None:
                    item["aggregated_output"] = output.text()
                item["status"] = "failed"
                yield {"type": "item.completed", "item": item}

    def _on_run_summary(self, event: Event) -> Iterator[dict[str, Any]]:
        if not self._turn_open:
            return
        self._turn_open = False
        payload = event.payload
        yield {
            "type": "item.completed",
            "item": {
                "id": self._item_id(),
                "type": "agent_message",
                "text": self.agent_message(payload),
            },
        }
        if payload.get("status") == "succeeded":
            yield {"type": "turn.completed", "usage": dict(ZERO_USAGE)}
        else:
            yield {"type": "turn.failed", "error": {"message": failure_message(payload)}}

    def agent_message(self, summary: Mapping[str, Any]) -> str:
        """The final response: the structured output as JSON, else a one-line summary."""
        outputs = summary.get("outputs") or {}
        if self.structured_output and outputs.get("structured") is not None:
            return json.dumps(outputs["structured"], ensure_ascii=False)
        return summary_line(summary)
