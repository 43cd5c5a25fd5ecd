"""OTEL export against a real OTLP/HTTP receiver on 127.0.0.1 (protobuf decoded)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.context import Context
from pytest_codex.run import Run
from tests.helpers.receivers import closed_port, receiver


def _run(
    root: Path, endpoint: str, *, interval: float = 5.0, flush: float = 1.0, **env: str
) -> Run:
    (root / "codex.orchestrator.yaml").write_text(
        json.dumps(
            {
                "otel": {
                    "endpoint": endpoint,
                    "export_interval_seconds": interval,
                    "flush_timeout_seconds": flush,
                    "timeout_seconds": flush,
                    "service_name": "telemetry-test",
                },
            }
        )
    )
    context = Context.load(cwd=root, env={"CODEX_ORCHESTRATOR_ROOT": str(root), **env})
    return Run.start(context, task_id="otel-task", heartbeat=False)


def _emit_a_little_of_everything(run: Run) -> None:
    run.emit("stage:start", {"stage": {"id": "build", "kind": "command", "title": "b"}})
    run.emit("tool:start", {"id": "t1", "tool": "shell", "argv": ["make"]})
    run.emit(
        "exec:begin",
        {"correlationId": "c1", "argv": ["make"], "sessionId": None, "sandboxState": "sandboxed"},
    )
    run.emit(
        "exec:end",
        {
            "command": {
                "id": "c1",
                "correlationId": "c1",
                "argv": ["make"],
                "cwd": "/",
                "exitCode": 0,
                "durationMs": 12.5,
                "logPath": None,
                "bytes": {"pty": 10},
            }
        },
    )
    run.emit(
        "tool:complete",
        {
            "toolRun": {
                "id": "t1",
                "tool": "shell",
                "approvalSource": "cache",
                "retryCount": 1,
                "sandboxState": "escalated",
                "attempts": [{"state": "succeeded"}],
                "status": "succeeded",
                "startedAt": "2026-11-24T00:00:00.000Z",
                "completedAt": "2026-11-24T00:00:01.000Z",
                "durationMs": 1000.0,
            },
            "metrics": {"approvalRequests": 1, "cacheHits": 1, "approvalReuse": 1.0, "retries": 1},
        },
    )
    run.emit("stage:end", {"stage": {"id": "build", "kind": "command", "status": "succeeded"}})
    run.emit(
        "test:result",
        {
            "test": {
                "nodeid": "t.py::test_a",
                "outcome": "passed",
                "durationMs": 3.0,
                "markers": [],
                "location": {"path": "t.py", "line": 1},
                "failure": None,
            }
        },
    )
    run.emit(
        "guardrail:result",
        {
            "guardrail": {
                "name": "lint",
                "status": "failed",
                "findings": [],
                "durationMs": 5.0,
                "cached": False,
            }
        },
    )


def _attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def test_spans_parentage_attributes_and_metrics_reach_the_collector(tmp_path: Path) -> None:
    with receiver() as (url, received):
        run = _run(tmp_path, f"{url}/v1/traces")
        _emit_a_little_of_everything(run)
        run.finish("succeeded")
    spans = {span.name: span for span in received.spans()}
    root = spans[f"run {run.run_id}"]
    assert root.parent_span_id == b""
    for name in ("stage build", "tool shell", "test t.py::test_a", "guardrail lint"):
        assert spans[name].parent_span_id == root.span_id, name
    assert spans["exec make"].parent_span_id == spans["tool shell"].span_id
    assert _attrs(root)["codex.status"] == "succeeded"
    assert _attrs(root)["codex.task_id"] == "otel-task"
    tool = _attrs(spans["tool shell"])
    assert (
        tool["codex.approval_source"],
        tool["codex.retry_count"],
        tool["codex.sandbox_state"],
    ) == ("cache", 1, "escalated")
    assert _attrs(spans["exec make"])["codex.exit_code"] == 0
    assert {
        "orchestrator.command.latency",
        "orchestrator.approval.requests",
        "orchestrator.approval.cache_hits",
        "orchestrator.tool.retries",
        "orchestrator.guardrail.results",
    } <= received.metric_names()
    manifest = json.loads(run.paths.manifest.read_text())
    assert manifest["sinks"]["otel"]["state"] == "closed"
    assert manifest["sinks"]["otel"]["exportedSpans"] == len(spans)
    assert manifest["metrics"]["commandLatencyMs"] == {"count": 1, "p50": 12.5, "p95": 12.5}
    assert manifest["metrics"]["approvalReuse"] == 1.0


def test_the_base_endpoint_variable_gets_the_traces_path(tmp_path: Path) -> None:
    with receiver() as (url, received):
        context = Context.load(
            cwd=tmp_path,
            env={
                "CODEX_ORCHESTRATOR_ROOT": str(tmp_path),
                "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                "OTEL_SERVICE_NAME": "from-env",
            },
        )
        Run.start(context, task_id="env-otel", heartbeat=False).finish("succeeded")
    assert "/v1/traces" in [path for path, _ in received.requests]


@pytest.mark.parametrize("mode", ["refused", "hanging", "500"])
def test_a_broken_collector_never_holds_the_run_and_the_exporter_gives_up(
    tmp_path: Path, mode: str
) -> None:
    def exercise(endpoint: str) -> tuple[Run, float]:
        run = _run(tmp_path, endpoint, interval=0.05, flush=0.3)
        started = time.monotonic()
        for i in range(40):
            run.emit(
                "test:result",
                {
                    "test": {
                        "nodeid": f"t::{i}",
                        "outcome": "passed",
                        "durationMs": 1.0,
                        "markers": [],
                        "location": {"path": "t", "line": i},
                        "failure": None,
                    }
                },
            )
            time.sleep(0.03)
        run.finish("succeeded")
        return run, time.monotonic() - started

    if mode == "refused":
        run, took = exercise(f"http://127.0.0.1:{closed_port()}/v1/traces")
        attempts_seen = None
    else:
        with receiver(500 if mode == "500" else 200, hang=5.0 if mode == "hanging" else 0.0) as (
            url,
            received,
        ):
            run, took = exercise(f"{url}/v1/traces")
            attempts_seen = len(received.requests)
    health = json.loads(run.paths.manifest.read_text())["sinks"]["otel"]
    assert health["state"] == "disabled"
    assert health["attempts"] == 3 and len(health["failures"]) == 3
    assert attempts_seen in (None, 3)
    # 40 x 30 ms of work; three bounded attempts of at most 0.3 s happen alongside.
    assert took < 1.2 + 3 * 0.3 + 1.0
    assert json.loads(run.paths.manifest.read_text())["status"] == "succeeded"


def test_no_secret_or_output_reaches_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-otel-secret-987"
    monkeypatch.setenv("DEPLOY_TOKEN", secret)
    with receiver() as (url, received):
        run = _run(tmp_path, f"{url}/v1/traces")
        run.emit("tool:start", {"id": "t9", "tool": "shell", "argv": ["deploy", secret]})
        run.emit(
            "exec:begin",
            {"correlationId": "c9", "argv": [f"--token={secret}"], "sandboxState": "sandboxed"},
        )
        run.emit(
            "exec:chunk",
            {
                "correlationId": "c9",
                "stream": "pty",
                "seq": 0,
                "data": f"printing {secret} and private output",
                "bytes": 40,
            },
        )
        run.emit(
            "exec:end",
            {
                "command": {
                    "id": "c9",
                    "correlationId": "c9",
                    "argv": ["x"],
                    "cwd": "/",
                    "exitCode": 0,
                    "durationMs": 1.0,
                    "logPath": None,
                    "bytes": {"pty": 40},
                }
            },
        )
        run.finish("succeeded")
    bodies = b"".join(body for _, body in received.requests)
    assert bodies, "nothing was exported"
    assert secret.encode() not in bodies
    assert b"private output" not in bodies
    spans = {span.name: span for span in received.spans()}
    exec_span = next(span for name, span in spans.items() if name.startswith("exec "))
    assert _attrs(exec_span)["codex.output_bytes"] == 40
