"""Redaction takes time linear in its input, adversarial input included.

The redactor counts the bytes each scan examines (``Redactor.work``: the prefilter, the RE2
scans up to each candidate, every value and key block measured, every lazy search); each
hostile input is redacted at two sizes in the same run and the work must grow with the size,
not with its square. No clock is read.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_codex.redact import Redactor, StreamRedactor

SIZE = 128 * 1024

# Inputs that cost the old redactor quadratic time (a regex re-run from every keyword to
# the end of the text), or that could cost this one: keywords everywhere, names that are
# rejected, flags inside words, blocks never closed, shapes inside longer words.
HOSTILE = {
    "key=key=": b"key=",
    "monkey=": b"monkey=",
    "keykeykey": b"key",
    "key key": b"key ",
    "--a-token": b"--a-token ",
    "a-token-x ": b"a-token-x ",
    "pass=pass:": b"pass=pass:",
    "pem begins": b"-----BEGIN PRIVATE KEY-----",
    "a_sk-": b"a_sk-",
    "userinfo": b"a://b:c",
    "bearer": b"Bearer ",
    "::": b"TestKey::",
    "known prefix": b"hunter2",
    "mixed": b'Authorization: x token="a" --password ghp_ :// -----BEGIN ',
}


def _redact_once(redactor: Redactor, data: bytes) -> int:
    before = redactor.work
    redactor.redact_bytes(data)
    return redactor.work - before


def _redact_streamed(redactor: Redactor, data: bytes, chunk: int) -> int:
    before = redactor.work
    stream = StreamRedactor(redactor)
    for start in range(0, len(data), chunk):
        stream.feed(data[start : start + chunk])
        assert stream.held <= stream.window  # memory bounded by the window
    stream.flush()
    return redactor.work - before


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_work_grows_linearly_with_hostile_input(name: str) -> None:
    unit = HOSTILE[name]
    redactor = Redactor(["hunter22secret"])
    small = (unit * (SIZE // len(unit) + 1))[:SIZE]
    large = (unit * (2 * SIZE // len(unit) + 1))[: 2 * SIZE]
    measures: list[Callable[[bytes], int]] = [
        lambda data: _redact_once(redactor, data),
        lambda data: _redact_streamed(redactor, data, 64 * 1024),
        lambda data: _redact_streamed(redactor, data, 4093),
    ]
    for measure in measures:
        work_small, work_large = measure(small), measure(large)
        assert work_large <= 2.2 * work_small, (name, work_small, work_large)
        # and a few passes over the input at most, whatever it is
        assert work_large <= 12 * len(large), (name, work_large)
