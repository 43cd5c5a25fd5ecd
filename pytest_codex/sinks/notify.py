"""Notifications: tell a command, a webhook or a file when a run completes, an approval is
requested, or a guardrail fails.

Targets (``--notify`` repeatable, ``CODEX_ORCHESTRATOR_NOTIFY`` comma separated, or ``notify:``
in the config file; the highest of those that sets any target wins):

- ``http://...`` / ``https://...``: POST the JSON payload (one retry, both within the timeout);
- ``file://PATH``: append the payload as one JSON line;
- anything else: a command line; the JSON payload is appended as its last argument, as Codex
  CLI's ``notify`` does (for run completion, Codex's ``agent-turn-complete`` shape). It runs in
  a process group of its own, killed with everything in it at its timeout.

Deliveries happen in background threads: approval and guardrail notifications as they
happen, run completion while the run finishes. The end of a run waits for all of them
together at most :attr:`NotifySink.bound` (the longest target timeout, default 5 s, plus
:data:`GRACE`); what is still running then is reported failed and its command killed. What
was delivered and what failed (naming the target and the reason) lands in ``run:summary``
(``notifications``) and the manifest (``sinks.notify``). Payloads are redacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import open_nofollow
from ..errors import ConfigError
from ..events import DispatchingSink, Event, Redactor
from ..records import GuardrailRecord, NotificationFailure, NotificationsBlock
from ..redact import display_urls, split_credentials
from ..summary import summary_line

if TYPE_CHECKING:
    from ..context import Context
    from ..paths import RunPaths

EVENT_KINDS = ("run-complete", "approval-requested", "guardrail-failed")
DEFAULT_TIMEOUT = 5.0
# Added to the longest target timeout for the wait at the end of a run (all targets together).
GRACE = 0.5


def display_target(target: str) -> str:
    """A target with its URL credentials hidden (userinfo password, query values, path
    tokens: :func:`pytest_codex.redact.display_url`)."""
    return display_urls(target)


@dataclass(frozen=True)
class Target:
    """One notification target and the events it wants."""

    spec: str
    events: tuple[str, ...] = EVENT_KINDS
    timeout: float = DEFAULT_TIMEOUT
    # A command's argv, its program resolved outside the workspace (see targets_from_config).
    argv: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``webhook``, ``file`` or ``command``."""
        if self.spec.startswith(("http://", "https://")):
            return "webhook"
        if self.spec.startswith("file://"):
            return "file"
        return "command"


def targets_from_config(entries: Sequence[Any], root: Path) -> list[Target]:
    """Targets from the resolved ``notify`` value (strings or ``{target, events, ...}``).

    A command target runs unsandboxed, so its program is resolved here to an absolute path
    outside the workspace ``root`` and the temporary directories (a ``notify-send`` planted
    in the repository's ``.venv/bin`` never runs); a relative program path, or one inside the
    workspace, is a :class:`ConfigError`."""
    found: list[Target] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(_resolved(Target(entry), root))
            continue
        events = tuple(entry.get("events") or EVENT_KINDS)
        unknown = [e for e in events if e not in EVENT_KINDS]
        if unknown:
            raise ConfigError(
                f"notify: unknown event {unknown[0]!r}; use one of {', '.join(EVENT_KINDS)}"
            )
        target = Target(entry["target"], events, float(entry.get("timeout_seconds") or 5))
        found.append(_resolved(target, root))
    return found


def _resolved(target: Target, root: Path) -> Target:
    if target.kind != "command":
        return target
    from ..programs import ProgramNotFoundError, resolve

    try:
        argv = shlex.split(target.spec)
    except ValueError as exc:
        raise ConfigError(
            f"notify: cannot split {target.spec!r} ({exc}); fix its quoting"
        ) from None
    if not argv:
        raise ConfigError("notify: an empty command; remove it")
    try:
        program = resolve(argv[0], workspace=root)
    except ProgramNotFoundError as exc:
        raise ConfigError(f"notify command {display_target(target.spec)!r}: {exc}") from None
    workspace = os.path.realpath(root)
    for arg in argv[1:]:
        # ``python3 notify.py``: the script is as much the program as python3 is.
        named = os.path.realpath(os.path.join(os.getcwd(), arg))
        inside = named == workspace or named.startswith(workspace + os.sep)
        if inside and not arg.startswith("-") and os.path.isfile(named):
            raise ConfigError(
                f"notify command {display_target(target.spec)!r}: runs {arg}, a file in the "
                "workspace a command can rewrite; keep notification scripts outside it"
            )
    return replace(target, argv=(program, *argv[1:]))


@dataclass
class _Delivery:
    """One delivery in flight: its thread, and the command process it started, if any."""

    target: Target
    event: str
    deadline: float
    thread: threading.Thread | None = None
    process: subprocess.Popen[bytes] | None = None
    done: bool = False
    abandoned: bool = False  # reported as failed at the deadline; a late outcome is ignored


