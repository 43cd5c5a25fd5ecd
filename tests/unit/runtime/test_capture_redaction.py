"""Redaction at the source: the log, the memory buffer and the chunks get redacted text."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

from pytest_codex.emitter import RecordingEmitter
from pytest_codex.events import EventBus
from pytest_codex.redact import REDACTED, Redactor, StreamRedactor, split_credentials
from pytest_codex.runtime import ExecSessionManager
from pytest_codex.runtime.capture import (
    CHUNK_LIMIT,
    IDLE_RELEASE_SECONDS,
    Redaction,
    StreamCapture,
)
from tests.helpers.sinks import KeepSink

SECRET = "zq9-Secret-Value-7f6e5d4c"


class _Chunks:
    """Collects chunk callbacks."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, stream: str, text: str, raw: int) -> None:
        self.texts.append(text)


def _capture(log: io.BytesIO, chunks: _Chunks, *, raw_log: bool = False) -> StreamCapture:
    return StreamCapture(
        "stdout", log=log, on_chunk=chunks, redaction=Redaction(Redactor([SECRET]), raw_log)
    )


def test_a_secret_split_between_reads_is_redacted_whole_in_log_buffer_and_chunks() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = _capture(log, chunks)
    capture.feed(f"before {SECRET[:9]}".encode())
    capture.feed(f"{SECRET[9:]} after\n".encode())
    captured = capture.finish()
    assert log.getvalue() == f"before {REDACTED} after\n".encode()
    assert captured.text() == f"before {REDACTED} after\n"
    assert "".join(chunks.texts) == f"before {REDACTED} after\n"
    assert not any(SECRET[:9] in t and SECRET[9:] in t for t in chunks.texts)


def test_undecodable_bytes_round_trip_into_the_log_and_become_fffd_in_chunks() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = _capture(log, chunks)
    data = b"caf\xc3\xa9 \xff\xfe bytes \xe2\x82"  # a valid char, junk, a torn char at the end
    capture.feed(data[:7])
    capture.feed(data[7:])
    capture.finish()
    assert log.getvalue() == data
    assert "".join(chunks.texts) == "caf\u00e9 \ufffd\ufffd bytes \ufffd"


def test_raw_logs_keep_the_log_byte_exact_and_the_chunks_redacted() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = _capture(log, chunks, raw_log=True)
    capture.feed(f"token {SECRET}\n".encode())
    captured = capture.finish()
    assert log.getvalue() == f"token {SECRET}\n".encode()
    assert SECRET not in "".join(chunks.texts) and SECRET not in captured.text()


def test_idle_releases_complete_lines_at_once_and_a_partial_line_after_a_pause() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = _capture(log, chunks)
    capture.feed(b"ready\npartial")
    assert chunks.texts == []  # held by the carry-over window
    capture.idle()
    assert chunks.texts == ["ready\n"]
    time.sleep(IDLE_RELEASE_SECONDS + 0.05)
    capture.idle()
    assert chunks.texts == ["ready\n", "partial"]


def test_without_redaction_every_byte_goes_through_as_read() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = StreamCapture("stdout", log=log, on_chunk=chunks)
    capture.feed(f"{SECRET}\n".encode())
    capture.finish()
    assert log.getvalue() == f"{SECRET}\n".encode()


def test_a_pipe_command_with_a_pause_mid_secret_logs_it_redacted(tmp_path: Path) -> None:
    half = len(SECRET) // 2
    script = f"printf %s {SECRET[:half]}; sleep 0.3; printf '%s\\n' {SECRET[half:]}"
    manager = ExecSessionManager(secrets=[SECRET])
    log = tmp_path / "out.log"
    for mode in ("pipe", "pty"):
        result = manager.run(["sh", "-c", script], mode=mode, cwd=tmp_path, log_path=log)
        assert log.read_bytes().replace(b"\r", b"") == f"{REDACTED}\n".encode(), mode
        assert SECRET not in result.text()
    manager.close_all()


def test_raw_logs_managers_say_so_and_keep_the_bytes(tmp_path: Path) -> None:
    manager = ExecSessionManager(secrets=[SECRET], raw_logs=True)
    log = tmp_path / "raw.log"
    result = manager.run(["echo", SECRET], mode="pipe", cwd=tmp_path, log_path=log)
    assert log.read_bytes() == f"{SECRET}\n".encode()
    assert SECRET not in result.text()


def test_the_bus_redacts_argv_lists_patterns_and_secret_keys_but_not_approval_keys() -> None:
    keep = KeepSink()
    seen = keep.events
    bus = EventBus("run")
    bus.subscribe(keep)
    bus.emit(
        "exec:begin",
        {
            "argv": ["tool", "--password", "hunter2hunter2"],
            "note": "Authorization: Bearer abcdefgh12345678",
            "apiToken": "short",
            "approvalKey": "exec:tool --password [REDACTED]",
        },
    )
    payload = seen[0].payload
    assert payload["argv"] == ["tool", "--password", REDACTED]
    assert "abcdefgh12345678" not in payload["note"]
    assert payload["apiToken"] == REDACTED
    assert payload["approvalKey"] == "exec:tool --password [REDACTED]"


def test_url_credentials_become_basic_auth_and_leave_the_url() -> None:
    url, header = split_credentials("https://al%40ice:p%3Ass@host:8443/hook?x=1")
    assert url == "https://host:8443/hook?x=1"
    assert header == "Basic YWxAaWNlOnA6c3M="  # base64 of "al@ice:p:ss"
    assert split_credentials("http://host/x") == ("http://host/x", None)


CLEAN = b"compiled module in 0.2s, all fine\n" * 200  # ASCII without a keyword: the fast path


