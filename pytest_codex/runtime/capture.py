"""Bounded capture of a stream: head and tail in memory, every byte in the log, chunks out.

:class:`HeadTailBuffer` keeps at most ``cap`` bytes (half head, half tail) and counts what
it dropped in between, so the end of a long output (where errors are) is never lost.
:class:`StreamCapture` adds the log file and the text for the ``exec:chunk`` events (the
callback cuts it into events of at most 8 KiB of UTF-8, on character boundaries, with
:func:`split_utf8`); undecodable bytes become U+FFFD in events and stay exact in the log.

With a :class:`Redaction` the stream is redacted at the source, as bytes: one
:class:`~pytest_codex.redact.StreamRedactor` per stream, then one more over what the streams
of a command release together (:func:`captures_for`), in the order the log and the chunk
events get it, so a secret split between stdout and stderr cannot be rejoined in the merged
log or in a consumer that concatenates the chunks. The redactors' carry-over windows hold
back the tail that may begin a secret; :meth:`StreamCapture.idle` (called by the read loops
when nothing arrived for a moment) releases complete lines, and the whole tail after a
longer pause, so live streaming keeps working. ``raw_log`` keeps the log byte-exact.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from ..redact import Redactor, StreamRedactor

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
    if text.isascii():  # one byte a character: slices, no encoding
        if len(text) <= limit:
            return [text] if text else []
        return [text[start : start + limit] for start in range(0, len(text), limit)]
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


# (stream, text, raw byte count): once per read (or release), with all of its text; an
# event carries at most CHUNK_LIMIT bytes of it (split_utf8).
ChunkCallback = Callable[[str, str, int], None]

# After this long without output, a held partial line is released too (a prompt waiting for
# input must show); complete lines are released at the first idle call.
IDLE_RELEASE_SECONDS = 1.0


@dataclass(frozen=True)
class Redaction:
    """How a command's streams are redacted: the redactor (built once per command, from the
    environment, the command's env and the configuration's secrets) and whether the log
    keeps the raw bytes (``exec.raw_logs``)."""

    redactor: Redactor
    raw_log: bool = False


class _Merged:
    """What the streams of one command release, redacted once more in the order the log and
    the chunk events get it (see the module docstring); text of one stream alone was
    redacted by that stream's own redactor and is not scanned again."""

    def __init__(self, redaction: Redaction) -> None:
        self.stream = StreamRedactor(redaction.redactor)
        self.captures: dict[str, StreamCapture] = {}
        self.finished = False

    def feed(self, name: str, data: bytes) -> None:
        if data:
            self._out(self.stream.feed_tagged(data, name, vetted=True))

    def idle(self, quiet: bool) -> None:
        if self.stream.holding:
            stream = self.stream
            if quiet:
                self._out(stream.flush_tagged(vetted=True))
            else:
                self._out(stream.release_lines_tagged(vetted=True))

    def finish(self) -> None:
        """Flush every stream of the command, then what is held here: once, by the first
        stream that finishes (a secret across the streams' last bytes is still seen)."""
        if self.finished:
            return
        self.finished = True
        for capture in self.captures.values():
            capture.drain()
        self._out(self.stream.flush_tagged(vetted=True))

    def _out(self, pieces: Iterable[tuple[object, bytes]]) -> None:
        for name, piece in pieces:
            self.captures[str(name)].out(piece)


