"""The plugin's hot path gives what the slow path gave: the recorder's own redaction of a
``test:result`` equals the bus's, the manifest spliced from encoded records equals the whole
document encoded, ``now_iso`` equals ``format_timestamp(utc_now())``, and an envelope encoded
once equals one encoded each time."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.atomic import dumps
from pytest_codex.events import Event, EventBus, Redactor
from pytest_codex.plugin.reports import TestRecordBuilder
from pytest_codex.redact import ARGV_KEYS, NOT_SECRET_KEYS, is_secret_name
from pytest_codex.sinks.manifest import ManifestSink
from pytest_codex.timeutil import format_timestamp, now_iso, parse_timestamp, utc_now

SECRET = "known-secret-value-123"
SHAPED = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6"

STRINGS = [
    "plain",
    "test_x.py::test_y[1-2]",
    f"test_x.py::test_y[{SECRET}]",
    f"test_x.py::TestA::test_b[{SHAPED}]",
    "api_key=hunter2hunter2",
    "https://user:pa55word@example.com/x",
    "Authorization: Bearer abcdefghijklmnop",
    "passed",
    "",
    "ünïcødé İ",
]


def _report(nodeid: str, domain: str, when: str, outcome: str, longrepr: Any = None) -> Any:
    return pytest.TestReport(
        nodeid=nodeid,
        location=("test_x.py", 3, domain),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when=when,  # type: ignore[arg-type]
    )


def _builders() -> list[TestRecordBuilder]:
    builders = []
    for index, text in enumerate(STRINGS):
        longrepr = f"AssertionError: {text} --password {SECRET}" if index % 2 else None
        outcome = "failed" if longrepr else "passed"
        builder = TestRecordBuilder(_report(text, text, "setup", "passed"))
        for when, result in (("setup", "passed"), ("call", outcome), ("teardown", "passed")):
            builder.add(_report(text, text, when, result, longrepr if when == "call" else None))
        builder.markers = [m for m in STRINGS[: index % 4 + 1] if m]
        builder.worker = text if index % 3 == 0 else None
        builders.append(builder)
    return builders


def test_the_recorders_redaction_equals_the_buss() -> None:
    redactor = Redactor([SECRET])
    for builder in _builders():
        expected = redactor({"test": builder.record()})["test"]
        for redacted in (
            builder.redacted_record(redactor.text, identifier=redactor.identifier),
            builder.redacted_record(
                redactor.text, lambda n: list(map(redactor.identifier, n)), redactor.identifier
            ),
        ):
            assert redacted == expected
            assert json.dumps(redacted) == json.dumps(expected)  # the same keys in one order
    assert SECRET not in json.dumps([b.redacted_record(redactor.text) for b in _builders()])


def test_a_secret_across_the_failures_cut_leaves_no_half_behind() -> None:
    redactor = Redactor([SECRET])  # a secret of the run's configuration, not of os.environ
    report = _report("t.py::test_long", "test_long", "call", "failed", "x" * 990 + SECRET)
    builder = TestRecordBuilder(report)
    builder.add(report)
    failure = builder.redacted_record(redactor.text)["failure"]
    assert failure == "x" * 990 + "[REDACTED]"
    assert SECRET[:6] not in failure


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_no_key_of_a_test_record_is_one_the_bus_treats_specially() -> None:
    # What emit(..., redacted=True) relies on: no string is replaced whole for its key.
    [builder] = _builders()[:1]
    keys = _keys({"test": builder.record()})
    assert not {k for k in keys if is_secret_name(k) and k not in NOT_SECRET_KEYS}
    assert not keys & ARGV_KEYS


def test_a_redacted_emit_takes_the_payload_as_it_is() -> None:
    bus = EventBus("run-1", redactor=Redactor([SECRET]))
    payload = {"test": {"nodeid": "x"}}
    assert bus.emit("test:result", payload, redacted=True).payload is payload
    assert bus.emit("test:result", {"v": SECRET}).payload == {"v": "[REDACTED]"}
    assert bus.redact_text(f"a {SECRET} b") == "a [REDACTED] b"


def _record(n: int) -> dict[str, Any]:
    return {
        "nodeid": f't.py::test_{n}[ü\x00"]',
        "outcome": "passed",
        "durationMs": n / 7,
        "markers": ["slow"] if n % 2 else [],
        "location": {"path": "t.py", "line": n, "domain": None},
        "failure": None,
        "worker": None,
        "reruns": 0,
    }


def test_the_manifest_spliced_from_encoded_records_is_the_document_encoded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "manifest.json"
    document: dict[str, Any] = {"a": 1, "tests": [], "z": {"b": "é", "tests": "[]"}}
    sink = ManifestSink(path, document)
    for n in range(300):
        document["tests"].append(_record(n))
        if n % 41 == 0:
            sink.write()
            assert path.read_text() == dumps(document, indent=None)
    document["tests"][150] = _record(-1)  # replaced: encoded again
    document["tests"][7] = {**document["tests"][7], "outcome": "failed"}
    sink.write()
    assert path.read_text() == dumps(document, indent=None)
    del document["tests"][200:]
    sink.write()
    assert json.loads(path.read_text()) == document
    assert path.read_text() == dumps(document, indent=None)


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_now_iso_is_format_timestamp_of_now() -> None:
    stamps: list[tuple[str, str, str]] = []

    def take() -> None:
        for _ in range(2000):
            stamps.append((format_timestamp(utc_now()), now_iso(), format_timestamp(utc_now())))

    threads = [threading.Thread(target=take) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for before, stamp, after in stamps:
        assert _STAMP.fullmatch(stamp)
        assert parse_timestamp(before) <= parse_timestamp(stamp) <= parse_timestamp(after)


def test_an_envelope_encoded_once_is_the_envelope_encoded() -> None:
    event = Event("demo:seen", {"ü": [1, 2.5, None], "p": Path("/x")}, 3, now_iso(), "run-1")
    expected = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)
    assert event.to_json() == expected
    assert event.to_json() is event.to_json()
    plain = Event("demo:seen", {"n": 1}, 4, now_iso(), "run-1")
    assert Event.from_dict(json.loads(plain.to_json())) == plain  # the cache is no field


def _manifest_document() -> dict[str, Any]:
    return {"status": "in_progress", "updatedAt": None, "tests": [], "sinks": {}}


def test_a_version_prepared_earlier_never_replaces_a_newer_one_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    document = _manifest_document()
    sink = ManifestSink(path, document)
    document["tests"].append(_record(1))
    older = sink._prepare()  # e.g. the flush timer, about to write outside the lock
    document["tests"].append(_record(2))
    sink.write()  # the producer's write reaches the file first
    sink._store(older)  # ...and the timer's older version arrives late: dropped
    assert json.loads(path.read_text())["tests"] == [_record(1), _record(2)]


def test_timed_flushes_and_the_producer_leave_the_last_version_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    document = _manifest_document()
    sink = ManifestSink(path, document, min_interval=0.005)
    for n in range(3000):
        sink.handle(Event("test:result", {"test": _record(n)}, n + 1, now_iso(), "run-1"))
        if n % 500 == 0:  # parseable at every moment
            assert json.loads(path.read_text())["status"] == "in_progress"
    sink.close()
    assert path.read_text() == dumps(document, indent=None)
    assert len(json.loads(path.read_text())["tests"]) == 3000
