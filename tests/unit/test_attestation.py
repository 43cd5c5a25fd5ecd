"""Signed run attestations: what a finished run signs, and what verification catches."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

from pytest_codex import schemas
from pytest_codex.attestation import (
    ATTESTATION_FILE,
    KEY_PATH_ENV,
    KEY_PEM_ENV,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    EvidencePolicy,
    default_key_path,
    load_signer,
    read_envelope,
    sign_statement,
    signer_public_key,
    verify_run,
)
from pytest_codex.context import Context
from pytest_codex.errors import ConfigError
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from tests.helpers.runs import run_with_command

TASK = "1616-evidence-proofs"


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_env(tmp_path: Path) -> dict[str, str]:
    """A signing key of this test, named by the path variable."""
    path = tmp_path / "keys" / "signing-key.pem"
    path.parent.mkdir()
    path.write_text(_pem(Ed25519PrivateKey.generate()))
    return {KEY_PATH_ENV: str(path)}


def _public(env: dict[str, str]) -> Ed25519PublicKey:
    signer = load_signer(env)
    assert signer is not None
    loaded = serialization.load_pem_public_key(signer_public_key(signer).pem.encode())
    assert isinstance(loaded, Ed25519PublicKey)
    return loaded


def _finished(tmp_path: Path, env: dict[str, str]) -> Run:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    return run_with_command(root, TASK, env=env, argv=("sh", "-c", "echo hello evidence"))


def test_a_finished_run_writes_a_dsse_envelope_over_an_in_toto_statement(
    tmp_path: Path, key_env: dict[str, str]
) -> None:
    run = _finished(tmp_path, key_env)
    envelope = read_envelope(run.paths.run_dir / ATTESTATION_FILE)
    assert envelope["payloadType"] == PAYLOAD_TYPE
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == PREDICATE_TYPE
    names = [s["name"] for s in statement["subject"]]
    assert names[:2] == ["manifest.json", "events.jsonl"]
    assert any(n.startswith("commands/") and n.endswith(".log") for n in names)
    predicate = statement["predicate"]
    schemas.validate("attestation-predicate", predicate, what="predicate")
    assert (predicate["taskId"], predicate["runId"], predicate["status"]) == (
        TASK,
        run.run_id,
        "succeeded",
    )
    assert predicate["commands"] == 1
    assert predicate["approvalProfile"]["approvalPolicy"]


def test_an_implementation_we_did_not_write_verifies_the_envelope_and_rejects_one_changed_byte(
    tmp_path: Path, key_env: dict[str, str]
) -> None:
    run = _finished(tmp_path, key_env)
    public = _public(key_env)
    envelope = Envelope.from_dict(read_envelope(run.paths.run_dir / ATTESTATION_FILE))
    # securesystemslib's DSSE verification with nothing but the public key
    assert envelope.verify([SSlibKey.from_crypto(public)], 1)
    # ... and pyca/cryptography alone over the DSSE v1 pre-authentication encoding
    raw = read_envelope(run.paths.run_dir / ATTESTATION_FILE)
    payload = base64.b64decode(raw["payload"])
    pae = b"DSSEv1 %d %b %d %b" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    public.verify(base64.b64decode(raw["signatures"][0]["sig"]), pae)
    # the statement's digests are what a verifier checks the files against
    statement = json.loads(payload)
    log_name = next(s["name"] for s in statement["subject"] if s["name"].startswith("commands/"))
    log = run.paths.run_dir / log_name
    data = bytearray(log.read_bytes())
    data[0] ^= 0x01
    log.write_bytes(bytes(data))
    import hashlib

    digest = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}[log_name]
    assert hashlib.sha256(log.read_bytes()).hexdigest() != digest
    result = verify_run(run.paths.run_dir, [signer_public_key(load_signer(key_env))])  # type: ignore[arg-type]
    assert not result.ok and result.problem == "digest" and result.subject == log_name
    # a changed payload byte breaks the signature for securesystemslib too
    forged = Envelope(
        payload.replace(b"succeeded", b"succeedex"), PAYLOAD_TYPE, envelope.signatures
    )
    with pytest.raises(VerificationError):
        forged.verify([SSlibKey.from_crypto(public)], 1)


def test_a_manifest_changed_after_the_attestation_fails_and_names_it(
    tmp_path: Path, key_env: dict[str, str]
) -> None:
    run = _finished(tmp_path, key_env)
    manifest = json.loads(run.paths.manifest.read_text())
    manifest["statusDetail"] = "edited"
    run.paths.manifest.write_text(json.dumps(manifest))
    signer = load_signer(key_env)
    assert signer is not None
    result = verify_run(run.paths.run_dir, [signer_public_key(signer)])
    assert result.problem == "digest" and result.subject == "manifest.json"
    assert "manifest.json does not match" in str(result.detail)


def test_an_untrusted_key_is_refused_with_the_keyid(
    tmp_path: Path, key_env: dict[str, str]
) -> None:
    run = _finished(tmp_path, key_env)
    other = load_signer({KEY_PEM_ENV: _pem(Ed25519PrivateKey.generate())})
    assert other is not None
    result = verify_run(run.paths.run_dir, [signer_public_key(other)])
    own = load_signer(key_env)
    assert own is not None
    assert result.problem == "signature"
    assert signer_public_key(own).keyid in str(result.detail)


def test_a_resumed_run_is_re_attested(tmp_path: Path, key_env: dict[str, str]) -> None:
    run = _finished(tmp_path, key_env)
    first = (run.paths.run_dir / ATTESTATION_FILE).read_text()
    root = run.paths.root
    context = Context.load(cwd=root, env={ROOT_ENV: str(root), **key_env})
    again = Run.resume(context, run.run_id, task_id=TASK, reopen=True, heartbeat=False)
    again.finish("succeeded")
    assert (run.paths.run_dir / ATTESTATION_FILE).read_text() != first
    signer = load_signer(key_env)
    assert signer is not None
    result = verify_run(run.paths.run_dir, [signer_public_key(signer)])
    assert result.ok and result.statement["predicate"]["resumes"] == 1


def test_the_default_key_is_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    signer = load_signer(env)
    path = default_key_path(env)
    assert signer is not None and path == tmp_path / "config" / "pytest-codex" / "signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_signer(env)
    assert again is not None
    assert signer_public_key(again).keyid == signer_public_key(signer).keyid


def test_a_key_inside_the_workspace_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "repo" / "key.pem"
    inside.parent.mkdir()
    inside.write_text(_pem(Ed25519PrivateKey.generate()))
    with pytest.raises(ConfigError, match="inside the workspace"):
        load_signer({KEY_PATH_ENV: str(inside)}, workspace=tmp_path / "repo")


def test_the_key_path_and_pem_are_never_recorded(tmp_path: Path, key_env: dict[str, str]) -> None:
    pem = _pem(Ed25519PrivateKey.generate())
    run = _finished(tmp_path, {KEY_PEM_ENV: pem})
    for path in run.paths.run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY" not in text and pem.splitlines()[1] not in text


def test_trusted_keys_come_from_pem_text_or_repository_files(
    tmp_path: Path, key_env: dict[str, str]
) -> None:
    signer = load_signer(key_env)
    assert signer is not None
    public = signer_public_key(signer)
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "ci.pub").write_text(public.pem)
    policy = EvidencePolicy.from_settings({"trusted_keys": [public.pem, "keys/ci.pub"]}, tmp_path)
    assert [k.keyid for k in policy.trusted] == [public.keyid, public.keyid]
    assert policy.require_signed
    assert not EvidencePolicy.from_settings({}, tmp_path).require_signed
    with pytest.raises(ConfigError, match=r"evidence.trusted_keys\[0\]"):
        EvidencePolicy.from_settings({"trusted_keys": ["keys/none.pub"]}, tmp_path)


def test_the_envelope_built_without_securesystemslib_is_its_envelope_byte_for_byte() -> None:
    from pytest_codex.attestation import _plain_ed25519_key, sign_statement_with_key

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    statement = {"_type": "x", "subject": [{"name": "manifest.json"}], "ü": "ñ"}
    key = _plain_ed25519_key(pem)
    assert key is not None
    ours = sign_statement_with_key(statement, key)
    signer = load_signer({"CODEX_ORCHESTRATOR_SIGNING_KEY_PEM": pem.decode()})
    assert signer is not None
    theirs = sign_statement(statement, signer)
    assert ours == theirs
    public = SSlibKey.from_crypto(private.public_key())
    Envelope.from_dict(ours).verify([public], 1)


def test_a_pem_that_is_not_a_plain_ed25519_key_takes_the_full_path() -> None:
    from pytest_codex.attestation import _plain_ed25519_key

    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert _plain_ed25519_key(encrypted) is None
    assert (
        _plain_ed25519_key(b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----")
        is None
    )
