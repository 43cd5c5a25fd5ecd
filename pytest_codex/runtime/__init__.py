"""The unified exec runtime: PTY sessions, pipe mode, streamed and capped output."""

from .capture import CHUNK_LIMIT, DEFAULT_MEMORY_CAP, CapturedStream, HeadTailBuffer, split_utf8
from .manager import CommandHandle, ExecSessionManager
from .pty_session import PtySession
from .result import CommandResult

__all__ = [
    "CHUNK_LIMIT",
    "DEFAULT_MEMORY_CAP",
    "CapturedStream",
    "CommandHandle",
    "CommandResult",
    "ExecSessionManager",
    "HeadTailBuffer",
    "PtySession",
    "split_utf8",
]
