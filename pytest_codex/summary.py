"""One-line run summaries, shared by the CLI, the notifications and the Codex dialect.

Sinks never import each other; what two of them render alike lives here.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any


def command_text(argv: Any) -> str:
    """A command line as a person (and Codex) reads it."""
    if isinstance(argv, str):
        return argv
    return shlex.join(str(a) for a in argv)


def summary_line(summary: Mapping[str, Any]) -> str:
    """``run <id> <status>; `<command>` exited <code>; <detail>; manifest: <path>``."""
    run = summary.get("run", {})
    result = summary.get("result") or {}
    command = summary.get("command") or {}
    parts = [f"run {run.get('id')} {summary.get('status')}"]
    if command.get("argv"):
        parts.append(f"`{command_text(command['argv'])}` exited {result.get('exitCode')}")
    if summary.get("statusDetail"):
        parts.append(str(summary["statusDetail"]))
    return "; ".join(parts) + f"; manifest: {run.get('manifestPath')}"


def failure_message(summary: Mapping[str, Any]) -> str:
    """What a failed run says it failed with (Codex ``turn.failed``, notifications)."""
    return summary_line(summary)
