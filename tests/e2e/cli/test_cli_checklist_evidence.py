"""``checklist flip|verify`` refuse every forged evidence: hand-written, copied from another
repository, collect-only, rewritten by its own command, a tampered log, an unsigned run
where signatures are required; and warn about stale evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_codex.attestation import ATTESTATION_FILE, load_signer, signer_public_key
from pytest_codex.cli import main
from pytest_codex.context import Context
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from tests.helpers.repos import commit, git, write
from tests.helpers.runs import run_with_command
from tests.helpers.trust import trusted as trust_config

TASK = "1616-glass-proofs"
CHECKLIST = f"tasks/tasks-{TASK}.md"
TEXT = f"# Proofs ({TASK})\n\n- [ ] Grind the lens\n- [ ] Polish the glass\n"


def _repo(root: Path, monkeypatch: pytest.MonkeyPatch, *, trusted: bool = False) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    files = {CHECKLIST: TEXT, "README.md": f"{root.name}\n"}
    if trusted:
        signer = load_signer({})
        assert signer is not None
        pem = signer_public_key(signer).pem
        files["keys/team.pub"] = pem
        files["codex.orchestrator.json"] = json.dumps(
            {"evidence": {"trusted_keys": ["keys/team.pub"]}}
        )
    write(root, files)
    if trusted:  # a person reviewed the keys the repository names
        trust_config(root / "codex.orchestrator.json")
    commit(root, "init")
    monkeypatch.chdir(root)
    monkeypatch.setenv(ROOT_ENV, str(root))
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _repo(tmp_path / "intentionally-invalid-glass", monkeypatch)


@pytest.fixture
def signed_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _repo(tmp_path / "intentionally-invalid-signed", monkeypatch, trusted=True)


def flip(capsys: pytest.CaptureFixture[str], manifest: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["checklist", "flip", "1", "--manifest", manifest, "--task", TASK])
    out, err = capsys.readouterr()
    return code, out + err


def rel(run: Run) -> str:
    return run.paths.manifest.relative_to(run.paths.root).as_posix()


def test_a_real_run_that_executed_a_command_is_evidence(
    signed_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(signed_repo, TASK)
    code, out = flip(capsys, rel(run))
    assert code == 0, out
    assert "[x] Grind the lens" in (signed_repo / CHECKLIST).read_text()


def test_a_hand_written_manifest_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = run_with_command(repo, TASK)
    forged_dir = real.paths.run_dir.with_name("2026-01-01T00-00-00-000Z-0badf00d")
    forged_dir.mkdir()
    document = json.loads(real.paths.manifest.read_text())
    document["runId"] = forged_dir.name
    (forged_dir / "manifest.json").write_text(json.dumps(document))
    code, out = flip(capsys, f".runs/{TASK}/cli/{forged_dir.name}/manifest.json")
    assert code == 1
    assert "has no events.jsonl journal" in out and "item 1 'Grind the lens'" in out


def test_a_run_copied_from_another_repository_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    write(other, {"x.txt": "another history\n"})
    commit(other, "elsewhere")
    theirs = run_with_command(other, TASK)
    target = repo / ".runs" / TASK / "cli" / theirs.run_id
    shutil.copytree(theirs.paths.run_dir, target)
    code, out = flip(capsys, f".runs/{TASK}/cli/{theirs.run_id}/manifest.json")
    assert code == 1 and "was recorded in another repository" in out


def test_a_run_that_ran_nothing_like_collect_only_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run.start(Context.load(cwd=repo, env={ROOT_ENV: str(repo)}), task_id=TASK)
    run.finish("succeeded")  # what `pytest --co` leaves: 0 tests, 0 commands
    code, out = flip(capsys, rel(run))
    assert code == 1 and "ran nothing (no test executed and no command)" in out


def test_a_failed_run_its_command_rewrote_to_succeeded_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(repo, TASK, "failed", argv=("false",))
    document = json.loads(run.paths.manifest.read_text())
    document["status"] = "succeeded"
    run.paths.manifest.write_text(json.dumps(document))
    code, out = flip(capsys, rel(run))
    assert code == 1
    assert "records status succeeded but its events.jsonl ends with status failed" in out
    # rewriting the journal too leaves the signed statement behind
    events = run.paths.events.read_text().replace('"status":"failed"', '"status":"succeeded"')
    run.paths.events.write_text(events)
    code, out = flip(capsys, rel(run))
    assert code == 1 and "attestation that does not verify" in out


def test_a_tampered_log_is_refused_naming_it(
    signed_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(signed_repo, TASK, argv=("sh", "-c", "echo 3 passed"))
    log = next(run.paths.commands_dir.glob("*.log"))
    log.write_bytes(log.read_bytes().replace(b"3", b"9"))
    code, out = flip(capsys, rel(run))
    assert code == 1
    assert f"subject commands/{log.name} does not match its sha256 digest" in out


def test_an_unsigned_run_is_refused_where_signatures_are_required(
    signed_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_command(signed_repo, TASK)
    (run.paths.run_dir / ATTESTATION_FILE).unlink()
    code, out = flip(capsys, rel(run))
    assert code == 1 and "evidence.require_signed is on" in out
    code, out = flip(
        capsys,
        rel(
            run_with_command(
                signed_repo, TASK, env={"CODEX_ORCHESTRATOR_SIGNING_KEY_PEM": _other_key()}
            )
        ),
    )
    assert code == 1 and "signed by untrusted key" in out


def _other_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_verify_names_the_item_and_why_and_warns_about_stale_evidence(
    signed_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(signed_repo, "work")
    good = rel(run_with_command(signed_repo, TASK))
    empty = Run.start(Context.load(cwd=signed_repo, env={ROOT_ENV: str(signed_repo)}), task_id=TASK)
    empty.finish("succeeded")
    write(
        signed_repo,
        {
            CHECKLIST: f"# Proofs ({TASK})\n\n- [x] Grind the lens; Evidence: `{good}`\n"
            f"- [x] Polish the glass; Evidence: `{rel(empty)}`\n"
        },
    )
    git(signed_repo, "commit", "-q", "--amend", "--allow-empty", "-m", "rewritten work")
    capsys.readouterr()
    code = main(["checklist", "verify", "--task", TASK])
    out = capsys.readouterr().out
    assert code == 1
    assert "checklist/evidence-not-evidence: item 2 'Polish the glass'" in out
    assert "checklist/evidence-stale: item 1 'Grind the lens'" in out
    assert "not an ancestor of HEAD" in out


def test_pytest_collect_only_is_no_evidence_and_a_real_session_is(
    pytester: pytest.Pytester,
) -> None:
    from guardrails.evidence import check_evidence
    from pytest_codex.attestation import EvidencePolicy

    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    runs = pytester.path / ".runs" / TASK / "cli"
    pytester.runpytest("--co", f"--codex-task={TASK}")
    [collected] = sorted(runs.iterdir())
    assert pytester.runpytest(f"--codex-task={TASK}").ret == 0
    [real] = [p for p in runs.iterdir() if p != collected]
    policy = EvidencePolicy()
    # A collect-only session records a cancelled run (collectOnly): never succeeded evidence.
    for run_dir, problem in ((collected, "not-succeeded"), (real, None)):
        cited = f".runs/{TASK}/cli/{run_dir.name}/manifest.json"
        verdict = check_evidence(pytester.path, cited, TASK, policy=policy)
        assert verdict.problem == problem, verdict.describe()


REWRITER = """
import json, sys, time
from pathlib import Path
runs = Path(".runs") / sys.argv[1] / "cli"
for _ in range(6000):  # wait for the run to finish (its attestation is its last write there)
    found = list(runs.glob("*/attestation.intoto.jsonl"))
    if found:
        manifest = found[0].parent / "manifest.json"
        document = json.loads(manifest.read_text())
        document["status"], document["statusDetail"] = "succeeded", None
        manifest.write_text(json.dumps(document))
        Path("rewritten").write_text("done")
        break
    time.sleep(0.01)
