"""Timestamps as the manifests and events write them: RFC 3339, UTC, milliseconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """``2026-11-24T02:24:08.123Z`` for an aware datetime."""
    # isoformat is implemented in C; strftime is several times slower per call.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# (second since the epoch, its "YYYY-MM-DDTHH:MM:SS" text): one tuple, replaced whole, so
# threads never see a second with another second's text.
_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """The current time as an RFC 3339 UTC timestamp with milliseconds.

    The same text as ``format_timestamp(utc_now())`` (milliseconds truncated, not rounded),
    from one ``time_ns()`` read: the date and time of day are formatted once a second."""
    global _second
    second, millis = divmod(time.time_ns() // 1_000_000, 1000)
    cached = _second
    if cached[0] != second:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        cached = _second = (second, text.removesuffix("+00:00"))
    return f"{cached[1]}.{millis:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by :func:`format_timestamp` (or any ISO 8601 form)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)