def test_a_secret_or_keyword_split_at_every_offset_after_clean_reads_is_redacted() -> None:
    # The clean reads go through as bytes; whatever follows is split at every offset.
    redactor = Redactor([SECRET])
    for form in (f"value {SECRET} end\n", f"export API_KEY={SECRET[::-1]}\n"):
        whole = CLEAN + form.encode() + CLEAN
        expected = redactor.text(whole.decode()).encode()
        for cut in range(len(CLEAN) - 300, len(CLEAN) + len(form) + 1):
            log, chunks = io.BytesIO(), _Chunks()
            capture = _capture(log, chunks)
            for part in (whole[:1000], whole[1000:cut], whole[cut:]):
                capture.feed(part)
            captured = capture.finish()
            assert log.getvalue() == expected, (form, cut)
            assert "".join(chunks.texts).encode() == expected, (form, cut)
            assert captured.head + captured.tail == expected  # under the memory cap
            secret = SECRET if SECRET in form else SECRET[::-1]
            assert not any(secret in t for t in chunks.texts), (form, cut)


def test_a_character_split_between_reads_then_ascii_keeps_every_byte() -> None:
    log, chunks = io.BytesIO(), _Chunks()
    capture = _capture(log, chunks)
    euro = "€".encode()
    capture.feed(CLEAN + euro[:1])
    capture.feed(euro[1:] + CLEAN)  # the decoder holds a partial character: no fast path
    capture.feed(CLEAN)
    capture.finish()
    expected = CLEAN + euro + CLEAN + CLEAN
    assert log.getvalue() == expected
    assert "".join(chunks.texts) == expected.decode()


def test_fast_path_chunks_count_the_log_bytes_they_took() -> None:
    log = io.BytesIO()
    counts: list[int] = []
    capture = StreamCapture(
        "stdout",
        log=log,
        on_chunk=lambda stream, text, raw: counts.append(raw),
        redaction=Redaction(Redactor([SECRET])),
    )
    for _ in range(10):
        capture.feed(CLEAN)
    capture.finish()
    assert sum(counts) == len(log.getvalue()) == 10 * len(CLEAN)


def test_a_secret_split_by_a_pause_after_a_long_clean_head_is_redacted(tmp_path: Path) -> None:
    half = len(SECRET) // 2
    script = (
        "yes 'compiled module in 0.2s, all fine' 2>/dev/null | head -c 300000; "
        f"printf %s {SECRET[:half]}; sleep 0.3; printf '%s\\n' {SECRET[half:]}"
    )
    clean = (b"compiled module in 0.2s, all fine\n" * 9000)[:300000]
    log = tmp_path / "out.log"
    with ExecSessionManager(secrets=[SECRET]) as manager:
        for mode in ("pipe", "pty"):
            emitter = RecordingEmitter()
            result = manager.run(
                ["sh", "-c", script], mode=mode, cwd=tmp_path, log_path=log, emitter=emitter
            )
            assert log.read_bytes().replace(b"\r", b"") == clean + f"{REDACTED}\n".encode()
            assert SECRET not in result.text()
            data = [c.get("data", "") for c in emitter.of_type("exec:chunk")]
            assert not any(SECRET[:half] in d and SECRET[half:] in d for d in data), mode
            assert SECRET not in "".join(data), mode


_PIECES = [
    "word ",
    "x",
    "\n",
    " ",
    "\t",
    "\x1c",
    "token",
    "=",
    "abc123xyz",
    SECRET[:7],
    SECRET[7:],
    "https://",
    "u:p@h",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "é",
    "Bearer ",
    "ghp_",
    "A1b2C3d4E5f6G7h8I9j0K1l2",
    "--password ",
    "KEY",
    "pass=",
    "a" * 60,
]


def test_a_capture_writes_what_its_stream_redactor_would_for_any_output_and_reads() -> None:
    rng = random.Random(7)  # fixed: the same 400 cases every run
    redactor = Redactor([SECRET])
    for case in range(400):
        data = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 400))).encode()
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        raw_log = case % 4 == 0
        log, chunks = io.BytesIO(), _Chunks()
        capture = StreamCapture(
            "stdout", log=log, on_chunk=chunks, redaction=Redaction(redactor, raw_log)
        )
        for part in parts:
            capture.feed(part)
        captured = capture.finish()
        # The reference: every read fed to one StreamRedactor.
        stream = StreamRedactor(redactor)
        encoded = b"".join(stream.feed(part) for part in parts) + stream.flush()
        assert log.getvalue() == (data if raw_log else encoded), (case, data)
        assert captured.head + captured.tail == encoded, (case, data)
        assert "".join(chunks.texts) == encoded.decode("utf-8", "replace"), (case, data)
        assert SECRET.encode() not in encoded


def test_chunk_events_of_ascii_output_are_at_most_8_kib_and_their_offsets_line_up(
    tmp_path: Path,
) -> None:
    emitter = RecordingEmitter()  # wants the text of every chunk
    log = tmp_path / "out.log"
    with ExecSessionManager() as manager:
        manager.run(
            ["sh", "-c", "yes 'compiled module in 0.2s' | head -c 300000"],
            mode="pipe",
            emitter=emitter,
            log_path=log,
        )
    chunks = emitter.of_type("exec:chunk")
    output = log.read_bytes()
    assert "".join(c["data"] for c in chunks).encode() == output
    assert all(len(c["data"]) <= CHUNK_LIMIT for c in chunks)
    position = 0
    for chunk in chunks:
        if "logOffset" in chunk:  # past the inline head: where in the log the text is
            assert chunk["logOffset"] == position
            assert output[position : position + chunk["bytes"]] == chunk["data"].encode()
        position += chunk["bytes"]
    assert position == len(output)
