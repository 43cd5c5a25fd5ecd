"""A scripted model for the real Codex CLI: an OpenAI Responses API over SSE on 127.0.0.1.

Codex (``codex exec``) asks its model provider ``POST /v1/responses`` for each step of a turn
and reads a Server-Sent-Events stream back. :class:`FakeModel` answers each request with the
next scripted step, so a test decides which tools Codex calls and with what arguments:

- ``{"calls": [{"namespace": "mcp__NAME", "name": TOOL, "arguments": {...}}]}``: one
  ``function_call`` item per call (MCP tools live in the ``mcp__NAME`` namespace);
- ``{"message": TEXT}``: the final assistant message.

Every request body is kept in :attr:`FakeModel.requests` (the tool outputs Codex sends back
are ``function_call_output`` items of the next request's ``input``). The server runs in a
daemon thread of the test and stops when the ``with`` block ends.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Step = dict[str, Any]


def _events(step: Step) -> Iterator[dict[str, Any]]:
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    yield {"type": "response.created", "response": {"id": response_id}}
    items: list[dict[str, Any]] = []
    for call in step.get("calls", []):
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        item = {
            "type": "function_call",
            "id": f"fc_{call_id}",
            "call_id": call_id,
            "name": call["name"],
            "arguments": json.dumps(call.get("arguments", {})),
        }
        if "namespace" in call:
            item["namespace"] = call["namespace"]
        items.append(item)
    if "message" in step:
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "status": "completed",
                "content": [{"type": "output_text", "text": step["message"], "annotations": []}],
            }
        )
    for index, item in enumerate(items):
        yield {"type": "response.output_item.added", "output_index": index, "item": item}
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    usage = {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    yield {
        "type": "response.completed",
        "response": {"id": response_id, "status": "completed", "output": items, "usage": usage},
    }


class FakeModel:
    """Serves ``steps`` in order (then ``{"message": "done"}``) to one Codex process."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.split("?")[0].rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [], "models": []})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                if not self.path.split("?")[0].rstrip("/").endswith("/responses"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with model._lock:
                    model.requests.append(body)
                    step = model.steps.pop(0) if model.steps else {"message": "done"}
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for event in _events(step):
                    line = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    self.wfile.write(line.encode())
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def provider_config(self) -> list[str]:
        """The ``codex -c`` arguments that make this the model provider."""
        table = (
            f'{{name="fake", base_url="{self.base_url}", wire_api="responses", '
            "supports_websockets=false, request_max_retries=0, stream_max_retries=0}"
        )
        return ["-c", "model_provider=fake", "-c", f"model_providers.fake={table}"]

    def tool_outputs(self) -> list[str]:
        """Every ``function_call_output`` Codex sent back, in order (deduplicated)."""
        seen: dict[str, str] = {}
        for body in self.requests:
            for item in body.get("input") or []:
                if isinstance(item, dict) and item.get("type") == "function_call_output":
                    seen.setdefault(str(item.get("call_id")), str(item.get("output")))
        return list(seen.values())

    def __enter__(self) -> FakeModel:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
