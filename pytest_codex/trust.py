"""Repository configuration is untrusted: which settings need a person's trust, and which
configuration files a person trusted.

A command the orchestrator runs can write the workspace, so a configuration file in it says
what the *agent* may have written. Settings that run code or weaken the guarantees (notify
commands, telemetry endpoints, guardrail plugins and settings, trusted keys, signing off, the
runs and out directories, a looser sandbox or approval policy, allow rules ...) take effect
from such a file only when a person approved exactly what it says, with
``codex-orchestrator trust FILE`` (like direnv's ``allow``, git's ``safe.directory`` and
Codex's trusted projects). Settings that only tighten or change nothing that matters (the task
id, deny rules, a stricter policy, timeouts) apply from any file.

Which is which is published in the configuration schema: every key carries ``x-trust``:

- ``"neutral"``: applies from any file;
- ``"trusted"``: needs trust whenever a file sets it;
- ``{"neutral": [V, ...]}``: needs trust unless its value is one of ``V`` (``sign: true``,
  ``sandbox: read-only``, an empty ``allow`` list);
- ``"per-key"``: an object whose keys are classified one by one (``additionalProperties``
  carries the rule of keys it does not name).

The store is ``trusted-configs.json`` in the user's state directory
(:func:`~pytest_codex.paths.user_state_dir`), which no sandbox can see. An entry is keyed by
the file's absolute path and holds the digest of the settings the file held when it was
trusted (the canonical JSON of the parsed document: comments and formatting do not count; for
``pyproject.toml`` only the ``[tool.codex-orchestrator]`` table counts) and the digests of
the files those settings name (``evidence.trusted_keys`` files): a changed file, or a changed
key file, is refused until it is trusted again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schemas
from .atomic import atomic_write_json, locked, make_dirs, read_json
from .errors import ConfigError, UnsafePathError
from .paths import user_state_dir
from .timeutil import now_iso

STORE_FILE = "trusted-configs.json"
STORE_VERSION = 1
# A store holds a few hundred entries at most; a bigger one is damage, not data.
MAX_STORE_BYTES = 8 * 1024 * 1024
MAX_PIN_BYTES = 1024 * 1024


def settings_digest(document: Mapping[str, Any]) -> str:
    """``sha256:`` of the canonical JSON of a parsed configuration: what it says, not how."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str | None:
    """``sha256:`` of a file's bytes, or None when there is no such file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PIN_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- classification ---------------------------------------------------------------------------
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _needs(rule: Any, key: str, value: Any, schema: Mapping[str, Any], found: list[str]) -> None:
    if rule == "neutral":
        return
    if rule == "per-key" and isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None:
                sub = extra if isinstance(extra, Mapping) else {}
            _needs(sub.get("x-trust", "trusted"), f"{key}.{name}", item, sub, found)
        return
    neutral = rule.get("neutral") if isinstance(rule, Mapping) else None
    if neutral is not None and _canonical(value) in {_canonical(v) for v in neutral}:
        return
    # "trusted", anything unclassified, and a neutral-valued key with another value.
    found.append(key)


def needing_trust(document: Mapping[str, Any]) -> list[str]:
    """The dotted keys of ``document`` that take effect only from a trusted source, in the
    document's order (``notify``, ``evidence.sign``, ``guardrails.lint``)."""
    properties = schemas.load_schema("config").get("properties") or {}
    found: list[str] = []
    for key, value in document.items():
        rule = properties.get(key)
        if not isinstance(rule, Mapping):
            found.append(str(key))  # unknown keys never reach here (the schema refuses them)
            continue
        _needs(rule.get("x-trust", "trusted"), str(key), value, rule, found)
    return found


def named_files(document: Mapping[str, Any], root: Path) -> list[Path]:
    """Files whose contents the settings trust as much as the settings themselves: the
    ``evidence.trusted_keys`` entries that name files (relative to ``root``)."""
    evidence = document.get("evidence")
    entries = evidence.get("trusted_keys") if isinstance(evidence, Mapping) else None
    found: list[Path] = []
    for entry in entries or ():
        text = str(entry).strip()
        if text and "-----BEGIN" not in text:
            found.append((root / os.path.expanduser(text)).absolute())
    return found


