"""The same attack probes under ``codex sandbox`` and under ours, side by side.

One *column* is one sandbox (``ours`` or ``codex``, ``read-only`` or ``workspace-write``) run
by one actor (root, or an unprivileged user through ``setpriv``). A column runs in a worker
process of its own (``python -m tests.helpers.sandbox_table RUNNER MODE [CODEX]``) so that the
listeners, the workspace and the sandbox all belong to the actor. Every column gets a fresh
git repository outside ``/tmp`` (with an earlier run under ``.runs`` and no ``.codex`` or
``.agents``), a signing key and a state directory of its own; the worker prints one JSON
object: probe name -> ``{"held", "detail"}``, plus ``leaves-nothing`` (nothing written
into ``.codex`` or ``.agents`` is left in the workspace afterwards: at most the empty mount
point of our read-only placeholder, which git ignores).

Used by ``bench/sandbox_vs_codex.py`` (prints the table) and
``tests/integration/test_sandbox_vs_codex.py`` (asserts we hold every row Codex holds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_codex.sandbox import Sandbox, detect_denial, probe_bubblewrap, protected_paths
from pytest_codex.sandbox.probes import (
    PROBES,
    ProbeResult,
    ProbeTargets,
    host_listeners,
    outside_directory,
    run_probes,
)

LEAVES_NOTHING = "leaves-nothing"
ROWS: dict[str, str] = {
    **PROBES,
    LEAVES_NOTHING: "leaves nothing in .codex/.agents on the host",
}
RUN_ID = "20250101T000000Z-probe"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _layout(base: Path) -> tuple[ProbeTargets, dict[str, str]]:
    workspace = base / "ws"
    workspace.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    run_dir = workspace / ".runs" / "T" / "cli" / RUN_ID
    run_dir.mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    config = base / "config"
    (config / "pytest-codex").mkdir(parents=True)
    key = config / "pytest-codex" / "signing-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    state = base / "state"
    state.mkdir()
    (state / "cache-key").write_text("secret\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))},
        "HOME": str(base),
        "XDG_CONFIG_HOME": str(config),
        "CODEX_ORCHESTRATOR_STATE_DIR": str(state),
        "CODEX_HOME": str(base / "codex-home"),
    }
    (base / "codex-home").mkdir()
    targets = ProbeTargets(
        workspace=workspace,
        runs=workspace / ".runs",
        run_dir=run_dir,
        outside=outside,
        key=key,
        state=state,
    )
    return targets, env


def run_column(runner: str, mode: str, codex: str | None = None) -> dict[str, ProbeResult]:
    """One column, in this process (see the module docstring)."""
    base = outside_directory()
    try:
        targets, env = _layout(base)
        workspace = targets.workspace
        with host_listeners(targets):
            if runner == "ours":
                os.environ.update(env)  # the user dirs protected_paths() names
                roots = type("Roots", (), {})()
                roots.root, roots.runs_dir, roots.out_dir = workspace, targets.runs, None
                sandbox = Sandbox.create(
                    mode, workspace, backend=probe_bubblewrap(), protected=protected_paths(roots)
                )
                watched = sandbox.watch()
                results = run_probes(sandbox.prefix(workspace), targets, cwd=workspace, env=env)
                detect_denial(1, "", sandbox, watched=watched)  # placeholders go, plants moved
            else:
                assert codex is not None
                wrapper = [codex, "sandbox", "-c", f'sandbox_mode="{mode}"', "--"]
                results = run_probes(wrapper, targets, cwd=workspace, env=env)
        left = [n for n in (".codex", ".agents") if _holds_something(workspace / n)]
        results[LEAVES_NOTHING] = ProbeResult(
            LEAVES_NOTHING, not left, "left " + ", ".join(left) if left else "nothing left"
        )
        return results
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _holds_something(path: Path) -> bool:
    """Whether ``path`` exists as anything but an empty directory."""
    if not os.path.lexists(path):
        return False
    return path.is_symlink() or not path.is_dir() or any(path.iterdir())


def column(
    runner: str, mode: str, actor: Sequence[str] = (), codex: str | None = None
) -> dict[str, ProbeResult] | str:
    """One column run by ``actor`` (a command prefix: ``()`` for this user, or ``setpriv
    ...``); a string says why it could not run."""
    argv = [*actor, sys.executable, "-m", "tests.helpers.sandbox_table", runner, mode]
    if codex:
        argv.append(codex)
    done = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the column did not run: {' '.join(done.stderr.split())[-300:]}"
    return {name: ProbeResult(name, bool(v["held"]), str(v["detail"])) for name, v in found.items()}


def unprivileged_actor(user: str = "codex-probe") -> tuple[str, ...] | str:
    """``setpriv`` into an unprivileged user (created with ``useradd`` when missing), or why
    not. As a non-root user already: ``()``."""
    import pwd

    if os.getuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return "setpriv is not installed"
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", user],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            return f"cannot create an unprivileged user: {made.stderr.strip()}"
        entry = pwd.getpwnam(user)
    prefix = (setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups")
    check = subprocess.run(
        [*prefix, sys.executable, "-c", "import pytest_codex"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if check.returncode != 0:
        return f"{user} cannot run this Python environment"
    return (*prefix, "--")


def usable_codex(codex: str | None, actor: Sequence[str]) -> str | None:
    """``codex`` if ``actor`` can run it (the npm cache may live under a private home)."""
    if codex is None:
        return None
    done = subprocess.run(
        [*actor, codex, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return codex if done.returncode == 0 else None


def main(argv: Sequence[str]) -> None:
    runner, mode = argv[0], argv[1]
    codex = argv[2] if len(argv) > 2 else None
    results = run_column(runner, mode, codex)
    print(json.dumps({n: {"held": r.held, "detail": r.detail} for n, r in results.items()}))


if __name__ == "__main__":
    tempfile.tempdir = None
    main(sys.argv[1:])
