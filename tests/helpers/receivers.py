"""Real HTTP receivers on 127.0.0.1 for the telemetry and notification tests."""

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
    """What a receiver got."""

    requests: list[tuple[str, bytes]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def spans(self) -> list[Any]:
        found = []
        for path, body in self.requests:
            if path.endswith("/v1/traces"):
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        found.extend(scope_spans.spans)
        return found

    def metric_names(self) -> set[str]:
        names = set()
        for path, body in self.requests:
            if path.endswith("/v1/metrics"):
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                for resource_metrics in request.resource_metrics:
                    for scope_metrics in resource_metrics.scope_metrics:
                        names.update(m.name for m in scope_metrics.metrics)
        return names

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


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
            calls["n"] += 1
            if hang:
                time.sleep(hang)
            code = 500 if calls["n"] <= fail_first else status
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
