"""``codex-orchestrator runs list|show|verify|gc|key`` and manifests that stay true: concurrent
resumes, killed runs, malformed manifests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.attestation import ATTESTATION_FILE
from pytest_codex.cli import main
from pytest_codex.events import read_events
from pytest_codex.manifest import is_stale, load_manifest
from pytest_codex.paths import ROOT_ENV
from tests.helpers.runs import run_with_command
from tests.helpers.trust import trusted

TASK = "1616-run-ledger"
CLI = [sys.executable, "-m", "pytest_codex.cli"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ledger"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv(ROOT_ENV, str(root))
    return root


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def child(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ROOT_ENV: str(root)}
    return subprocess.run(
        [*CLI, *argv], cwd=root, env=env, capture_output=True, text=True, check=False
    )


# -- verify -----------------------------------------------------------------------------------
def test_verify_accepts_an_untouched_run_and_names_the_changed_subject(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(repo, TASK, argv=("sh", "-c", "echo ok"))
    code, out, _ = cli(capsys, "runs", "verify", run.run_id, "--task", TASK)
    assert code == 0 and "valid attestation signed by" in out
    code, out, _ = cli(capsys, "runs", "verify", str(run.paths.run_dir), "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["valid"] and report["predicate"]["status"] == "succeeded"
    log = next(run.paths.commands_dir.glob("*.log"))
    log.write_bytes(log.read_bytes() + b"!")
    code, out, _ = cli(capsys, "runs", "verify", str(run.paths.manifest))
    assert code == 1
    assert f"subject commands/{log.name} does not match its sha256 digest" in out


def test_a_reviewed_run_is_re_attested_and_still_verifies(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(repo, TASK)
    code, _, err = cli(
        capsys,
        "review",
        "--manifest",
        run.run_id,
        "--task",
        TASK,
        "--outcome",
        "approved",
        "--reason",
        "ok",
    )
    assert code == 0, err
    assert load_manifest(run.paths.manifest)["reviews"][0]["outcome"] == "approved"
    code, out, _ = cli(capsys, "runs", "verify", run.run_id, "--task", TASK)
    assert code == 0, out


def test_verify_exit_codes_for_a_missing_attestation_and_a_bad_reference(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(repo, TASK)
    (run.paths.run_dir / ATTESTATION_FILE).unlink()
    code, out, _ = cli(capsys, "runs", "verify", "latest", "--task", TASK)
    assert code == 1 and f"has no {ATTESTATION_FILE}" in out
    code, _, err = cli(capsys, "runs", "verify", "not-a-run")
    assert code == 2 and "not a run id" in err


def test_key_prints_the_public_key_and_keyid(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "runs", "key", "--format", "json")
    key = json.loads(out)
    assert code == 0 and key["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(key["keyid"]) == 64 and "PRIVATE" not in out
    assert key["trusted"] == [] and not key["trustedHere"]
    (repo / "team.pub").write_text(key["publicKey"])
    trusted(
        repo / "codex.orchestrator.json", json.dumps({"evidence": {"trusted_keys": ["team.pub"]}})
    )
    code, out, _ = cli(capsys, "runs", "key")
    assert f"trusted {key['keyid']} from evidence.trusted_keys[0] (team.pub) (this machine)" in out


# -- listing ----------------------------------------------------------------------------------
def test_a_malformed_manifest_is_one_line_in_list_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "intentionally-invalid-ledger"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv(ROOT_ENV, str(root))
    good = run_with_command(root, TASK)
    bad = good.paths.run_dir.with_name("2026-01-01T00-00-00-000Z-0000beef")
    bad.mkdir()
    (bad / "manifest.json").write_text("[1,2]")
    code, out, err = cli(capsys, "runs", "list", "--task", TASK)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 3
    assert (
        lines[1].startswith(bad.name)
        and "unreadable: " in lines[1]
        and "not a run manifest" in lines[1]
    )
    assert lines[2].startswith(good.run_id) and "succeeded" in lines[2]
    code, out, _ = cli(capsys, "runs", "list", "--task", TASK, "--format", "json")
    assert [r["status"] for r in json.loads(out)] == ["unreadable", "succeeded"]
    code, out, err = cli(capsys, "runs", "show", bad.name, "--task", TASK)
    assert code == 1 and len(err.splitlines()) == 1 and "not a run manifest" in err


# -- stale runs -------------------------------------------------------------------------------
KILLED = """
import sys, time
from pathlib import Path
from pytest_codex.context import Context
from pytest_codex.run import Run
run = Run.start(Context.load(cwd=Path.cwd()), task_id=sys.argv[1])
print(run.run_id, flush=True)
time.sleep(600)
"""


def killed_run(root: Path, *, stale: bool = True) -> str:
    """A run whose process was killed (SIGKILL) mid-way; waits until its heartbeat is stale."""
    interval = 0.1 if stale else 60.0
    (root / "codex.orchestrator.json").write_text(
        json.dumps({"heartbeat_interval_seconds": interval})
    )
    env = {**os.environ, ROOT_ENV: str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, TASK], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = root / ".runs" / TASK / "cli" / run_id / "manifest.json"
    give_up = time.monotonic() + 60  # a hang guard, not a timing assertion
    while stale and not is_stale(load_manifest(manifest)):  # three missed beats of 0.1 s
        assert time.monotonic() < give_up, "the killed run's heartbeat never went stale"
        time.sleep(0.01)
    return run_id


def test_resume_refuses_a_killed_run_before_its_heartbeat_is_stale(repo: Path) -> None:
    run_id = killed_run(repo, stale=False)
    done = child(repo, "resume", run_id, "--task", TASK, "--", "true")
    assert done.returncode == 2 and "was killed mid-way" in done.stderr
    manifest = repo / ".runs" / TASK / "cli" / run_id / "manifest.json"
    assert load_manifest(manifest)["status"] == "in_progress"
    done = child(repo, "resume", run_id, "--reopen", "--task", TASK, "--", "true")
    assert done.returncode == 0, done.stderr


def test_resume_refuses_a_killed_run_and_gc_marks_it_abandoned(repo: Path) -> None:
    run_id = killed_run(repo)
    done = child(repo, "resume", run_id, "--task", TASK, "--", "true")
    assert done.returncode == 2 and "was killed" in done.stderr and "--reopen" in done.stderr
    manifest = repo / ".runs" / TASK / "cli" / run_id / "manifest.json"
    assert load_manifest(manifest)["status"] == "in_progress"
    done = child(repo, "runs", "gc", "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["abandoned"] == [str(manifest)]
    document = load_manifest(manifest)
    assert document["status"] == "abandoned" and document["completedAt"]
    assert "heartbeat stale since" in document["statusDetail"]


def test_the_next_run_of_the_task_marks_a_killed_run_abandoned(repo: Path) -> None:
    run_id = killed_run(repo)
    run_with_command(repo, TASK)
    manifest = repo / ".runs" / TASK / "cli" / run_id / "manifest.json"
    document = load_manifest(manifest)
    assert document["status"] == "abandoned"
    assert "marked abandoned by run " in document["statusDetail"]


# -- concurrency ------------------------------------------------------------------------------
def test_six_concurrent_reopened_resumes_lose_nothing_and_keep_seq_gap_free(repo: Path) -> None:
    first = child(repo, "exec", "--task", TASK, "--", "echo", "first")
    assert first.returncode == 0, first.stderr
    run_dir = next((repo / ".runs" / TASK / "cli").iterdir())
    env = {**os.environ, ROOT_ENV: str(repo)}
    procs = [
        subprocess.Popen(
            [*CLI, "resume", run_dir.name, "--reopen", "--task", TASK, "--", "echo", f"r{i}"],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    manifest = load_manifest(run_dir / "manifest.json")
    assert len(manifest["commands"]) == 7
    assert len(manifest["resume_events"]) == 6
    seqs = [event.seq for event in read_events(run_dir / "events.jsonl")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert manifest["status"] == "succeeded"
    done = child(repo, "runs", "verify", run_dir.name, "--task", TASK)
    assert done.returncode == 0, done.stdout
