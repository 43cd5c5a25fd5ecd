"""Red team: what a hostile command can plant for the unsandboxed parent to trip over.

Each test plays one attack a sandboxed command could prepare (a symlink or hard link under
``.runs``, a forged manifest, a traversing id, a swapped socket directory, a planted git
config, a poisoned guardrail cache) and checks the parent refuses it or is not fooled, and
that the target of the attack is untouched. See docs/trust-boundary.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrails import Finding, Guardrail, GuardrailContext, GuardrailSession, Inputs, Result
from guardrails.cache import git_state
from guardrails.spec_guard import SpecGuard
from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.errors import UnsafePathError
from pytest_codex.paths import ROOT_ENV
from pytest_codex.repository import repository_identity
from pytest_codex.run import Run
from tests.helpers.repos import commit, git, write

TASK = "0707-red-team"


def context(root: Path, **env: str) -> Context:
    return Context.load(cwd=root, env={ROOT_ENV: str(root), **env})


def finished_run(root: Path, task: str = TASK) -> Run:
    run = Run.start(context(root), task_id=task, heartbeat=False)
    run.finish("succeeded")
    return run


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", *args],
        cwd=root,
        env={
            "PATH": os.environ["PATH"],
            ROOT_ENV: str(root),
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repository, holding the file the attacks aim at."""
    place = tmp_path / "elsewhere"
    place.mkdir()
    (place / "target").write_text("precious\n")
    return place


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    return repo


@pytest.fixture
def forged_root(tmp_path: Path) -> Path:
    """A repository whose records the test forges (exempt from the suite's schema check)."""
    repo = tmp_path / "intentionally-invalid-repo"
    repo.mkdir()
    return repo


# -- files the parent writes under .runs --------------------------------------------------------
def test_a_planted_lock_symlink_is_refused_and_its_target_untouched(
    root: Path, outside: Path
) -> None:
    finished_run(root)
    lock = root / ".runs" / TASK / ".metrics.json.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(outside / "target")
    run = Run.start(context(root), task_id=TASK, heartbeat=False)
    with pytest.raises(UnsafePathError, match=r"\.metrics\.json\.lock: it is a symbolic link"):
        run.finish("succeeded")
    assert (outside / "target").read_text() == "precious\n"


def test_a_lock_file_hard_linked_elsewhere_is_refused(root: Path, outside: Path) -> None:
    finished_run(root)
    lock = root / ".runs" / TASK / ".metrics.json.lock"
    lock.unlink(missing_ok=True)
    os.link(outside / "target", lock)
    run = Run.start(context(root), task_id=TASK, heartbeat=False)
    with pytest.raises(UnsafePathError, match="hard link"):
        run.finish("succeeded")
    assert (outside / "target").read_text() == "precious\n"


def test_a_symlinked_runs_subdirectory_is_refused(root: Path, outside: Path) -> None:
    (root / ".runs" / TASK).mkdir(parents=True)
    (root / ".runs" / TASK / "cli").symlink_to(outside)
    with pytest.raises(UnsafePathError, match=r"/cli: it is a symbolic link"):
        Run.start(context(root), task_id=TASK, heartbeat=False)
    assert sorted(p.name for p in outside.iterdir()) == ["target"]


def test_a_symlinked_events_journal_is_not_appended_through(
    forged_root: Path, outside: Path
) -> None:
    root = forged_root
    run = finished_run(root)
    run.paths.events.unlink()
    run.paths.events.symlink_to(outside / "target")
    with pytest.raises(UnsafePathError, match=r"events\.jsonl: it is a symbolic link"):
        Run.resume(context(root), run.run_id, task_id=TASK, reopen=True, heartbeat=False)
    assert (outside / "target").read_text() == "precious\n"


def test_a_planted_command_log_symlink_is_not_written_through(root: Path, outside: Path) -> None:
    from pytest_codex.runtime import ExecSessionManager

    log = root / "commands" / "01-x.log"
    log.parent.mkdir()
    log.symlink_to(outside / "target")
    with ExecSessionManager() as manager, pytest.raises(UnsafePathError):
        manager.run(["true"], mode="pipe", cwd=root, log_path=log)
    assert (outside / "target").read_text() == "precious\n"


# -- ids and manifests ----------------------------------------------------------------------------
def test_resume_takes_paths_from_the_location_never_from_a_forged_task_id(
    forged_root: Path, tmp_path: Path
) -> None:
    root = forged_root
    run = finished_run(root)
    evil = tmp_path / "evil"
    document = json.loads(run.paths.manifest.read_text())
    document["taskId"] = os.path.relpath(evil, root / ".runs")  # ../../evil
    run.paths.manifest.write_text(json.dumps(document))
    with pytest.raises(UnsafePathError, match="not its own location"):
        Run.resume(context(root), run.run_id, task_id=TASK, reopen=True, heartbeat=False)
    assert not evil.exists()


