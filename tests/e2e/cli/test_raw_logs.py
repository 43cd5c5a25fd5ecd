"""``exec.raw_logs``: the opt-out that keeps command logs byte-exact, and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.trust import trusted

CLI = [sys.executable, "-m", "pytest_codex.cli"]
SECRET = "rawlog-Secret-4d3c2b1a0f"


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(
        {"CODEX_ORCHESTRATOR_ROOT": str(repo), "MCP_RUNNER_TASK_ID": "raw", "APP_TOKEN": SECRET}
    )
    return subprocess.run([*CLI, *args], cwd=repo, env=env, capture_output=True, timeout=120)


def _exec(repo: Path) -> tuple[subprocess.CompletedProcess[bytes], dict[str, object], Path]:
    done = _cli(
        repo, "exec", "--jsonl", "--pipe", "--", "sh", "-c", 'printf "%s\\377\\n" "$APP_TOKEN"'
    )
    assert done.returncode == 0, done.stderr
    manifest_path = next((repo / ".runs" / "raw" / "cli").glob("*/manifest.json"))
    return done, json.loads(manifest_path.read_text()), manifest_path.parent


def test_by_default_logs_are_redacted_and_the_manifest_and_doctor_say_so(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done, manifest, run_dir = _exec(tmp_path)
    log = next((run_dir / "commands").glob("*.log")).read_bytes()
    assert log == b"[REDACTED]\xff\n"  # redacted, and the undecodable byte kept exactly
    assert manifest["commands"][0]["logRedacted"] is True  # type: ignore[index]
    assert SECRET.encode() not in done.stdout
    doctor = _cli(tmp_path, "doctor", "--format", "json")
    assert json.loads(doctor.stdout)["redaction"] == {"rawLogs": False}


def test_raw_logs_keep_the_bytes_while_events_stay_redacted(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    trusted(tmp_path / "codex.orchestrator.json", json.dumps({"exec": {"raw_logs": True}}))
    done, manifest, run_dir = _exec(tmp_path)
    log = next((run_dir / "commands").glob("*.log")).read_bytes()
    assert log == SECRET.encode() + b"\xff\n"
    assert manifest["commands"][0]["logRedacted"] is False  # type: ignore[index]
    assert SECRET.encode() not in done.stdout
    assert SECRET.encode() not in (run_dir / "events.jsonl").read_bytes()
    assert SECRET.encode() not in (run_dir / "manifest.json").read_bytes()
    doctor = _cli(tmp_path, "doctor")
    assert b"command logs: RAW" in doctor.stdout
