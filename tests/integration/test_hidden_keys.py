"""Signing material never reaches a sandboxed command: the attestation key, the guardrail
cache key and a key passed as PEM text in the environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

CLI = [sys.executable, "-m", "pytest_codex.cli"]


@pytest.fixture
def homes(tmp_path: Path):  # type: ignore[no-untyped-def]
    # Outside /tmp: what lives under /tmp is behind the sandbox's private /tmp anyway.
    base = Path(tempfile.mkdtemp(prefix="codex-keys-", dir="/var/tmp"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _exec(repo: Path, homes: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update(
        CODEX_ORCHESTRATOR_ROOT=str(repo),
        MCP_RUNNER_TASK_ID="keys-task",
        XDG_CONFIG_HOME=str(homes / "config"),
        XDG_STATE_HOME=str(homes / "state"),
        **extra,
    )
    return subprocess.run(
        [*CLI, "exec", "--approval-policy", "never", "--sandbox", "workspace-write", "--", *argv],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_sandboxed_command_cannot_read_the_signing_keys(tmp_path: Path, homes: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    first = _exec(repo, homes, "true")  # a finished run creates this user's signing key
    assert first.returncode == 0, first.stderr
    key = homes / "config" / "pytest-codex" / "signing-key.pem"
    assert key.is_file() and "PRIVATE KEY" in key.read_text()
    cache_key = homes / "state" / "codex-orchestrator" / "cache-hmac.key"
    cache_key.parent.mkdir(parents=True, exist_ok=True)
    cache_key.write_text("0" * 64)
    for path in (key, cache_key):
        done = _exec(repo, homes, "cat", str(path))
        assert "PRIVATE KEY" not in done.stdout and "0" * 64 not in done.stdout
        assert done.returncode != 0
        # The command sees an empty directory there: what it writes vanishes with it.
        _exec(repo, homes, "sh", "-c", f"echo forged > {path}")
    assert "PRIVATE KEY" in key.read_text()
    assert cache_key.read_text() == "0" * 64


def test_a_key_passed_as_pem_text_is_not_in_the_commands_environment(
    tmp_path: Path, homes: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    done = _exec(
        repo, homes, "sh", "-c", 'echo "pem=${CODEX_ORCHESTRATOR_SIGNING_KEY_PEM:-unset}"',
        CODEX_ORCHESTRATOR_SIGNING_KEY_PEM="not-a-real-key-but-secret",
    )  # fmt: skip
    assert "pem=unset" in done.stdout
    assert "not-a-real-key-but-secret" not in done.stdout