def test_review_refuses_a_manifest_outside_the_runs_directory_or_of_another_task(
    root: Path, tmp_path: Path
) -> None:
    run = finished_run(root)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(run.paths.manifest.read_text())
    review = ("review", "--outcome", "approved", "--reason", "ok", "--actor", "r")
    outside = cli(root, *review, "--manifest", str(foreign))
    assert outside.returncode == 2
    assert "outside this repository's runs directory" in outside.stderr
    other = cli(root, *review, "--manifest", str(run.paths.manifest), "--task", "0808-other")
    assert other.returncode == 2
    assert f"belongs to task {TASK}, not 0808-other" in other.stderr
    assert json.loads(run.paths.manifest.read_text())["reviews"] == []


def test_exec_refuses_a_traversing_session_id(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "x"
    relative = os.path.relpath(target, root / ".runs" / TASK / "cli" / "RUN" / "sessions")
    done = cli(root, "exec", "--task", TASK, "--session", relative, "--", "true")
    assert done.returncode == 2, done.stderr
    assert "is not a valid session id" in done.stderr
    assert not target.with_suffix(".json").exists()
    assert not (root / ".runs").exists()  # refused before any run was recorded


@pytest.mark.parametrize("tamper", ["mode", "owner"])
def test_a_session_socket_directory_others_could_swap_is_refused(
    root: Path, tmp_path: Path, tamper: str
) -> None:
    temp = tmp_path / "t"
    sockets = temp / f"codex-sessions-{os.geteuid()}"
    sockets.mkdir(parents=True)
    if tamper == "mode":
        sockets.chmod(0o755)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        os.chown(sockets, 65534, 65534)
        sockets.chmod(0o700)
    done = cli(
        root,
        "exec",
        "--task",
        TASK,
        "--approval-policy",
        "never",
        "--session",
        "s1",
        "--",
        "true",
        TMPDIR=str(temp),
    )
    assert done.returncode == 2, done.stderr
    expected = "wider than 0700" if tamper == "mode" else "is owned by uid 65534"
    assert f"session socket directory {sockets} " in done.stderr and expected in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to serve as another user")
def test_a_session_server_of_another_user_is_not_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from pytest_codex.runtime.session_server import checked_socket_dir, run_in_server

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sock = checked_socket_dir() / "fake.sock"
    # Bound by us, listening as uid 65534: the peer credentials are the listener's. It
    # would answer every command with a fake exit 0.
    fake = (
        "import json, os, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])\n"
        "os.setgid(65534); os.setuid(65534); s.listen(1); print('ready', flush=True)\n"
        "c, _ = s.accept(); f = c.makefile('rw'); f.readline()\n"
        "f.write(json.dumps({'result': {'exitCode': 0}}) + '\\n'); f.flush()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", fake, str(sock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        with pytest.raises(UnsafePathError, match="is served by uid 65534, not by us"):
            run_in_server(
                sock,
                "true",
                session_id="s1",
                timeout=None,
                log_path=None,
                emitter=None,
                correlation_id="c1",
                cwd=str(tmp_path),
                argv=["true"],
            )
    finally:
        server.kill()
        server.wait()


def test_checklist_flip_refuses_a_checklist_linked_outside_the_repository(
    root: Path, outside: Path
) -> None:
    good = finished_run(root).paths.manifest.relative_to(root).as_posix()
    aimed = outside / "target"
    aimed.write_text(f"# Checklist for {TASK}\n\n- [ ] Do it\n")
    (root / "tasks").mkdir()
    (root / "tasks" / f"tasks-{TASK}.md").symlink_to(aimed)
    done = cli(root, "checklist", "flip", "1", "--manifest", good, "--task", TASK)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "outside the repository" in done.stderr
    assert aimed.read_text() == f"# Checklist for {TASK}\n\n- [ ] Do it\n"


# -- git the parent runs ------------------------------------------------------------------------
@pytest.fixture
def trapped_repo(root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose config runs a marker-writing script as fsmonitor and as hooks."""
    marker = tmp_path / "MARKER"
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    write(root, {"src/app.py": "x = 1\n"})
    commit(root, "first")
    script = tmp_path / "trap.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\nexit 0\n')
    script.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(script))
    hooks = root / ".git" / "hooks"
    for hook in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction"):
        (hooks / hook).write_text(script.read_text())
        (hooks / hook).chmod(0o755)
    write(root, {"src/app.py": "x = 2\n"})  # a change for git status to look at
    return root, marker


def test_the_cache_fingerprint_runs_no_repository_controlled_git_code(
    trapped_repo: tuple[Path, Path],
) -> None:
    root, marker = trapped_repo
    state = git_state(root, {})
    assert "src/app.py" in state["status"]  # git did run and saw the change
    assert not marker.exists()


def test_spec_guard_runs_no_repository_controlled_git_code(
    trapped_repo: tuple[Path, Path],
) -> None:
    root, marker = trapped_repo
    session = GuardrailSession.standalone(context(root), None, emitter=RecordingEmitter())
    session.use_cache = False
    record = session.run(SpecGuard())
    assert record["status"] != "crashed"
    assert record["approvals"], "spec-guard ran git through the orchestrator"
    assert not marker.exists()


def test_a_planted_filter_driver_does_not_run_when_spec_guard_diffs(
    root: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    write(root, {".gitattributes": "*.py filter=evil\n", "src/app.py": "x = 1\n"})
    commit(root, "first")
    script = tmp_path / "clean.sh"
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\ncat\n")
    script.chmod(0o755)
    git(root, "config", "filter.evil.clean", str(script))
    write(root, {"src/app.py": "x = 2\n"})
    session = GuardrailSession.standalone(context(root), None, emitter=RecordingEmitter())
    session.use_cache = False
    record = session.run(SpecGuard())
    assert record["status"] != "crashed"
    assert not marker.exists()


def test_a_runs_repository_identity_runs_no_planted_hook_fsmonitor_or_filter(
    trapped_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    root, marker = trapped_repo
    write(root, {".gitattributes": "*.py filter=evil\n"})
    script = tmp_path / "clean.sh"
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\ncat\n")
    script.chmod(0o755)
    git(root, "config", "filter.evil.clean", str(script))
    identity = repository_identity(root)
    assert identity["commit"] and identity["dirty"] is True  # git ran and saw the change
    finished_run(root)
    assert not marker.exists()


# -- the guardrail cache -------------------------------------------------------------------------
class NoErrors(Guardrail):
    """Fails on every line of src/*.txt containing ERROR."""

    name = "no-errors"
    version = "1"
    description = "no ERROR lines"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(globs=("src/*.txt",))

    def run(self, ctx: GuardrailContext) -> Result:
        findings = [
            Finding("no-errors/found", line, rel, number, "fix it")
            for rel in ctx.find(["src/*.txt"])
            for number, line in enumerate(ctx.path(rel).read_text().splitlines(), start=1)
            if "ERROR" in line
        ]
        return Result.from_findings(findings, f"{len(findings)} errors")


def session(root: Path) -> GuardrailSession:
    return GuardrailSession.standalone(context(root), TASK, emitter=RecordingEmitter())


def cache_dir(root: Path) -> Path:
    return root / ".runs" / TASK / "guardrail-cache"


def test_a_poisoned_digest_memo_cannot_hide_a_real_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guardrails.cache

    monkeypatch.setattr(guardrails.cache, "RACY_SECONDS", 0)  # memoise what was just written
    source = root / "src" / "a.txt"
    write(root, {"src/a.txt": "fine\n"})
    assert session(root).run(NoErrors())["status"] == "passed"
    # The attack: introduce an error, then point the memo's entry at the new stat while
    # keeping the clean content's digest.
    source.write_text("ERROR\n")
    memo_path = cache_dir(root) / "memo" / "file-digests.json"
    memo: dict[str, Any] = json.loads(memo_path.read_text())
    info = source.stat()
    fields = [info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns]
    entry = memo["files"]["src/a.txt"]
    memo["files"]["src/a.txt"] = [*fields[: len(entry) - 1], entry[-1]]
    memo_path.write_text(json.dumps(memo))
    record = session(root).run(NoErrors())
    assert (record["status"], record["cached"]) == ("failed", False)


def test_a_forged_result_cache_entry_cannot_pass_a_real_error(root: Path) -> None:
    write(root, {"src/a.txt": "fine\n"})
    entry_path = cache_dir(root) / "no-errors.json"
    assert session(root).run(NoErrors())["status"] == "passed"
    passed = json.loads(entry_path.read_text())
    write(root, {"src/a.txt": "ERROR\n"})
    assert session(root).run(NoErrors())["status"] == "failed"
    # The attack: keep the failing state's fingerprint, swap in the passing record.
    failed = json.loads(entry_path.read_text())
    entry_path.write_text(json.dumps({**failed, "record": passed["record"]}))
    record = session(root).run(NoErrors())
    assert (record["status"], record["cached"]) == ("failed", False)


@pytest.mark.parametrize("planted", ["symlink", "garbage", "wrong shapes"])
def test_a_planted_memo_is_ignored_never_followed(root: Path, outside: Path, planted: str) -> None:
    write(root, {"src/a.txt": "ERROR\n"})
    memo_path = cache_dir(root) / "memo" / "file-digests.json"
    memo_path.parent.mkdir(parents=True)
    if planted == "symlink":
        memo_path.symlink_to(outside / "target")
    elif planted == "garbage":
        memo_path.write_bytes(b"\xff{not json")
    else:
        memo_path.write_text(json.dumps({"format": 2, "files": {"src/a.txt": [1, "x", None]}}))
    record = session(root).run(NoErrors())
    assert (record["status"], record["cached"]) == ("failed", False)
    assert (outside / "target").read_text() == "precious\n"
