"""Bounded capture of a stream: head and tail in memory, every byte in the log, chunks out.

:class:`HeadTailBuffer` keeps at most ``cap`` bytes (half head, half tail) and counts what
it dropped in between, so the end of a long output (where errors are) is never lost.
:class:`StreamCapture` adds the log file and the text for the ``exec:chunk`` events (the
callback cuts it into events of at most 8 KiB of UTF-8, on character boundaries, with
:func:`split_utf8`); undecodable bytes become U+FFFD in events and stay exact in the log.

With a :class:`Redaction` the stream is redacted at the source: bytes are decoded (with
``surrogateescape``, so undecodable bytes round-trip exactly), run through one
:class:`~pytest_codex.redact.StreamRedactor` per stream, and the redacted text is what the
log, the memory buffer and the chunk events get. The redactor's carry-over window holds back
the tail that may begin a secret; :meth:`StreamCapture.idle` (called by the read loops when
nothing arrived for a moment) releases complete lines, and the whole tail after a longer
pause, so live streaming keeps working. ``raw_log`` keeps the log byte-exact.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
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


def _clean(text: str) -> str:
    """``text`` (decoded with ``surrogateescape``) with undecodable bytes as U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


class StreamCapture:
    """One stream of one command: memory buffer, log file, chunk events.

    Without ``redaction`` every byte goes to the log and the buffer as read; with it, the
    redacted text does (the log keeps raw bytes when ``redaction.raw_log``).
    """

    def __init__(
        self,
        name: str,
        *,
        log: IO[bytes] | None,
        on_chunk: ChunkCallback | None,
        cap: int = DEFAULT_MEMORY_CAP,
        redaction: Redaction | None = None,
    ) -> None:
        self.name = name
        self.buffer = HeadTailBuffer(cap)
        self._log = log
        self._on_chunk = on_chunk
        self._redaction = redaction
        self._stream = None if redaction is None else StreamRedactor(redaction.redactor)
        errors = "replace" if redaction is None else "surrogateescape"
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors=errors)
        self._raw = 0  # bytes read since the last chunk event
        self._held = False  # whether the redactor holds text back
        self._partial = False  # whether the decoder holds the start of a character
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
        stream = self._stream
        assert self._redaction is not None
        if self._redaction.raw_log and self._log is not None:
            self._log.write(data)
        self._raw += len(data)
        if not self._partial:
            # ASCII with nothing to redact (most output): the bytes go through as they are,
            # without decoding, scanning as text and encoding again.
            clean = stream.feed_ascii(data)
            if clean is not None:
                self._held = stream.holding
                if clean:
                    self._out(clean.decode("ascii"), clean)
                return
        decoder = self._decoder
        text = stream.feed(decoder.decode(data))
        self._partial = bool(decoder.getstate()[0])
        self._held = stream.holding
        self._out(text)

    def idle(self) -> None:
        """Nothing was read for a moment: release what the redactor holds that is safe to
        release (complete lines; everything after :data:`IDLE_RELEASE_SECONDS`)."""
        if self._stream is None or not self._held:
            return
        if time.monotonic() - self._last_read >= IDLE_RELEASE_SECONDS:
            text = self._stream.flush()
        else:
            text = self._stream.release_lines()
        self._held = self._stream.holding
        self._out(text)

    def _out(self, text: str, data: bytes | None = None) -> None:
        """Write redacted ``text`` (``data``: its bytes, when known) to log, memory, chunks."""
        if not text:
            return
        assert self._redaction is not None
        if data is None:
            data = text.encode("utf-8", "surrogateescape")
        if self._log is not None and not self._redaction.raw_log:
            self._log.write(data)
        self.buffer.append(data)
        if self._on_chunk is not None:
            raw, self._raw = self._raw, 0
            # The count rides with the chunk as "bytes the log took for it" (a reference to
            # the log is its last bytes): the redacted bytes, or with raw logs the raw ones.
            self._emit(_clean(text), raw if self._redaction.raw_log else len(data))

    def _emit(self, text: str, raw: int) -> None:
        assert self._on_chunk is not None
        if text:
            # One call a read: the callback cuts the text into events (split_utf8) when it
            # emits the text, and a reference to the log needs no cutting at all.
            self._on_chunk(self.name, text, raw)

    def finish(self) -> CapturedStream:
        """Flush the decoder (and the redactor) and return what is kept in memory."""
        rest = self._decoder.decode(b"", final=True)
        if self._stream is not None:
            self._out(self._stream.feed(rest) + self._stream.flush())
            self._held = False
        elif rest and self._on_chunk is not None:
            self._emit(rest, 0)
        return CapturedStream(
            self.name,
            bytes(self.buffer.head),
            bytes(self.buffer.tail),
            self.buffer.omitted,
            self.buffer.total,
        )
