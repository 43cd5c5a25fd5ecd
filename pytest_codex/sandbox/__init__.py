"""Sandboxes for commands, and how to tell that a sandbox refused something.

Modes (the Codex CLI names):

``read-only``
    The whole filesystem is read-only; ``/tmp`` and ``/dev`` are private and writable (their
    contents vanish with the command); no network unless allowed.
``workspace-write``
    As ``read-only``, plus the workspace (and any extra writable roots) writable, less the
    protected paths.
``danger-full-access``
    No sandbox at all.

Backends: ``bubblewrap`` (``bwrap``) and ``none``. A bubblewrap sandbox runs the command in
its own user, PID (with its own ``/proc``), IPC, UTS, mount and (without network) network
namespaces, with every capability dropped, runc's read-only and masked kernel interfaces, a
seccomp filter, in a new terminal session, and dies with its parent.

One module per concept:

- :mod:`.policy`: what is protected, as data (modes, protected and hidden paths, the kernel
  interfaces, the orchestrator's own installation);
- :mod:`.backend`: what bwrap can do here (features, their flags, the cached probe);
- :mod:`.seccomp`: the seccomp profile, compiled once, and a fresh fd per spawn;
- :mod:`.bwrap`: the bubblewrap command line (:class:`Sandbox`);
- :mod:`.probes`: attacks tried from inside a real sandbox (``doctor``, the bench, tests);
- :mod:`.denial`: how to tell that a sandbox refused something.

docs/sandbox.md says what the sandbox guarantees, as root and as a user, and what it does not.
"""

from __future__ import annotations

from ..paths import STATE_DIR_ENV, user_config_dir, user_state_dir
from .backend import (
    CAP_DROP,
    CAPABILITIES_DROPPED,
    FEATURES,
    IPC_UTS_NAMESPACES,
    KERNEL_INTERFACES,
    NETWORK_NAMESPACE,
    NEW_SESSION,
    PID_NAMESPACE,
    PROBE_CACHE_FILE,
    SECCOMP,
    USER_NAMESPACE,
    BackendChoice,
    BackendName,
    BackendStatus,
    probe_bubblewrap,
    resolve_backend,
    sandbox_status,
)
from .bwrap import Sandbox
from .denial import (
    CWD_UNAVAILABLE,
    PROTECTED_PATH_CREATED,
    DenialEvidence,
    detect_denial,
    launch_status,
)
from .policy import (
    AGENT_DIRS,
    HIDDEN_VARIABLES,
    KERNEL_MASKED,
    KERNEL_READ_ONLY,
    NETWORK,
    PERMISSIONS,
    SANDBOX_ENV,
    SANDBOX_MODES,
    SIGNING_KEY_ENV,
    SOCKET_DIR_NAME,
    WRITE_OUTSIDE_WORKSPACE,
    WRITE_WORKSPACE,
    Protected,
    SandboxMode,
    SandboxPolicy,
    orchestrator_install_paths,
    protected_paths,
    session_socket_dir,
    validate_mode,
)
from .seccomp import SECCOMP_FD_ARG, spawn_args

__all__ = [
    "AGENT_DIRS",
    "CAPABILITIES_DROPPED",
    "CAP_DROP",
    "CWD_UNAVAILABLE",
    "FEATURES",
    "HIDDEN_VARIABLES",
    "IPC_UTS_NAMESPACES",
    "KERNEL_INTERFACES",
    "KERNEL_MASKED",
    "KERNEL_READ_ONLY",
    "NETWORK",
    "NETWORK_NAMESPACE",
    "NEW_SESSION",
    "PERMISSIONS",
    "PID_NAMESPACE",
    "PROBE_CACHE_FILE",
    "PROTECTED_PATH_CREATED",
    "SANDBOX_ENV",
    "SANDBOX_MODES",
    "SECCOMP",
    "SECCOMP_FD_ARG",
    "SIGNING_KEY_ENV",
    "SOCKET_DIR_NAME",
    "STATE_DIR_ENV",
    "USER_NAMESPACE",
    "WRITE_OUTSIDE_WORKSPACE",
    "WRITE_WORKSPACE",
    "BackendChoice",
    "BackendName",
    "BackendStatus",
    "DenialEvidence",
    "Protected",
    "Sandbox",
    "SandboxMode",
    "SandboxPolicy",
    "detect_denial",
    "launch_status",
    "orchestrator_install_paths",
    "probe_bubblewrap",
    "protected_paths",
    "resolve_backend",
    "sandbox_status",
    "session_socket_dir",
    "spawn_args",
    "user_config_dir",
    "user_state_dir",
    "validate_mode",
]
