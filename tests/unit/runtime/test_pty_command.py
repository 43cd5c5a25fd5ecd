"""A PTY command without a session is its own process: its status is the kernel's."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.runtime import ExecSessionManager

REDEFINE_PRINTF = 'printf() { builtin printf "${1//%d/0}"; }'


@pytest.fixture
def manager() -> Iterator[ExecSessionManager]:
    with ExecSessionManager() as m:
        yield m


def _children() -> list[tuple[int, str]]:
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append((int(entry), fields[0]))
    return found


def _pty_fds() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("/dev/pts/", "/dev/ptmx")):
            found.add(fd)
    return found


def test_a_redefined_printf_cannot_change_a_commands_status(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    (tmp_path / "run-tests.sh").write_text(f"{REDEFINE_PRINTF}\necho '1 failed'\nfalse\n")
    result = manager.run(". ./run-tests.sh", cwd=tmp_path)
    assert (result.exit_code, result.exit_code_source) == (1, "kernel")
    assert result.to_record()["exitCodeSource"] == "kernel"
    assert "1 failed" in result.text()


def test_a_session_shell_lies_after_an_earlier_command_and_says_whose_word_it_is(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    manager.open("s", cwd=tmp_path)
    assert manager.run(f"eval '{REDEFINE_PRINTF}'", session_id="s").exit_code == 0
    lied = manager.run("false", session_id="s")
    assert (lied.exit_code, lied.exit_code_source) == (0, "shell")
    assert lied.to_record()["exitCodeSource"] == "shell"
    honest = manager.run("false", cwd=tmp_path)  # the same machine, its own process
    assert (honest.exit_code, honest.exit_code_source) == (1, "kernel")


def test_an_interactive_command_is_driven_without_a_session(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    seen: list[str] = []
    handle = manager.start(
        "read -r -p 'name? ' name; echo hello $name; exit 4",
        cwd=tmp_path,
        observer=lambda stream, text: seen.append(text),
    )
    handle.read_until("name\\? ")
    handle.send("Ada\n")
    result = handle.result()
    assert (result.exit_code, result.exit_code_source, result.session_id) == (4, "kernel", None)
    assert result.text().endswith("hello Ada\n")
    assert "".join(seen) == result.text()  # the observer saw every byte, redacted


def test_output_is_raw_lines_without_carriage_returns(manager: ExecSessionManager) -> None:
    assert manager.run("printf 'a\\nb\\n'").text() == "a\nb\n"


def test_a_command_that_closes_its_terminal_first_is_waited_for(
    manager: ExecSessionManager, tmp_path: Path
) -> None:
    result = manager.run("exec >&- 2>&- </dev/null; sleep 0.3; exit 3", cwd=tmp_path, timeout=30)
    assert (result.exit_code, result.signal, result.timed_out) == (3, None, False)


@pytest.mark.parametrize("mode", ["pty", "pipe"])
def test_closing_the_runtime_ends_a_running_command(tmp_path: Path, mode: str) -> None:
    manager = ExecSessionManager()
    results = []
    started = threading.Event()

    def run() -> None:
        results.append(
            manager.run(
                "echo up; exec sleep 60",
                mode=mode,
                cwd=tmp_path,
                observer=lambda stream, text: started.set(),
            )
        )

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    manager.close_all()
    worker.join(30)
    assert not worker.is_alive()
    [result] = results
    assert result.exit_code != 0 or result.signal is not None
    assert result.duration_ms < 30_000


def test_a_hundred_commands_leave_no_zombie_and_no_terminal(tmp_path: Path) -> None:
    before = _pty_fds()
    with ExecSessionManager() as manager:
        codes = [manager.run(f"exit {i % 3}", cwd=tmp_path).exit_code for i in range(100)]
    assert codes == [i % 3 for i in range(100)]
    assert [c for c in _children() if c[1] == "Z"] == []
    assert _pty_fds() - before == set()


def test_a_command_whose_result_nobody_asks_for_is_ended_and_reaped_on_close(
    tmp_path: Path,
) -> None:
    before = _pty_fds()
    manager = ExecSessionManager()
    handle = manager.start("echo up; exec sleep 60", cwd=tmp_path)
    handle.read_until("up")
    manager.close_all()
    assert [c for c in _children() if c[1] == "Z"] == []
    assert _pty_fds() - before == set()
    result = handle.result()  # still answers, from what the kernel said
    assert result.signal is not None and result.exit_code_source == "kernel"


def test_a_missing_working_directory_is_126_with_the_reason(manager: ExecSessionManager) -> None:
    missing = Path("/nonexistent/place")
    result = manager.run("true", cwd=missing)
    assert result.exit_code == 126
    assert f"cannot change into {missing}" in result.text()
