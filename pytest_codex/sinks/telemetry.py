"""OTEL export of a run: spans and metrics over OTLP/HTTP (protobuf), never in the run's way.

Off unless an endpoint is configured (``--otel-endpoint``, ``--codex-otel-endpoint``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``otel.endpoint`` in
the config file). A base URL (``http://host:4318``) gets the signal paths ``/v1/traces`` and
``/v1/metrics``, as the OTLP exporter spec says; a URL that already ends in a signal path (and
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is used as given. Headers, resource attributes and
timeouts of the config file apply whatever source set the endpoint.

Spans: one root span per run, with children for pipeline stages, test items, guardrails and
tool invocations; an exec span is a child of the tool span it ran in. Spans of what failed
have status ERROR. Batches go out every ``export_interval_seconds`` (or at 512 spans); the
metrics (``orchestrator.command.latency`` and counters) once, when the run ends.

Degradation: a healthy collector gets every batch. A failed request is retried with
exponential backoff (``Retry-After`` honoured on 429/503); failures and retries together make
at most 3 attempts per rolling minute, and after 3 consecutive failures the signal's exporter
disables itself for the rest of the run. The flush at the end is bounded
(``flush_timeout_seconds``, default 2 s). The first failure of a signal is said once on stderr;
every failure and the final state land in the manifest (``sinks.otel``). Attributes never carry
secret values, environment values or command output (only byte counts).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from ..events import DispatchingSink, Event
from ..records import CommandRecord, GuardrailRecord, StageRecord, TestRecord, ToolRunRecord
from ..redact import display_url, redact_text
from ..timeutil import parse_timestamp
from ._otlp_http import (  # the budget constants and resolve_endpoint: importable as before
    MAX_ATTEMPTS_PER_MINUTE,
    MAX_CONSECUTIVE_FAILURES,
    Poster,
    SignalExporter,
    endpoints,
    metrics_endpoint,
    post,
    resolve_endpoint,
)

__all__ = [
    "MAX_ATTEMPTS_PER_MINUTE",
    "MAX_CONSECUTIVE_FAILURES",
    "OtelSink",
    "endpoints",
    "metrics_endpoint",
    "otel_settings",
    "resolve_endpoint",
    "sink_from_config",
]

if TYPE_CHECKING:
    from ..context import Context
    from ..paths import RunPaths

BATCH_SIZE = 512
MAX_QUEUE = 100_000  # spans waiting for export; beyond that they are dropped and counted


class _SpanQueue(SpanProcessor):
    """Collects ended spans and sends them in batches from one worker thread."""

    def __init__(self, exporter: SignalExporter, interval: float) -> None:
        self.exporter = exporter
        self.interval = interval
        self.queue: deque[ReadableSpan] = deque()
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.stopping = False
        self.exported = 0
        self.dropped = 0
        self.in_flight = 0
        self.abandoned = False  # the run ended with a batch in flight: it counts as dropped
        self.worker = threading.Thread(target=self._loop, name="codex-otel", daemon=True)
        self.worker.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing happens when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span; a full batch wakes the worker."""
        with self.lock:
            if len(self.queue) >= MAX_QUEUE:
                self.dropped += 1
                return
            self.queue.append(span)
            if len(self.queue) >= BATCH_SIZE:
                self.ready.set()

    def _loop(self) -> None:
        while not self.stopping:
            self.ready.wait(self.interval)
            self.ready.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while True:
            with self.lock:
                batch = [self.queue.popleft() for _ in range(min(BATCH_SIZE, len(self.queue)))]
                self.in_flight = len(batch)
            if not batch:
                return
            sent = self.exporter.send(encode_spans(batch).SerializeToString())
            with self.lock:
                self.in_flight = 0
                if self.abandoned:
                    return
                if sent:
                    self.exported += len(batch)
                else:
                    self.dropped += len(batch)

    def stop(self, deadline: float) -> None:
        """Send what is queued until ``deadline``; drop (and count) the rest."""
        self.exporter.stop_at(deadline)
        self.stopping = True
        self.ready.set()
        self.worker.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            self.abandoned = True
            self.dropped += len(self.queue) + self.in_flight
            self.queue.clear()

    def shutdown(self) -> None:
        """Stopping happens through :meth:`stop`."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Batches go out from the worker."""
        return True


