"""Process control with real processes: never our own group, and nothing outlives its command."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.runtime import ExecSessionManager
from pytest_codex.runtime.processes import confines_processes, kill_group, may_signal_group
from pytest_codex.sandbox import Sandbox, probe_bubblewrap

BWRAP = probe_bubblewrap()
requires_bwrap = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)


def _in_own_group(script: str) -> subprocess.CompletedProcess[str]:
    # The script runs in a process group of its own: a signal to "our own group" from a
    # broken guard kills that child, never the test session.
    return subprocess.run(
        [sys.executable, "-c", script],
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_group_guard_refuses_zero_init_and_our_own_group() -> None:
    assert not may_signal_group(0)
    assert not may_signal_group(1)
    assert not may_signal_group(-4)
    assert not may_signal_group(os.getpgrp())
    done = _in_own_group(
        "import os, signal\n"
        "from pytest_codex.runtime.processes import kill_group\n"
        "assert kill_group(0, grace=0.1, first=signal.SIGHUP) is False\n"
        "assert kill_group(os.getpgrp(), grace=0.1, first=signal.SIGHUP) is False\n"
        "print('alive')\n"
    )
    assert (done.returncode, done.stdout.strip()) == (0, "alive"), done.stderr


def test_killing_a_pty_session_whose_shell_is_gone_spares_the_caller() -> None:
    # tcgetpgrp answers 0 once the shell has exited; killpg(0, SIGHUP) would hang up us.
    done = _in_own_group(
        "import os, time\n"
        "from pathlib import Path\n"
        "from pytest_codex.runtime.pty_session import PtySession\n"
        "s = PtySession('t', cwd=Path.cwd(), env=dict(os.environ))\n"
        "s.write(b'exit 0\\n')\n"
        "while os.waitid(os.P_PID, s.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:\n"
        "    time.sleep(0.01)\n"
        "assert os.tcgetpgrp(s.fd) == 0 and s.foreground_group() is None\n"
        "s.kill()\n"
        "s.close()\n"
        "print('alive')\n"
    )
    assert (done.returncode, done.stdout.strip()) == (0, "alive"), done.stderr


def test_kill_group_still_ends_a_group_we_spawned() -> None:
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    assert kill_group(child.pid, grace=1.0, leader_alive=lambda: child.poll() is None)
    assert child.wait() < 0


# -- daemons -------------------------------------------------------------------------------------
DAEMONS = {
    "setsid-holding-stdout": "setsid sleep {d} & echo started",
    "setsid-closed-fds": "setsid sleep {d} </dev/null >/dev/null 2>&1 & echo started",
    "double-fork": "( (sleep {d} &) & ); echo started",
    "nohup": "nohup sleep {d} >/dev/null 2>&1 & echo started",
    "background-holding-stdout": "sleep {d} & echo started",
}
SLEEP = 90  # seconds a daemon would live: a run that waited for it would take that long


def _sleeps(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and argv[:2] == [b"sleep", marker.encode()]:
            found.append(int(entry.name))
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique ``sleep`` duration to find this test's daemons by; they are killed after."""
    value = f"{SLEEP}.{random.randrange(10**6):06d}"
    yield value
    for pid in _sleeps(value):
        os.kill(pid, 9)


def _wrapper(sandboxed: bool, cwd: Path) -> list[str]:
    if not sandboxed:
        return []
    if BWRAP.backend != "bubblewrap":
        pytest.skip(f"bubblewrap cannot sandbox here: {BWRAP.reason}")
    return Sandbox.create("workspace-write", cwd).prefix(cwd)


@requires_bwrap
def test_only_a_bubblewrap_prefix_with_its_own_pid_namespace_confines(tmp_path: Path) -> None:
    # With it, a sandboxed pipe command's end needs no straggler scan (the kernel ended the
    # namespace): test_no_daemon_outlives_its_command[bwrap] holds that to account.
    prefix = Sandbox.create("workspace-write", tmp_path).prefix(tmp_path)
    assert confines_processes(prefix)
    without = [a for a in prefix if a != "--unshare-pid"]
    assert not confines_processes(without)
    assert not confines_processes([])
    assert not confines_processes(["sh", "-c", "--unshare-pid", "--"])
    assert not confines_processes(prefix[:-1])  # not a prefix: no "--" before the command


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "bwrap"])
@pytest.mark.parametrize("mode", ["pipe", "pty"])
@pytest.mark.parametrize("daemon", sorted(DAEMONS))
def test_no_daemon_outlives_its_command(
    tmp_path: Path, marker: str, daemon: str, mode: str, sandboxed: bool
) -> None:
    with ExecSessionManager() as manager:
        result = manager.run(
            DAEMONS[daemon].format(d=marker),
            mode=mode,
            cwd=tmp_path,
            timeout=SLEEP * 2,
            wrapper=_wrapper(sandboxed, tmp_path),
        )
    assert result.exit_code == 0 and "started" in result.text()
    assert not result.timed_out and result.duration_ms < SLEEP * 1000
    assert _sleeps(marker) == []


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_what_had_detached_is_named_in_the_record(tmp_path: Path, marker: str, mode: str) -> None:
    # The command waits until its child has left the session, so the child is detached for
    # sure when the command ends (outside a sandbox: no PID namespace to take it along).
    script = (
        f"setsid sh -c 'echo $$ > ready; exec sleep {marker}' </dev/null >/dev/null 2>&1 & "
        "while [ ! -s ready ]; do :; done; echo started"
    )
    with ExecSessionManager() as manager:
        result = manager.run(script, mode=mode, cwd=tmp_path, timeout=SLEEP * 2)
    assert result.exit_code == 0
    detached = result.to_record()["detached"]
    assert [d["pid"] for d in detached] == [int((tmp_path / "ready").read_text())]
    assert marker in detached[0]["command"]
    assert _sleeps(marker) == []


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "bwrap"])
@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_the_timeout_holds_when_a_detached_child_keeps_stdout_open(
    tmp_path: Path, marker: str, mode: str, sandboxed: bool
) -> None:
    with ExecSessionManager() as manager:
        result = manager.run(
            f"setsid sleep {marker} & sleep {marker}",
            mode=mode,
            cwd=tmp_path,
            timeout=1.0,
            wrapper=_wrapper(sandboxed, tmp_path),
        )
    assert result.timed_out
    assert result.duration_ms < SLEEP * 1000
    assert _sleeps(marker) == []


def test_a_command_that_closes_its_output_first_is_waited_for_not_killed(tmp_path: Path) -> None:
    with ExecSessionManager() as manager:
        result = manager.run(
            "exec >&- 2>&-; sleep 0.3; exit 3", mode="pipe", cwd=tmp_path, timeout=SLEEP
        )
    assert (result.exit_code, result.signal, result.timed_out) == (3, None, False)


def test_quick_commands_are_never_killed_by_the_cleanup(tmp_path: Path) -> None:
    # Their pipes close a moment before they become waitable: that moment is not "over".
    with ExecSessionManager() as manager:
        codes = [manager.run(["true"], mode="pipe", cwd=tmp_path).exit_code for _ in range(40)]
    assert codes == [0] * 40
