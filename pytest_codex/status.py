"""A live view of a run from what it leaves on disk: its manifest and the tail of its events.

Nothing here talks to the running process: ``codex-orchestrator status`` may watch a run of
another shell, another user's CI job in a shared checkout, or a run that died (then the
heartbeat's age says so).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .manifest import is_stale, load_manifest
from .timeutil import parse_timestamp

TAIL_BYTES = 256 * 1024  # the events read: enough for the open stage and command


def _tail_events(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            data = handle.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if len(data) == TAIL_BYTES or size > TAIL_BYTES:
        lines = lines[1:]  # the first line may start mid-way
    events: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _age(timestamp: Any, now: float) -> float | None:
    if not isinstance(timestamp, str):
        return None
    return round(now - parse_timestamp(timestamp).timestamp(), 3)


def run_status(
    manifest_path: Path, *, now: float | None = None, stages_total: int | None = None
) -> dict[str, Any]:
    """``{"runId", "taskId", "status", "stale", "elapsedSeconds", "heartbeatAgeSeconds",
    "stage", "command", "tests", "commands", "lastEvent"}`` for the run at ``manifest_path``.

    ``stage`` is the stage that is running (``id``, ``title``, ``index`` of ``total`` when
    known, ``elapsedSeconds``), ``command`` the command that is running (``argv``,
    ``elapsedSeconds``, ``bytes`` of output so far); each is None when nothing is open.
    """
    moment = time.time() if now is None else now
    manifest = load_manifest(manifest_path)
    events = _tail_events(manifest_path.parent / "events.jsonl")
    stage: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    done_stages = len(manifest.get("stages") or [])
    for event in events:
        kind, payload = event.get("type"), event.get("payload") or {}
        if kind == "stage:start":
            record = payload.get("stage") or {}
            stage = {"id": record.get("id"), "title": record.get("title"), "since": event}
        elif kind == "stage:end":
            stage = None
        elif kind == "exec:begin":
            command = {"argv": payload.get("argv"), "since": event, "bytes": 0}
        elif kind == "exec:chunk" and command is not None:
            command["bytes"] += int(payload.get("bytes") or len(str(payload.get("data", ""))))
        elif kind == "exec:end":
            command = None
    finished = manifest.get("status") != "in_progress"
    if finished:
        stage = command = None
    for item in (stage, command):
        if item is not None:
            item["elapsedSeconds"] = _age(item.pop("since").get("timestamp"), moment)
    if stage is not None:
        stage["index"] = done_stages + 1
        stage["total"] = stages_total
    started = manifest.get("startedAt")
    ended = manifest.get("completedAt")
    elapsed = (
        round(parse_timestamp(ended).timestamp() - parse_timestamp(started).timestamp(), 3)
        if ended and started
        else _age(started, moment)
    )
    tests = manifest.get("tests") or []
    return {
        "runId": manifest.get("runId"),
        "taskId": manifest.get("taskId"),
        "pipelineId": manifest.get("pipelineId"),
        "status": manifest.get("status"),
        "statusDetail": manifest.get("statusDetail"),
        "stale": is_stale(manifest, moment),
        "elapsedSeconds": elapsed,
        "heartbeatAgeSeconds": None if finished else _age(manifest.get("heartbeatAt"), moment),
        "stage": stage,
        "command": command,
        "tests": _counts(tests),
        "commands": len(manifest.get("commands") or []),
        "lastEvent": (
            {"type": events[-1].get("type"), "seq": events[-1].get("seq")} if events else None
        ),
        "manifest": str(manifest_path),
    }


def _counts(tests: list[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for test in tests:
        outcome = str(test.get("outcome") or "unknown")
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
