"""OTEL export of a run: spans and metrics over OTLP/HTTP (protobuf), never in the run's way.

Off unless an endpoint is configured (``--otel-endpoint``, ``--codex-otel-endpoint``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` used as given, ``OTEL_EXPORTER_OTLP_ENDPOINT`` as a base
URL with ``/v1/traces`` appended, or ``otel.endpoint`` in the config file). Spans: one root
span per run, with children for pipeline stages, test items, guardrails, tool invocations
and exec commands (an exec span is a child of the tool span it ran in). Metrics (sent once,
at the end): ``orchestrator.command.latency`` (ms histogram) and counters for approval
requests, approval cache hits, retries and guardrail results.

Degradation: every HTTP request is one *attempt*; at most 3 attempts per rolling minute;
after 3 consecutive failures the exporter disables itself for the rest of the run. The span
queue is bounded and the flush at the end is bounded (``flush_timeout_seconds``, default 2 s),
so a collector that is down, hangs or answers 500 never delays the run beyond that. Failures
and the final state land in the manifest (``sinks.otel``). Attributes never carry secret
values, environment values or command output (only byte counts).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from ..events import Event
from ..redact import redact_text
from ..timeutil import now_iso, parse_timestamp

if TYPE_CHECKING:
    from ..context import Context
    from ..paths import RunPaths

MAX_ATTEMPTS_PER_MINUTE = 3
MAX_CONSECUTIVE_FAILURES = 3


def resolve_endpoint(endpoint: str, source: str | None) -> str:
    """The traces URL: ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL (``/v1/traces`` added);
    every other source is used as given."""
    if source == "env:OTEL_EXPORTER_OTLP_ENDPOINT":
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def metrics_endpoint(traces: str) -> str:
    """The metrics URL next to a traces URL."""
    if traces.endswith("/v1/traces"):
        return traces[: -len("/v1/traces")] + "/v1/metrics"
    return traces.rstrip("/") + "/v1/metrics"


class BudgetedPoster:
    """Posts protobuf bodies: one request per attempt, within the attempt budget."""

    def __init__(
        self,
        headers: Mapping[str, str],
        timeout: float,
        *,
        clock: Any = time.monotonic,
    ) -> None:
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        self.timeout = timeout
        self.clock = clock
        self.lock = threading.Lock()
        self.attempt_times: deque[float] = deque()
        self.attempts = 0
        self.consecutive_failures = 0
        self.failures: list[dict[str, Any]] = []
        self.disabled = False
        self.refused = 0  # requests not attempted (budget or disabled)

    def allowed(self) -> bool:
        """Whether an attempt may be made now (and count it when so)."""
        with self.lock:
            now = self.clock()
            while self.attempt_times and now - self.attempt_times[0] >= 60.0:
                self.attempt_times.popleft()
            if self.disabled or len(self.attempt_times) >= MAX_ATTEMPTS_PER_MINUTE:
                self.refused += 1
                return False
            self.attempt_times.append(now)
            self.attempts += 1
            return True

    def post(self, url: str, body: bytes, *, timeout: float | None = None) -> bool:
        """One attempt; False when it was not allowed or failed."""
        if not self.allowed():
            return False
        request = urllib.request.Request(url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
                answer.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self._failed(f"{type(exc).__name__}: {redact_text(str(reason))}")
            return False
        with self.lock:
            self.consecutive_failures = 0
        return True

    def _failed(self, error: str) -> None:
        with self.lock:
            self.consecutive_failures += 1
            self.failures.append({"at": now_iso(), "error": error[:300]})
            if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self.disabled = True


class BudgetedSpanExporter(SpanExporter):
    """A span exporter that spends the poster's attempt budget (no internal retries)."""

    def __init__(self, poster: BudgetedPoster, url: str) -> None:
        self.poster = poster
        self.url = url
        self.exported = 0
        self.dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send one batch; a refused or failed batch is dropped (and counted)."""
        body = encode_spans(spans).SerializeToString()
        if self.poster.post(self.url, body):
            self.exported += len(spans)
            return SpanExportResult.SUCCESS
        self.dropped += len(spans)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here."""
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


