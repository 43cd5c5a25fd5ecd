"""Sandbox prefixes, backend detection and denial detection (real bwrap where it counts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import ptyprocess
import pytest

from pytest_codex.config import CONFIG_FILES
from pytest_codex.runtime import ExecSessionManager
from pytest_codex.runtime.pty_session import without_new_session
from pytest_codex.sandbox import (
    CAP_DROP,
    FEATURES,
    NETWORK_NAMESPACE,
    USER_NAMESPACE,
    BackendStatus,
    DenialEvidence,
    Sandbox,
    SandboxPolicy,
    detect_denial,
    probe_bubblewrap,
    protected_paths,
    sandbox_status,
    spawn_args,
)

BWRAP = probe_bubblewrap()
requires_bwrap = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)
FAKE_BWRAP = BackendStatus("bubblewrap", None, "/usr/bin/bwrap")


def _has_run(argv: list[str], run: list[str]) -> bool:
    return any(argv[i : i + len(run)] == run for i in range(len(argv)))


def run_in(sandbox: Sandbox, argv: list[str], cwd: Path) -> tuple[int, str]:
    with spawn_args(sandbox.wrap(argv, cwd)) as (spawned, fds):
        done = subprocess.run(
            spawned, cwd=cwd, capture_output=True, text=True, check=False, timeout=30, pass_fds=fds
        )
    return done.returncode, done.stdout + done.stderr


# -- policies and prefixes ------------------------------------------------------------------------
def test_policy_permissions_and_labels() -> None:
    assert SandboxPolicy("read-only").permissions == frozenset()
    assert SandboxPolicy("workspace-write").permissions == {"write-workspace"}
    assert SandboxPolicy("workspace-write", True).label == "workspace-write+network"
    full = SandboxPolicy("danger-full-access")
    assert full.network and full.label == "danger-full-access"
    assert full.permissions == {"write-workspace", "write-outside-workspace", "network"}


def test_workspace_write_prefix_binds_workspace_writable_and_cuts_network(workspace: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace, backend=FAKE_BWRAP)
    prefix = sandbox.prefix()
    assert prefix[:5] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev"]
    assert _has_run(prefix, ["--bind", str(workspace), str(workspace)])
    assert "--unshare-net" in prefix and "--die-with-parent" in prefix
    for flag in ("--unshare-user", "--unshare-pid", "--new-session"):
        assert flag in prefix
    assert _has_run(prefix, ["--cap-drop", "ALL"])
    assert prefix[-1] == "--"
    assert sandbox.wrap(["ls"], workspace)[-4:] == ["--chdir", str(workspace), "--", "ls"]


def test_read_only_prefix_binds_workspace_read_only_and_network_flag(workspace: Path) -> None:
    prefix = Sandbox.create("read-only", workspace, network=True, backend=FAKE_BWRAP).prefix()
    assert _has_run(prefix, ["--ro-bind", str(workspace), str(workspace)])
    assert "--bind" not in prefix and "--unshare-net" not in prefix


@requires_bwrap
def test_import_paths_under_tmp_stay_visible_read_only_inside_the_private_tmp(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editable install's sources under /tmp (a CI checkout there, say) are on sys.path
    # but would be hidden by the sandbox's private /tmp.
    sources = tmp_path / "checkout"
    (sources / "pkg").mkdir(parents=True)
    (sources / "pkg" / "__init__.py").write_text("VALUE = 42\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(sources), str(sources / "pkg"), "/tmp"])
    sandbox = Sandbox.create("workspace-write", workspace, backend=BWRAP)
    prefix = sandbox.prefix()
    assert _has_run(prefix, ["--ro-bind", str(sources), str(sources)])
    assert not _has_run(prefix, ["--ro-bind", str(sources / "pkg"), str(sources / "pkg")])
    assert not _has_run(prefix, ["--ro-bind", "/tmp", "/tmp"])
    code, output = run_in(
        sandbox,
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(sources)!r}); "
         "import pkg; print(pkg.VALUE); open(pkg.__file__, 'a')"],
        workspace,
    )  # fmt: skip
    assert code != 0 and output.startswith("42\n") and "Read-only file system" in output


@pytest.mark.parametrize(
    ("mode", "backend"),
    [("danger-full-access", FAKE_BWRAP), ("workspace-write", BackendStatus("none", "test"))],
)
def test_unenforced_sandboxes_have_no_prefix(
    workspace: Path, mode: str, backend: BackendStatus
) -> None:
    sandbox = Sandbox.create(mode, workspace, backend=backend)
    assert not sandbox.enforced and sandbox.state == "unsandboxed"
    assert sandbox.wrap(["true"]) == ["true"]


def test_backend_none_is_reported_with_a_reason() -> None:
    assert sandbox_status("none") == {
        "backend": "none",
        "reason": "sandbox backend 'none' was requested",
        "executable": None,
        "version": None,
        "features": [],
        "missing": {},
    }
    missing = probe_bubblewrap("/nonexistent/bwrap")
    assert missing.backend == "none" and "could not run" in str(missing.reason)


def test_escalation_ladder(workspace: Path) -> None:
    read_only = Sandbox.create("read-only", workspace, backend=FAKE_BWRAP)
    inside = DenialEvidence(("read-only-file-system",), 1, "x", (str(workspace / "f"),))
    outside = DenialEvidence(("read-only-file-system",), 1, "x", ("/etc/f",))
    network = DenialEvidence(("network-unreachable",), 1, "x")
    assert read_only.escalation(inside) == SandboxPolicy("workspace-write")
    assert read_only.escalation(outside) == SandboxPolicy("danger-full-access")
    assert read_only.escalation(network) == SandboxPolicy("read-only", True)
    full = read_only.with_policy(SandboxPolicy("danger-full-access"))
    assert full.escalation(outside) is None


# -- denial detection: the rules, on text ----------------------------------------------------------
@pytest.fixture
def enforced(workspace: Path) -> Sandbox:
    return Sandbox.create("workspace-write", workspace, backend=FAKE_BWRAP)


def test_read_only_file_system_is_a_denial_with_evidence(enforced: Sandbox) -> None:
    output = "noise\nsh: 1: cannot create /var/x/f: Read-only file system\n"
    evidence = detect_denial(2, output, enforced)
    assert evidence is not None
    assert evidence.as_record() == {
        "signals": ["read-only-file-system"],
        "exitCode": 2,
        "excerpt": "sh: 1: cannot create /var/x/f: Read-only file system",
        "paths": ["/var/x/f"],
    }


@pytest.mark.parametrize(
    ("exit_code", "output"),
    [
        (1, "error: something failed\n"),
        (2, "ls: cannot access '/nope': No such file or directory\n"),
        (126, "sh: 1: /var/x/tool: Permission denied\n"),
        (127, "sh: 1: frobnicate: not found\n"),
        (1, "cp: cannot create regular file 'WS/out': Permission denied\n"),
        (1, "chmod: changing permissions of 'WS/f': Operation not permitted\n"),
        (0, "grep found: Read-only file system\n"),
        (None, "Read-only file system\n"),
        (1, "bwrap: Can't mkdir /x: Read-only file system\n"),
    ],
    ids=[
        "exit1",
        "exit2",
        "exit126-permission-denied",
        "exit127",
        "eacces-inside-workspace",
        "eperm-inside-workspace",
        "success-mentioning-signal",
        "timed-out",
        "bwrap-setup-error",
    ],
)
def test_ordinary_failures_are_not_denials(
    enforced: Sandbox, exit_code: int | None, output: str
) -> None:
    output = output.replace("WS", str(enforced.workspace))
    assert detect_denial(exit_code, output, enforced) is None


def test_permission_denied_outside_the_workspace_is_a_denial(enforced: Sandbox) -> None:
    evidence = detect_denial(1, "PermissionError: [Errno 13] Permission denied: '/srv/x'", enforced)
    assert evidence is not None and evidence.signals == ("permission-denied",)


def test_network_signals_count_only_without_network(workspace: Path) -> None:
    output = "OSError: [Errno 101] Network is unreachable\n"
    offline = Sandbox.create("workspace-write", workspace, backend=FAKE_BWRAP)
    online = Sandbox.create("workspace-write", workspace, network=True, backend=FAKE_BWRAP)
    evidence = detect_denial(1, output, offline)
    assert evidence is not None and evidence.network and not evidence.filesystem
    assert detect_denial(1, output, online) is None


def test_unenforced_sandbox_never_denies(workspace: Path) -> None:
    none = Sandbox.create("workspace-write", workspace, backend=BackendStatus("none", "t"))
    assert detect_denial(1, "x: Read-only file system", none) is None
    assert detect_denial(1, "x: Read-only file system", None) is None


def test_evidence_excerpt_is_redacted(enforced: Sandbox) -> None:
    output = "cannot create /var/supersecretvalue/f: Read-only file system"
    evidence = detect_denial(1, output, enforced, secrets=["supersecretvalue"])
    assert evidence is not None
    assert "supersecretvalue" not in str(evidence.as_record())


# -- real bubblewrap ----------------------------------------------------------------------------
@requires_bwrap
def test_bwrap_denies_writes_outside_the_workspace(workspace: Path, outside_dir: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    target = outside_dir / "f"
    code, output = run_in(sandbox, ["sh", "-c", f"echo x > {target}"], workspace)
    evidence = detect_denial(code, output, sandbox)
    assert evidence is not None and "read-only-file-system" in evidence.signals
    assert str(target) in evidence.paths and not target.exists()
    assert sandbox.escalation(evidence) == SandboxPolicy("danger-full-access")


@requires_bwrap
def test_bwrap_lets_the_workspace_and_private_tmp_be_written(workspace: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    code, output = run_in(sandbox, ["sh", "-c", "echo x > inside && echo y > /tmp/t"], workspace)
    assert (code, output) == (0, "")
    assert (workspace / "inside").read_text() == "x\n"


@requires_bwrap
def test_bwrap_read_only_denies_the_workspace_and_escalates_to_workspace_write(
    workspace: Path,
) -> None:
    sandbox = Sandbox.create("read-only", workspace)
    code, output = run_in(sandbox, ["sh", "-c", f"echo x > {workspace}/f"], workspace)
    evidence = detect_denial(code, output, sandbox)
    assert evidence is not None
    assert sandbox.escalation(evidence) == SandboxPolicy("workspace-write")


@requires_bwrap
def test_bwrap_network_denial_is_detected(workspace: Path) -> None:
    # bwrap brings up loopback in the new namespace, so a non-local address is what fails.
    script = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)"
    sandbox = Sandbox.create("workspace-write", workspace)
    code, output = run_in(sandbox, [sys.executable, "-c", script], workspace)
    evidence = detect_denial(code, output, sandbox)
    assert evidence is not None and evidence.signals == ("network-unreachable",)
    assert sandbox.escalation(evidence) == SandboxPolicy("workspace-write", True)


@requires_bwrap
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("exit 1", 1),
        ("ls /definitely/not/here", 2),
        ("printf 'echo hi' > tool.sh && chmod -x tool.sh && ./tool.sh", 126),
        ("no-such-command-anywhere", 127),
    ],
    ids=["exit1", "exit2", "exit126", "exit127"],
)
def test_bwrap_ordinary_failures_are_not_denials(
    workspace: Path, script: str, expected: int
) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    code, output = run_in(sandbox, ["sh", "-c", script], workspace)
    assert code == expected
    assert detect_denial(code, output, sandbox) is None


def test_launch_status_follows_the_shell_for_programs_bwrap_cannot_start() -> None:
    from pytest_codex.sandbox import launch_status

    missing = "bwrap: execvp nope: No such file or directory\n"
    denied = "bwrap: execvp ./x.sh: Permission denied\n"
    assert launch_status(1, missing, True) == 127
    assert launch_status(1, denied, True) == 126
    assert launch_status(1, missing, False) == 1  # unsandboxed: the program said it
    assert launch_status(1, "plain failure\n", True) == 1
    assert launch_status(2, missing, True) == 2


@requires_bwrap
def test_a_missing_program_exits_127_inside_the_sandbox_too(workspace: Path) -> None:
    from pytest_codex.emitter import RecordingEmitter
    from pytest_codex.orchestrator import ToolOrchestrator

    orchestrator = ToolOrchestrator(RecordingEmitter(), workspace=workspace, backend="auto")
    result = orchestrator.run(["no-such-program-anywhere"])
    assert orchestrator.sandbox_status()["backend"] == "bubblewrap"
    assert result.exit_code == 127 and not result.ok


# -- hardening: namespaces, capabilities, features ------------------------------------------------
def test_a_status_without_a_feature_leaves_its_flags_out(workspace: Path) -> None:
    weaker = BackendStatus(
        "bubblewrap",
        None,
        "/usr/bin/bwrap",
        features=tuple(f for f in FEATURES if f not in (USER_NAMESPACE, CAP_DROP)),
        missing=((USER_NAMESPACE, "test"), (CAP_DROP, "test")),
    )
    prefix = Sandbox.create("read-only", workspace, backend=weaker).prefix()
    assert "--unshare-user" not in prefix and "--cap-drop" not in prefix
    assert "--unshare-pid" in prefix and "--new-session" in prefix
    assert weaker.as_dict()["missing"] == {USER_NAMESPACE: "test", CAP_DROP: "test"}


def test_pty_sessions_drop_new_session_only_before_the_command() -> None:
    wrapper = ["/usr/bin/bwrap", "--new-session", "--unshare-pid", "--"]
    assert without_new_session(wrapper) == ["/usr/bin/bwrap", "--unshare-pid", "--"]
    assert without_new_session(["env", "--"]) == ["env", "--"]


@requires_bwrap
def test_the_probe_records_version_and_every_feature_this_host_allows() -> None:
    payload = BWRAP.as_dict()
    assert payload["version"] and payload["executable"]
    assert set(payload["features"]) <= set(FEATURES)
    assert set(payload["features"]) | set(payload["missing"]) == set(FEATURES)
    assert NETWORK_NAMESPACE in payload["features"]


@requires_bwrap
def test_no_capability_survives_inside_the_sandbox(workspace: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    code, output = run_in(sandbox, ["grep", "^Cap", "/proc/self/status"], workspace)
    assert code == 0
    assert all(line.split()[1] == "0000000000000000" for line in output.splitlines()), output


@requires_bwrap
def test_the_sandbox_sees_only_its_own_processes(workspace: Path) -> None:
    sandbox = Sandbox.create("read-only", workspace)
    code, output = run_in(sandbox, ["test", "-e", f"/proc/{os.getpid()}"], workspace)
    assert code == 1, output


_OPEN_TTY = """import os
try:
    os.close(os.open("/dev/tty", os.O_RDWR))
    print("tty-open")