"""


def test_a_command_cannot_leave_a_forger_behind_to_rewrite_its_failed_run(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import subprocess
    import sys

    (repo / "rewrite.py").write_text(REWRITER)
    forger = f"{sys.executable} rewrite.py {TASK} >/dev/null 2>&1 </dev/null & exit 1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_codex.cli",
            "exec",
            "--task",
            TASK,
            "--",
            "sh",
            "-c",
            forger,
        ],
        cwd=repo,
        env={**os.environ, ROOT_ENV: str(repo)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    # The forger was the command's own background process: it ended with the command (the
    # sandbox's PID namespace, and the process tag outside it), so nothing rewrites the run.
    assert not [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and b"rewrite.py" in _cmdline(pid) and b"-m" not in _cmdline(pid)
    ]
    assert not (repo / "rewritten").exists()
    [run_dir] = (repo / ".runs" / TASK / "cli").iterdir()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "failed"
    code, out = flip(capsys, f".runs/{TASK}/cli/{run_dir.name}/manifest.json")
    assert code == 1
    assert "records status failed, not succeeded" in out
    capsys.readouterr()
    assert main(["runs", "verify", run_dir.name, "--task", TASK]) == 0


def _cmdline(pid: str) -> bytes:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes()
    except OSError:
        return b""