def _ns(timestamp: str) -> int:
    return int(parse_timestamp(timestamp).timestamp() * 1_000_000_000)


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Only scalar, non-None values; strings redacted and cut short."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, str):
            clean[key] = redact_text(value)[:256]
        elif isinstance(value, bool | int | float):
            clean[key] = value
    return clean


def _end(span: trace.Span, at: int, attributes: Mapping[str, Any], error: str | None) -> None:
    span.set_attributes(_attributes(attributes))
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, redact_text(error)[:256]))
    span.end(end_time=at)


def _failed(status: Any, good: Sequence[str]) -> str | None:
    return None if status is None or status in good else str(status)


class OtelSink(DispatchingSink):
    """Builds spans from a run's events and exports them (see the module docstring)."""

    name = "otel"

    def __init__(
        self,
        *,
        endpoint: str,
        service_name: str,
        resource_attributes: Mapping[str, str],
        headers: Mapping[str, str],
        timeout: float,
        flush_timeout: float,
        export_interval: float,
        task_id: str,
        run_id: str,
        metrics_url: str | None = None,
        stderr: IO[str] | None = None,
        poster: Poster = post,
    ) -> None:
        self.endpoint = endpoint
        self.metrics_url = metrics_url or metrics_endpoint(endpoint)
        self.flush_timeout = flush_timeout
        self.stderr = stderr
        timeout = min(timeout, flush_timeout)
        self.traces = SignalExporter(
            "traces", endpoint, headers=headers, timeout=timeout, warn=self._warn, poster=poster
        )
        self.metrics = SignalExporter(
            "metrics",
            self.metrics_url,
            headers=headers,
            timeout=timeout,
            warn=self._warn,
            poster=poster,
        )
        self.metrics_state = "pending"
        resource = Resource.create(
            {
                **{key: redact_text(value) for key, value in resource_attributes.items()},
                "service.name": service_name,
                "codex.task_id": task_id,
                "codex.run_id": run_id,
            }
        )
        self.provider = TracerProvider(resource=resource)
        self.spans = _SpanQueue(self.traces, export_interval)
        self.provider.add_span_processor(self.spans)
        self.tracer = self.provider.get_tracer("pytest-codex")
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(resource=resource, metric_readers=[self.reader])
        meter = self.meters.get_meter("pytest-codex")
        self.latency = meter.create_histogram("orchestrator.command.latency", unit="ms")
        self.approval_requests = meter.create_counter("orchestrator.approval.requests")
        self.cache_hits = meter.create_counter("orchestrator.approval.cache_hits")
        self.retries = meter.create_counter("orchestrator.tool.retries")
        self.guardrail_results = meter.create_counter("orchestrator.guardrail.results")
        self.base = {"codex.task_id": task_id, "codex.run_id": run_id}
        self.root: trace.Span | None = None
        self.open: dict[str, trace.Span] = {}
        self.tool_spans: dict[str, trace.Span] = {}  # kept after they end: exec spans' parents
        self.tool_stack: list[str] = []
        self.exec_begun: dict[str, tuple[int, dict[str, Any], str | None]] = {}
        self.closed = False

    def _warn(self, line: str) -> None:
        stream = self.stderr or sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stderr must not break the export
            pass

    # -- spans ----------------------------------------------------------------------------
    def _child(
        self,
        name: str,
        start: int,
        attributes: Mapping[str, Any],
        parent: trace.Span | None = None,
    ) -> trace.Span:
        above = parent or self.root
        context = trace.set_span_in_context(above) if above is not None else None
        return self.tracer.start_span(
            name,
            context=context,
            start_time=start,
            attributes=_attributes({**self.base, **attributes}),
        )

    def _on_run_start(self, event: Event) -> None:
        if self.root is None:
            self.root = self.tracer.start_span(
                f"run {event.run_id}",
                start_time=_ns(event.timestamp),
                attributes=_attributes({**self.base, "codex.runner": event.payload.get("runner")}),
            )

    _on_run_resume = _on_run_start

    def _on_tool_start(self, event: Event) -> None:
        tool = event.payload.get("tool")
        key = str(event.payload.get("id"))
        span = self._child(f"tool {tool}", _ns(event.timestamp), {"codex.tool": tool})
        self.open[f"tool:{key}"] = span
        self.tool_spans[key] = span
        self.tool_stack.append(key)

    def _on_tool_complete(self, event: Event) -> None:
        record: ToolRunRecord = event.payload.get("toolRun", {})
        key = str(record.get("id"))
        span = self.open.pop(f"tool:{key}", None)
        if key in self.tool_stack:
            self.tool_stack.remove(key)
        self.retries.add(int(record.get("retryCount") or 0))
        if record.get("approvalSource") not in (None, "not-required"):
            self.approval_requests.add(1)
            if record.get("approvalSource") == "cache":
                self.cache_hits.add(1)
        if span is None:
            return
        metrics = event.payload.get("metrics") or {}
        status = record.get("status")
        _end(
            span,
            _ns(event.timestamp),
            {
                "codex.status": status,
                "codex.approval_source": record.get("approvalSource"),
                "codex.retry_count": record.get("retryCount"),
                "codex.sandbox_state": record.get("sandboxState"),
                "codex.approval_reuse": metrics.get("approvalReuse"),
            },
            record.get("error") or _failed(status, ("succeeded",)),
        )

    def _on_exec_begin(self, event: Event) -> None:
        # The span is made at exec:end, when the record names its tool run (exec:begin comes
        # before the tool starts, so only the end can place it under its tool span).
        payload = event.payload
        argv = payload.get("argv") or []
        program = str(argv[0]) if isinstance(argv, list) and argv else str(argv)
        attributes = {
            "codex.command": program,
            "codex.session_id": payload.get("sessionId"),
            "codex.sandbox_state": payload.get("sandboxState"),
        }
        parent = self.tool_stack[-1] if self.tool_stack else None
        self.exec_begun[str(payload.get("correlationId"))] = (
            _ns(event.timestamp),
            attributes,
            parent,
        )

    def _on_exec_end(self, event: Event) -> None:
        record: CommandRecord = event.payload.get("command", event.payload)
        self.latency.record(float(record.get("durationMs") or 0.0))
        at = _ns(event.timestamp)
        begun = self.exec_begun.pop(str(record.get("correlationId")), None)
        start, attributes, parent_key = begun or (at, {}, None)
        parent = self.tool_spans.get(str(record.get("toolRunId") or parent_key))
        program = attributes.get("codex.command") or str((record.get("argv") or ["?"])[0])
        span = self._child(f"exec {program}", start, attributes, parent=parent)
        code = record.get("exitCode")
        error = None
        if record.get("timedOut"):
            error = "timed out"
        elif code != 0:
            error = f"exited with {code}" if code is not None else "did not run"
        _end(
            span,
            at,
            {
                "codex.command": program,
                "codex.exit_code": code,
                "codex.signal": record.get("signal"),
                "codex.timed_out": record.get("timedOut"),
                "codex.sandbox_state": record.get("sandboxState"),
                "codex.output_bytes": sum((record.get("bytes") or {}).values()),
            },
            error,
        )

    def _on_stage_start(self, event: Event) -> None:
        stage = event.payload.get("stage", {})
        self.open[f"stage:{stage.get('id')}"] = self._child(
            f"stage {stage.get('id')}", _ns(event.timestamp), {"codex.stage": stage.get("id")}
        )

    def _on_stage_end(self, event: Event) -> None:
        stage: StageRecord = event.payload.get("stage", {})
        span = self.open.pop(f"stage:{stage.get('id')}", None)
        if span is not None:
            status = stage.get("status")
            _end(
                span,
                _ns(event.timestamp),
                {"codex.status": status, "codex.exit_code": stage.get("exitCode")},
                _failed(status, ("succeeded", "skipped", "allowed-failure")),
            )

    def _on_test_result(self, event: Event) -> None:
        test: TestRecord = event.payload.get("test", {})
        at = _ns(event.timestamp)
        start = at - int(float(test.get("durationMs") or 0) * 1_000_000)
        span = self._child(f"test {test.get('nodeid')}", start, {})
        outcome = test.get("outcome")
        _end(
            span,
            at,
            {"codex.test.nodeid": test.get("nodeid"), "codex.status": outcome},
            _failed(outcome, ("passed", "skipped", "xfailed", "xpassed")),
        )

    def _on_guardrail_result(self, event: Event) -> None:
        record: GuardrailRecord = event.payload.get("guardrail", {})
        status = record.get("status")
        self.guardrail_results.add(1, {"status": str(status)})
        at = _ns(event.timestamp)
        start = at - int(float(record.get("durationMs") or 0) * 1_000_000)
        span = self._child(f"guardrail {record.get('name')}", start, {})
        _end(
            span,
            at,
            {
                "codex.guardrail": record.get("name"),
                "codex.status": status,
                "codex.findings": len(record.get("findings") or []),
            },
            _failed(status, ("passed", "skipped", "warned")),
        )

    def _on_run_summary(self, event: Event) -> None:
        if self.root is None:
            return
        at = _ns(event.timestamp)
        for span in self.open.values():
            span.end(end_time=at)
        self.open.clear()
        status = event.payload.get("status")
        result = event.payload.get("result") or {}
        error = None
        if status != "succeeded":
            error = str(event.payload.get("statusDetail") or status)
        _end(
            self.root,
            at,
            {"codex.status": status, "codex.exit_code": result.get("exitCode")},
            error,
        )

    # -- shutdown -------------------------------------------------------------------------
    def close(self) -> None:
        """Send what is queued and the metrics within ``flush_timeout`` seconds, then stop."""
        if self.closed:
            return
        self.closed = True
        deadline = time.monotonic() + self.flush_timeout
        if self.root is not None and self.root.is_recording():
            self.root.end()
        self.spans.stop(deadline)
        self.metrics.stop_at(deadline)
        data = self.reader.get_metrics_data()
        if data is None or not data.resource_metrics:
            self.metrics_state = "empty"
        elif self.metrics.send(encode_metrics(data).SerializeToString()):
            self.metrics_state = "sent"
        else:
            self.metrics_state = "failed"
        self.meters.shutdown(timeout_millis=100)

    def health(self) -> dict[str, Any]:
        """``sinks.otel`` in the manifest: the traces' state and error, the metrics' apart."""
        traces = self.traces
        state = "disabled" if traces.disabled else "closed" if self.closed else "active"
        if state == "closed" and self.spans.dropped:
            state = "failed"
        return {
            "state": state,
            "error": traces.last_error,
            "endpoint": display_url(redact_text(self.endpoint)),
            "attempts": traces.attempts,
            "refusedAttempts": traces.refused,
            "failures": list(traces.failures),
            "exportedSpans": self.spans.exported,
            "droppedSpans": self.spans.dropped,
            "metrics": {
                "endpoint": display_url(redact_text(self.metrics_url)),
                "state": self.metrics_state,
                "error": self.metrics.last_error,
                "attempts": self.metrics.attempts,
                "failures": list(self.metrics.failures),
            },
        }


