"""The Codex CLI ``exec --json`` dialect, rendered from our events.

A run is one Codex *thread* (``thread_id`` = run id) with one *turn* per invocation:
``thread.started``, ``turn.started``, then a ``command_execution`` item per command
(``item.started``, ``item.updated`` as output arrives, ``item.completed``), an
``agent_message`` item carrying the summary (or the structured output as a JSON string), and
``turn.completed`` (usage all zeros: no model ran) or ``turn.failed``. The shapes follow Codex
CLI and its TypeScript SDK, so ``@openai/codex-sdk`` can drive ``codex-orchestrator``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from ..events import Event

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


def command_text(argv: Any) -> str:
    """The command line as Codex shows it."""
    if isinstance(argv, str):
        return argv
    return shlex.join(str(a) for a in argv)


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

    def __init__(self, *, structured_output: bool = False) -> None:
        self.structured_output = structured_output
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
        payload = event.payload
        if event.type in ("run:start", "run:resume"):
            yield {"type": "thread.started", "thread_id": event.run_id}
            yield {"type": "turn.started"}
            self._turn_open = True
        elif event.type == "exec:begin":
            item: dict[str, Any] | None = {
                "id": self._item_id(),
                "type": "command_execution",
                "command": command_text(payload.get("argv", "")),
                "aggregated_output": "",
                "status": "in_progress",
            }
            key = str(payload.get("correlationId"))
            assert item is not None
            self._items[key] = item
            self._outputs[key] = _Aggregate()
            yield {"type": "item.started", "item": dict(item)}
        elif event.type == "exec:chunk":
            key = str(payload.get("correlationId"))
            item = self._items.get(key)
            if item is None:
                return
            self._outputs[key].add(str(payload.get("data", "")))
            item["aggregated_output"] = self._outputs[key].text()
            yield {"type": "item.updated", "item": dict(item)}
        elif event.type == "exec:end":
            record: Mapping[str, Any] = payload.get("command", payload)
            key = str(record.get("correlationId"))
            item = self._items.pop(key, None)
            if item is None:
                return
            self._outputs.pop(key, None)
            exit_code = record.get("exitCode")
            item["status"] = "completed" if exit_code == 0 else "failed"
            item["exit_code"] = exit_code if exit_code is not None else -1
            yield {"type": "item.completed", "item": item}
        elif event.type == "tool:complete":
            tool_run = payload.get("toolRun", {})
            if tool_run.get("status") in ("refused", "denied") and self._items:
                # The command never ran (or was stopped by the sandbox): declined.
                for key in list(self._items):
                    item = self._items.pop(key)
                    self._outputs.pop(key, None)
                    item["status"] = "declined"
                    yield {"type": "item.completed", "item": item}
        elif event.type == "run:summary" and self._turn_open:
            self._turn_open = False
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


def summary_line(summary: Mapping[str, Any]) -> str:
    """``run <id> <status>: <command> exited <code>; manifest: <path>``."""
    run = summary.get("run", {})
    result = summary.get("result") or {}
    command = summary.get("command") or {}
    parts = [f"run {run.get('id')} {summary.get('status')}"]
    if command.get("argv"):
        parts.append(f"`{command_text(command['argv'])}` exited {result.get('exitCode')}")
    if summary.get("statusDetail"):
        parts.append(str(summary["statusDetail"]))
    return "; ".join(parts) + f"; manifest: {run.get('manifestPath')}"


def failure_message(summary: Mapping[str, Any]) -> str:
    """The ``turn.failed`` message."""
    return summary_line(summary)
