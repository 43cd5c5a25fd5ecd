"""Signing and verifying run evidence: in-toto Statements in DSSE envelopes, ed25519.

When a run finishes, :func:`attest_run` writes ``attestation.intoto.jsonl`` beside its
manifest: one DSSE envelope (payloadType ``application/vnd.in-toto+json``) over an in-toto
Statement v1 whose ``subject`` lists ``manifest.json``, ``events.jsonl`` and every
``commands/*.log`` with their sha256 digests, and whose predicate
(:data:`PREDICATE_TYPE`, schema ``schemas/attestation-predicate.schema.json``) records what
the run was. :func:`verify_run` checks the signature against trusted public keys and every
digest against the files on disk.

The DSSE envelope, its pre-authentication encoding and the signatures are securesystemslib's
(``Envelope``, ``CryptoSigner``, ``SSlibKey``); the keys are pyca/cryptography's. Nothing
here implements cryptography. Both libraries are imported on first use, never at start-up.

The private key lives outside the workspace: ``$CODEX_ORCHESTRATOR_SIGNING_KEY_PEM`` (its
PEM text, for CI secrets), ``$CODEX_ORCHESTRATOR_SIGNING_KEY`` (a path), config
``evidence.key_path``, or by default ``$XDG_CONFIG_HOME/pytest-codex/signing-key.pem``
(``~/.config/...``), created mode 0600 on first use. Its location is never recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .repository import (  # re-exported: they lived here
    git_state,
    repository_identity,
)
from .timeutil import now_iso

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import (  # type: ignore[attr-defined]  # no __all__
        CryptoSigner,
        SSlibKey,
    )

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://pytest-codex.dev/attestation/run/v1"
ATTESTATION_FILE = "attestation.intoto.jsonl"
KEY_PATH_ENV = "CODEX_ORCHESTRATOR_SIGNING_KEY"
KEY_PEM_ENV = "CODEX_ORCHESTRATOR_SIGNING_KEY_PEM"
KEY_FILE = "signing-key.pem"


# -- keys --------------------------------------------------------------------------------------
def default_key_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/pytest-codex/signing-key.pem`` (``~/.config/...`` without it)."""
    base = env.get("XDG_CONFIG_HOME") or os.environ.get("XDG_CONFIG_HOME")
    directory = Path(base) if base else Path.home() / ".config"
    return directory / "pytest-codex" / KEY_FILE