class StreamCapture:
    """One stream of one command: memory buffer, log file, chunk events.

    Without ``redaction`` every byte goes to the log and the buffer as read; with it, the
    redacted bytes do (the log keeps raw bytes when ``redaction.raw_log``). Streams of one
    command that share a log are made together by :func:`captures_for`.
    """

    def __init__(
        self,
        name: str,
        *,
        log: IO[bytes] | None,
        on_chunk: ChunkCallback | None,
        cap: int = DEFAULT_MEMORY_CAP,
        redaction: Redaction | None = None,
        merged: _Merged | None = None,
    ) -> None:
        self.name = name
        self.buffer = HeadTailBuffer(cap)
        self._log = log
        self._on_chunk = on_chunk
        self._redaction = redaction
        self._stream = None if redaction is None else StreamRedactor(redaction.redactor)
        self._merged = merged
        if redaction is not None and merged is None:
            self._merged = _Merged(redaction)
        if self._merged is not None:
            self._merged.captures[name] = self
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._raw = 0  # bytes read since the last chunk event
        self._last_read = time.monotonic()

    @property
    def redacted(self) -> bool:
        """Whether what this stream writes is redacted."""
        return self._redaction is not None

    def feed(self, data: bytes) -> None:
        """Take bytes as they were read."""
        if not data:
            return
        self._last_read = time.monotonic()
        if self._stream is None:
            if self._log is not None:
                self._log.write(data)
            self.buffer.append(data)
            if self._on_chunk is not None:
                self._emit(self._decoder.decode(data), len(data))
            return
        assert self._redaction is not None and self._merged is not None
        if self._redaction.raw_log and self._log is not None:
            self._log.write(data)
        self._raw += len(data)
        self._merged.feed(self.name, self._stream.feed(data))

    def idle(self) -> None:
        """Nothing was read for a moment: release what the redactors hold that is safe to
        release (complete lines; everything after :data:`IDLE_RELEASE_SECONDS`)."""
        if self._stream is None or self._merged is None:
            return
        quiet = time.monotonic() - self._last_read >= IDLE_RELEASE_SECONDS
        if self._stream.holding:
            held = self._stream.flush() if quiet else self._stream.release_lines()
            self._merged.feed(self.name, held)
        self._merged.idle(
            all(
                time.monotonic() - c._last_read >= IDLE_RELEASE_SECONDS
                for c in self._merged.captures.values()
            )
        )

    def drain(self) -> None:
        """Everything this stream's own redactor holds, to the command's merged stream."""
        if self._stream is not None and self._merged is not None:
            self._merged.feed(self.name, self._stream.flush())

    def out(self, data: bytes) -> None:
        """Write redacted ``data`` to the log, the memory buffer and the chunk events."""
        if not data:
            return
        assert self._redaction is not None
        if self._log is not None and not self._redaction.raw_log:
            self._log.write(data)
        self.buffer.append(data)
        if self._on_chunk is not None:
            text = data.decode("ascii") if data.isascii() else self._decoder.decode(data)
            raw, self._raw = self._raw, 0
            # The count rides with the chunk as "bytes the log took for it" (a reference to
            # the log is its last bytes): the redacted bytes, or with raw logs the raw ones.
            self._emit(text, raw if self._redaction.raw_log else len(data))

    def _emit(self, text: str, raw: int) -> None:
        assert self._on_chunk is not None
        if text:
            # One call a read: the callback cuts the text into events (split_utf8) when it
            # emits the text, and a reference to the log needs no cutting at all.
            self._on_chunk(self.name, text, raw)

    def finish(self) -> CapturedStream:
        """Flush the decoder (and the redactors) and return what is kept in memory."""
        if self._merged is not None:
            self._merged.finish()
        rest = self._decoder.decode(b"", final=True)
        if rest and self._on_chunk is not None:
            self._emit(rest, 0)
        return CapturedStream(
            self.name,
            bytes(self.buffer.head),
            bytes(self.buffer.tail),
            self.buffer.omitted,
            self.buffer.total,
        )


def captures_for(
    names: Iterable[str],
    *,
    log: IO[bytes] | None,
    on_chunk: ChunkCallback | None,
    cap: int = DEFAULT_MEMORY_CAP,
    redaction: Redaction | None = None,
) -> dict[str, StreamCapture]:
    """The captures of one command's streams (``stdout``, ``stderr``) sharing its log: with
    redaction, what they release is redacted once more together (see the module
    docstring)."""
    merged = None if redaction is None else _Merged(redaction)
    return {
        name: StreamCapture(
            name, log=log, on_chunk=on_chunk, cap=cap, redaction=redaction, merged=merged
        )
        for name in names
    }
