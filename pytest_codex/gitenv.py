"""The environment the orchestrator runs git under: no repository-controlled code.

A hostile command may have written the repository's ``.git/config`` (``core.fsmonitor``, a
``core.hooksPath``, filter drivers) before the orchestrator runs git itself, so every git the
orchestrator spawns gets this environment: hooks and fsmonitor off through command-line-scope
configuration (``GIT_CONFIG_COUNT``; it wins over every config file, like ``git -c``, without
changing the argv that approvals judge), no system or global configuration, no optional
index writes, and the ``clean``/``smudge``/``process`` command of every filter driver the
configuration declares emptied (an empty filter command is no filter).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Configuration that can make a read-only git command run a program.
_NEUTRAL = (("core.hooksPath", "/dev/null"), ("core.fsmonitor", ""))
_FILTER_COMMANDS = (".clean", ".smudge", ".process")


def _as_env(pairs: list[tuple[str, str]]) -> dict[str, str]:
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": str(len(pairs)),
    }
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


BASE_ENV: Mapping[str, str] = _as_env(list(_NEUTRAL))


def safe_git_env(root: Path) -> dict[str, str]:
    """Variables to add to the environment of a git run in ``root`` (see module doc)."""
    pairs = list(_NEUTRAL)
    try:
        listed = subprocess.run(
            ["git", "config", "--list", "--name-only"],
            cwd=root,
            env={**os.environ, **BASE_ENV},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listed = ""
    for name in sorted(set(listed.split())):
        if name.startswith("filter.") and name.endswith(_FILTER_COMMANDS):
            pairs.append((name, ""))
    return _as_env(pairs)
