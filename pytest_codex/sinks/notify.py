"""Notifications: tell a command, a webhook or a file when a run completes, an approval is
requested, or a guardrail fails.

Targets (``--notify`` repeatable, ``CODEX_ORCHESTRATOR_NOTIFY`` comma separated, or ``notify:``
in the config file; the highest of those that sets any target wins):

- ``http://...`` / ``https://...``: POST the JSON payload (timeout, one retry);
- ``file://PATH``: append the payload as one JSON line;
- anything else: a command line; the JSON payload is appended as its last argument, as Codex
  CLI's ``notify`` does (for run completion, Codex's ``agent-turn-complete`` shape).

Deliveries happen in background threads and never delay the run past their timeout (default
5 s): approval and guardrail notifications are sent as they happen, run completion while the
run finishes. What was delivered and what failed (with the reason) lands in ``run:summary``
(``notifications``) and the manifest (``sinks.notify``). Payloads are redacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import open_nofollow
from ..errors import ConfigError
from ..events import Event, Redactor

if TYPE_CHECKING:
    from ..context import Context
    from ..paths import RunPaths

EVENT_KINDS = ("run-complete", "approval-requested", "guardrail-failed")
DEFAULT_TIMEOUT = 5.0
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def display_target(target: str) -> str:
    """A target with any URL credentials hidden."""
    return _CREDENTIALS.sub("[REDACTED]@", target)


@dataclass(frozen=True)
class Target:
    """One notification target and the events it wants."""

    spec: str
    events: tuple[str, ...] = EVENT_KINDS
    timeout: float = DEFAULT_TIMEOUT

    @property
    def kind(self) -> str:
        """``webhook``, ``file`` or ``command``."""
        if self.spec.startswith(("http://", "https://")):
            return "webhook"
        if self.spec.startswith("file://"):
            return "file"
        return "command"


def targets_from_config(entries: Sequence[Any], root: Path) -> list[Target]:
    """Targets from the resolved ``notify`` value (strings or ``{target, events, ...}``)."""
    found: list[Target] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(Target(entry))
            continue
        events = tuple(entry.get("events") or EVENT_KINDS)
        unknown = [e for e in events if e not in EVENT_KINDS]
        if unknown:
            raise ConfigError(
                f"notify: unknown event {unknown[0]!r}; use one of {', '.join(EVENT_KINDS)}"
            )
        found.append(Target(entry["target"], events, float(entry.get("timeout_seconds") or 5)))
    return found


class NotifySink:
    """Delivers notifications for a run's events (see the module docstring)."""

    name = "notify"

    def __init__(self, targets: Sequence[Target], *, root: Path, run_id: str, task_id: str) -> None:
        self.targets = list(targets)
        self.root = root
        self.run_id = run_id
        self.task_id = task_id
        self.redact = Redactor()
        self.lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.threads: list[tuple[threading.Thread, float]] = []
        self.failed_guardrails: list[str] = []
        self.argv: list[str] = []

    # -- events ---------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Notify approval requests and guardrail failures as they happen."""
        payload = event.payload
        if event.type == "approval:requested":
            self._send(
                "approval-requested",
                {
                    "type": "approval-requested",
                    "runId": self.run_id,
                    "task": self.task_id,
                    "tool": payload.get("tool"),
                    "key": payload.get("key"),
                    "reason": payload.get("reason"),
                },
            )
        elif event.type == "guardrail:result":
            record = payload.get("guardrail", {})
            if record.get("status") == "failed":
                self.failed_guardrails.append(str(record.get("name")))
                self._send(
                    "guardrail-failed",
                    {
                        "type": "guardrail-failed",
                        "runId": self.run_id,
                        "task": self.task_id,
                        "guardrail": record.get("name"),
                        "findings": len(record.get("findings") or []),
                    },
                )
        elif event.type == "exec:begin" and not self.argv:
            self.argv = [str(a) for a in payload.get("argv") or []]

    def finalize(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Send run completion, wait (bounded) for every delivery, report."""
        from .codex_dialect import summary_line

        run = summary.get("run", {})
        line = summary_line(summary)
        body = {
            "type": "run-complete",
            "status": summary.get("status"),
            "task": run.get("task"),
            "runId": run.get("id"),
            "manifestPath": run.get("manifestPath"),
            "durationMs": run.get("durationMs"),
            "failedGuardrails": list(self.failed_guardrails),
            "summary": line,
        }
        codex = {
            "type": "agent-turn-complete",
            "thread-id": run.get("id"),
            "turn-id": run.get("id"),
            "cwd": str(self.root),
            "input-messages": [shlex.join(self.argv)] if self.argv else [],
            "last-assistant-message": line,
            "codex-orchestrator": body,
        }
        self._send("run-complete", body, command_payload=codex)
        self.wait()
        return {"notifications": self.report()}

    # -- delivery -------------------------------------------------------------------------
    def _send(
        self, event: str, body: Mapping[str, Any], command_payload: Mapping[str, Any] | None = None
    ) -> None:
        for target in self.targets:
            if event not in target.events:
                continue
            data = self.redact(
                dict(command_payload if (command_payload and target.kind == "command") else body)
            )
            thread = threading.Thread(
                target=self._deliver,
                args=(target, event, data),
                daemon=True,
                name=f"codex-notify-{target.kind}",
            )
            thread.start()
            with self.lock:
                self.threads.append((thread, time.monotonic() + target.timeout * 2 + 1))

    def _deliver(self, target: Target, event: str, data: Mapping[str, Any]) -> None:
        shown = display_target(target.spec)
        try:
            {"webhook": _post, "file": _append, "command": _command}[target.kind](target, data)
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            with self.lock:
                self.failures.append(
                    {"target": shown, "event": event, "reason": self.redact(reason)}
                )
            return
        with self.lock:
            self.delivered.append({"target": shown, "event": event})

    def wait(self) -> None:
        """Wait for deliveries, each no longer than its own deadline."""
        with self.lock:
            threads = list(self.threads)
        for thread, deadline in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                with self.lock:
                    self.failures.append(
                        {
                            "target": "?",
                            "event": "?",
                            "reason": "delivery still running at its deadline",
                        }
                    )

    def report(self) -> dict[str, Any]:
        """Targets, deliveries and failures."""
        with self.lock:
            return {
                "targets": [display_target(t.spec) for t in self.targets],
                "delivered": list(self.delivered),
                "failures": list(self.failures),
            }

    def close(self) -> None:
        """Wait for what is in flight (bounded)."""
        self.wait()

    def health(self) -> dict[str, Any]:
        """``sinks.notify`` in the manifest."""
        report = self.report()
        error = report["failures"][-1]["reason"] if report["failures"] else None
        return {"state": "closed", "error": error, **report}


def _post(target: Target, data: Mapping[str, Any]) -> None:
    body = json.dumps(data).encode("utf-8")
    last: Exception | None = None
    for attempt in range(2):  # one retry
        request = urllib.request.Request(
            target.spec, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=target.timeout) as answer:
                answer.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
            if attempt == 0:
                time.sleep(0.2)
    assert last is not None
    raise last


def _append(target: Target, data: Mapping[str, Any]) -> None:
    path = Path(target.spec.removeprefix("file://"))
    # Never through a symlink or hard link (a planted one would make us append elsewhere).
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(data) + "\n")


def _command(target: Target, data: Mapping[str, Any]) -> None:
    argv = [*shlex.split(target.spec), json.dumps(data)]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=target.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.communicate()
        raise TimeoutError(f"still running after {target.timeout}s; killed") from None
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exited with {process.returncode}: {tail[0]}")


def sink_from_config(context: Context, paths: RunPaths) -> NotifySink | None:
    """The notification sink for a run, when targets are configured (see ``sinks.py``)."""
    entries = context.config.get("notify") or []
    targets = targets_from_config(entries, context.roots.root)
    if not targets:
        return None
    return NotifySink(targets, root=context.roots.root, run_id=paths.run_id, task_id=paths.task_id)