def _lookup(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or os.environ.get(name) or None


def key_location(env: Mapping[str, str], settings: Mapping[str, Any] | None = None) -> str:
    """Where the signing key comes from, for messages (the PEM itself is never shown)."""
    if _lookup(env, KEY_PEM_ENV):
        return f"${KEY_PEM_ENV}"
    path = _lookup(env, KEY_PATH_ENV) or (settings or {}).get("key_path")
    return str(Path(path).expanduser()) if path else str(default_key_path(env))


def key_paths_to_hide(
    env: Mapping[str, str], settings: Mapping[str, Any] | None = None
) -> list[Path]:
    """What a sandbox must neither read nor write: the signing key's file (named by
    ``$CODEX_ORCHESTRATOR_SIGNING_KEY`` or ``evidence.key_path``) or the default key's
    directory. (A key given as PEM text lives in the environment: drop the variable.)"""
    configured = _lookup(env, KEY_PATH_ENV) or (settings or {}).get("key_path")
    if configured:
        return [Path(configured).expanduser()]
    return [default_key_path(env).parent]


def load_signer(
    env: Mapping[str, str],
    settings: Mapping[str, Any] | None = None,
    *,
    create: bool = True,
    workspace: Path | None = None,
) -> CryptoSigner | None:
    """This machine's ed25519 signer; the default key file is created (0600, directory 0700)
    when missing and ``create`` is on. None when there is no key and none may be created; a
    :class:`ConfigError` for a key that cannot be read or lies inside ``workspace``."""
    found = _signing_key_pem(env, settings, create=create, workspace=workspace)
    if found is None:
        return None
    return _signer_from_pem(*found)


def _signing_key_pem(
    env: Mapping[str, str],
    settings: Mapping[str, Any] | None,
    *,
    create: bool,
    workspace: Path | None,
) -> tuple[bytes, str] | None:
    """The signing key's PEM bytes and where they came from (see :func:`load_signer`)."""
    pem_text = _lookup(env, KEY_PEM_ENV)
    if pem_text:
        data, where = pem_text.encode(), f"${KEY_PEM_ENV}"
    else:
        configured = _lookup(env, KEY_PATH_ENV) or (settings or {}).get("key_path")
        path = Path(configured).expanduser() if configured else default_key_path(env)
        where = str(path)
        if workspace is not None and _inside(path, workspace):
            raise ConfigError(
                f"the signing key {path} lies inside the workspace {workspace}; keep it outside "
                f"(default {default_key_path(env)})"
            )
        if not path.exists():
            if configured or not create:
                if configured:
                    raise ConfigError(f"signing key {path} does not exist; create it or unset it")
                return None
            _create_key(path)
        data = path.read_bytes()
    return data, where


def _signer_from_pem(data: bytes, where: str) -> CryptoSigner:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {where} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {where} is not an ed25519 key; use an ed25519 key")
    return CryptoSigner(key)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _create_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:  # O_EXCL: two runs finishing at once create one key, not two
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


@dataclass(frozen=True)
class PublicKey:
    """A public key a verifier trusts: its securesystemslib key, keyid and PEM text."""

    key: SSlibKey
    pem: str
    source: str

    @property
    def keyid(self) -> str:
        """The key's id (securesystemslib's default keyid)."""
        return str(self.key.keyid)


def public_key_from_pem(pem: str, source: str) -> PublicKey:
    """A :class:`PublicKey` from PEM text; a :class:`ConfigError` naming ``source``."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    try:
        crypto_key = load_pem_public_key(pem.strip().encode())
        key = SSlibKey.from_crypto(crypto_key)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source} is not a PEM public key ({exc})") from exc
    return PublicKey(key, pem.strip() + "\n", source)


def signer_public_key(signer: CryptoSigner) -> PublicKey:
    """The public half of ``signer``."""
    from cryptography.hazmat.primitives import serialization

    private = signer._private_key  # securesystemslib keeps the pyca key here
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return public_key_from_pem(pem, "this machine's signing key")


def trusted_keys(settings: Mapping[str, Any], root: Path) -> list[PublicKey]:
    """The keys of config ``evidence.trusted_keys``: PEM strings, or files relative to the
    repository root."""
    entries = settings.get("trusted_keys") or []
    keys: list[PublicKey] = []
    for index, entry in enumerate(entries):
        where = f"evidence.trusted_keys[{index}]"
        text = str(entry)
        if "-----BEGIN" not in text:
            path = (root / text).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read {path} ({exc.strerror})") from exc
            where = f"{where} ({entry})"
        keys.append(public_key_from_pem(text, where))
    return keys


@dataclass(frozen=True)
class EvidencePolicy:
    """What a repository requires of evidence: the keys it trusts and whether a run must be
    signed by one of them (default: yes when any key is trusted)."""

    trusted: tuple[PublicKey, ...] = ()
    require_signed: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, root: Path) -> EvidencePolicy:
        """The policy of config section ``evidence``."""
        section = settings or {}
        keys = tuple(trusted_keys(section, root))
        required = section.get("require_signed")
        return cls(keys, bool(keys) if required is None else bool(required))


def evidence_policy(root: Path, env: Mapping[str, str] | None = None) -> EvidencePolicy:
    """The evidence policy of the repository at ``root`` (its configuration file)."""
    from .config import resolve_config

    config = resolve_config(root, env=dict(os.environ if env is None else env))
    return EvidencePolicy.from_settings(config.get("evidence"), root)


# -- the statement -----------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def subject_files(run_dir: Path) -> list[str]:
    """The run-relative names a statement must cover: manifest, journal, command logs."""
    names = [n for n in ("manifest.json", "events.jsonl") if (run_dir / n).is_file()]
    commands = run_dir / "commands"
    if commands.is_dir():
        names.extend(f"commands/{p.name}" for p in sorted(commands.iterdir()) if p.suffix == ".log")
    return names


def test_counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """``total`` and one count per outcome of the manifest's tests."""
    counts: dict[str, int] = {"total": 0}
    for record in manifest.get("tests") or []:
        outcome = str(record.get("outcome")) if isinstance(record, Mapping) else "unknown"
        counts[outcome] = counts.get(outcome, 0) + 1
        counts["total"] += 1
    return counts


def build_statement(run_dir: Path, manifest: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The in-toto Statement v1 of a finished run."""
    instructions = manifest.get("instructions") or {}
    recorded = manifest.get("repository")
    # The repository is the one the run started in; only HEAD may have moved since.
    git = {**recorded, **git_state(root)} if recorded else repository_identity(root)
    predicate = {
        "taskId": manifest["taskId"],
        "runId": manifest["runId"],
        "status": manifest["status"],
        "statusDetail": manifest.get("statusDetail"),
        "runner": manifest.get("runner"),
        "collectOnly": bool(manifest.get("collectOnly")),
        "tests": test_counts(manifest),
        "commands": len(manifest.get("commands") or []),
        "guardrails": [
            {
                "name": str(g.get("name")),
                "status": str(g.get("status")),
                "dryRun": bool(g.get("dryRun")),
            }
            for g in manifest.get("guardrails") or []
        ],
        "approvalProfile": dict(manifest.get("approvalProfile") or {}),
        "instructionsHash": instructions.get("combinedHash"),
        "git": {"commit": git["commit"], "dirty": git["dirty"]},
        "repository": {k: git[k] for k in ("rootCommit", "remote", "pathHash")},
        "resumes": len(manifest.get("resume_events") or []),
        "attestedAt": now_iso(),
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": _sha256(run_dir / name)}}
            for name in subject_files(run_dir)
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def sign_statement(statement: Mapping[str, Any], signer: CryptoSigner) -> dict[str, Any]:
    """A DSSE envelope (as JSON) over ``statement`` signed by ``signer``."""
    from securesystemslib.dsse import Envelope

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer)
    document: dict[str, Any] = envelope.to_dict()
    return document


# An unencrypted PKCS#8 ed25519 private key is always these 16 DER bytes, then the 32-byte seed.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def _plain_ed25519_key(pem: bytes) -> Ed25519PrivateKey | None:
    """The key of an unencrypted PKCS#8 ed25519 PEM (the kind this machine creates), read
    without pyca's serialization module; None for any other PEM (the full path reads it)."""
    import base64

    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != b"-----BEGIN PRIVATE KEY-----":
        return None
    if lines[-1] != b"-----END PRIVATE KEY-----":
        return None
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
    except ValueError:
        return None
    if len(der) != 48 or not der.startswith(_ED25519_PKCS8_PREFIX):
        return None
    try:
        # The class pyca's Ed25519PrivateKey registers, made without importing the
        # primitives layer (its hashes and serialization modules double the import).
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        key: Ed25519PrivateKey = rust_openssl.ed25519.from_private_bytes(der[16:])
    except (ImportError, AttributeError):  # another layout of cryptography: the public API
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(der[16:])
    return key


def sign_statement_with_key(statement: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The envelope :func:`sign_statement` makes, byte for byte (ed25519 signatures are
    deterministic), built here: importing securesystemslib's signer costs a short run more
    than everything else it does at its end. Verification stays securesystemslib's."""
    import base64
    import hashlib

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    kind = PAYLOAD_TYPE.encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)
    public = key.public_key().public_bytes_raw().hex()
    # securesystemslib's default keyid: sha256 of the key's canonical JSON.
    canonical = json.dumps(
        {"keytype": "ed25519", "keyval": {"public": public}, "scheme": "ed25519"},
        sort_keys=True,
        separators=(",", ":"),
    )
    return {
        "payload": base64.standard_b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [
            {
                "keyid": hashlib.sha256(canonical.encode()).hexdigest(),
                "sig": base64.standard_b64encode(key.sign(pae)).decode(),
            }
        ],
    }


def prepare_signing(settings: Mapping[str, Any] | None = None) -> None:
    """Start importing pyca's ed25519 binding in a daemon thread, for :func:`attest_run` at
    the run's end: loading that library is most of what signing costs, and a thread does it
    while the process waits for a command. Call it only where no Python code runs between a
    fork and an exec (``subprocess`` is fine; ``pty.fork`` is not): a fork while the thread
    holds the import lock would leave the child's copy of that lock held."""
    import threading

    if (settings or {}).get("sign") is False or "cryptography.hazmat.bindings._rust" in sys.modules:
        return

    def load() -> None:
        with contextlib.suppress(ImportError):
            import cryptography.hazmat.bindings._rust  # noqa: F401

    threading.Thread(target=load, name="codex-signing-import", daemon=True).start()


def attest_run(
    run_dir: Path,
    *,
    root: Path,
    env: Mapping[str, str],
    settings: Mapping[str, Any] | None = None,
) -> Path | None:
    """Write ``attestation.intoto.jsonl`` for the finished run in ``run_dir`` (replacing the
    one of an earlier finish of a resumed run). Returns its path, or None when signing is
    off (``evidence.sign: false``) or failed: the run's outcome never depends on it, a failure
    is one line on stderr."""
    section = settings or {}
    if section.get("sign") is False:
        return None
    from .atomic import atomic_write_text
    from .manifest import load_manifest

    try:
        found = _signing_key_pem(env, section, create=True, workspace=root)
        if found is None:
            return None
        manifest = load_manifest(run_dir / "manifest.json")
        statement = build_statement(run_dir, manifest, root)
        key = _plain_ed25519_key(found[0])
        if key is not None:
            envelope = sign_statement_with_key(statement, key)
        else:
            envelope = sign_statement(statement, _signer_from_pem(*found))
        path = run_dir / ATTESTATION_FILE
        atomic_write_text(path, json.dumps(envelope, sort_keys=True) + "\n")
    except Exception as exc:  # evidence is best effort; the run already finished
        print(
            f"codex-orchestrator: warning: run {run_dir.name} was not attested "
            f"({type(exc).__name__}: {exc}); see docs/evidence.md",
            file=sys.stderr,
        )
        return None
    return path


# -- verification ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    """The result of verifying one run's attestation. ``problem`` is None when valid:
    ``missing``, ``malformed``, ``signature`` (bad or untrusted), ``digest`` (a subject
    changed), ``uncovered`` (a file no subject names) or ``mismatch`` (the predicate names
    another run)."""

    attestation: str
    problem: str | None = None
    detail: str | None = None
    keyid: str | None = None
    subject: str | None = None
    signed: bool = False
    statement: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the attestation verified."""
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        """The JSON report of ``runs verify --format json``."""
        return {
            "valid": self.ok,
            "attestation": self.attestation,
            "problem": self.problem,
            "detail": self.detail,
            "keyid": self.keyid,
            "subject": self.subject,
            "signed": self.signed,
            "predicate": dict(self.statement.get("predicate") or {}),
        }


def read_envelope(path: Path) -> dict[str, Any]:
    """The (first) DSSE envelope of an ``.intoto.jsonl`` file; ValueError when malformed."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            document = json.loads(line)
            if not isinstance(document, dict):
                raise ValueError("the envelope is not a JSON object")
            return document
    raise ValueError("the file holds no envelope")


def verify_run(
    run_dir: Path,
    keys: Sequence[PublicKey],
    *,
    require_signature: bool = True,
) -> Verification:
    """Verify ``run_dir``'s attestation: the envelope's signature by one of ``keys`` (skipped
    when ``require_signature`` is off), the statement's shape, each subject's digest, and that
    every manifest, journal and command log of the run is a subject."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError

    path = run_dir / ATTESTATION_FILE
    where = str(path)
    if not path.is_file():
        return Verification(where, "missing", f"{run_dir.name} has no {ATTESTATION_FILE}")
    try:
        envelope = Envelope.from_dict(read_envelope(path))
        statement = json.loads(envelope.payload)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return Verification(where, "malformed", f"is not a DSSE envelope ({exc})")
    keyids = sorted(envelope.signatures)
    signed_by = keyids[0] if keyids else None
    if envelope.payload_type != PAYLOAD_TYPE:
        return Verification(where, "malformed", f"has payloadType {envelope.payload_type!r}")
    signed = False
    if require_signature:
        if not keys:
            return Verification(
                where, "signature", "no trusted keys to verify with (evidence.trusted_keys)"
            )
        try:
            accepted = envelope.verify(list(_keys(keys)), 1)
        except (VerificationError, ValueError):
            trusted = {k.keyid for k in keys}
            known = [k for k in keyids if k in trusted]
            detail = (
                f"bad signature by key {known[0]}"
                if known
                else f"signed by untrusted key {signed_by or '(none)'}"
            )
            return Verification(where, "signature", detail, signed_by)
        signed_by, signed = sorted(accepted)[0], True
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        return Verification(where, "malformed", "payload is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        return Verification(
            where, "malformed", f"predicateType is {statement.get('predicateType')!r}"
        )
    predicate = statement.get("predicate") or {}
    if predicate.get("runId") != run_dir.name:
        return Verification(
            where, "mismatch", f"attests run {predicate.get('runId')}, not {run_dir.name}"
        )
    covered: set[str] = set()
    for subject in statement.get("subject") or []:
        name = str(subject.get("name"))
        expected = (subject.get("digest") or {}).get("sha256")
        target = run_dir / name
        if ".." in Path(name).parts or not target.is_file():
            return Verification(
                where, "digest", f"subject {name} is missing", signed_by, name, signed, statement
            )
        if _sha256(target) != expected:
            return Verification(
                where,
                "digest",
                f"subject {name} does not match its sha256 digest (changed after the run)",
                signed_by,
                name,
                signed,
                statement,
            )
        covered.add(name)
    for name in subject_files(run_dir):
        if name not in covered:
            return Verification(
                where, "uncovered", f"{name} is not a subject", signed_by, name, signed, statement
            )
    return Verification(where, None, None, signed_by, None, signed, statement)


def _keys(keys: Sequence[PublicKey]) -> list[SSlibKey]:
    return [k.key for k in keys]
