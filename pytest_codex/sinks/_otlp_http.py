"""OTLP/HTTP transport for the telemetry sink: endpoints, requests, retries and the budget.

No opentelemetry here (bodies arrive encoded): :class:`SignalExporter` sends one signal's
bodies to its URL, retrying failures with exponential backoff (``Retry-After`` honoured on
429/503) within an attempt budget that only failures and retries spend, so a healthy
collector gets every request. See docs/telemetry.md.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..redact import display_urls, redact_text, split_credentials
from ..timeutil import now_iso

MAX_ATTEMPTS_PER_MINUTE = 3  # attempts that failed or retried, per rolling minute
MAX_CONSECUTIVE_FAILURES = 3
BACKOFF_INITIAL = 0.25  # seconds; doubled after every consecutive failure
BACKOFF_MAX = 30.0
SIGNAL_PATHS = ("/v1/traces", "/v1/metrics")
# OTLP/HTTP: these answers mean "try again later"; any other error status will not change.
RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})


def endpoints(endpoint: str, source: str | None) -> tuple[str, str]:
    """The (traces, metrics) URLs for a configured endpoint.

    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` and URLs ending in a signal path are used as given
    (the other signal's path swapped in for metrics); anything else is a base URL."""
    given = endpoint.rstrip("/")
    for path in SIGNAL_PATHS:
        if given.endswith(path):
            base = given[: -len(path)]
            traces = given if path == "/v1/traces" else base + "/v1/traces"
            return traces, base + "/v1/metrics"
    if source == "env:OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
        return endpoint, given + "/v1/metrics"
    return given + "/v1/traces", given + "/v1/metrics"


def resolve_endpoint(endpoint: str, source: str | None) -> str:
    """The traces URL for a configured endpoint (see :func:`endpoints`)."""
    return endpoints(endpoint, source)[0]


def metrics_endpoint(traces: str) -> str:
    """The metrics URL next to a traces URL."""
    return endpoints(traces, None)[1]


@dataclass(frozen=True)
class Answer:
    """What one request got: ``ok``, else the error, whether to retry, and any Retry-After."""

    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
    """One OTLP/HTTP request with a protobuf body."""
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/x-protobuf", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        return Answer(
            False,
            f"HTTP {exc.code} {exc.reason} from {display_urls(redact_text(url))}",
            exc.code in RETRYABLE_STATUS,
            _retry_after(exc.headers.get("Retry-After")) if exc.headers else None,
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        said = display_urls(redact_text(str(reason)))
        return Answer(False, f"{type(exc).__name__}: {said}", True)
    return Answer(True)


Poster = Callable[[str, bytes, Mapping[str, str], float], Answer]


class SignalExporter:
    """Sends one signal's bodies to its URL: retries with backoff within the attempt budget.

    Thread-safe; the budget is spent only by failures and retries, so a healthy collector
    gets every request."""

    def __init__(
        self,
        signal: str,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        warn: Callable[[str], None],
        poster: Poster = post,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.signal = signal
        # Credentials in the URL are sent as basic auth, never as part of the URL.
        self.url, basic = split_credentials(url)
        self.headers = dict(headers)
        if basic is not None and not any(k.lower() == "authorization" for k in self.headers):
            self.headers["Authorization"] = basic
        self.timeout = timeout
        self.warn = warn
        self.poster = poster
        self.clock = clock
        self.lock = threading.Lock()
        self.wake = threading.Event()  # set when the run ends: sleeps stop, deadlines apply
        self.deadline: float | None = None
        self.charged: deque[float] = deque()  # times of attempts that failed or retried
        self.attempts = 0
        self.refused = 0
        self.consecutive_failures = 0
        self.not_before = 0.0
        self.failures: list[dict[str, Any]] = []
        self.disabled = False
        self.warned = False

    def stop_at(self, deadline: float) -> None:
        """From now on, give up at ``deadline`` (the run's flush bound)."""
        self.deadline = deadline
        self.wake.set()

    def _remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - self.clock()

    def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) when the run's deadline comes first. Until the
        run ends the sleep is interrupted by it, and then re-measured against the deadline."""
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            if left >= self._remaining():
                return False
            if self.deadline is None:
                self.wake.wait(left)
            else:
                time.sleep(left)
        return True

    def _budget(self, retry: bool) -> float:
        """0 when an attempt may be made now (and it is counted); else seconds to wait."""
        now = self.clock()
        while self.charged and now - self.charged[0] >= 60.0:
            self.charged.popleft()
        if retry or self.consecutive_failures:
            if len(self.charged) >= MAX_ATTEMPTS_PER_MINUTE:
                self.refused += 1
                return self.charged[0] + 60.0 - now
            self.charged.append(now)
        self.attempts += 1
        return 0.0

    def send(self, body: bytes) -> bool:
        """Deliver ``body``, retrying as the budget allows; False when it was given up."""
        with self.lock:
            retry = False
            while not self.disabled:
                if not self._sleep(self.not_before - self.clock()):
                    return False
                wait = self._budget(retry)
                if wait > 0:
                    if not self._sleep(wait):
                        return False
                    continue
                remaining = self._remaining()
                if remaining <= 0.05:
                    return False
                answer = self.poster(self.url, body, self.headers, min(self.timeout, remaining))
                if answer.ok:
                    self.consecutive_failures = 0
                    self.not_before = 0.0
                    return True
                self._failed(answer, charged=retry or self.consecutive_failures > 0)
                if not answer.retryable:
                    return False
                retry = True
            return False

    def _failed(self, answer: Answer, *, charged: bool) -> None:
        now = self.clock()
        if not charged:
            self.charged.append(now)
        self.consecutive_failures += 1
        error = (answer.error or "failed")[:300]
        self.failures.append({"at": now_iso(), "error": error})
        delay = BACKOFF_INITIAL * 2 ** (self.consecutive_failures - 1)
        if answer.retry_after is not None:
            delay = max(delay, answer.retry_after)
        self.not_before = now + min(delay, BACKOFF_MAX)
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            self.disabled = True
        if not self.warned:
            self.warned = True
            self.warn(
                f"codex-orchestrator: OTEL {self.signal} export failed ({error}); "
                "retrying with backoff, see sinks.otel in the manifest"
            )

    @property
    def last_error(self) -> str | None:
        """The last failure's error, if any."""
        return self.failures[-1]["error"] if self.failures else None
