"""The seccomp filter every bubblewrap sandbox installs (``bwrap --seccomp FD``).

The profile (:data:`PROFILE`) is data: a deny list over a default of *allow*, compiled to
classic BPF by libseccomp through its Python bindings (the official ``seccomp`` module when
importable, else ``pyseccomp``, a ctypes binding with the same API over the system
``libseccomp.so.2``). It denies, with ``EPERM`` unless said otherwise:

- debugging other processes: ``ptrace`` (``PTRACE_TRACEME`` included), ``process_vm_readv``
  and ``process_vm_writev``, ``process_madvise``, ``kcmp``, ``pidfd_getfd``;
- what Docker's default profile denies a container without ``CAP_SYS_ADMIN``: the kernel
  keyring (``add_key``, ``request_key``, ``keyctl``), ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``fanotify_init``, ``open_by_handle_at``, new namespaces (``unshare``,
  ``setns``, ``clone`` with any ``CLONE_NEW*`` flag; ``clone3``, whose flags live in memory
  seccomp cannot read, fails with ``ENOSYS`` so the C library falls back to ``clone``), the
  mount family (``mount``, ``umount2``, ``pivot_root``, ``chroot``, ``open_tree``,
  ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``, ``mount_setattr``),
  ``kexec_*``, kernel modules, ``acct``, ``swapon``/``swapoff``, ``reboot``, ``syslog``,
  ``quotactl``, ``iopl``/``ioperm``, ``vhangup``, setting the clock, host and domain names,
  and obsolete calls (``uselib``, ``ustat``, ``sysfs``, ``_sysctl``, ``nfsservctl``,
  ``lookup_dcookie``);
- ``io_uring_setup``/``_enter``/``_register``: io_uring performs operations seccomp never
  sees;
- typing into a terminal: ``ioctl`` ``TIOCSTI`` and ``TIOCLINUX``;
- sockets of every family but ``AF_INET``, ``AF_INET6`` and ``AF_NETLINK`` (``NETLINK_ROUTE``
  only, which ``getaddrinfo`` uses). In particular ``socket(AF_UNIX, ...)`` is denied in every
  mode: seccomp cannot see the path a ``connect`` names, and a host Unix socket (a Docker
  socket is root) must stay out of reach, abstract or not. ``socketpair`` stays allowed
  (asyncio, multiprocessing pipes), and so does loopback TCP inside the sandbox's own network
  namespace. ``AF_VSOCK``, ``AF_PACKET``, ``AF_ALG``, ``AF_KEY``, ``AF_XDP``, ``AF_BLUETOOTH``
  and the rest are denied.

Only the native architecture is allowed; a system call of another ABI (32-bit ``int 0x80``,
x32) fails with ``ENOSYS``.

bubblewrap reads the filter from a file descriptor *to its end*, so every sandboxed process
needs an open file description of its own: a sandbox prefix carries the placeholder
:data:`SECCOMP_FD_ARG`, and every path that starts one (:func:`spawn_args`: the pipe runner,
PTY sessions, the session server's shell, the probes) replaces it by a fresh memfd passed with
``pass_fds``. The BPF program is compiled once per process and remembered across processes in
the user state directory (hidden from every sandbox), keyed by the profile, the architecture
and the libseccomp library and bindings it was compiled with.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SandboxError, UnsafePathError
from ..paths import user_state_dir

# Stands for the filter's file descriptor in a sandbox prefix until a process is spawned.
SECCOMP_FD_ARG = "@seccomp-fd"
SECCOMP_CACHE_FILE = "seccomp-filter.json"
_CACHE_VERSION = 1
_MAX_PROGRAM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Rule:
    """One denial: ``syscall`` fails with ``errno`` when every comparison holds (none:
    always). A comparison is ``(argument index, op, value, mask)`` with op one of ``eq``,
    ``le``, ``ge``, ``ne`` or ``masked-eq`` (``arg & mask == value``)."""

    syscall: str
    errno: int = errno.EPERM
    args: tuple[tuple[int, str, int, int], ...] = ()


def _deny(*names: str, code: int = errno.EPERM) -> tuple[Rule, ...]:
    return tuple(Rule(name, code) for name in names)


_CLONE_NEW = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_AF_INET, _AF_INET6, _AF_NETLINK = 2, 10, 16
_NETLINK_ROUTE = 0
_U32 = 0xFFFFFFFF

# Socket families: everything at or below AF_UNIX (1), between the allowed ones, and from
# AF_PACKET (17) up. A value with any of its upper 32 bits set compares above 17 as well.
_SOCKET_RULES: tuple[Rule, ...] = (
    Rule("socket", errno.EPERM, ((0, "le", 1, 0),)),
    *(
        Rule("socket", errno.EPERM, ((0, "eq", family, 0),))
        for family in range(3, 17)
        if family not in (_AF_INET6,)
    ),
    Rule("socket", errno.EPERM, ((0, "ge", _AF_NETLINK + 1, 0),)),
    Rule("socket", errno.EPERM, ((0, "eq", _AF_NETLINK, 0), (2, "ne", _NETLINK_ROUTE, 0))),
)

PROFILE: tuple[Rule, ...] = (
    # Other processes' memory and registers.
    *_deny("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise"),
    *_deny("kcmp", "pidfd_getfd"),
    # The kernel keyring, BPF, perf, userfaultfd, file handles.
    *_deny("add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd"),
    *_deny("fanotify_init", "open_by_handle_at"),
    # New namespaces and mounts.
    *_deny("unshare", "setns"),
    *(Rule("clone", errno.EPERM, ((0, "masked-eq", flag, flag),)) for flag in _CLONE_NEW.values()),
    Rule("clone3", errno.ENOSYS),
    *_deny("mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount"),
    *_deny("fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"),
    # The machine itself.
    *_deny("kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"),
    *_deny("acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "quotactl_fd"),
    *_deny("iopl", "ioperm", "vhangup", "settimeofday", "clock_settime", "stime"),
    *_deny("sethostname", "setdomainname"),
    *_deny("uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "lookup_dcookie"),
    *_deny("create_module", "get_kernel_syms", "query_module", "vm86", "vm86old"),
    # io_uring runs operations seccomp never sees.
    *_deny("io_uring_setup", "io_uring_enter", "io_uring_register"),
    # Typing into a terminal.
    Rule("ioctl", errno.EPERM, ((1, "masked-eq", _TIOCSTI, _U32),)),
    Rule("ioctl", errno.EPERM, ((1, "masked-eq", _TIOCLINUX, _U32),)),
    *_SOCKET_RULES,
)


def _bindings() -> Any:
    """libseccomp's Python bindings: the official module, else pyseccomp."""
    try:
        import seccomp  # type: ignore[import-not-found, unused-ignore]

        return seccomp
    except ImportError:
        import pyseccomp  # type: ignore[import-untyped, unused-ignore]

        return pyseccomp


