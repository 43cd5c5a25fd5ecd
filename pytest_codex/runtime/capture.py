"""Bounded capture of a stream: head and tail in memory, every byte in the log, chunks out.

:class:`HeadTailBuffer` keeps at most ``cap`` bytes (half head, half tail) and counts what
it dropped in between, so the end of a long output (where errors are) is never lost.
:class:`StreamCapture` adds the log file and the ``exec:chunk`` events: at most 8 KiB of
UTF-8 each, cut on character boundaries; undecodable bytes become U+FFFD in events and stay
exact in the log.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

CHUNK_LIMIT = 8 * 1024
DEFAULT_MEMORY_CAP = 64 * 1024


class HeadTailBuffer:
    """The first and last ``cap // 2`` bytes of a stream, and how many fell between."""

    def __init__(self, cap: int = DEFAULT_MEMORY_CAP) -> None:
        self.cap = max(2, cap)
        self._half = self.cap // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.omitted = 0

    def append(self, data: bytes) -> None:
        """Add bytes; O(len(data) + cap/2) at worst, never growing past the cap."""
        self.total += len(data)
        room = self._half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        if len(data) >= self._half:
            # Everything already in the tail, and the front of data, is dropped.
            self.omitted += len(self.tail) + len(data) - self._half
            self.tail = bytearray(data[-self._half :])
            return
        self.tail += data
        excess = len(self.tail) - self._half
        if excess > 0:
            self.omitted += excess
            del self.tail[:excess]

    @property
    def truncated(self) -> bool:
        """Whether bytes were dropped between head and tail."""
        return self.omitted > 0


@dataclass(frozen=True)
class CapturedStream:
    """What a finished stream left in memory."""

    name: str
    head: bytes
    tail: bytes
    omitted: int
    total: int

    @property
    def truncated(self) -> bool:
        """Whether the middle was dropped."""
        return self.omitted > 0

    def text(self) -> str:
        """Head, a marker with the omitted byte count when something was dropped, tail."""
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.omitted:
            return f"{head}\n[... {self.omitted} bytes omitted ...]\n{tail}"
        return head + tail


def split_utf8(text: str, limit: int = CHUNK_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, never splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    start = 0
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        # Back up to a character start: continuation bytes look like 0b10xxxxxx.
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1
        pieces.append(encoded[start:end].decode("utf-8"))
        start = end
    return pieces


ChunkCallback = Callable[[str, str, int], None]  # (stream, text, raw byte count)


class StreamCapture:
    """One stream of one command: memory buffer, log file, chunk events."""

    def __init__(
        self,
        name: str,
        *,
        log: IO[bytes] | None,
        on_chunk: ChunkCallback | None,
        cap: int = DEFAULT_MEMORY_CAP,
    ) -> None:
        self.name = name
        self.buffer = HeadTailBuffer(cap)
        self._log = log
        self._on_chunk = on_chunk
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        """Take bytes as they were read."""
        if not data:
            return
        if self._log is not None:
            self._log.write(data)
        self.buffer.append(data)
        if self._on_chunk is not None:
            self._emit(self._decoder.decode(data), len(data))

    def _emit(self, text: str, raw: int) -> None:
        assert self._on_chunk is not None
        pieces = split_utf8(text)
        for index, piece in enumerate(pieces):
            # The raw byte count rides on the first piece of a read; the rest carry 0.
            self._on_chunk(self.name, piece, raw if index == 0 else 0)

    def finish(self) -> CapturedStream:
        """Flush the decoder and return what is kept in memory."""
        if self._on_chunk is not None:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                self._emit(rest, 0)
        return CapturedStream(
            self.name,
            bytes(self.buffer.head),
            bytes(self.buffer.tail),
            self.buffer.omitted,
            self.buffer.total,
        )
