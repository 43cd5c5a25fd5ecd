"""Redaction of secret-looking values before anything leaves the process.

A variable *looks like a secret* when its name contains one of the markers below
(case-insensitive). Environment snapshots, events, manifests, telemetry and notifications
all pass through :func:`redact_env` / :func:`redact_text`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"

SECRET_MARKERS: tuple[str, ...] = (
    "TOKEN",
    "KEY",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION_ID",
    "PRIVATE",
    "SIGNATURE",
    "DSN",
)

# Values shorter than this are not scrubbed out of free text: replacing "1" or "true"
# everywhere would destroy output without protecting anything.
_MIN_SCRUB_LENGTH = 6


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name looks like it holds a secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the values of secret-looking variables replaced."""
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in env.items()}


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of secret-looking variables in ``env`` (default: ``os.environ``)."""
    source = os.environ if env is None else env
    values = {v for k, v in source.items() if is_secret_name(k) and len(v) >= _MIN_SCRUB_LENGTH}
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every occurrence of a known secret value replaced."""
    for value in secret_values() if secrets is None else secrets:
        if value and value in text:
            text = text.replace(value, REDACTED)
    return text


_ARG_PATTERN = re.compile(
    r"(?i)(--?[a-z0-9_-]*(?:token|key|secret|password|passwd)[a-z0-9_-]*[= ])(\S+)"
)


def redact_argv(argv: Iterable[str], secrets: Iterable[str] | None = None) -> list[str]:
    """An argv with secret values and ``--token=...``-style values replaced."""
    known = secret_values() if secrets is None else list(secrets)
    return [_ARG_PATTERN.sub(lambda m: m.group(1) + REDACTED, redact_text(a, known)) for a in argv]
