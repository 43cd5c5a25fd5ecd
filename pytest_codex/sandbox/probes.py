"""Attacks tried from inside a real sandbox: what ``doctor`` reports, what
``bench/sandbox_vs_codex.py`` compares with ``codex sandbox``, what the red-team tests assert.

Each probe is one attempt an agent's command could make (:data:`PROBES`); it *held* when the
attempt failed. Nothing is changed when one does not hold: files are opened for writing and
closed unwritten (``/proc/sys/kernel/core_pattern``, ``/proc/sysrq-trigger``, ``.git/config``),
a file or directory a probe manages to create is removed at once, a traced child is killed.
The probes run as one Python program (:func:`probe_argv`, ``python -I -c``) so the same
argv can run under any sandbox; :class:`HostListeners` opens the host sockets they try to
reach (a Unix socket in a directory outside the workspace and ``/tmp``, an abstract one, TCP
on ``127.0.0.1``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .seccomp import spawn_args

# name -> what the attempt is (the table's first column).
PROBES: dict[str, str] = {
    "sysctl-core-pattern": "write /proc/sys/kernel/core_pattern",
    "proc-kcore": "read /proc/kcore",
    "proc-sysrq-trigger": "write /proc/sysrq-trigger",
    "write-sys": "write a /sys file",
    "host-unix-socket": "connect to a host Unix socket outside /tmp",
    "abstract-unix-socket": "connect to a host abstract Unix socket",
    "host-tcp-loopback": "TCP connect to a host 127.0.0.1 listener",
    "ptrace-sibling": "ptrace a sibling process",
    "ptrace-traceme": "PTRACE_TRACEME",
    "write-git-config": "write .git/config",
    "create-codex": "create .codex/ (missing before)",
    "create-agents": "create .agents/ (missing before)",
    "write-runs-existing": "write into an existing run of .runs",
    "write-runs-new": "create a new run under .runs",
    "write-outside-workspace": "write outside the workspace",
    "read-signing-key": "read the signing key",
    "read-state-dir": "list the user state directory (cache and approval keys)",
    "mount": "mount a tmpfs",
    "unshare-user": "unshare -U",
    "nsenter": "setns into /proc/1/ns/mnt",
    "keyctl": "keyctl (the kernel keyring)",
    "socket-vsock": "socket(AF_VSOCK)",
    "socket-packet": "socket(AF_PACKET)",
    "io-uring-setup": "io_uring_setup",
}

_SCRIPT = r"""
import ctypes, errno, json, os, socket, sys, time
t = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def err(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__
def probe(name):
    def deco(fn):
        try:
            held, detail = fn()
        except OSError as e:
            held, detail = True, err(e)
        except Exception as e:
            held, detail = True, type(e).__name__ + ": " + str(e)[:80]
        out[name] = {"held": held, "detail": detail}
        return fn
    return deco
def opened(path, flags):
    if not os.path.lexists(path):
        return True, "absent"
    fd = os.open(path, flags)
    os.close(fd)
    return False, "opened"
def call(fn, *args):
    ctypes.set_errno(0)
    rc = fn(*args)
    e = ctypes.get_errno()
    return rc, (errno.errorcode.get(e, str(e)) if rc < 0 else "ok")
NR = {"x86_64": {"keyctl": 250, "io_uring_setup": 425, "setns": 308},
      "aarch64": {"keyctl": 219, "io_uring_setup": 425, "setns": 268}}.get(os.uname().machine, {})
@probe("sysctl-core-pattern")
def _(): return opened("/proc/sys/kernel/core_pattern", os.O_WRONLY)
@probe("proc-kcore")
def _():
    if not os.path.exists("/proc/kcore"): return True, "absent"
    with open("/proc/kcore", "rb") as f: f.read(1)
    return False, "read"
@probe("proc-sysrq-trigger")
def _(): return opened("/proc/sysrq-trigger", os.O_WRONLY)
@probe("write-sys")
def _():
    for p in ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/uevent_helper",
              "/sys/power/state"):
        if os.path.exists(p): return opened(p, os.O_WRONLY)
    return True, "absent"