class NotifySink(DispatchingSink):
    """Delivers notifications for a run's events (see the module docstring)."""

    name = "notify"

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        root: Path,
        run_id: str,
        task_id: str,
        redactor: Redactor | None = None,
    ) -> None:
        self.targets = list(targets)
        self.root = root
        self.run_id = run_id
        self.task_id = task_id
        self.redact = redactor or Redactor()
        self.lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []
        self.failures: list[NotificationFailure] = []
        self.deliveries: list[_Delivery] = []
        self.failed_guardrails: list[str] = []
        self.argv: list[str] = []

    @property
    def bound(self) -> float:
        """How long the end of a run may wait for every delivery together, in seconds."""
        return max((t.timeout for t in self.targets), default=0.0) + GRACE

    # -- events ---------------------------------------------------------------------------
    def _on_approval_requested(self, event: Event) -> None:
        payload = event.payload
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

    def _on_guardrail_result(self, event: Event) -> None:
        record: GuardrailRecord = event.payload.get("guardrail", {})
        if record.get("status") != "failed":
            return
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

    def _on_exec_begin(self, event: Event) -> None:
        if not self.argv:
            self.argv = [str(a) for a in event.payload.get("argv") or []]

    def finalize(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Send run completion, wait (within :attr:`bound`) for every delivery, report."""
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
            delivery = _Delivery(target, event, time.monotonic() + target.timeout + GRACE)
            delivery.thread = threading.Thread(
                target=self._deliver,
                args=(delivery, data),
                daemon=True,
                name=f"codex-notify-{target.kind}",
            )
            with self.lock:
                self.deliveries.append(delivery)
            delivery.thread.start()

    def _deliver(self, delivery: _Delivery, data: Mapping[str, Any]) -> None:
        target = delivery.target
        try:
            if target.kind == "webhook":
                _post(target, data)
            elif target.kind == "file":
                _append(target, data)
            else:
                _command(target, data, delivery)
        except Exception as exc:
            self._fail(delivery, " ".join(f"{type(exc).__name__}: {exc}".split()))
        else:
            with self.lock:
                if not delivery.abandoned:
                    self.delivered.append(
                        {"target": self._display(target), "event": delivery.event}
                    )
        finally:
            delivery.done = True

    def _fail(self, delivery: _Delivery, reason: str) -> None:
        failure: NotificationFailure = {
            "target": self._display(delivery.target),
            "event": delivery.event,
            "reason": display_urls(self.redact(reason[:300])),
        }
        with self.lock:
            if not delivery.abandoned:
                self.failures.append(failure)

    def _display(self, target: Target) -> str:
        """How a target is recorded: no URL credentials, secrets in a command redacted."""
        return str(self.redact.text(display_target(target.spec)))

    def wait(self) -> None:
        """Wait for every delivery until one shared deadline (:attr:`bound` from now, and no
        later than each delivery's own); what is still running then is stopped and reported."""
        overall = time.monotonic() + self.bound
        with self.lock:
            pending = [d for d in self.deliveries if not d.done]
        for delivery in pending:
            if delivery.thread is not None:
                limit = min(overall, delivery.deadline)
                delivery.thread.join(max(0.0, limit - time.monotonic()))
        for delivery in pending:
            if delivery.done:
                continue
            self._fail(
                delivery,
                f"still running after {delivery.target.timeout:g}s (the notification "
                "timeout); abandoned",
            )
            delivery.abandoned = True
            if delivery.process is not None:
                _kill_group(delivery.process)

    def report(self) -> NotificationsBlock:
        """Targets, deliveries and failures."""
        with self.lock:
            return {
                "targets": [self._display(t) for t in self.targets],
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
        if error is not None:
            error = f"{report['failures'][-1]['target']}: {error}"
        return {"state": "closed", "error": error, **report}


def _post(target: Target, data: Mapping[str, Any]) -> None:
    # Both attempts together stay within the target's timeout.
    body = json.dumps(data).encode("utf-8")
    # Credentials in the URL go as HTTP basic auth: urllib would take them for the host.
    url, basic = split_credentials(target.spec)
    headers = {"Content-Type": "application/json"}
    if basic is not None:
        headers["Authorization"] = basic
    deadline = time.monotonic() + target.timeout
    last: Exception | None = None
    for attempt in range(2):  # one retry
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=remaining) as answer:
                answer.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
            if attempt == 0:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    raise last or TimeoutError(f"no answer within {target.timeout:g}s")


def _append(target: Target, data: Mapping[str, Any]) -> None:
    path = Path(target.spec.removeprefix("file://"))
    # Never through a symlink or hard link (a planted one would make us append elsewhere).
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(data) + "\n")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The command runs in a session of its own (start_new_session), so its process group id
    # is its pid: the group holds the command and whatever it forked. Never signal a group we
    # did not create (pid 0 or 1 would mean "ours" or "everyone").
    if process.pid > 1 and process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _command(target: Target, data: Mapping[str, Any], delivery: _Delivery | None = None) -> None:
    argv = [*(target.argv or shlex.split(target.spec)), json.dumps(data)]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if delivery is not None:
        delivery.process = process
    try:
        _, err = process.communicate(timeout=target.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        # A grandchild that left the group may still hold stderr: do not wait on it forever.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=GRACE)
        raise TimeoutError(f"still running after {target.timeout:g}s; killed") from None
    finally:
        _kill_group(process)  # an interrupted wait must not leave it running
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exited with {process.returncode}: {tail[0]}")


def sink_from_config(context: Context, paths: RunPaths) -> NotifySink | None:
    """The notification sink for a run, when targets are configured (see ``sinks.py``)."""
    entries = context.config.get("notify") or []
    targets = targets_from_config(entries, context.roots.root)
    if not targets:
        return None
    return NotifySink(
        targets,
        root=context.roots.root,
        run_id=paths.run_id,
        task_id=paths.task_id,
        redactor=Redactor.for_env(context.env, extra=context.config.secret_values()),
    )
