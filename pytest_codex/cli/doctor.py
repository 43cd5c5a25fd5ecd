"""``codex-orchestrator doctor``: what this machine gives the sandbox, checked for real.

It probes bubblewrap (path, version, the hardening features this bwrap and kernel allow),
then runs one command in the sandbox the configuration asks for and asks it, path by path,
whether it can see and write the orchestrator's own files (runs and out directories, the
approval store, the guardrail cache and its memo, the configuration, ``.git``, the user
configuration directory for signing material, the session socket directory). Exit status
1 when the sandbox is weaker than the configuration asks for (no backend, a missing
hardening feature, or one of those paths writable from inside); 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import subprocess
from pathlib import Path
from typing import Any

from .. import sandbox as sb
from ._options import add_context_options, add_format_option, load_context

_PROBE_SCRIPT = (
    'for p; do if [ -e "$p" ]; then if [ -w "$p" ]; then echo write; else echo read; fi; '
    "else echo absent; fi; done"
)
_FEATURE_TEXT = {
    sb.USER_NAMESPACE: "user namespace",
    sb.PID_NAMESPACE: "PID namespace with its own /proc",
    sb.IPC_UTS_NAMESPACES: "IPC and UTS namespaces",
    sb.CAP_DROP: "--cap-drop ALL",
    sb.NEW_SESSION: "--new-session (no TIOCSTI)",
    sb.KERNEL_INTERFACES: "read-only /proc/sys, masked /proc and /sys entries (runc's defaults)",
    sb.SECCOMP: "seccomp filter (ptrace, keyring, namespaces, mounts, io_uring, sockets)",
    sb.NETWORK_NAMESPACE: "network isolation",
    sb.CAPABILITIES_DROPPED: "capabilities dropped (observed)",
}


def register(subparsers: Any) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check what this machine gives the sandbox",
        description=(
            "Probe bubblewrap and the kernel, say where the approval store, caches and "
            "signing material live and whether a sandboxed command can see or write them; "
            "exit 1 when the sandbox is weaker than the configuration asks for."
        ),
    )
    add_context_options(parser, task=True)
    parser.add_argument(
        "-s",
        "--sandbox",
        choices=list(sb.SANDBOX_MODES),
        help="check this sandbox mode instead of the configured one",
    )
    add_format_option(parser)
    parser.set_defaults(handler=run)


def diagnose(args: argparse.Namespace) -> dict[str, Any]:
    """The doctor's report as a JSON-ready mapping (``ok`` and ``problems`` included)."""
    context = load_context(args)
    config = context.config
    mode = sb.validate_mode(args.sandbox or str(config.get("sandbox") or "workspace-write"))
    network = bool(config.get("network_access") or False)
    status = sb.probe_bubblewrap(fresh=True)
    roots = context.roots
    task = config.get("task")
    sandbox = sb.Sandbox.create(
        mode,
        roots.root,
        network=network,
        backend=status,
        protected=sb.protected_paths(roots, env=context.env, config=config),
    )
    problems: list[str] = []
    wants_confinement = mode != "danger-full-access"
    if wants_confinement and status.backend == "none":
        problems.append(f"the configuration asks for {mode} but commands run unsandboxed")
    features = []
    for name in sb.FEATURES:
        present = status.has(name)
        missing_why = dict(status.missing).get(name)
        features.append(
            {"name": name, "text": _FEATURE_TEXT[name], "ok": present, "detail": missing_why}
        )
        if wants_confinement and status.backend != "none" and not present:
            problems.append(f"sandbox without {_FEATURE_TEXT[name]}: {missing_why or 'missing'}")
    task_dir = roots.runs_dir / str(task) if task else None
    places: list[tuple[str, Path, bool]] = [
        ("runs directory", roots.runs_dir, True),
        ("out directory", roots.out_dir, True),
        ("approval store", (task_dir or roots.runs_dir) / "approvals.json", True),
        ("guardrail cache", (task_dir or roots.runs_dir / "_repository") / "guardrail-cache", True),
        (
            "guardrail memo",
            (task_dir or roots.runs_dir / "_repository") / "guardrail-cache" / "memo",
            True,
        ),
        ("repository .git", roots.root / ".git", True),
        ("session sockets", sb.session_socket_dir(), True),
        # Hidden (an empty private tmpfs): whatever is written there vanishes with the
        # command, so "writable" is no alarm; the probes below check that nothing is readable.
        ("signing material and user config", sb.user_config_dir(context.env), False),
        ("user state (cache and approval keys)", sb.user_state_dir(context.env), False),
        ("workspace", roots.root, mode == "read-only"),
    ]
    found = _probe_paths(sandbox, roots.root, [p for _, p, _ in places])
    paths = []
    hidden = {sb.user_config_dir(context.env), sb.user_state_dir(context.env)}
    for (name, path, must_not_write), inside in zip(places, found, strict=True):
        if path in hidden and inside in ("write", "absent"):
            inside = "hidden"  # an empty private tmpfs: nothing of the host's shows
        entry = {"name": name, "path": str(path), "exists": _exists(path), "sandbox": inside}
        paths.append(entry)
        if must_not_write and inside == "write" and sandbox.enforced:
            problems.append(f"{name} {path} is writable inside the {mode} sandbox")
    probes = _attack_probes(sandbox, roots, context.env, config) if sandbox.enforced else []
    for probe in probes:
        if not probe["held"] and not (probe["name"] == "host-tcp-loopback" and network):
            problems.append(f"a sandboxed command could {probe['attempt']} ({probe['detail']})")
    own = [str(p) for p in sb.orchestrator_install_paths() if p.is_relative_to(roots.root)]
    return {
        "platform": {"system": platform.system(), "kernel": platform.release()},
        "user": {"uid": os.getuid(), "name": _user_name()},
        "configured": {"sandbox": mode, "network": network},
        "bubblewrap": status.as_dict(),
        "features": features,
        "paths": paths,
        "probes": probes,
        "installedInWorkspace": own,
        "redaction": {"rawLogs": config.settings().exec.raw_logs},
        "ok": not problems,
        "problems": problems,
    }


