"""Human-readable output on a terminal: live command output and stage progress.

On a terminal the output has colour and, while a stage (or an ``exec`` command) is silent,
one progress line under it: a spinner, ``[n/N]``, the stage and its elapsed time, redrawn by
a ticker thread and erased before anything else is written. Piped, it is plain text and no
thread runs. ``NO_COLOR`` (set and not empty) turns colour off, ``FORCE_COLOR`` turns it on
even when piped (https://no-color.org, https://force-color.org; ``NO_COLOR`` wins).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from ..events import DispatchingSink, Event
from ..records import StageRecord
from ..terminal import visible

# A terminal shows the first findings; the manifest keeps them all.
MAX_FINDINGS_SHOWN = 50
# The progress line appears once a stage has been silent this long, and is redrawn this often.
SILENT_AFTER_SECONDS = 0.3
TICK_SECONDS = 0.1
SPINNER = "|/-\\"

_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}
# The colour of each status word.
_STATUS_COLOUR = {
    "succeeded": "green",
    "passed": "green",
    "failed": "red",
    "error": "red",
    "cancelled": "red",
    "warned": "yellow",
    "allowed-failure": "yellow",
    "skipped": "yellow",
}


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or an odd stream
        return False


@dataclass(frozen=True)
class TerminalStyle:
    """How a stream is written to: ``colour`` (ANSI SGR codes) and ``live`` (a progress
    line redrawn in place, only on a terminal)."""

    colour: bool
    live: bool

    @classmethod
    def for_stream(cls, stream: IO[str], env: Mapping[str, str] | None = None) -> TerminalStyle:
        """The style for ``stream`` under ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        tty = _is_tty(stream) and env.get("TERM") != "dumb"
        if env.get("NO_COLOR"):
            colour = False
        elif env.get("FORCE_COLOR") not in (None, "", "0", "false"):
            colour = True
        else:
            colour = tty
        return cls(colour=colour, live=tty)

    def paint(self, text: str, *styles: str) -> str:
        """``text`` in ``styles`` (names of :data:`_SGR`) when colour is on."""
        codes = ";".join(_SGR[s] for s in styles if s in _SGR)
        if not self.colour or not codes or not text:
            return text
        return f"\x1b[{codes}m{text}\x1b[0m"

    def status(self, status: object) -> str:
        """A status word in its colour."""
        text = str(status)
        colour = _STATUS_COLOUR.get(text)
        return self.paint(text, colour) if colour else text


