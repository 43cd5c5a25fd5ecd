"""OTEL export against a collector-like OTLP/HTTP receiver on 127.0.0.1 (protobuf decoded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from pytest_codex.context import Context
from pytest_codex.run import Run
from pytest_codex.sinks.telemetry import endpoints
from tests.helpers.receivers import attributes, closed_port, collector, receiver
from tests.helpers.trust import trusted

ERROR = Status.STATUS_CODE_ERROR
CLI = [sys.executable, "-m", "pytest_codex.cli"]


def _run(
    root: Path, endpoint: str, *, interval: float = 5.0, flush: float = 1.0, **env: str
) -> Run:
    trusted(
        root / "codex.orchestrator.yaml",
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
        ),
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
    return attributes(span)


def test_spans_parentage_attributes_and_metrics_reach_the_collector(tmp_path: Path) -> None:
    with collector() as (url, received):
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
    with collector() as (url, received):
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
    # Every attempt failed; retries and failures stay within 3 a minute, and the spans that
    # could not be sent are counted.
    assert health["state"] in ("disabled", "failed")
    # (the last attempt may still be in flight when the run ends: it is not waited for)
    assert 1 <= health["attempts"] <= 3 and 1 <= len(health["failures"]) <= health["attempts"]
    assert attempts_seen in (None, health["attempts"])
    assert health["exportedSpans"] == 0 and health["droppedSpans"] == 41
    # 40 x 30 ms of work; three bounded attempts of at most 0.3 s happen alongside.
    assert took < 1.2 + 3 * 0.3 + 1.0
    assert json.loads(run.paths.manifest.read_text())["status"] == "succeeded"


def test_no_secret_or_output_reaches_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-otel-secret-987"
    monkeypatch.setenv("DEPLOY_TOKEN", secret)
    with collector() as (url, received):
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


def _test_result(i: int, outcome: str = "passed") -> dict[str, Any]:
    return {
        "test": {
            "nodeid": f"t.py::test_{i}",
            "outcome": outcome,
            "durationMs": 1.0,
            "markers": [],
            "location": {"path": "t.py", "line": i},
            "failure": None,
        }
    }


def test_a_base_url_sends_traces_and_metrics_to_their_signal_paths(tmp_path: Path) -> None:
    with collector() as (url, received):
        run = _run(tmp_path, url)
        _emit_a_little_of_everything(run)
        run.finish("succeeded")
    assert {path for path, _ in received.requests} == {"/v1/traces", "/v1/metrics"}
    assert all(code == 200 for _, _, code in received.answers)
    assert f"run {run.run_id}" in received.spans_by_name()
    assert "orchestrator.command.latency" in received.metric_points()


def test_a_path_the_collector_does_not_serve_is_said_once_on_stderr_and_in_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with collector() as (url, received):
        run = _run(tmp_path, f"{url}/otlp")
        for i in range(5):
            run.emit("test:result", _test_result(i))
        run.finish("succeeded")
    assert {code for _, _, code in received.answers} == {404}
    lines = [line for line in capsys.readouterr().err.splitlines() if "OTEL" in line]
    assert len(lines) == 1 and "traces" in lines[0] and "HTTP 404" in lines[0]
    health = json.loads(run.paths.manifest.read_text())["sinks"]["otel"]
    assert health["state"] == "failed" and "HTTP 404" in health["error"]
    assert health["droppedSpans"] == 6


def test_a_405_on_metrics_is_not_the_spans_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with collector(status={"/v1/metrics": 405}) as (url, received):
        run = _run(tmp_path, url)
        _emit_a_little_of_everything(run)
        run.finish("succeeded")
    health = json.loads(run.paths.manifest.read_text())["sinks"]["otel"]
    assert health["state"] == "closed" and health["error"] is None
    assert health["exportedSpans"] == len(received.spans()) == 6
    assert health["metrics"]["state"] == "failed"
    assert "HTTP 405" in health["metrics"]["error"]
    lines = [line for line in capsys.readouterr().err.splitlines() if "OTEL" in line]
    assert len(lines) == 1 and "metrics" in lines[0] and "405" in lines[0]


def test_a_healthy_collector_receives_every_span_of_a_long_session(tmp_path: Path) -> None:
    with collector() as (url, received):
        run = _run(tmp_path, url, interval=0.02, flush=5.0)
        for i in range(1500):
            run.emit("test:result", _test_result(i))
            if i % 100 == 0:
                time.sleep(0.03)  # several export intervals pass during the session
        run.finish("succeeded")
    spans = received.spans()
    assert len(spans) == 1501
    health = json.loads(run.paths.manifest.read_text())["sinks"]["otel"]
    assert health["attempts"] > 3 and health["refusedAttempts"] == 0
    assert health["exportedSpans"] == 1501 and health["droppedSpans"] == 0


def test_a_503_is_retried_after_its_retry_after(tmp_path: Path) -> None:
    with collector(fail_first=1, retry_after="1") as (url, received):
        run = _run(tmp_path, url, flush=4.0)
        run.emit("test:result", _test_result(1))
        started = time.monotonic()
        run.finish("succeeded")
        finished = time.monotonic()
    assert [code for _, path, code in received.answers if path == "/v1/traces"] == [503, 200]
    assert len(received.spans()) == 2
    assert finished - started >= 1.0  # the retry waited as the collector asked
    health = json.loads(run.paths.manifest.read_text())["sinks"]["otel"]
    assert health["state"] == "closed" and health["attempts"] == 2
    assert "HTTP 503" in health["failures"][0]["error"]


def test_config_headers_and_resource_attributes_apply_to_an_endpoint_set_by_the_cli(
    tmp_path: Path,
) -> None:
    trusted(
        tmp_path / "codex.orchestrator.yaml",
        json.dumps(
            {
                "otel": {
                    "endpoint": "http://127.0.0.1:9/never-used",
                    "headers": {"authorization": "Bearer from-config"},
                    "resource_attributes": {"team": "tools"},
                    "flush_timeout_seconds": 3,
                }
            }
        ),
    )
    with collector() as (url, received):
        context = Context.load(
            cwd=tmp_path,
            env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)},
            cli={"otel": {"endpoint": url}},
        )
        Run.start(context, task_id="cli-otel", heartbeat=False).finish("succeeded")
    assert received.requests, "nothing reached the CLI's endpoint"
    assert all(h.get("Authorization") == "Bearer from-config" for h in received.headers)
    assert received.resource_attributes()["team"] == "tools"


def test_spans_of_what_failed_have_status_error(tmp_path: Path) -> None:
    with collector() as (url, received):
        run = _run(tmp_path, url)
        _emit_a_little_of_everything(run)  # its guardrail fails
        run.emit("test:result", _test_result(7, "failed"))
        run.emit("exec:begin", {"correlationId": "c2", "argv": ["false"]})
        run.emit(
            "exec:end",
            {
                "command": {
                    "id": "c2",
                    "correlationId": "c2",
                    "argv": ["false"],
                    "cwd": "/",
                    "exitCode": 1,
                    "durationMs": 1.0,
                    "logPath": None,
                }
            },
        )
        run.finish("failed", detail="a test failed")
    spans = received.spans_by_name()
    for name in (f"run {run.run_id}", "guardrail lint", "test t.py::test_7", "exec false"):
        assert spans[name].status.code == ERROR, name
    for name in ("tool shell", "exec make", "test t.py::test_a", "stage build"):
        assert spans[name].status.code != ERROR, name
    assert spans[f"run {run.run_id}"].status.message == "a test failed"


def test_a_real_exec_span_is_a_child_of_its_tool_span(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update({"CODEX_ORCHESTRATOR_ROOT": str(tmp_path), "MCP_RUNNER_TASK_ID": "otel-exec"})
    with collector() as (url, received):
        result = subprocess.run(
            [*CLI, "exec", "--otel-endpoint", url, "--", "sh", "-c", "exit 3"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3, result.stderr
    assert "OTEL" not in result.stderr
    spans = received.spans_by_name()
    tool = next(span for name, span in spans.items() if name.startswith("tool "))
    exec_span = spans["exec sh"]
    assert exec_span.parent_span_id == tool.span_id
    assert exec_span.status.code == ERROR and tool.status.code == ERROR
    assert "orchestrator.command.latency" in received.metric_points()


@pytest.mark.parametrize(
    ("endpoint", "source", "traces", "metrics"),
    [
        ("http://h:4318", "cli", "http://h:4318/v1/traces", "http://h:4318/v1/metrics"),
        ("http://h:4318/", "config:x", "http://h:4318/v1/traces", "http://h:4318/v1/metrics"),
        ("https://gw/otlp", "cli", "https://gw/otlp/v1/traces", "https://gw/otlp/v1/metrics"),
        ("http://h/v1/traces", "cli", "http://h/v1/traces", "http://h/v1/metrics"),
        ("http://h/v1/metrics", "cli", "http://h/v1/traces", "http://h/v1/metrics"),
        (
            "http://h:4318",
            "env:OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://h:4318/v1/traces",
            "http://h:4318/v1/metrics",
        ),
        (
            "http://h/custom",
            "env:OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://h/custom",
            "http://h/custom/v1/metrics",
        ),
    ],
)
def test_endpoints_follow_the_otlp_rules_for_base_and_signal_urls(
    endpoint: str, source: str, traces: str, metrics: str
) -> None:
    assert endpoints(endpoint, source) == (traces, metrics)


def test_a_pytest_session_exports_every_test_with_failures_as_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(40))\n"
        "def test_many(n):\n"
        "    pass\n"
        "def test_broken():\n"
        "    assert 1 == 2\n"
    )
    with collector() as (url, received):
        result = pytester.runpytest_subprocess(
            "--codex-task=otel-session", f"--codex-otel-endpoint={url}"
        )
    result.assert_outcomes(passed=40, failed=1)
    spans = received.spans_by_name()
    tests = [name for name in spans if name.startswith("test ")]
    assert len(tests) == 41
    root = next(span for name, span in spans.items() if name.startswith("run "))
    assert all(spans[name].parent_span_id == root.span_id for name in tests)
    assert (
        spans[
            "test test_a_pytest_session_exports_every_test_with_failures_as_errors.py::test_broken"
        ].status.code
        == ERROR
    )
    assert root.status.code == ERROR
    assert "OTEL" not in result.stderr.str()
