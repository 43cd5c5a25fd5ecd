"""Real HTTP receivers on 127.0.0.1 for the telemetry and notification tests.

:func:`receiver` answers every POST alike (a webhook, or a collector that accepts anything);
:func:`collector` behaves like an OpenTelemetry collector's OTLP/HTTP receiver: only POSTs
of protobuf to ``/v1/traces`` and ``/v1/metrics`` are accepted (404 for other paths, 405 for
other methods, 415 for other content types, 400 for bodies that do not decode), and the
bodies it accepted are decoded for assertions on span names, parents, status and metrics.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass
class Received:
    """What a receiver got (``requests`` holds the accepted ones, ``answers`` every status)."""

    requests: list[tuple[str, bytes]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    answers: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    headers: list[dict[str, str]] = field(default_factory=list)

    def _decoded(self, suffix: str, kind: Any) -> Iterator[Any]:
        for path, body in self.requests:
            if path.split("?", 1)[0].endswith(suffix):
                request = kind()
                request.ParseFromString(body)
                yield request

    def spans(self) -> list[Any]:
        """Every span received, in the order received."""
        return [
            span
            for request in self._decoded("/v1/traces", ExportTraceServiceRequest)
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def metrics(self) -> list[Any]:
        """Every metric received."""
        return [
            metric
            for request in self._decoded("/v1/metrics", ExportMetricsServiceRequest)
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        ]

    def metric_names(self) -> set[str]:
        """The names of every metric received."""
        return {metric.name for metric in self.metrics()}

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def spans_by_name(self) -> dict[str, Any]:
        """Every span by name (a later span of the same name wins)."""
        return {span.name: span for span in self.spans()}

    def resource_attributes(self) -> dict[str, Any]:
        """The attributes of the first traces request's resource."""
        for request in self._decoded("/v1/traces", ExportTraceServiceRequest):
            for resource_spans in request.resource_spans:
                return attributes(resource_spans.resource)
        return {}

    def metric_points(self) -> dict[str, list[Any]]:
        """Every metric's data points by metric name."""
        points: dict[str, list[Any]] = {}
        for metric in self.metrics():
            data = getattr(metric, metric.WhichOneof("data"))
            points.setdefault(metric.name, []).extend(data.data_points)
        return points


def attributes(item: Any) -> dict[str, Any]:
    """A span's (or resource's) attributes as a plain dict."""
    out = {}
    for kv in item.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


SIGNALS: dict[str, Any] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
}


@contextmanager
def collector(
    *,
    status: dict[str, int] | None = None,
    retry_after: str | None = None,
    fail_first: int = 0,
    hang: float = 0.0,
) -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver like a collector's (see the module docstring); its base URL.

    ``status`` maps a signal path to the status it answers instead of 200 (``{"/v1/metrics":
    405}``); the first ``fail_first`` requests are answered 503 (with ``Retry-After:
    retry_after`` when given); ``hang`` delays every answer."""
    received = Received()
    calls = {"n": 0}
    answers = dict(status or {})

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, extra: dict[str, str] | None = None) -> None:
            received.answers.append((self.command, self.path, code))
            self.send_response(code)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._answer(405 if self.path in SIGNALS else 404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hang:
                time.sleep(hang)
            # As a collector's HTTP receiver: the path decides, a query string is ignored.
            kind = SIGNALS.get(self.path.split("?", 1)[0])
            if kind is None:
                self._answer(404)
                return
            if self.headers.get("Content-Type") != "application/x-protobuf":
                self._answer(415)
                return
            calls["n"] += 1
            if calls["n"] <= fail_first:
                self._answer(503, {"Retry-After": retry_after} if retry_after else None)
                return
            if self.path.split("?", 1)[0] in answers:
                self._answer(answers[self.path.split("?", 1)[0]])
                return
            try:
                kind().ParseFromString(body)
            except Exception:
                self._answer(400)
                return
            received.requests.append((self.path, body))
            received.times.append(time.monotonic())
            received.headers.append(dict(self.headers.items()))
            self._answer(200)

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as url:
        yield url, received


@contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def receiver(
    status: int = 200, *, hang: float = 0.0, fail_first: int = 0
) -> Iterator[tuple[str, Received]]:
    """An HTTP server answering ``status`` (after ``hang`` seconds), recording every POST."""
    received = Received()
    calls = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.requests.append((self.path, body))
            received.times.append(time.monotonic())
            received.headers.append(dict(self.headers.items()))
            calls["n"] += 1
            if hang:
                time.sleep(hang)
            code = 500 if calls["n"] <= fail_first else status
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as url:
        yield url, received


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
