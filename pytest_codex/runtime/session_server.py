"""Persistent PTY sessions shared by separate ``codex-orchestrator`` invocations.

``exec --session ID`` and ``resume RUN --session ID`` must find the same shell (same cwd, same
exported variables) although each is its own process. The first one starts a small server
process that owns the PTY session and listens on a Unix socket; every invocation sends its
command there and receives the output as it is produced, then the final status. The server
exits after ``idle_timeout`` seconds without a command, or when its shell exits.

Protocol (one JSON object per line): the client sends ``{"command", "timeout", "logPath",
"wantsData"}``; the server answers ``{"chunk": {"stream", "data", "bytes", "logOffset"}}``
lines (past the inline limit, ``data`` only when wanted), then one
``{"result": {...}}`` (or ``{"error": "..."}``) line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..emitter import Emitter
from ..errors import ExecError, UnsafePathError
from ..ids import validate_session_id
from ..timeutil import now_iso
from .capture import CapturedStream
from .manager import ExecSessionManager
from .result import CommandResult

DEFAULT_IDLE_TIMEOUT = 900.0


def socket_dir() -> Path:
    """This user's session socket directory: ``<tmp>/codex-sessions-<uid>``, mode 0700."""
    return Path(tempfile.gettempdir()) / f"codex-sessions-{os.geteuid()}"


def checked_socket_dir(*, create: bool = True) -> Path:
    """:func:`socket_dir`, created 0700 if missing; refused (:class:`UnsafePathError`) when
    it is a symlink, not a directory, owned by another user or open to group or others (a
    swapped socket could answer with a fake exit status)."""
    directory = socket_dir()
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
    info = os.lstat(directory)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory (a symlink?)"
    elif info.st_uid != os.geteuid():
        problem = f"is owned by uid {info.st_uid}, not by us (uid {os.geteuid()})"
    elif info.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}, wider than 0700"
    if problem is not None:
        raise UnsafePathError(
            f"session socket directory {directory} {problem}; remove it and run again"
        )
    return directory


def socket_path(run_dir: Path, session_id: str) -> Path:
    """A short socket path for a run's session (Unix socket paths are limited to ~108 bytes)."""
    digest = hashlib.sha256(f"{run_dir.resolve()}\0{session_id}".encode()).hexdigest()[:20]
    return socket_dir() / f"{digest}.sock"