# -- the store --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trusted:
    """One trusted configuration file."""

    path: str
    digest: str
    trusted_at: str
    pins: Mapping[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The entry as stored."""
        return {"digest": self.digest, "trustedAt": self.trusted_at, "pins": dict(self.pins)}


def store_key(path: Path) -> str:
    """How a file is named in the store: its absolute path, symbolic links not resolved (a
    symbolic link swapped in for a trusted file is judged by what it points to now)."""
    return os.path.normpath(os.path.abspath(path))


class TrustStore:
    """``trusted-configs.json``: trusted files by absolute path (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_env(cls, env: Mapping[str, str] | None = None) -> TrustStore:
        """The store of the user whose environment ``env`` is."""
        # The directory resolved once (a home reached through a symbolic link is fine); the
        # store itself is then read and written without following links.
        return cls(Path(os.path.realpath(user_state_dir(env))) / STORE_FILE)

    def entries(self) -> dict[str, Trusted]:
        """Every entry; an absent store is empty, a damaged one a :class:`ConfigError`."""
        try:
            if self.path.lstat().st_size > MAX_STORE_BYTES:
                raise ConfigError(f"{self.path}: larger than {MAX_STORE_BYTES} bytes; remove it")
            document = read_json(self.path)
        except (FileNotFoundError, PermissionError):
            # No store, or one this user cannot reach: nothing is trusted (fail closed).
            return {}
        except UnsafePathError:
            raise
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{self.path}: the trust store cannot be read ({exc}); remove it and trust "
                "your configuration files again"
            ) from exc
        files = document.get("files") if isinstance(document, Mapping) else None
        if not isinstance(files, Mapping):
            raise ConfigError(
                f"{self.path}: not a trust store; remove it and trust your configuration "
                "files again"
            )
        found: dict[str, Trusted] = {}
        for key, entry in files.items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("digest"), str):
                continue
            raw = entry.get("pins")
            pins: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            found[str(key)] = Trusted(
                path=str(key),
                digest=str(entry["digest"]),
                trusted_at=str(entry.get("trustedAt") or ""),
                pins={str(k): (None if v is None else str(v)) for k, v in pins.items()},
            )
        return found

    def get(self, path: Path) -> Trusted | None:
        """The entry of ``path``, if a person trusted it."""
        return self.entries().get(store_key(path))

    def _update(self, change: Any) -> None:
        make_dirs(self.path.parent)
        os.chmod(self.path.parent, 0o700)
        with locked(self.path):
            entries = self.entries()
            change(entries)
            atomic_write_json(
                self.path,
                {
                    "version": STORE_VERSION,
                    "files": {k: entries[k].as_json() for k in sorted(entries)},
                },
            )

    def trust(self, path: Path, digest: str, pins: Mapping[str, str | None]) -> Trusted:
        """Record that a person trusted ``path`` holding settings of ``digest``."""
        entry = Trusted(store_key(path), digest, now_iso(), dict(pins))

        def add(entries: dict[str, Trusted]) -> None:
            entries[entry.path] = entry

        self._update(add)
        return entry

    def revoke(self, path: Path) -> bool:
        """Forget ``path``; whether it was trusted."""
        removed: list[bool] = []

        def drop(entries: dict[str, Trusted]) -> None:
            removed.append(entries.pop(store_key(path), None) is not None)

        if not self.path.exists():
            return False
        self._update(drop)
        return bool(removed and removed[0])


# -- the decision -----------------------------------------------------------------------------
def shown(path: Path, cwd: Path | None = None) -> str:
    """``path`` as the user would type it from ``cwd`` (relative when below it)."""
    cwd = Path.cwd() if cwd is None else cwd
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(cwd)))
    except ValueError:
        return str(path)


def current_pins(document: Mapping[str, Any], root: Path) -> dict[str, str | None]:
    """The digests of the files ``document`` names (None: absent), by absolute path."""
    return {str(p): file_digest(p) for p in named_files(document, root)}


@dataclass(frozen=True)
class Verdict:
    """What the store says of one configuration file as it is now."""

    status: str  # "trusted", "changed", "untrusted"
    needs: tuple[str, ...]  # the keys it sets that need trust
    changed_pin: str | None = None  # a named file that changed since it was trusted

    @property
    def applies(self) -> bool:
        """Whether every setting of the file may take effect."""
        if self.status == "changed" or self.changed_pin is not None:
            return False
        return self.status == "trusted" or not self.needs


def judge(path: Path, document: Mapping[str, Any], root: Path, store: TrustStore) -> Verdict:
    """The :class:`Verdict` on ``path`` holding ``document``."""
    needs = tuple(needing_trust(document))
    entry = store.get(path)
    if entry is None:
        return Verdict("untrusted", needs)
    if entry.digest != settings_digest(document):
        return Verdict("changed", needs)
    pins = current_pins(document, root)
    for name, digest in pins.items():
        if entry.pins.get(name, "unpinned") != digest:
            return Verdict("trusted", needs, changed_pin=name)
    return Verdict("trusted", needs)


def require(
    path: Path,
    document: Mapping[str, Any],
    root: Path,
    *,
    env: Mapping[str, str] | None = None,
    label: str | None = None,
) -> Verdict:
    """Refuse (one-line :class:`ConfigError`, exit 2) a configuration file that changed since
    it was trusted, or that sets a key needing trust without being trusted."""
    verdict = judge(path, document, root, TrustStore.for_env(env))
    if verdict.applies:
        return verdict
    name = label or shown(path)
    fix = (
        f"review it (codex-orchestrator trust --show {name}), then run: "
        f"codex-orchestrator trust {name}"
    )
    if verdict.status == "changed":
        raise ConfigError(f"{name}: changed since it was trusted; {fix}")
    if verdict.changed_pin is not None:
        raise ConfigError(
            f"{name}: {shown(Path(verdict.changed_pin))} (named by evidence.trusted_keys) "
            f"changed since the file was trusted; {fix}"
        )
    key = verdict.needs[0]
    more = f" (and {len(verdict.needs) - 1} more)" if len(verdict.needs) > 1 else ""
    raise ConfigError(
        f"{name}: {key!r}{more} runs code or weakens the guarantees, and this file is not "
        f"trusted; {fix}"
    )


def config_root(path: Path, env: Mapping[str, str] | None = None) -> Path:
    """The repository a config file configures (what ``evidence.trusted_keys`` files are
    relative to): its own directory when it is a file found at a root, else
    ``CODEX_ORCHESTRATOR_ROOT`` or the repository of the working directory."""
    from .paths import ROOT_ENV, find_repo_root

    env = os.environ if env is None else env
    if path.name in (*ROOT_CONFIG_NAMES, "pyproject.toml"):
        return Path(os.path.abspath(path)).parent
    if env.get(ROOT_ENV):
        return Path(env[ROOT_ENV]).resolve()
    return find_repo_root(Path.cwd())


# The names config.CONFIG_FILES holds (config imports this module).
ROOT_CONFIG_NAMES = ("codex.orchestrator.yaml", "codex.orchestrator.yml", "codex.orchestrator.json")