except OSError:
    print("no-tty")
"""


def _on_a_terminal(argv: list[str]) -> str:
    with spawn_args(argv) as (spawned, fds):
        process = ptyprocess.PtyProcess.spawn(spawned, pass_fds=fds)
    output = b""
    while True:
        try:
            output += process.read(1024)
        except EOFError:
            break
    process.wait()
    return output.decode().strip()


@requires_bwrap
def test_a_sandboxed_command_cannot_reach_the_callers_terminal(workspace: Path) -> None:
    # Started on a terminal, as `exec` is from an interactive shell: without --new-session
    # the command could open it (and push input into it with TIOCSTI).
    prefix = Sandbox.create("read-only", workspace).prefix()
    assert _on_a_terminal([*prefix, sys.executable, "-c", _OPEN_TTY]) == "no-tty"
    bare = without_new_session(prefix)
    assert _on_a_terminal([*bare, sys.executable, "-c", _OPEN_TTY]) == "tty-open"


# -- protected paths ------------------------------------------------------------------------------
@pytest.fixture
def repo(workspace: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "pyproject.toml").write_text("[tool.codex-orchestrator]\ntask = 'T'\n")
    (workspace / "codex.orchestrator.json").write_text("{}\n")
    (workspace / ".runs" / "T" / "guardrail-cache" / "memo").mkdir(parents=True)
    (workspace / ".runs" / "T" / "approvals.json").write_text("{}\n")
    return workspace


def _protected_sandbox(repo: Path, mode: str = "workspace-write") -> Sandbox:
    roots = SimpleNamespace(root=repo, runs_dir=repo / ".runs", out_dir=repo / "out")
    return Sandbox.create(mode, repo, protected=protected_paths(roots))


def test_protected_paths_name_git_runs_out_config_and_sockets(repo: Path) -> None:
    roots = SimpleNamespace(root=repo, runs_dir=repo / ".runs", out_dir=repo / "out")
    paths = {p.path: p.create for p in protected_paths(roots, env={"HOME": "/home/u"})}
    for name in (".git", "pyproject.toml", *CONFIG_FILES):
        assert paths[repo / name] is False
    assert paths[repo / ".runs"] is True and paths[repo / "out"] is True
    assert Path("/home/u/.config/pytest-codex") in paths
    assert Path(tempfile.gettempdir()) / "codex-sessions" in paths


def test_a_pyproject_without_the_orchestrator_table_is_not_protected(workspace: Path) -> None:
    (workspace / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    roots = SimpleNamespace(root=workspace, runs_dir=workspace / ".runs")
    assert workspace / "pyproject.toml" not in {p.path for p in protected_paths(roots)}


def test_protected_paths_are_bound_read_only_after_the_writable_workspace(repo: Path) -> None:
    roots = SimpleNamespace(root=repo, runs_dir=repo / ".runs", out_dir=repo / "out")
    prefix = Sandbox.create(
        "workspace-write", repo, backend=FAKE_BWRAP, protected=protected_paths(roots)
    ).prefix()
    workspace_at = prefix.index("--bind")
    for name in (".git", ".runs", "out", "pyproject.toml", "codex.orchestrator.json"):
        run = ["--ro-bind", str(repo / name), str(repo / name)]
        assert _has_run(prefix[workspace_at:], run), name
    assert (repo / "out").is_dir()  # created so that it can be bound


@requires_bwrap
@pytest.mark.parametrize(
    "script",
    [
        "git config core.fsmonitor 'touch /var/tmp/pwned'",
        "printf '#!/bin/sh\\ntouch /var/tmp/pwned\\n' > .git/hooks/pre-commit",
        'echo \'{"notify": ["touch /var/tmp/pwned"]}\' > codex.orchestrator.json',
        "echo '[tool.codex-orchestrator]' >> pyproject.toml",
        "echo '{}' > .runs/T/approvals.json",
        "ln -s /var/tmp/elsewhere .runs/T/.metrics.json.lock",
        "echo '{\"files\": {}}' > .runs/T/guardrail-cache/memo/file-digests.json",
        "mkdir -p out/T && echo '{}' > out/T/state.json",
    ],
    ids=["fsmonitor", "hook", "config", "pyproject", "approvals", "lock", "memo", "state"],
)
def test_writes_to_protected_paths_are_denials_inside_a_writable_workspace(
    repo: Path, script: str
) -> None:
    sandbox = _protected_sandbox(repo)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    code, output = run_in(sandbox, ["sh", "-c", script], repo)
    evidence = detect_denial(code, output, sandbox)
    assert code != 0 and evidence is not None and evidence.filesystem, output
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before
    assert not (repo / ".runs" / "T" / ".metrics.json.lock").is_symlink()
    code, _ = run_in(sandbox, ["sh", "-c", "echo ok > src.txt"], repo)
    assert code == 0 and (repo / "src.txt").read_text() == "ok\n"


@requires_bwrap
def test_a_protected_mount_point_cannot_be_moved_away(repo: Path) -> None:
    sandbox = _protected_sandbox(repo)
    code, output = run_in(
        sandbox, ["sh", "-c", f"mv {repo}/.git {repo}/g && mkdir {repo}/.git"], repo
    )
    evidence = detect_denial(code, output, sandbox)
    assert code != 0 and evidence is not None and "resource-busy" in evidence.signals
    assert (repo / ".git" / "HEAD").is_file()


@requires_bwrap
def test_a_config_file_planted_where_none_was_is_a_denial_and_moved_aside(workspace: Path) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    sandbox = _protected_sandbox(workspace)
    code, output = run_in(
        sandbox, ["sh", "-c", "echo 'notify: [x]' > codex.orchestrator.yaml"], workspace
    )
    assert code == 0
    evidence = detect_denial(code, output, sandbox)
    assert evidence is not None and evidence.signals == ("protected-path-created",)
    assert evidence.paths == (str(workspace / "codex.orchestrator.yaml"),)
    assert not (workspace / "codex.orchestrator.yaml").exists()
    assert [p.name.split(".planted-")[0] for p in workspace.glob("*.planted-*")] == [
        "codex.orchestrator.yaml"
    ]
    assert detect_denial(0, "", sandbox) is None  # moved aside: reported once


# -- working directories --------------------------------------------------------------------------
@requires_bwrap
@pytest.mark.parametrize("base", ["/tmp", "/var/tmp"])
def test_workspace_write_makes_the_working_directory_writable_wherever_it_is(
    workspace: Path, base: str
) -> None:
    cwd = Path(tempfile.mkdtemp(prefix="codex-cd-", dir=base))
    try:
        sandbox = Sandbox.create("workspace-write", workspace)
        code, output = run_in(sandbox, ["touch", "made"], cwd)
        assert code == 0, output
        assert (cwd / "made").exists()
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@requires_bwrap
def test_read_only_keeps_a_working_directory_under_tmp_visible_but_read_only(
    workspace: Path,
) -> None:
    cwd = Path(tempfile.mkdtemp(prefix="codex-cd-", dir="/tmp"))
    try:
        (cwd / "seen").write_text("yes\n")
        sandbox = Sandbox.create("read-only", workspace)
        code, output = run_in(sandbox, ["sh", "-c", "cat seen && touch made"], cwd)
        assert code != 0 and output.startswith("yes")
        assert not (cwd / "made").exists()
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@requires_bwrap
def test_a_working_directory_the_sandbox_cannot_enter_is_a_clear_denial(workspace: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    with spawn_args(sandbox.wrap(["true"], workspace / "gone")) as (argv, fds):
        done = subprocess.run(
            argv, cwd=workspace, capture_output=True, text=True, check=False, pass_fds=fds
        )
    evidence = detect_denial(done.returncode, done.stderr, sandbox)
    assert evidence is not None and evidence.signals == ("cwd-unavailable",)
    assert evidence.paths == (str(workspace / "gone"),)
    assert sandbox.escalation(evidence) is None


# -- network --------------------------------------------------------------------------------------
@requires_bwrap
def test_a_refused_connection_without_network_is_a_network_denial(workspace: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        script = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        sandbox = Sandbox.create("workspace-write", workspace)
        code, output = run_in(sandbox, [sys.executable, "-c", script], workspace)
    evidence = detect_denial(code, output, sandbox)
    assert evidence is not None and evidence.signals == ("connection-refused",)
    assert "Connection refused" in evidence.excerpt
    assert sandbox.escalation(evidence) == SandboxPolicy("workspace-write", True)


def test_connection_refused_with_network_on_is_an_ordinary_failure(workspace: Path) -> None:
    sandbox = Sandbox.create("workspace-write", workspace, network=True, backend=FAKE_BWRAP)
    assert detect_denial(1, "curl: (7) Connection refused", sandbox) is None


def test_the_config_names_protected_are_the_ones_config_reads() -> None:
    from pytest_codex.sandbox import policy

    assert policy._CONFIG_FILE_NAMES == CONFIG_FILES


@requires_bwrap
def test_the_runs_directory_is_one_read_only_bind_for_existing_and_new_runs(repo: Path) -> None:
    # Not a real manifest: the suite-wide schema check skips "intentionally-invalid" paths.
    parent = repo / ".runs" / "T" / "cli" / "intentionally-invalid-parent-run"
    parent.mkdir(parents=True)
    (parent / "manifest.json").write_text('{"status": "in_progress"}\n')
    sandbox = _protected_sandbox(repo)
    for script in (
        "mkdir .runs/T/cli/child-run",
        "mkdir .runs/NEW",
        f"echo forged > {parent / 'manifest.json'}",
        "echo '{}' > .runs/T/approvals.json",
        "echo '{}' > .runs/U-approvals.json",
        "echo x > out/report.txt",
        "echo '[core]' >> .git/config",
    ):
        code, output = run_in(sandbox, ["sh", "-c", script], repo)
        assert code != 0 and detect_denial(code, output, sandbox) is not None, script
    assert (parent / "manifest.json").read_text() == '{"status": "in_progress"}\n'
    assert not (repo / ".runs" / "NEW").exists()
    assert _has_run(sandbox.prefix(), ["--ro-bind", str(repo / ".runs"), str(repo / ".runs")])


@requires_bwrap
@pytest.mark.parametrize("mode", ["pty", "pipe"])
def test_the_exec_runtime_reports_an_unenterable_cwd_as_output_not_a_crash(
    workspace: Path, mode: str
) -> None:
    sandbox = Sandbox.create("workspace-write", workspace)
    with ExecSessionManager() as manager:
        result = manager.run(
            "true", mode=mode, cwd=workspace, wrapper=sandbox.prefix(workspace / "gone")
        )
    evidence = detect_denial(
        result.exit_code, result.text("pty" if mode == "pty" else "stderr"), sandbox
    )
    assert result.exit_code == 1
    assert evidence is not None and evidence.signals == ("cwd-unavailable",)


@requires_bwrap
def test_a_config_the_parent_writes_between_commands_is_not_taken_for_a_planted_one(
    workspace: Path,
) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    sandbox = _protected_sandbox(workspace)  # made while no config file exists
    (workspace / "codex.orchestrator.yaml").write_text("sandbox: read-only\n")
    watched = sandbox.watch()
    code, output = run_in(sandbox, ["true"], workspace)
    assert detect_denial(code, output, sandbox, watched=watched) is None
    assert (workspace / "codex.orchestrator.yaml").read_text() == "sandbox: read-only\n"
    # ... and from now on it is protected like any other config file.
    code, output = run_in(sandbox, ["sh", "-c", "echo x >> codex.orchestrator.yaml"], workspace)
    assert code != 0 and detect_denial(code, output, sandbox) is not None
