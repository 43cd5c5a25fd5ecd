"""Red team: every command is hostile. Attacks on the sandbox through the real CLI.

Each attack runs as ``codex-orchestrator exec --approval-policy never -s MODE -- sh -c ...``
under ``read-only`` and ``workspace-write`` (it must fail, leave the host untouched and be
recorded in the sandbox it really ran in) and, where it is safe to run on the host, under
``danger-full-access`` as the control (it must work there: the test can see the attack).
Where it matters, the attacks also run as an unprivileged user (created with ``useradd``
when the suite runs as root, and reached with ``setpriv``).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.sandbox import probe_bubblewrap

BWRAP = probe_bubblewrap()
pytestmark = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)
CONFINED = ("read-only", "workspace-write")
TASK = "rt"
REDTEAM_USER = "codex-redteam"


@dataclass(frozen=True)
class Actor:
    """Who runs the CLI: a command prefix and the uid/gid files are made for."""

    name: str
    prefix: tuple[str, ...]
    uid: int
    gid: int


def _unprivileged() -> Actor:
    if os.getuid() != 0:
        return Actor("user", (), os.getuid(), os.getgid())
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed: cannot run the attacks as an unprivileged user")
    try:
        entry = pwd.getpwnam(REDTEAM_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", REDTEAM_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot create an unprivileged user: {made.stderr.strip()}")
        entry = pwd.getpwnam(REDTEAM_USER)
    prefix = (
        setpriv,
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        "--",
    )
    probe = subprocess.run([*prefix, sys.executable, "-c", "import pytest_codex"], check=False)
    if probe.returncode != 0:
        pytest.skip(f"{REDTEAM_USER} cannot run this Python environment")
    return Actor("user", prefix, entry.pw_uid, entry.pw_gid)


@pytest.fixture(params=["root", "user"], ids=["as-root", "as-user"])
def actor(request: pytest.FixtureRequest) -> Actor:
    if request.param == "root":
        if os.getuid() != 0:
            pytest.skip("not running as root")
        return Actor("root", (), 0, 0)
    return _unprivileged()


@dataclass
class Repo:
    """A git repository with a config file, earlier run evidence and an out directory."""

    root: Path
    actor: Actor
    host_file: Path  # outside the workspace, never under the private /tmp

    def cli(self, mode: str, script: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env.update(
            CODEX_ORCHESTRATOR_ROOT=str(self.root),
            MCP_RUNNER_TASK_ID=TASK,
            HOME=str(self.root.parent),
        )
        argv = [*self.actor.prefix, sys.executable, "-m", "pytest_codex.cli"]
        argv += ["exec", "--approval-policy", "never", "-s", mode, "--", "sh", "-c", script]
        return subprocess.run(
            argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def manifests(self) -> list[Path]:
        return sorted((self.root / ".runs" / TASK / "cli").glob("*/manifest.json"))

    def last_record(self) -> dict[str, Any]:
        manifest = json.loads(self.manifests()[-1].read_text())
        tool_run: dict[str, Any] = manifest["toolRuns"][-1]
        return tool_run

    def snapshot(self) -> dict[str, bytes | str]:
        seen: dict[str, bytes | str] = {}
        for path in self.root.rglob("*"):
            rel = str(path.relative_to(self.root))
            if path.is_symlink():
                seen[rel] = f"-> {os.readlink(path)}"
            elif path.is_file():
                seen[rel] = path.read_bytes()
        return seen


@pytest.fixture
def repo(actor: Actor) -> Iterator[Repo]:
    base = Path(tempfile.mkdtemp(prefix="codex-redteam-", dir="/var/tmp"))
    root = base / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "codex.orchestrator.json").write_text("{}\n")
    (root / "src.txt").write_text("source\n")
    host_file = base / f"planted-{secrets.token_hex(4)}"
    for path in [base, *base.rglob("*")]:
        os.lchown(path, actor.uid, actor.gid)
    made = Repo(root, actor, host_file)
    first = made.cli("workspace-write", "echo earlier run; exit 1")
    assert first.returncode == 1, first.stderr
    yield made
    shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class Attack:
    """A hostile script; ``landed`` says whether it got what it wanted."""

    script: Callable[[Repo], str]
    landed: Callable[[Repo, subprocess.CompletedProcess[str]], bool]
    control: bool = True  # also run unsandboxed, as the control


def _output(done: subprocess.CompletedProcess[str]) -> str:
    """What the command itself printed (from ``run:summary``; stdout also echoes its argv)."""
    summary = json.loads(done.stdout.splitlines()[-1])["payload"]
    return "".join(stream["text"] for stream in summary["outputs"].values())


def _earlier_manifest(repo: Repo) -> Path:
    return repo.manifests()[0]


def _task_dir(repo: Repo) -> Path:
    return repo.root / ".runs" / TASK


ATTACKS: dict[str, Attack] = {
    "remount-root-and-write-the-host": Attack(
        lambda r: f"mount -o remount,rw,bind / && touch {r.host_file}",
        lambda r, _: r.host_file.exists(),
        control=False,  # remounting the host's / is not a control worth running
    ),
    "write-outside-the-workspace": Attack(
        lambda r: f"touch {r.host_file}",
        lambda r, _: r.host_file.exists(),
    ),
    "keep-capabilities": Attack(
        lambda r: (
            "grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status && exit 3; echo has-capabilities"
        ),
        lambda r, done: "has-capabilities" in _output(done),
        control=False,  # only root has capabilities to keep
    ),
    "see-host-processes": Attack(
        lambda r: f"test -e /proc/{os.getpid()} && echo sees-host",
        lambda r, done: "sees-host" in _output(done),
    ),
    "enter-the-host-network-namespace": Attack(
        lambda r: f"nsenter --net=/proc/{os.getpid()}/ns/net true && echo entered",
        lambda r, done: "entered" in _output(done),
        control=False,  # needs root outside; nsenter into our own namespace proves nothing
    ),
    "git-fsmonitor": Attack(
        lambda r: f"git config core.fsmonitor 'touch {r.host_file}'",
        lambda r, _: "fsmonitor" in (r.root / ".git" / "config").read_text(),
    ),
    "git-hook": Attack(
        lambda r: f"printf '#!/bin/sh\\ntouch {r.host_file}\\n' > .git/hooks/pre-commit",
        lambda r, _: (r.root / ".git" / "hooks" / "pre-commit").exists(),
    ),
    "notify-command-in-the-config": Attack(
        lambda r: f'echo \'{{"notify": ["touch {r.host_file}"]}}\' > codex.orchestrator.json',
        lambda r, _: "notify" in (r.root / "codex.orchestrator.json").read_text(),
    ),
    "plant-a-config-file-that-wins": Attack(
        lambda r: f"echo 'notify: [\"touch {r.host_file}\"]' > codex.orchestrator.yaml",
        lambda r, _: (r.root / "codex.orchestrator.yaml").exists(),
    ),
    "forge-an-earlier-manifest": Attack(
        lambda r: f'sed -i \'s/"failed"/"succeeded"/g\' {_earlier_manifest(r)}',
        lambda r, _: '"failed"' not in _earlier_manifest(r).read_text(),
    ),
    "plant-a-lock-symlink": Attack(
        lambda r: f"ln -sfn {r.host_file} .runs/{TASK}/.metrics.json.lock",
        lambda r, _: (_task_dir(r) / ".metrics.json.lock").is_symlink(),
    ),
    "poison-the-guardrail-memo": Attack(
        lambda r: (
            f"mkdir -p .runs/{TASK}/guardrail-cache/memo && "
            f"echo '{{\"files\": {{}}}}' > .runs/{TASK}/guardrail-cache/memo/file-digests.json"
        ),
        lambda r, _: (_task_dir(r) / "guardrail-cache" / "memo" / "file-digests.json").exists(),
    ),
    "plant-a-file-in-the-out-directory": Attack(
        lambda r: f"mkdir -p out/{TASK} && echo forged > out/{TASK}/evidence.json",
        lambda r, _: (r.root / "out" / TASK / "evidence.json").exists(),
    ),
}
AS_USER = {
    "remount-root-and-write-the-host",
    "write-outside-the-workspace",
    "keep-capabilities",
    "see-host-processes",
    "git-fsmonitor",
    "plant-a-config-file-that-wins",
    "forge-an-earlier-manifest",
}


@pytest.mark.parametrize("mode", [*CONFINED, "danger-full-access"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(repo: Repo, name: str, mode: str) -> None:
    attack = ATTACKS[name]
    if repo.actor.name == "user" and name not in AS_USER:
        pytest.skip("a filesystem attack already covered as root")
    if mode == "danger-full-access" and not attack.control:
        pytest.skip("no safe control for this attack")
    before = repo.snapshot()
    done = repo.cli(mode, attack.script(repo))
    record = repo.last_record()
    # The record states the sandbox the command really ran in.
    assert [a["sandbox"] for a in record["attempts"]] == [mode]
    assert record["sandboxState"] == (
        "unsandboxed" if mode == "danger-full-access" else "sandboxed"
    )
    if mode == "danger-full-access":
        assert attack.landed(repo, done), f"the control did not land: {done.stdout[-2000:]}"
        return
    assert not attack.landed(repo, done), done.stdout[-2000:]
    assert done.returncode != 0
    after = repo.snapshot()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # Only this run's own evidence (and a planted file moved aside) may have changed.
    assert all(
        k.startswith((f".runs/{TASK}/cli/", f"out/{TASK}/", f".runs/{TASK}/metrics.json"))
        or ".planted-" in k
        for k in changed
    ), changed
    assert not repo.host_file.exists()


@pytest.mark.parametrize("mode", CONFINED)
def test_writes_to_protected_paths_are_denials_with_evidence(repo: Repo, mode: str) -> None:
    done = repo.cli(mode, "echo '[core]' >> .git/config")
    assert done.returncode == 4, done.stdout[-2000:]
    attempt = repo.last_record()["attempts"][0]
    assert attempt["state"] == "denied"
    assert "read-only-file-system" in attempt["denialEvidence"]["signals"]


def test_a_planted_config_is_a_denial_even_when_the_command_exits_0(repo: Repo) -> None:
    done = repo.cli(
        "workspace-write", "echo 'sandbox: danger-full-access' > codex.orchestrator.yaml"
    )
    assert done.returncode == 4, done.stdout[-2000:]
    evidence = repo.last_record()["attempts"][0]["denialEvidence"]
    assert evidence["signals"] == ["protected-path-created"]
    assert not (repo.root / "codex.orchestrator.yaml").exists()


@pytest.mark.parametrize("mode", [*CONFINED, "danger-full-access"])
def test_a_refused_connection_without_network_is_a_network_denial(repo: Repo, mode: str) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        # bash's /dev/tcp: no interpreter the unprivileged user might not be able to run.
        done = repo.cli(mode, f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'")
    attempt = repo.last_record()["attempts"][0]
    if mode == "danger-full-access":
        assert done.returncode == 0, done.stdout[-2000:]
        return
    assert done.returncode == 4, done.stdout[-2000:]
    assert attempt["state"] == "denied"
    assert attempt["denialEvidence"]["signals"] == ["connection-refused"]


@pytest.mark.parametrize("actor", ["root"], indirect=True)
def test_a_session_keeps_the_sandbox_it_was_opened_with(repo: Repo) -> None:
    # The session server goes away by itself soon after the test.
    (repo.root / "codex.orchestrator.json").write_text('{"exec": {"idle_timeout_seconds": 5}}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(CODEX_ORCHESTRATOR_ROOT=str(repo.root), MCP_RUNNER_TASK_ID=TASK)
    cli = [sys.executable, "-m", "pytest_codex.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], cwd=repo.root, env=env, capture_output=True, text=True, timeout=120
        )

    opened = run(
        "exec", "--approval-policy", "never", "-s", "danger-full-access", "--session", "s1",
        "--", "true",
    )  # fmt: skip
    run_id = json.loads(opened.stdout.splitlines()[0])["runId"]
    reused = run(
        "resume", run_id, "--reopen", "--approval-policy", "never", "-s", "read-only",
        "--session", "s1", "--", "touch", str(repo.host_file),
    )  # fmt: skip
    assert reused.returncode != 0
    summary = json.loads(reused.stdout.splitlines()[-1])["payload"]
    assert "opened with another sandbox" in summary["statusDetail"]
    assert not repo.host_file.exists()


def test_every_hardening_feature_is_in_force_for_this_actor(repo: Repo) -> None:
    # As root and as an unprivileged user alike: doctor probes in the actor's own process.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(CODEX_ORCHESTRATOR_ROOT=str(repo.root), MCP_RUNNER_TASK_ID=TASK)
    done = subprocess.run(
        [
            *repo.actor.prefix,
            sys.executable,
            "-m",
            "pytest_codex.cli",
            "doctor",
            "--format",
            "json",
        ],
        cwd=repo.root,
        env={**env, "HOME": str(repo.root.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["user"]["uid"] == repo.actor.uid
    assert all(feature["ok"] for feature in report["features"]), report["features"]


@pytest.mark.parametrize("actor", ["root"], indirect=True)
@pytest.mark.parametrize("mode", ["pty", "pipe"])
def test_a_working_directory_the_sandbox_cannot_enter_is_a_clear_denial(
    repo: Repo, mode: str
) -> None:
    # Root outside may enter another user's private directory; root inside, with no
    # capabilities, may not: the sandbox cannot enter it, and says so.
    locked = repo.root / "locked"
    locked.mkdir()
    os.chown(locked, 65534, 65534)
    locked.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(CODEX_ORCHESTRATOR_ROOT=str(repo.root), MCP_RUNNER_TASK_ID=TASK)
    argv = [sys.executable, "-m", "pytest_codex.cli", "exec", "--approval-policy", "never"]
    argv += [*(["--pipe"] if mode == "pipe" else []), "-s", "workspace-write"]
    argv += ["--cd", str(locked), "--", "true"]
    done = subprocess.run(argv, cwd=repo.root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])["payload"]
    assert "cwd-unavailable" in summary["statusDetail"]
    evidence = summary["toolRun"]["attempts"][0]["denialEvidence"]
    assert evidence["paths"] == [str(locked)]