class OtelSink:
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
    ) -> None:
        self.endpoint = endpoint
        self.flush_timeout = flush_timeout
        self.poster = BudgetedPoster(headers, min(timeout, flush_timeout))
        self.exporter = BudgetedSpanExporter(self.poster, endpoint)
        resource = Resource.create(
            {
                **resource_attributes,
                "service.name": service_name,
                "codex.task_id": task_id,
                "codex.run_id": run_id,
            }
        )
        self.provider = TracerProvider(resource=resource)
        self.processor = BatchSpanProcessor(
            self.exporter,
            max_queue_size=2048,
            schedule_delay_millis=export_interval * 1000,
            max_export_batch_size=512,
            export_timeout_millis=flush_timeout * 1000,
        )
        self.provider.add_span_processor(self.processor)
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
        self.tool_stack: list[str] = []
        self.closed = False

    # -- spans ----------------------------------------------------------------------------
    def _take(self, key: str) -> trace.Span | None:
        return self.open.pop(key) if key in self.open else None

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

    def handle(self, event: Event) -> None:
        """Open, annotate and close spans as the run goes."""
        payload, at = event.payload, _ns(event.timestamp)
        kind = event.type
        span: trace.Span | None
        if kind in ("run:start", "run:resume") and self.root is None:
            self.root = self.tracer.start_span(
                f"run {event.run_id}",
                start_time=at,
                attributes=_attributes({**self.base, "codex.runner": payload.get("runner")}),
            )
        elif kind == "tool:start":
            span = self._child(
                f"tool {payload.get('tool')}", at, {"codex.tool": payload.get("tool")}
            )
            self.open[f"tool:{payload.get('id')}"] = span
            self.tool_stack.append(f"tool:{payload.get('id')}")
        elif kind == "tool:complete":
            record = payload.get("toolRun", {})
            key = f"tool:{record.get('id')}"
            span = self._take(key)
            if key in self.tool_stack:
                self.tool_stack.remove(key)
            metrics = payload.get("metrics") or {}
            self.retries.add(int(record.get("retryCount") or 0))
            if record.get("approvalSource") not in (None, "not-required"):
                self.approval_requests.add(1)
                if record.get("approvalSource") == "cache":
                    self.cache_hits.add(1)
            if span is not None:
                span.set_attributes(
                    _attributes(
                        {
                            "codex.status": record.get("status"),
                            "codex.approval_source": record.get("approvalSource"),
                            "codex.retry_count": record.get("retryCount"),
                            "codex.sandbox_state": record.get("sandboxState"),
                            "codex.approval_reuse": metrics.get("approvalReuse"),
                        }
                    )
                )
                span.end(end_time=at)
        elif kind == "exec:begin":
            parent = self.open.get(self.tool_stack[-1]) if self.tool_stack else None
            argv = payload.get("argv") or []
            program = str(argv[0]) if isinstance(argv, list) and argv else str(argv)
            span = self._child(
                f"exec {program}",
                at,
                {
                    "codex.command": program,
                    "codex.session_id": payload.get("sessionId"),
                    "codex.sandbox_state": payload.get("sandboxState"),
                },
                parent=parent,
            )
            self.open[f"exec:{payload.get('correlationId')}"] = span
        elif kind == "exec:end":
            record = payload.get("command", payload)
            span = self._take(f"exec:{record.get('correlationId')}")
            self.latency.record(float(record.get("durationMs") or 0.0))
            if span is not None:
                span.set_attributes(
                    _attributes(
                        {
                            "codex.exit_code": record.get("exitCode"),
                            "codex.signal": record.get("signal"),
                            "codex.timed_out": record.get("timedOut"),
                            "codex.sandbox_state": record.get("sandboxState"),
                            "codex.output_bytes": sum((record.get("bytes") or {}).values()),
                        }
                    )
                )
                span.end(end_time=at)
        elif kind == "stage:start":
            stage = payload.get("stage", {})
            self.open[f"stage:{stage.get('id')}"] = self._child(
                f"stage {stage.get('id')}", at, {"codex.stage": stage.get("id")}
            )
        elif kind == "stage:end":
            stage = payload.get("stage", {})
            span = self._take(f"stage:{stage.get('id')}")
            if span is not None:
                span.set_attributes(
                    _attributes(
                        {
                            "codex.status": stage.get("status"),
                            "codex.exit_code": stage.get("exitCode"),
                        }
                    )
                )
                span.end(end_time=at)
        elif kind == "test:result":
            test = payload.get("test", {})
            start = at - int(float(test.get("durationMs") or 0) * 1_000_000)
            span = self._child(
                f"test {test.get('nodeid')}",
                start,
                {
                    "codex.test.nodeid": test.get("nodeid"),
                    "codex.status": test.get("outcome"),
                },
            )
            span.end(end_time=at)
        elif kind == "guardrail:result":
            record = payload.get("guardrail", {})
            self.guardrail_results.add(1, {"status": str(record.get("status"))})
            start = at - int(float(record.get("durationMs") or 0) * 1_000_000)
            span = self._child(
                f"guardrail {record.get('name')}",
                start,
                {
                    "codex.guardrail": record.get("name"),
                    "codex.status": record.get("status"),
                    "codex.findings": len(record.get("findings") or []),
                },
            )
            span.end(end_time=at)
        elif kind == "run:summary" and self.root is not None:
            result = payload.get("result") or {}
            self.root.set_attributes(
                _attributes(
                    {
                        "codex.status": payload.get("status"),
                        "codex.exit_code": result.get("exitCode"),
                    }
                )
            )
            for span in self.open.values():
                span.end(end_time=at)
            self.open.clear()
            self.root.end(end_time=at)

    # -- shutdown -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush within ``flush_timeout`` seconds, send the metrics once, stop."""
        if self.closed:
            return
        self.closed = True
        deadline = time.monotonic() + self.flush_timeout
        if self.root is not None and self.root.is_recording():
            self.root.end()
        self.provider.force_flush(int(self.flush_timeout * 1000))
        # The batch worker thread is bounded by the poster's timeout; stop it from waiting.
        threading.Thread(target=self.provider.shutdown, daemon=True).start()
        remaining = deadline - time.monotonic()
        if remaining > 0.05:
            data = self.reader.get_metrics_data()
            if data is not None:
                body = encode_metrics(data).SerializeToString()
                self.poster.post(
                    metrics_endpoint(self.endpoint),
                    body,
                    timeout=min(self.poster.timeout, remaining),
                )
        self.meters.shutdown(timeout_millis=100)

    def health(self) -> dict[str, Any]:
        """``sinks.otel`` in the manifest."""
        return {
            "state": "disabled" if self.poster.disabled else "closed" if self.closed else "active",
            "error": self.poster.failures[-1]["error"] if self.poster.failures else None,
            "endpoint": redact_text(self.endpoint),
            "attempts": self.poster.attempts,
            "refusedAttempts": self.poster.refused,
            "failures": list(self.poster.failures),
            "exportedSpans": self.exporter.exported,
            "droppedSpans": self.exporter.dropped,
        }


def _parse_resource_attributes(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs if key.strip()}


def sink_from_config(context: Context, paths: RunPaths) -> OtelSink | None:
    """The OTEL sink for a run, when ``otel.endpoint`` is configured (see ``sinks.py``)."""
    settings: Mapping[str, Any] = context.config.get("otel") or {}
    endpoint = settings.get("endpoint")
    if not endpoint:
        return None
    env = context.env
    attributes = _parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    attributes.update(settings.get("resource_attributes") or {})
    return OtelSink(
        endpoint=resolve_endpoint(str(endpoint), context.config.source("otel")),
        service_name=str(
            settings.get("service_name") or env.get("OTEL_SERVICE_NAME") or "codex-orchestrator"
        ),
        resource_attributes=attributes,
        headers=dict(settings.get("headers") or {}),
        timeout=float(settings.get("timeout_seconds") or 2.0),
        flush_timeout=float(settings.get("flush_timeout_seconds") or 2.0),
        export_interval=float(settings.get("export_interval_seconds") or 5.0),
        task_id=paths.task_id,
        run_id=paths.run_id,
    )
