"""Human-readable output on a terminal: live command output and stage progress."""

from __future__ import annotations

from typing import IO

from ..events import Event

# A terminal shows the first findings; the manifest keeps them all.
MAX_FINDINGS_SHOWN = 50


class HumanSink:
    """Prints what a person at a terminal wants to see while a run goes on."""

    name = "terminal"

    def __init__(self, stream: IO[str], *, show_output: bool = True) -> None:
        self.stream = stream
        self.show_output = show_output

    def handle(self, event: Event) -> None:
        """Print live output, stage boundaries and retries."""
        payload = event.payload
        if event.type == "exec:chunk" and self.show_output:
            self.stream.write(str(payload.get("data", "")))
            self.stream.flush()
        elif event.type == "stage:start":
            stage = payload.get("stage", {})
            self.stream.write(f"==> {stage.get('id')}: {stage.get('title')}\n")
            self.stream.flush()
        elif event.type == "stage:end":
            stage = payload.get("stage", {})
            took = stage.get("durationMs")
            timing = f" ({float(took) / 1000:.2f}s)" if took is not None else ""
            detail = f" - {stage['detail']}" if stage.get("detail") else ""
            self.stream.write(f"<== {stage.get('id')}: {stage.get('status')}{timing}{detail}\n")
            self.stream.flush()
        elif event.type == "guardrail:result":
            self._guardrail(payload.get("guardrail", {}))
        elif event.type == "tool:retry":
            self.stream.write(
                f"[codex] retrying ({payload.get('reason')}), attempt {payload.get('attempt')}\n"
            )
            self.stream.flush()

    def _guardrail(self, record: dict[str, object]) -> None:
        findings = record.get("findings")
        findings = findings if isinstance(findings, list) else []
        cached = ", cached" if record.get("cached") else ""
        summary = f": {record['summary']}" if record.get("summary") else ""
        self.stream.write(
            f"    guardrail {record.get('name')} {record.get('status')} "
            f"({len(findings)} findings{cached}){summary}\n"
        )
        for finding in findings[:MAX_FINDINGS_SHOWN]:
            where = finding.get("path") or "-"
            if finding.get("line") is not None:
                where = f"{where}:{finding['line']}"
            hint = f" (hint: {finding['hint']})" if finding.get("hint") else ""
            self.stream.write(
                f"      {where}: {finding.get('rule')}: {finding.get('message')}{hint}\n"
            )
        if len(findings) > MAX_FINDINGS_SHOWN:
            self.stream.write(
                f"      ... {len(findings) - MAX_FINDINGS_SHOWN} more in the manifest\n"
            )
        self.stream.flush()

    def close(self) -> None:
        """Flush (the stream is not ours to close)."""
        self.stream.flush()
