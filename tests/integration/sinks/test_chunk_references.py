"""Output past a stream's inline limit is stored once: events.jsonl references the log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pytest_codex.context import Context
from pytest_codex.events import read_events
from pytest_codex.run import Run
from pytest_codex.runtime import ExecSessionManager
from pytest_codex.runtime.manager import INLINE_LIMIT
from pytest_codex.schemas import is_valid
from pytest_codex.sinks.jsonl import JsonlStreamSink

SIZE = 3 << 20  # 3 MiB, well past the inline limit
COMMAND = f"yes 0123456789abcdefghijklmnopqrstuvwxyz 2>/dev/null | head -c {SIZE} 2>/dev/null"


def _run(root: Path) -> Run:
    context = Context.load(cwd=root, env={"CODEX_ORCHESTRATOR_ROOT": str(root)})
    return Run.start(context, task_id="store-once", heartbeat=False)


def _rebuilt(events: list[dict[str, object]], log: bytes) -> bytes:
    out = bytearray()
    for payload in events:
        if "data" in payload:
            out += str(payload["data"]).encode()
        else:
            start = int(payload["logOffset"])  # type: ignore[call-overload]
            out += log[start : start + int(payload["bytes"])]  # type: ignore[call-overload]
    return bytes(out)


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_the_journal_references_the_log_past_the_inline_limit(tmp_path: Path, mode: str) -> None:
    run = _run(tmp_path)
    log_path = run.paths.commands_dir / "01-big.log"
    with ExecSessionManager() as manager:
        command = ["sh", "-c", COMMAND] if mode == "pipe" else COMMAND
        manager.run(command, mode=mode, emitter=run, log_path=log_path)
    run.finish("succeeded")
    journal = run.paths.run_dir / "events.jsonl"
    chunks = [e for e in read_events(journal) if e.type == "exec:chunk"]
    payloads = [dict(e.payload) for e in chunks]
    log = log_path.read_bytes()
    assert len(log) == SIZE
    inline = [p for p in payloads if "data" in p]
    references = [p for p in payloads if "data" not in p]
    assert sum(len(str(p["data"]).encode()) for p in inline) <= INLINE_LIMIT + 64 * 1024
    assert references and all("logOffset" in p for p in references)
    # Consecutive reads were merged: far fewer events than 8 KiB pieces.
    assert len(payloads) < SIZE // (64 * 1024)
    assert _rebuilt(payloads, log) == log
    assert [p["seq"] for p in payloads] == list(range(len(payloads)))
    assert journal.stat().st_size < SIZE // 20
    for event in chunks:
        assert is_valid("event", event.to_dict())


def test_a_live_stream_keeps_the_text_and_the_journal_still_stores_it_once(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path)
    live = io.StringIO()
    run.add_sink(JsonlStreamSink(live))
    log_path = run.paths.commands_dir / "01-big.log"
    with ExecSessionManager() as manager:
        manager.run(["sh", "-c", COMMAND], mode="pipe", emitter=run, log_path=log_path)
    run.finish("succeeded")
    log = log_path.read_bytes()
    streamed = [json.loads(line) for line in live.getvalue().splitlines()]
    live_chunks = [e["payload"] for e in streamed if e["type"] == "exec:chunk"]
    assert all("data" in p for p in live_chunks)
    assert "".join(p["data"] for p in live_chunks).encode() == log
    assert any("logOffset" in p for p in live_chunks)
    stored = [
        dict(e.payload)
        for e in read_events(run.paths.run_dir / "events.jsonl")
        if e.type == "exec:chunk"
    ]
    assert len(stored) == len(live_chunks)
    assert _rebuilt(stored, log) == log
    assert (run.paths.run_dir / "events.jsonl").stat().st_size < SIZE // 10


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_references_follow_the_redacted_log(tmp_path: Path, mode: str) -> None:
    # Redaction shortens what the log keeps, and holds back a tail between reads: the
    # references must still point at the log's own bytes, end to end.
    secret = "API_KEY=s3cr3t-value-that-is-long-0123456789"
    command = f"yes '{secret} and some more words' 2>/dev/null | head -c {SIZE} 2>/dev/null"
    run = _run(tmp_path)
    log_path = run.paths.commands_dir / "01-secret.log"
    with ExecSessionManager() as manager:
        manager.run(["sh", "-c", command] if mode == "pipe" else command, mode=mode,
                    emitter=run, log_path=log_path)  # fmt: skip
    run.finish("succeeded")
    chunks = [e for e in read_events(run.paths.run_dir / "events.jsonl") if e.type == "exec:chunk"]
    payloads = [dict(e.payload) for e in chunks]
    log = log_path.read_bytes()
    assert b"s3cr3t-value" not in log and b"[REDACTED]" in log
    assert len(log) < SIZE
    assert [p for p in payloads if "data" not in p]
    assert _rebuilt(payloads, log) == log