def _check_peer(connection: socket.socket, path: Path) -> None:
    """Refuse a server that does not run as this user (``SO_PEERCRED``, Linux)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux: the 0700 directory is the guard
        return
    _pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, option, 12))
    if uid != os.geteuid():
        raise UnsafePathError(
            f"session socket {path} is served by uid {uid}, not by us (uid {os.geteuid()}); "
            "remove it and run again"
        )


_CHUNK_KEYS = ("stream", "data", "bytes", "logOffset")


class _Forward:
    """An emitter that sends chunk payloads to the client socket."""

    def __init__(self, stream: Any, wants_chunk_data: bool = True) -> None:
        self.stream = stream
        self.wants_chunk_data = wants_chunk_data

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        if type == "exec:chunk":
            chunk = {k: payload[k] for k in _CHUNK_KEYS if k in payload}
            with contextlib.suppress(OSError):  # a vanished client must not kill the shell
                self.stream.write(json.dumps({"chunk": chunk}) + "\n")
                self.stream.flush()


def _encode(capture: CapturedStream) -> dict[str, Any]:
    return {
        "name": capture.name,
        "head": base64.b64encode(capture.head).decode(),
        "tail": base64.b64encode(capture.tail).decode(),
        "omitted": capture.omitted,
        "total": capture.total,
    }


def serve(path: Path, cwd: Path, wrapper: Sequence[str], idle_timeout: float) -> None:
    """Run the server until idle (or until its shell is gone)."""
    if path.parent != checked_socket_dir():
        raise UnsafePathError(f"session socket {path} is not in {socket_dir()}; refusing it")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(idle_timeout)
    manager = ExecSessionManager(max_sessions=1, idle_timeout=idle_timeout * 2)
    try:
        manager.open("shared", cwd=cwd, wrapper=wrapper)
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                return
            with connection, connection.makefile("rw", encoding="utf-8") as stream:
                line = stream.readline()
                if not line.strip():
                    continue  # a liveness probe: connected and went away
                request = json.loads(line)
                try:
                    log = request.get("logPath")
                    # The client's redaction settings: its configuration's secrets, raw logs.
                    manager.secrets = tuple(str(v) for v in request.get("secrets") or ())
                    manager.raw_logs = bool(request.get("rawLogs"))
                    result = manager.run(
                        request["command"],
                        session_id="shared",
                        timeout=request.get("timeout"),
                        log_path=Path(log) if log else None,
                        emitter=_Forward(stream, bool(request.get("wantsData", True))),
                    )
                    answer: dict[str, Any] = {
                        "result": {
                            "exitCode": result.exit_code,
                            "signal": result.signal,
                            "timedOut": result.timed_out,
                            "startedAt": result.started_at,
                            "durationMs": result.duration_ms,
                            "streams": [_encode(c) for c in result.streams.values()],
                        }
                    }
                except Exception as exc:
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                with contextlib.suppress(OSError):  # the client may be gone; we are not
                    stream.write(json.dumps(answer) + "\n")
                    stream.flush()
            if not manager.get("shared").alive:
                return
    finally:
        manager.close_all()
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def ensure_server(
    run_dir: Path,
    session_id: str,
    *,
    cwd: Path,
    wrapper: Sequence[str] = (),
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> Path:
    """The socket of the run's session ``session_id``, starting its server if needed.

    A session keeps the sandbox it was opened with: asking for another one is an error
    (open a new session), so a command never runs in a sandbox other than the one recorded.
    """
    validate_session_id(session_id)
    checked_socket_dir()
    path = socket_path(run_dir, session_id)
    record = run_dir / "sessions" / f"{session_id}.json"
    if _answers(path):
        opened_with = _recorded_wrapper(record)
        if opened_with is not None and opened_with != _sandbox_of(wrapper):
            raise ExecError(
                f"session {session_id} was opened with another sandbox; "
                "open a new session (another --session id) for this one"
            )
        return path
    subprocess.Popen(
        [
            sys.executable,
            "-P",  # safe path: nothing imported from the working directory (the workspace)
            "-m",
            "pytest_codex.runtime.session_server",
            str(path),
            str(cwd),
            json.dumps(list(wrapper)),
            str(idle_timeout),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # it outlives this invocation, by design
        close_fds=True,
    )
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if _answers(path):
            document = {"socket": str(path), "cwd": str(cwd), "sandbox": _sandbox_of(wrapper)}
            atomic_write_text(record, json.dumps(document) + "\n")
            return path
        time.sleep(0.02)
    raise ExecError(f"session {session_id}: its server did not start (socket {path})")


def _sandbox_of(wrapper: Sequence[str]) -> list[str]:
    """What makes one sandbox another: whether there is one, what it may write, and whether
    it has the network. Not its working directory (one session, any cwd), nor the protected
    paths bound read-only (they grow as runs finish: a metrics file, a new run directory)."""
    argv = list(wrapper)
    if not argv:
        return []
    identity = ["sandboxed"]
    for at, word in enumerate(argv):
        if word == "--bind" and at + 1 < len(argv):
            identity += ["--bind", argv[at + 1]]
        elif word == "--unshare-net":
            identity.append(word)
    return identity


def _recorded_wrapper(record: Path) -> list[str] | None:
    try:
        document = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    sandbox = document.get("sandbox") if isinstance(document, dict) else None
    return [str(a) for a in sandbox] if isinstance(sandbox, list) else None


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        _check_peer(probe, path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def run_in_server(
    path: Path,
    command: str,
    *,
    session_id: str,
    timeout: float | None,
    log_path: Path | None,
    emitter: Emitter | None,
    correlation_id: str,
    cwd: str,
    argv: Sequence[str],
    sandbox_state: str = "unsandboxed",
    secrets: Sequence[str] = (),
    raw_logs: bool = False,
) -> CommandResult:
    """Run ``command`` in the shared session; chunks are emitted as they arrive (redacted by
    the server with ``secrets`` besides its environment's; ``raw_logs`` as in the manager)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # A probe connection may still be queued ahead of ours; retry briefly.
    for attempt in range(50):
        try:
            connection.connect(str(path))
            break
        except OSError:
            if attempt == 49:
                raise ExecError(f"session {session_id}: cannot reach its server") from None
            time.sleep(0.02)
    try:
        checked_socket_dir(create=False)
        _check_peer(connection, path)
    except BaseException:
        connection.close()
        raise
    seq = 0
    with connection, connection.makefile("rw", encoding="utf-8") as stream:
        request = {
            "command": command,
            "timeout": timeout,
            "logPath": None if log_path is None else str(log_path),
            "wantsData": bool(getattr(emitter, "wants_chunk_data", True)),
            "secrets": list(secrets),
            "rawLogs": raw_logs,
        }
        stream.write(json.dumps(request) + "\n")
        stream.flush()
        for line in stream:
            message = json.loads(line)
            if "chunk" in message:
                if emitter is not None:
                    emitter.emit(
                        "exec:chunk",
                        {"correlationId": correlation_id, "seq": seq, **message["chunk"]},
                    )
                seq += 1
            elif "error" in message:
                raise ExecError(f"session {session_id}: {message['error']}")
            else:
                found = message["result"]
                streams = {
                    s["name"]: CapturedStream(
                        s["name"],
                        base64.b64decode(s["head"]),
                        base64.b64decode(s["tail"]),
                        s["omitted"],
                        s["total"],
                    )
                    for s in found["streams"]
                }
                return CommandResult(
                    correlation_id=correlation_id,
                    argv=list(argv),
                    cwd=cwd,
                    session_id=session_id,
                    mode="pty",
                    exit_code=found["exitCode"],
                    signal=found["signal"],
                    timed_out=found["timedOut"],
                    started_at=found["startedAt"],
                    completed_at=now_iso(),
                    duration_ms=found["durationMs"],
                    streams=streams,
                    log_path=log_path,
                    sandbox_state=sandbox_state,
                    exit_code_source="shell",  # the session's shell printed it
                )
    raise ExecError(f"session {session_id}: the server closed the connection early")


if __name__ == "__main__":  # the server process started by ensure_server
    serve(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4]))
    os._exit(0)