def format_elapsed(seconds: float) -> str:
    """``4.2s``, ``3m04s``: the elapsed time of the progress line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class HumanSink(DispatchingSink):
    """Prints what a person at a terminal wants to see while a run goes on. ``stages`` is
    the number of stages the run will have (for ``[n/N]``), when known."""

    name = "terminal"

    def __init__(
        self,
        stream: IO[str],
        *,
        show_output: bool = True,
        stages: int | None = None,
        env: Mapping[str, str] | None = None,
        style: TerminalStyle | None = None,
    ) -> None:
        self.stream = stream
        self.show_output = show_output
        self.style = style or TerminalStyle.for_stream(stream, env)
        self.stages = stages
        self._stage_number = 0
        self._in_stage = False
        self._command_only = False
        self._lock = threading.Lock()
        # What the progress line shows, and since when (monotonic); None: nothing running.
        self._label: str | None = None
        self._started = 0.0
        self._last_output = 0.0
        self._at_line_start = True
        self._held_cr = ""
        self._drawn = False
        self._paused = False
        self._frame = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- writing ---------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        with self._lock:
            self._erase()
            self.stream.write(text)
            self.stream.flush()
            if text:
                self._at_line_start = text.endswith(("\n", "\r"))
            self._last_output = time.monotonic()

    def _erase(self) -> None:
        """Remove the progress line (the lock is held)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        """Redraw the progress line when something runs silently (the lock is held)."""
        if self._label is None or self._paused or not self._at_line_start:
            return
        now = time.monotonic()
        if now - self._last_output < SILENT_AFTER_SECONDS:
            return
        self._frame += 1
        spinner = self.style.paint(SPINNER[self._frame % len(SPINNER)], "cyan")
        elapsed = self.style.paint(format_elapsed(now - self._started), "dim")
        self.stream.write(f"\r\x1b[K{spinner} {self._label} {elapsed}")
        self.stream.flush()
        self._drawn = True

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self._lock:
                self._draw()

    def _begin(self, label: str) -> None:
        """Something started: the progress line shows ``label`` (on a terminal only)."""
        if not self.style.live:
            return
        with self._lock:
            self._label, self._started = label, time.monotonic()
            self._last_output = self._started
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="codex-progress", daemon=True)
            self._ticker.start()

    def _end(self) -> None:
        with self._lock:
            self._label = None
            self._erase()

    def _counter(self) -> str:
        if self.stages:
            return f"[{self._stage_number}/{self.stages}] "
        return ""

    # -- events ----------------------------------------------------------------------------
    def _on_exec_chunk(self, event: Event) -> None:
        if self.show_output:
            self._write(self._output_text(str(event.payload.get("data", ""))))

    def _output_text(self, data: str) -> str:
        """Command output as it may reach the terminal: a PTY's CRLF line ends become
        newlines (a CR split from its LF at a chunk's end waits for the next chunk), and
        every other control character is shown escaped (see pytest_codex.terminal)."""
        data = self._held_cr + data
        self._held_cr = ""
        if data.endswith("\r"):
            data, self._held_cr = data[:-1], "\r"
        return visible(data.replace("\r\n", "\n"), lines=True)

    def _on_exec_begin(self, event: Event) -> None:
        if not self._in_stage:  # a command of its own (exec), not one inside a stage
            argv = [str(a) for a in event.payload.get("argv") or []]
            text = visible(" ".join(argv))
            self._begin(text if len(text) <= 60 else text[:57] + "...")
            self._command_only = True

    def _on_exec_end(self, event: Event) -> None:
        if self._command_only:
            self._command_only = False
            self._end()

    def _on_approval_requested(self, event: Event) -> None:
        with self._lock:  # a prompt may follow on the terminal: keep out of its way
            self._paused = True
            self._erase()
            self.stream.flush()

    def _on_approval_decided(self, event: Event) -> None:
        with self._lock:
            self._paused = False

    def _on_stage_start(self, event: Event) -> None:
        stage = event.payload.get("stage", {})
        self._stage_number += 1
        self._in_stage = True
        counter = self._counter()
        arrow = self.style.paint("==>", "bold", "cyan")
        title = self.style.paint(visible(str(stage.get("title"))), "bold")
        stage_id = visible(str(stage.get("id")))
        self._write(f"{arrow} {counter}{stage_id}: {title}\n")
        self._begin(f"{counter}{stage_id}")

    def _on_stage_end(self, event: Event) -> None:
        stage: StageRecord = event.payload.get("stage", {})
        if not self._in_stage:
            self._stage_number += 1  # a skipped stage never started
        self._in_stage = False
        self._end()
        took = stage.get("durationMs")
        timing = f" ({float(took) / 1000:.2f}s)" if took is not None else ""
        detail = f" - {visible(str(stage['detail']))}" if stage.get("detail") else ""
        arrow = self.style.paint("<==", "bold", "cyan")
        status = self.style.status(stage.get("status"))
        stage_id = visible(str(stage.get("id")))
        self._write(f"{arrow} {self._counter()}{stage_id}: {status}{timing}{detail}\n")

    def _on_guardrail_result(self, event: Event) -> None:
        self._guardrail(event.payload.get("guardrail", {}))

    def _on_tool_retry(self, event: Event) -> None:
        payload = event.payload
        self._write(
            self.style.paint(
                f"[codex] retrying ({visible(str(payload.get('reason')))}), "
                f"attempt {payload.get('attempt')}",
                "yellow",
            )
            + "\n"
        )

    def _guardrail(self, record: dict[str, object]) -> None:
        findings = record.get("findings")
        findings = findings if isinstance(findings, list) else []
        cached = ", cached" if record.get("cached") else ""
        summary = f": {visible(str(record['summary']))}" if record.get("summary") else ""
        lines = [
            f"    guardrail {visible(str(record.get('name')))} "
            f"{self.style.status(record.get('status'))} "
            f"({len(findings)} findings{cached}){summary}\n"
        ]
        for finding in findings[:MAX_FINDINGS_SHOWN]:
            where = visible(str(finding.get("path") or "-"))
            if finding.get("line") is not None:
                where = f"{where}:{finding['line']}"
            hint = f" (hint: {visible(str(finding['hint']))})" if finding.get("hint") else ""
            rule = self.style.paint(visible(str(finding.get("rule"))), "dim")
            message = visible(str(finding.get("message")))
            lines.append(f"      {where}: {rule}: {message}{hint}\n")
        if len(findings) > MAX_FINDINGS_SHOWN:
            lines.append(f"      ... {len(findings) - MAX_FINDINGS_SHOWN} more in the manifest\n")
        self._write("".join(lines))

    def close(self) -> None:
        """Stop the ticker and erase the progress line (the stream is not ours to close)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            self._label = None
            self._erase()
            self.stream.flush()
