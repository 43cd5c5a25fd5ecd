"""The npm packages the tests drive, installed once per machine: the real Codex CLI (its Linux
binary, ``codex sandbox``, ``codex exec``, ``codex mcp``) and the official Codex SDK.

They land in ``~/.cache/pytest-codex-tests/npm-<digest of the specs>`` (never under ``/tmp``,
which other programs share), under a lock, so parallel workers install them once. ``.ci/run``
warms the cache (``python -m tests.helpers.npm``); a test that needs them skips, saying why,
only where node or npm is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

CODEX_CLI = "@openai/codex@0.169.0"
CODEX_SDK = "@openai/codex-sdk@0.163.0"
PACKAGES = (CODEX_CLI, CODEX_SDK)

_INSTALL_TIMEOUT_SECONDS = 600


class NpmUnavailable(Exception):
    """node or npm is not installed here (the reason is the message)."""


def cache_dir() -> Path:
    """Where the packages are installed (one directory per set of specs)."""
    digest = hashlib.sha256("\n".join(PACKAGES).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "pytest-codex-tests" / f"npm-{digest}"


def install() -> Path:
    """The directory holding ``node_modules`` with :data:`PACKAGES`, installed when missing.

    Raises :class:`NpmUnavailable` when node or npm is missing, and ``RuntimeError`` (with
    npm's own words) when the install fails.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise NpmUnavailable(f"{' and '.join(missing)} not installed (.ci/run installs them)")
    where = cache_dir()
    where.mkdir(parents=True, exist_ok=True)
    done = where / "installed.json"
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file() and json.loads(done.read_text()) == list(PACKAGES) and _complete(where):
            return where
        (where / "package.json").write_text('{"name": "pytest-codex-tests", "type": "module"}\n')
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-save", *PACKAGES],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0 or not _complete(where):
            raise RuntimeError(f"npm install {' '.join(PACKAGES)} failed: {result.stderr[-2000:]}")
        done.write_text(json.dumps(list(PACKAGES)))
    return where


def _complete(where: Path) -> bool:
    return (where / "node_modules" / ".bin" / "codex").exists() and (
        where / "node_modules" / "@openai" / "codex-sdk" / "package.json"
    ).is_file()


def codex_bin() -> Path:
    """The real Codex CLI (``codex``), installed when missing."""
    return install() / "node_modules" / ".bin" / "codex"


def node_modules() -> Path:
    """The ``node_modules`` directory holding the Codex SDK (for ``NODE_PATH`` or a driver
    script placed beside it)."""
    return install() / "node_modules"


if __name__ == "__main__":
    try:
        print(install())
    except NpmUnavailable as exc:
        print(f"npm packages not installed: {exc}", file=sys.stderr)
