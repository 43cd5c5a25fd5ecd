"""Keyed digests: an argv's digest cannot be checked against guesses offline."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.approvals import ApprovalKey, argv_digest
from pytest_codex.digests import DIGEST_KEY_FILE, keyed_digest, local_key


def test_argv_digests_are_hmacs_under_a_key_in_the_user_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ORCHESTRATOR_STATE_DIR", str(tmp_path / "state"))
    argv = ["deploy", "--password", "hunter22"]
    digest = argv_digest(argv)
    plain = json.dumps(argv, ensure_ascii=False, separators=(",", ":")).encode()
    assert digest != hashlib.sha256(plain).hexdigest()  # a guess hashed offline never matches
    key_file = tmp_path / "state" / DIGEST_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert local_key(DIGEST_KEY_FILE) == key_file.read_bytes()
    # Another process with the same state directory digests alike (stored approvals match).
    code = f"from pytest_codex.approvals import argv_digest; print(argv_digest({argv!r}))"
    env = {**os.environ, "CODEX_ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert other.stdout.strip() == digest
    built = ApprovalKey.for_invocation("shell", argv, None)
    assert built.digest == digest and "hunter22" not in built.canonical()
    assert ApprovalKey.parse(built.canonical()).digest == digest


def test_without_a_usable_state_directory_the_key_lives_in_the_process(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # not ours alone: refused
    env = {"CODEX_ORCHESTRATOR_STATE_DIR": str(shared)}
    assert keyed_digest(b"x", env) == keyed_digest(b"x", env)
    assert not (shared / DIGEST_KEY_FILE).exists()