def _pairs(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``)."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs if key.strip()}


def otel_settings(context: Context) -> dict[str, Any]:
    """The ``otel`` settings in force: the config file's, under what won (CLI or env).

    The winning source usually sets only the endpoint; the file's headers, resource
    attributes and timeouts still apply."""
    from_file = context.config.file_document.get("otel")
    settings: dict[str, Any] = dict(from_file) if isinstance(from_file, Mapping) else {}
    settings.update(context.config.get("otel") or {})
    return settings


def sink_from_config(context: Context, paths: RunPaths) -> OtelSink | None:
    """The OTEL sink for a run, when an endpoint is configured."""
    settings = otel_settings(context)
    endpoint = settings.get("endpoint")
    if not endpoint:
        return None
    env = context.env
    attributes = _pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    attributes.update(settings.get("resource_attributes") or {})
    headers = _pairs(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    headers.update(settings.get("headers") or {})
    traces, metrics = endpoints(str(endpoint), context.config.source("otel"))
    return OtelSink(
        endpoint=traces,
        metrics_url=env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or metrics,
        service_name=str(
            settings.get("service_name") or env.get("OTEL_SERVICE_NAME") or "codex-orchestrator"
        ),
        resource_attributes=attributes,
        headers=headers,
        timeout=float(settings.get("timeout_seconds") or 2.0),
        flush_timeout=float(settings.get("flush_timeout_seconds") or 2.0),
        export_interval=float(settings.get("export_interval_seconds") or 5.0),
        task_id=paths.task_id,
        run_id=paths.run_id,
    )
