"""JSONL writers: ``events.jsonl`` (the run's journal) and a stream (``--jsonl`` on stdout)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import IO

from ..atomic import open_nofollow
from ..events import Event


class JsonlFileSink:
    """Appends every event to a file, one envelope per line.

    Lines go out through ``write(2)`` on an ``O_APPEND`` descriptor, so a process killed at
    any moment leaves whole lines behind. Frequent event types (``buffered``, test results by
    default) are batched for at most ``max_delay`` seconds (a timer writes them out even when
    no other event follows, so a process killed later loses none of them); any other event,
    :meth:`flush`
    (called before every manifest write, so the manifest never claims an event the journal
    lacks) and :meth:`close` write them out.
    """

    def __init__(
        self,
        path: Path,
        name: str = "events",
        *,
        buffered: frozenset[str] = frozenset({"test:result"}),
        max_delay: float = 0.25,
        max_lines: int = 512,
    ) -> None:
        self.name = name
        self.path = path
        self.buffered = buffered
        self.max_delay = max_delay
        self.max_lines = max_lines
        # Never through a symlink or hard link a command may have planted (see atomic).
        self._fd: int | None = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._pending: list[bytes] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    wants_chunk_data = False  # chunks past the inline limit are stored as log references

    def handle(self, event: Event) -> None:
        """Append the event's line (now, or with the next flush for buffered types).

        A chunk that references the log (``logOffset``) is stored without its text: the log
        has it."""
        if event.type == "exec:chunk" and "logOffset" in event.payload:
            payload = event.payload
            if "data" in payload:
                event = replace(event, payload={k: v for k, v in payload.items() if k != "data"})
        line = (event.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            if event.type in self.buffered:
                if not self._pending:
                    self._oldest = time.monotonic()
                    self._schedule()
                self._pending.append(line)
                if (
                    len(self._pending) >= self.max_lines
                    or time.monotonic() - self._oldest >= self.max_delay
                ):
                    self._write_pending()
                return
            self._pending.append(line)
            self._write_pending()

    def _schedule(self) -> None:
        # Called with the lock held, when a batch starts. A timer that is armed has not yet
        # taken the lock, so it will write this batch too.
        if self._timer is None:
            self._timer = threading.Timer(self.max_delay, self._timed_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending or self._fd is None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        written = os.write(self._fd, data)
        while written < len(data):  # short writes are rare on regular files, but possible
            written += os.write(self._fd, data[written:])

    def flush(self) -> None:
        """Write any batched lines now."""
        with self._lock:
            self._write_pending()

    def close(self) -> None:
        """Write what is batched and close the file."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._write_pending()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class JsonlStreamSink:
    """Writes every event to a text stream (stdout for ``--jsonl``), flushing each line."""

    def __init__(
        self,
        stream: IO[str],
        name: str = "stdout",
        render: Callable[[Event], Iterable[str]] | None = None,
    ) -> None:
        self.name = name
        self.stream = stream
        self.render = render
        self.wants_chunk_data = True  # a live stream carries every chunk's text

    def handle(self, event: Event) -> None:
        """Write the event's line(s)."""
        lines = [event.to_json()] if self.render is None else list(self.render(event))
        for line in lines:
            self.stream.write(line + "\n")
        if lines:
            self.stream.flush()

    def close(self) -> None:
        """Flush the stream (it is not ours to close)."""
        self.stream.flush()
