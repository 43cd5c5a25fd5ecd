"""What an exec tool call returns: Codex's unified exec text, plus the same as data.

The text has the lines Codex's own ``exec_command`` gives its model (``Chunk ID``, ``Wall
time``, ``Process exited with code N`` or ``Process running with session ID N``, ``Original
token count``, ``Output:``), so a model used to Codex reads it as it reads Codex's. The
structured content carries the same facts as fields (``exit_code``, ``session_id``,
``output``, ...). Output is cut to ``max_output_tokens`` (about 4 bytes a token), keeping
its head and tail.
"""

from __future__ import annotations

import secrets
from typing import Any

from .live import Collected

DEFAULT_MAX_OUTPUT_TOKENS = 10_000
BYTES_PER_TOKEN = 4  # the estimate Codex uses for its own truncation


def approx_tokens(text: str) -> int:
    """Tokens ``text`` is worth, estimated from its UTF-8 length."""
    size = len(text.encode("utf-8"))
    return (size + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN


def cut(text: str, max_tokens: int) -> tuple[str, int]:
    """``text`` within ``max_tokens`` (head and tail kept), and the bytes left out."""
    data = text.encode("utf-8")
    limit = max(1, max_tokens) * BYTES_PER_TOKEN
    if len(data) <= limit:
        return text, 0
    half = limit // 2
    omitted = len(data) - 2 * half
    head = data[:half].decode("utf-8", "ignore")
    tail = data[-half:].decode("utf-8", "ignore")
    return f"{head}\n[... {omitted} bytes omitted ...]\n{tail}", omitted


def render(collected: Collected, max_tokens: int | None) -> tuple[str, dict[str, Any]]:
    """The call's text and structured content."""
    tokens = approx_tokens(collected.output)
    output, omitted = cut(collected.output, max_tokens or DEFAULT_MAX_OUTPUT_TOKENS)
    omitted += collected.omitted
    chunk_id = secrets.token_hex(3)
    lines = [f"Chunk ID: {chunk_id}", f"Wall time: {collected.wall_time:.4f} seconds"]
    if collected.error is not None:
        lines.append(f"Stopped by the orchestrator: {collected.error}")
    elif collected.session_id is not None:
        lines.append(f"Process running with session ID {collected.session_id}")
    else:
        lines.append(f"Process exited with code {collected.exit_code}")
    lines += [f"Original token count: {tokens}", "Output:"]
    structured: dict[str, Any] = {
        "chunk_id": chunk_id,
        "wall_time_seconds": round(collected.wall_time, 4),
        "exit_code": collected.exit_code,
        "session_id": collected.session_id,
        "original_token_count": tokens,
        "output": output,
        "omitted_bytes": omitted,
    }
    if collected.error is not None:
        structured["error"] = collected.error
    return "\n".join(lines) + "\n" + output, structured