def _user_name() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def _attack_probes(sandbox: sb.Sandbox, roots: Any, env: Any, config: Any) -> list[dict[str, Any]]:
    """The attacks of :mod:`pytest_codex.sandbox.probes`, tried from inside ``sandbox``
    against this repository, its runs directory, the signing key and the state directory,
    with host sockets listening in a directory outside the workspace and ``/tmp``."""
    import shutil

    from ..attestation import key_location
    from ..sandbox import probes

    evidence = config.get("evidence") if callable(getattr(config, "get", None)) else None
    key = Path(key_location(env, evidence if isinstance(evidence, dict) else None))
    outside = probes.outside_directory()
    try:
        targets = probes.ProbeTargets(
            workspace=roots.root,
            runs=roots.runs_dir,
            run_dir=roots.runs_dir,
            outside=outside,
            key=key if key.is_absolute() else sb.user_config_dir(env) / "signing-key.pem",
            state=sb.user_state_dir(env),
        )
        watched = sandbox.watch()
        try:
            with probes.host_listeners(targets):
                found = probes.run_probes(sandbox.prefix(roots.root), targets, cwd=roots.root)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [{"name": "probes", "attempt": "run the probes", "held": False,
                     "detail": str(exc)}]  # fmt: skip
        finally:
            sb.detect_denial(1, "", sandbox, watched=watched)  # placeholders go
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    return [
        {"name": r.name, "attempt": r.attempt, "held": r.held, "detail": r.detail}
        for r in found.values()
    ]


def _probe_paths(sandbox: sb.Sandbox, cwd: Path, paths: list[Path]) -> list[str]:
    """``write``, ``read`` or ``absent`` per path, as a command in ``sandbox`` sees it."""
    from ..programs import ProgramNotFoundError, resolve

    try:
        shell = resolve("sh", workspace=cwd)  # never a planted sh deciding what doctor says
    except ProgramNotFoundError as exc:
        return [f"unknown ({exc})"] * len(paths)
    argv = sandbox.wrap([shell, "-c", _PROBE_SCRIPT, "sh", *map(str, paths)], cwd)
    try:
        with sb.spawn_args(argv) as (spawned, fds):
            done = subprocess.run(
                spawned,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                pass_fds=fds,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"unknown ({exc})"] * len(paths)
    answers = done.stdout.split()
    if done.returncode != 0 or len(answers) != len(paths):
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        return [f"unknown ({detail})"] * len(paths)
    return answers


def render_text(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    bwrap = report["bubblewrap"]
    lines = [
        f"platform: {report['platform']['system']} {report['platform']['kernel']}; "
        f"user {report['user']['name']} (uid {report['user']['uid']})",
        f"configured: sandbox {report['configured']['sandbox']}, "
        f"network {'on' if report['configured']['network'] else 'off'}",
        f"bubblewrap: {bwrap['executable'] or 'not found'}"
        + (f" {bwrap['version']}" if bwrap["version"] else "")
        + f" -> backend {bwrap['backend']}"
        + (f" ({bwrap['reason']})" if bwrap["reason"] else ""),
    ]
    for feature in report["features"]:
        mark = "ok  " if feature["ok"] else "MISS"
        detail = f" ({feature['detail']})" if feature["detail"] else ""
        lines.append(f"  [{mark}] {feature['text']}{detail}")
    lines.append("paths (as a sandboxed command sees them):")
    for entry in report["paths"]:
        hidden = entry["sandbox"] == "absent" and entry["exists"]
        seen = "hidden (exists on the host)" if hidden else entry["sandbox"]
        lines.append(f"  {entry['name']}: {entry['path']} -> {seen}")
    if report["probes"]:
        lines.append("attacks tried from inside the sandbox:")
        for probe in report["probes"]:
            mark = "held" if probe["held"] else "OPEN"
            lines.append(f"  [{mark}] {probe['attempt']} ({probe['detail']})")
    for path in report["installedInWorkspace"]:
        lines.append(
            f"note: the orchestrator runs from inside the workspace ({path}), read-only to "
            "sandboxed commands; install it as a tool outside the workspace instead "
            "(pipx install pytest-codex-orchestrator, or uv tool install "
            "pytest-codex-orchestrator)"
        )
    if report["redaction"]["rawLogs"]:
        lines.append("command logs: RAW (exec.raw_logs: secrets in output stay in commands/*.log)")
    else:
        lines.append("command logs: redacted (like every other sink)")
    if report["ok"]:
        lines.append("verdict: the sandbox gives what the configuration asks for")
    else:
        lines.append("verdict: the sandbox is weaker than the configuration asks for:")
        lines += [f"  - {problem}" for problem in report["problems"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the report; 1 when the sandbox is weaker than configured."""
    report = diagnose(args)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
    return 0 if report["ok"] else 1


def _exists(path: Path) -> bool | None:
    """Whether ``path`` exists; None when this user may not even look (another user's
    directory on the way)."""
    try:
        return path.exists()
    except PermissionError:
        return None