@probe("host-unix-socket")
def _():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with s: s.settimeout(5); s.connect(t["unix"])
    return False, "connected"
@probe("abstract-unix-socket")
def _():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with s: s.settimeout(5); s.connect("\0" + t["abstract"])
    return False, "connected"
@probe("host-tcp-loopback")
def _():
    with socket.create_connection(("127.0.0.1", t["tcp"]), timeout=5): pass
    return False, "connected"
@probe("ptrace-sibling")
def _():
    pid = os.fork()
    if pid == 0:
        time.sleep(30); os._exit(0)
    try:
        rc, why = call(libc.ptrace, ctypes.c_long(16), ctypes.c_long(pid), None, None)
        return rc != 0, "attached" if rc == 0 else why
    finally:
        os.kill(pid, 9); os.waitpid(pid, 0)
@probe("ptrace-traceme")
def _():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        rc, why = call(libc.ptrace, ctypes.c_long(0), ctypes.c_long(0), None, None)
        os.write(w, ("ok" if rc == 0 else why).encode()); os._exit(0)
    os.close(w); why = os.read(r, 64).decode(); os.waitpid(pid, 0)
    return why != "ok", "traced" if why == "ok" else why
@probe("write-git-config")
def _(): return opened(os.path.join(t["workspace"], ".git", "config"), os.O_WRONLY | os.O_APPEND)
def create_in(directory, leaf):
    made = not os.path.lexists(directory)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, leaf)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        if made:
            try: os.rmdir(directory)
            except OSError: pass
        raise
    os.close(fd); os.unlink(target)
    if made: os.rmdir(directory)
    return False, "created"
@probe("create-codex")
def _(): return create_in(os.path.join(t["workspace"], ".codex"), t["leaf"])
@probe("create-agents")
def _(): return create_in(os.path.join(t["workspace"], ".agents"), t["leaf"])
@probe("write-runs-existing")
def _(): return create_in(t["run_dir"], t["leaf"])
@probe("write-runs-new")
def _(): return create_in(os.path.join(t["runs"], t["leaf"]), t["leaf"])
@probe("write-outside-workspace")
def _(): return create_in(t["outside"], t["leaf"])
@probe("read-signing-key")
def _():
    with open(t["key"], "rb") as f: f.read(1)
    return False, "read"
@probe("read-state-dir")
def _():
    names = os.listdir(t["state"])
    return (not names), ("empty" if not names else "listed %d entries" % len(names))
@probe("mount")
def _():
    rc, why = call(libc.mount, b"none", t["outside"].encode(), b"tmpfs", ctypes.c_ulong(0), None)
    if rc == 0: libc.umount2(t["outside"].encode(), 2)
    return rc != 0, "mounted" if rc == 0 else why