def _compile(profile: Sequence[Rule]) -> bytes:
    lib = _bindings()
    ops = {"eq": lib.EQ, "ne": lib.NE, "le": lib.LE, "ge": lib.GE, "masked-eq": lib.MASKED_EQ}
    selected = lib.SyscallFilter(lib.ALLOW)
    # A call of another ABI on this architecture fails instead of slipping past the rules.
    selected.set_attr(lib.Attr.ACT_BADARCH, lib.ERRNO(errno.ENOSYS))
    native = lib.Arch.NATIVE if hasattr(lib.Arch, "NATIVE") else lib.system_arch()
    for rule in profile:
        number = lib.resolve_syscall(native, rule.syscall)
        if number < 0:
            continue  # not a system call of this architecture (vm86 on x86_64, say)
        args = []
        for index, op, value, mask in rule.args:
            if op == "masked-eq":
                args.append(lib.Arg(index, ops[op], mask, value))
            else:
                args.append(lib.Arg(index, ops[op], value))
        selected.add_rule(lib.ERRNO(rule.errno), number, *args)
    fd = os.memfd_create("codex-seccomp-export", os.MFD_CLOEXEC)
    try:
        with open(fd, "w+b", closefd=False) as handle:
            selected.export_bpf(handle)
        os.lseek(fd, 0, os.SEEK_SET)
        return _read_all(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _library_identity() -> list[Any]:
    """The libseccomp library and Python bindings a compiled program depends on (looked up
    without loading either: loading pyseccomp runs ``ldconfig``)."""
    import importlib.util

    machine = os.uname().machine
    found: list[Any] = [machine]
    for directory in (
        f"/usr/lib/{machine}-linux-gnu",
        f"/lib/{machine}-linux-gnu",
        "/usr/lib64",
        "/lib64",
        "/usr/lib",
        "/lib",
        "/usr/local/lib",
    ):
        candidate = os.path.join(directory, "libseccomp.so.2")
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        found += [os.path.realpath(candidate), info.st_size, info.st_mtime_ns]
        break
    for name in ("seccomp", "pyseccomp"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            try:
                info = os.stat(spec.origin)
            except OSError:
                continue
            found += [name, spec.origin, info.st_size, info.st_mtime_ns]
            break
    return found


def _cache_key() -> dict[str, Any]:
    digest = hashlib.sha256(repr(PROFILE).encode()).hexdigest()
    return {"profile": digest, "library": _library_identity()}


def _cache_path() -> Path:
    return user_state_dir() / SECCOMP_CACHE_FILE


def _cached(key: dict[str, Any]) -> bytes | None:
    try:
        document = json.loads(_cache_path().read_text(encoding="utf-8"))
        if document.get("v") != _CACHE_VERSION or document.get("key") != key:
            return None
        program = base64.b64decode(document["bpf"], validate=True)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not program or len(program) % 8 or len(program) > _MAX_PROGRAM_BYTES:
        return None
    return program


def _store(key: dict[str, Any], program: bytes) -> None:
    from ..atomic import atomic_write_text

    document = {"v": _CACHE_VERSION, "key": key, "bpf": base64.b64encode(program).decode()}
    target = _cache_path()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(document, sort_keys=True) + "\n", durable=False)
    except (OSError, UnsafePathError):
        return  # only costs the next process a compilation


@functools.cache
def _program() -> tuple[bytes | None, str | None]:
    key = _cache_key()
    cached = _cached(key)
    if cached is not None:
        return cached, None
    try:
        program = _compile(PROFILE)
    except (ImportError, OSError, RuntimeError, ValueError, AttributeError) as exc:
        return None, f"libseccomp is not usable here: {type(exc).__name__}: {exc}"
    if not program or len(program) % 8 or len(program) > _MAX_PROGRAM_BYTES:
        return None, f"libseccomp produced no usable program ({len(program)} bytes)"
    _store(key, program)
    return program, None


def filter_program() -> bytes:
    """The compiled BPF program (once per process); a :class:`SandboxError` when libseccomp
    is not usable here."""
    program, why = _program()
    if program is None:
        raise SandboxError(f"cannot build the sandbox's seccomp filter: {why}")
    return program


def unavailable_reason() -> str | None:
    """Why no filter can be built here, or None when it can."""
    return _program()[1]


def filter_fd() -> int:
    """A fresh memfd holding the program, at offset 0 (close-on-exec: pass it with
    ``pass_fds``). The caller closes it."""
    program = filter_program()
    fd = os.memfd_create("codex-seccomp", os.MFD_CLOEXEC)
    try:
        view = memoryview(program)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def spawn_args(argv: Sequence[str]) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """``argv`` ready to spawn, and the file descriptors to pass (``pass_fds``): the seccomp
    placeholder of a sandbox prefix becomes a fresh memfd, closed here once the process is
    started (the ``with`` block). Without a placeholder, ``argv`` as it is and no fds."""
    if SECCOMP_FD_ARG not in argv:
        yield list(argv), ()
        return
    fd = filter_fd()
    try:
        # Inheritable: ptyprocess keeps pass_fds open but, unlike subprocess, leaves the
        # close-on-exec flag alone. Any other child closes it (close_fds), and it is
        # closed here as soon as this process is started.
        os.set_inheritable(fd, True)
        yield [str(fd) if word == SECCOMP_FD_ARG else word for word in argv], (fd,)
    finally:
        os.close(fd)
