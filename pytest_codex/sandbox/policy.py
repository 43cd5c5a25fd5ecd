"""What a sandbox protects, as data.

Modes and the permissions they grant, the paths of a run no sandboxed command may change
(:func:`protected_paths`), the key material no sandboxed command may read, the kernel
interfaces masked or read-only in every sandbox (:data:`KERNEL_READ_ONLY`,
:data:`KERNEL_MASKED`, runc's defaults) and the interpreter and packages the orchestrator
itself runs from (:func:`orchestrator_install_paths`). The bubblewrap command line
(``bwrap.py``) turns this data into mounts; nothing here runs a process.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal

from ..errors import UsageError
from ..paths import user_config_dir, user_state_dir

SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("read-only", "workspace-write", "danger-full-access")

WRITE_WORKSPACE = "write-workspace"
WRITE_OUTSIDE_WORKSPACE = "write-outside-workspace"
NETWORK = "network"
PERMISSIONS: tuple[str, ...] = (WRITE_WORKSPACE, WRITE_OUTSIDE_WORKSPACE, NETWORK)

_MODE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read-only": frozenset(),
    "workspace-write": frozenset({WRITE_WORKSPACE}),
    "danger-full-access": frozenset(PERMISSIONS),
}

# Writable inside every enforced sandbox: they are private to the sandbox.
PRIVATE_ROOTS: tuple[Path, ...] = (Path("/tmp"), Path("/dev"))

SOCKET_DIR_NAME = "codex-sessions"
SIGNING_KEY_ENV = "CODEX_ORCHESTRATOR_SIGNING_KEY"
# Secrets that travel in the environment and never reach a sandboxed command.
HIDDEN_VARIABLES = ("CODEX_ORCHESTRATOR_SIGNING_KEY_PEM",)
# Set inside every enforced sandbox (to its policy's label): an orchestrator or plugin started
# there records nothing of its own (its parent records the command). Forged outside, it only
# ever makes a run record less.
SANDBOX_ENV = "CODEX_ORCHESTRATOR_IN_SANDBOX"

# runc's (and Docker's) defaults: kernel interfaces bound read-only from the host's /proc ...
KERNEL_READ_ONLY: tuple[str, ...] = (
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
)
# ... and masked: a file cannot be opened at all (a device node on a nodev mount), a directory
# is an empty read-only tmpfs. Entries this kernel does not have are left out.
KERNEL_MASKED: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

# Directories that configure agents and the Codex CLI run from the workspace: read-only inside,
# also when missing (an empty read-only placeholder for the command; its mount point stays).
AGENT_DIRS: tuple[str, ...] = (".codex", ".agents")


def validate_mode(mode: str) -> SandboxMode:
    """``mode`` if it is a sandbox mode, else a :class:`UsageError`."""
    for known in SANDBOX_MODES:
        if mode == known:
            return known
    raise UsageError(f"unknown sandbox mode {mode!r}; use one of {', '.join(SANDBOX_MODES)}")


@dataclass(frozen=True)
class SandboxPolicy:
    """A mode plus whether the network is allowed (always, under ``danger-full-access``)."""

    mode: SandboxMode
    network: bool = False

    def __post_init__(self) -> None:
        validate_mode(self.mode)
        if self.mode == "danger-full-access" and not self.network:
            object.__setattr__(self, "network", True)

    @property
    def permissions(self) -> frozenset[str]:
        """What this policy lets a command do beyond reading."""
        granted = _MODE_PERMISSIONS[self.mode]
        return granted | {NETWORK} if self.network else granted

    @property
    def label(self) -> str:
        """``workspace-write``, or ``workspace-write+network`` when the network is on."""
        if self.network and self.mode != "danger-full-access":
            return f"{self.mode}+network"
        return self.mode


@dataclass(frozen=True)
class Protected:
    """A path a sandboxed command must never change.

    ``create``: a missing directory the orchestrator creates anyway (runs, out) is created
    first, so it can be bound read-only. ``placeholder``: a missing (or empty) directory gets
    an empty read-only tmpfs for the command; the empty mount point stays (``.codex``,
    ``.agents``). Any other missing path is watched (see ``bwrap.py``).
    ``hide``: neither readable nor writable inside, in every mode (key material).
    """

    path: Path
    create: bool = False
    hide: bool = False
    placeholder: bool = False


def session_socket_dir() -> Path:
    """Where session servers listen (see ``runtime.session_server.socket_path``)."""
    return Path(tempfile.gettempdir()) / SOCKET_DIR_NAME


def protected_paths(
    roots: Any,
    *,
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    config: Any = None,
) -> tuple[Protected, ...]:
    """The paths to keep out of a sandboxed command's reach for a run whose ``roots``
    (anything with ``root``, ``runs_dir`` and ``out_dir``: :class:`~pytest_codex.paths.Roots`,
    ``RunPaths``, a Context's ``roots``) are given.

    Read-only: ``.git``, ``.codex`` and ``.agents``; the whole runs directory and the whole
    out directory (one bind each, however many runs there are); every configuration file the
    orchestrator reads; the session socket directory. Hidden: the user configuration and
    state directories and the signing key wherever it is configured
    (``$CODEX_ORCHESTRATOR_SIGNING_KEY``, ``evidence.key_path`` of ``config``: a mapping or a
    resolved configuration).
    """
    root = Path(roots.root).resolve()
    found: list[Protected] = [Protected(root / ".git")]
    found += [Protected(root / name, placeholder=True) for name in AGENT_DIRS]
    for name in ("runs_dir", "out_dir"):  # a stand-in run may know only some of them
        where = getattr(roots, name, None)
        if where is not None:
            found.append(Protected(Path(where).resolve(), create=True))
    found += [Protected(root / name) for name in _CONFIG_FILE_NAMES]
    pyproject = root / "pyproject.toml"
    if _holds_orchestrator_table(pyproject):
        found.append(Protected(pyproject))
    env = os.environ if env is None else env
    named = config_file or env.get("CODEX_ORCHESTRATOR_CONFIG")
    if named:
        found.append(Protected(Path(named).resolve()))
    found += [
        Protected(user_config_dir(env), create=True, hide=True),
        Protected(user_state_dir(env), create=True, hide=True),
        Protected(session_socket_dir()),
    ]
    for key in _key_paths(env, config):
        found.append(Protected(key, hide=True))
    unique: dict[Path, Protected] = {}
    for entry in found:
        unique.setdefault(entry.path, entry)
    return tuple(unique.values())


def _key_paths(env: Mapping[str, str], config: Any) -> list[Path]:
    """Signing keys kept elsewhere than the user configuration directory."""
    found = []
    if env.get(SIGNING_KEY_ENV):
        found.append(Path(env[SIGNING_KEY_ENV]).expanduser())
    evidence: Any = None
    if config is not None and callable(getattr(config, "get", None)):  # a mapping or config
        evidence = config.get("evidence")
    key_path = evidence.get("key_path") if isinstance(evidence, Mapping) else None
    if isinstance(key_path, str) and key_path:
        found.append(Path(key_path).expanduser())
    return [Path(os.path.abspath(p)) for p in found]


# The names config.CONFIG_FILES reads (config is not imported: it pulls in the schema layer).
_CONFIG_FILE_NAMES = (
    "codex.orchestrator.yaml",
    "codex.orchestrator.yml",
    "codex.orchestrator.json",
)


def _holds_orchestrator_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    if "codex-orchestrator" not in text and "\\u" not in text and "\\U" not in text:
        return False  # without an escape, the table's name is in the text of a file holding it
    import tomllib

    try:
        return "codex-orchestrator" in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        # Unparseable today, perhaps parseable after the command: protect it anyway.
        return "codex-orchestrator" in text


@functools.cache
def orchestrator_install_paths() -> tuple[Path, ...]:
    """Where the orchestrator itself runs from: the interpreter's prefixes (``sys.prefix``,
    ``sys.base_prefix`` and their exec twins: the venv with its ``site-packages``, ``.pth``
    files, ``bin/`` and ``sitecustomize``) and the directories holding ``pytest_codex`` and
    ``guardrails`` (an editable install's sources). Resolved, without duplicates or entries
    inside another one."""
    found: set[Path] = set()
    for entry in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        if entry:
            found.add(Path(os.path.realpath(entry)))
    import importlib.util

    from .. import __file__ as package_init

    spec = importlib.util.find_spec("guardrails")  # found, not imported
    for init in (package_init, spec.origin if spec is not None else None):
        if init:
            found.add(Path(os.path.realpath(os.path.dirname(init))))
    return tuple(sorted(p for p in found if not any(o != p and inside(p, [o]) for o in found)))


def inside(path: Path, roots: Iterable[Path]) -> bool:
    """Whether ``path`` (normalised) is one of ``roots`` or below one: what
    ``normal == root or normal.is_relative_to(root)`` says, comparing the roots' cached
    parts instead of parsing each root again (this runs for every protected path)."""
    parts = Path(os.path.normpath(path)).parts
    for root in roots:
        prefix = (root if isinstance(root, PurePath) else Path(root)).parts
        if prefix:
            if parts[: len(prefix)] == prefix:
                return True
        elif not parts or not parts[0].startswith("/"):  # "." holds every relative path
            return True
    return False