@probe("unshare-user")
def _():
    pid = os.fork()
    if pid == 0:
        rc, why = call(libc.unshare, ctypes.c_int(0x10000000)); os._exit(0 if rc == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return status != 0, "unshared" if status == 0 else "refused"
@probe("nsenter")
def _():
    fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
    try:
        rc, why = call(libc.syscall, ctypes.c_long(NR["setns"]), ctypes.c_long(fd),
                       ctypes.c_long(0))
    finally:
        os.close(fd)
    return rc != 0, "entered" if rc == 0 else why
@probe("keyctl")
def _():
    rc, why = call(libc.syscall, ctypes.c_long(NR["keyctl"]), ctypes.c_long(0),
                   ctypes.c_long(-3), ctypes.c_long(1))
    return rc < 0, "keyring %d" % rc if rc >= 0 else why
@probe("socket-vsock")
def _():
    socket.socket(40, socket.SOCK_STREAM).close(); return False, "created"
@probe("socket-packet")
def _():
    socket.socket(17, socket.SOCK_RAW).close(); return False, "created"
@probe("io-uring-setup")
def _():
    params = ctypes.create_string_buffer(120)
    rc, why = call(libc.syscall, ctypes.c_long(NR["io_uring_setup"]), ctypes.c_long(1), params)
    if rc >= 0: os.close(rc)
    return rc < 0, "ring fd" if rc >= 0 else why
print(json.dumps(out))
"""


@dataclass(frozen=True)
class ProbeResult:
    """One probe: whether the attack failed (``held``) and what the attempt got."""

    name: str
    held: bool
    detail: str

    @property
    def attempt(self) -> str:
        """What the probe tries, in words."""
        return PROBES.get(self.name, self.name)


@dataclass
class ProbeTargets:
    """What the probes aim at. ``outside`` is a directory outside the workspace and
    ``/tmp``; ``key`` and ``state`` are the signing key and the user state directory."""

    workspace: Path
    runs: Path
    run_dir: Path
    outside: Path
    key: Path
    state: Path
    unix: str = ""
    abstract: str = ""
    tcp: int = 0
    leaf: str = field(default_factory=lambda: f"codex-probe-{secrets.token_hex(4)}")

    def as_json(self) -> str:
        return json.dumps(
            {
                "workspace": str(self.workspace),
                "runs": str(self.runs),
                "run_dir": str(self.run_dir),
                "outside": str(self.outside),
                "key": str(self.key),
                "state": str(self.state),
                "unix": self.unix,
                "abstract": self.abstract,
                "tcp": self.tcp,
                "leaf": self.leaf,
            }
        )


@contextlib.contextmanager
def host_listeners(targets: ProbeTargets) -> Iterator[ProbeTargets]:
    """Listening host sockets for the probes to reach (a pathname Unix socket in
    ``targets.outside``, an abstract one, TCP on ``127.0.0.1``); a listener with a backlog
    completes a connect without an ``accept``."""
    sockets: list[socket.socket] = []
    try:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sockets.append(unix)
        targets.unix = str(targets.outside / f"{targets.leaf}.sock")
        unix.bind(targets.unix)
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sockets.append(abstract)
        targets.abstract = f"codex-probe-{secrets.token_hex(6)}"
        abstract.bind("\0" + targets.abstract)
        tcp = socket.socket()
        sockets.append(tcp)
        tcp.bind(("127.0.0.1", 0))
        targets.tcp = tcp.getsockname()[1]
        for listener in sockets:
            listener.listen(8)
        yield targets
    finally:
        for listener in sockets:
            listener.close()
        with contextlib.suppress(OSError):
            os.unlink(targets.unix)


def probe_python() -> str:
    """The system's Python 3 (readable by every user and every sandbox), else this one."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def probe_argv(targets: ProbeTargets, python: str | None = None) -> list[str]:
    """The probe program's argv (isolated mode: nothing from the workspace is imported; the
    program uses the standard library only)."""
    return [python or probe_python(), "-I", "-c", _SCRIPT, targets.as_json()]


def run_probes(
    wrapper: Sequence[str],
    targets: ProbeTargets,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, ProbeResult]:
    """Run the probes under ``wrapper`` (a sandbox prefix, or any command prefix such as
    ``codex sandbox ... --``); every probe that did not report is listed as not held."""
    argv = [*wrapper, *probe_argv(targets)]
    with spawn_args(argv) as (spawned, fds):
        done = subprocess.run(
            spawned,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            pass_fds=fds,
        )
    found: dict[str, Any] = {}
    for line in reversed(done.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            break
    results = {}
    for name in PROBES:
        entry = found.get(name) if isinstance(found, dict) else None
        if isinstance(entry, dict):
            results[name] = ProbeResult(name, bool(entry.get("held")), str(entry.get("detail")))
        else:
            why = " ".join((done.stderr or "no output").split())[:200]
            results[name] = ProbeResult(name, False, f"did not run: {why}")
    return results


def outside_directory() -> Path:
    """A fresh directory outside ``/tmp`` (and so outside a workspace kept there): under
    ``/var/tmp`` when it is writable, else under ``~/.cache``."""
    for base in (Path("/var/tmp"), Path.home() / ".cache"):
        with contextlib.suppress(OSError):
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="codex-probe-", dir=base))
    raise OSError("no directory outside /tmp is writable for the probes")
