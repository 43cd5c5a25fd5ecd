"""The exec runtime with real PTYs and processes: sessions, exit codes, streams, caps, hygiene."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.emitter import RecordingEmitter
from pytest_codex.runtime import CHUNK_LIMIT, ExecSessionManager, HeadTailBuffer, split_utf8


@pytest.fixture
def manager() -> Iterator[ExecSessionManager]:
    with ExecSessionManager() as m:
        yield m


def _zombie_children() -> list[int]:
    me = str(os.getpid())
    zombies = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], fields[1]
        if ppid == me and state == "Z":
            zombies.append(int(entry.name))
    return zombies


def test_a_pty_session_keeps_cwd_and_exported_variables(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    manager.open("s", cwd=tmp_path)
    assert manager.run("cd sub && export GREETING=hello", session_id="s").exit_code == 0
    result = manager.run("pwd; echo $GREETING", session_id="s")
    assert result.text() == f"{tmp_path / 'sub'}\nhello\n"
    assert manager.list()[0]["commands"] == 2


@pytest.mark.parametrize(
    ("command", "code"), [("true", 0), ("false", 1), ("exit_is_not_a_cmd", 127)]
)
def test_exit_codes_are_exact_in_a_pty(
    manager: ExecSessionManager, command: str, code: int
) -> None:
    assert manager.run(command).exit_code == code


@pytest.mark.parametrize("code", [0, 1, 3, 127])
def test_exit_codes_are_exact_in_pipe_mode(manager: ExecSessionManager, code: int) -> None:
    result = manager.run(["sh", "-c", f"exit {code}"], mode="pipe")
    assert (result.exit_code, result.signal, result.timed_out) == (code, None, False)


def test_a_missing_program_is_127_in_pipe_mode(manager: ExecSessionManager) -> None:
    result = manager.run(["no-such-program-anywhere"], mode="pipe")
    assert result.exit_code == 127
    assert "no-such-program-anywhere" in result.text("stderr")


def test_death_by_signal_is_reported(manager: ExecSessionManager) -> None:
    piped = manager.run(["sh", "-c", "kill -TERM $$"], mode="pipe")
    assert (piped.exit_code, piped.signal) == (None, signal.SIGTERM)
    # A PTY command is its own process: the kernel says how it died, as in pipe mode.
    in_pty = manager.run("sh -c 'kill -KILL $$'")
    assert (in_pty.exit_code, in_pty.signal) == (None, signal.SIGKILL)
    assert in_pty.exit_code_source == "kernel"
    # A shell session only has the shell's word for it: 128+N, read as signal N.
    manager.open("s")
    in_session = manager.run("sh -c 'kill -KILL $$'", session_id="s")
    assert (in_session.exit_code, in_session.signal) == (128 + signal.SIGKILL, signal.SIGKILL)
    assert in_session.exit_code_source == "shell"


def test_a_timeout_kills_the_command_and_the_session_survives(manager: ExecSessionManager) -> None:
    manager.open("s")
    result = manager.run("sleep 30", session_id="s", timeout=0.3)
    assert result.timed_out
    assert result.duration_ms < 10_000
    assert manager.run("echo still-here", session_id="s").text() == "still-here\n"
    piped = manager.run(["sleep", "30"], mode="pipe", timeout=0.3)
    assert piped.timed_out and piped.signal == signal.SIGTERM


def test_pipe_mode_keeps_stderr_apart_and_closes_stdin(manager: ExecSessionManager) -> None:
    result = manager.run(
        ["sh", "-c", "echo out; echo err >&2; cat; echo after-cat"], mode="pipe", timeout=10
    )
    assert result.text("stdout") == "out\nafter-cat\n"
    assert result.text("stderr") == "err\n"
    assert result.exit_code == 0


def test_an_interactive_program_is_answered_through_the_session(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    script = tmp_path / "ask.py"
    script.write_text("name = input('name? ')\nprint('hello', name)\n")
    manager.open("s")
    handle = manager.start(f"python3 {script}", session_id="s")
    assert handle.read_until(r"name\? ").endswith("name? ")
    handle.send("Ada\n")
    result = handle.result()
    assert result.exit_code == 0
    assert result.text().endswith("hello Ada\n")


def test_invalid_utf8_is_replaced_in_events_and_exact_in_the_log(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    emitter = RecordingEmitter()
    log = tmp_path / "out.log"
    payload = b"ok \xff\xfe bytes \xe2\x82\xac\n"
    script = tmp_path / "bin.py"
    script.write_text(f"import sys; sys.stdout.buffer.write({payload!r})")
    result = manager.run(["python3", str(script)], mode="pipe", log_path=log, emitter=emitter)
    assert log.read_bytes() == payload
    text = "".join(p["data"] for p in emitter.of_type("exec:chunk"))
    assert text == "ok \ufffd\ufffd bytes \u20ac\n"
    assert result.streams["stdout"].total == len(payload)


def test_output_far_above_the_cap_keeps_head_tail_and_an_exact_omitted_count(
    tmp_path: Path,
) -> None:
    size = 5_000_000
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(i % 251 for i in range(size)))
    log = tmp_path / "big.log"
    with ExecSessionManager(memory_cap=64 * 1024) as manager:
        result = manager.run(["cat", str(data)], mode="pipe", log_path=log)
    capture = result.streams["stdout"]
    raw = data.read_bytes()
    assert capture.total == size
    assert capture.head == raw[: 32 * 1024]
    assert capture.tail == raw[-32 * 1024 :]
    assert capture.omitted == size - 64 * 1024
    assert log.read_bytes() == raw
    assert f"[... {size - 64 * 1024} bytes omitted ...]" in capture.text()
    assert result.to_record()["truncated"] == {"stdout": True, "stderr": False}


def test_chunks_are_at_most_8_kib_and_never_split_a_character(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    emitter = RecordingEmitter()
    text = "é€😀" * 20_000
    source = tmp_path / "text.txt"
    source.write_text(text, encoding="utf-8")
    manager.run(["cat", str(source)], mode="pipe", emitter=emitter)
    chunks = emitter.of_type("exec:chunk")
    assert all(len(c["data"].encode()) <= CHUNK_LIMIT for c in chunks)
    assert "".join(c["data"] for c in chunks) == text
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert emitter.types[0] == "exec:begin" and emitter.types[-1] == "exec:end"


def test_split_utf8_respects_the_limit_on_multibyte_boundaries() -> None:
    pieces = split_utf8("a" + "€" * 5000, limit=100)
    assert all(len(p.encode()) <= 100 for p in pieces)
    assert "".join(pieces) == "a" + "€" * 5000


def test_head_tail_buffer_counts_what_it_drops() -> None:
    buffer = HeadTailBuffer(8)
    for piece in (b"abc", b"defgh", b"ijklmnop", b"qr"):
        buffer.append(piece)
    assert bytes(buffer.head) == b"abcd"
    assert bytes(buffer.tail) == b"opqr"
    assert buffer.omitted == 18 - 8 and buffer.total == 18


def test_least_recently_used_eviction_takes_exited_sessions_first() -> None:
    with ExecSessionManager(max_sessions=2) as manager:
        manager.open("a")
        manager.open("b")
        manager.run("true", session_id="a")  # a is now the most recently used
        manager.kill("b")  # b has exited
        manager.open("c")
        assert sorted(s["id"] for s in manager.list()) == ["a", "c"]
        manager.open("d")  # none exited: the least recently used (a) goes
        assert sorted(s["id"] for s in manager.list()) == ["c", "d"]


def test_idle_sessions_are_closed() -> None:
    with ExecSessionManager(idle_timeout=0.05) as manager:
        manager.open("idle")
        import time

        time.sleep(0.1)
        assert manager.reap_idle() == ["idle"]
        assert manager.list() == []


def test_the_environment_snapshot_redacts_secrets(manager: ExecSessionManager) -> None:
    session = manager.open("s", env={**os.environ, "MY_API_TOKEN": "tok-123456", "PLAIN": "x"})
    assert session.env_snapshot["MY_API_TOKEN"] == "[REDACTED]"
    assert session.env_snapshot["PLAIN"] == "x"
    assert manager.list()[0]["env"]["MY_API_TOKEN"] == "[REDACTED]"


def _runtime_fds() -> set[tuple[str, str]]:
    # Only the kinds the runtime opens (PTYs and pipes): other tests' background threads
    # may open and close sockets meanwhile.
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("/dev/pts/", "/dev/ptmx", "pipe:")):
            found.add((fd, target))
    return found


def test_a_thousand_sessions_leave_no_zombie_and_no_file_descriptor() -> None:
    fds_before = _runtime_fds()
    with ExecSessionManager(max_sessions=4) as manager:
        for index in range(1000):
            session = manager.open(f"s{index}")
            if index % 100 == 0:
                assert manager.run("echo $$", session_id=session.id).exit_code == 0
            manager.close(session.id)
    assert _zombie_children() == []
    assert _runtime_fds() - fds_before == set()
