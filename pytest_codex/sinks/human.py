"""Human-readable output on a terminal: live command output and stage progress."""

from __future__ import annotations

from typing import IO

from ..events import DispatchingSink, Event
from ..records import StageRecord

# A terminal shows the first findings; the manifest keeps them all.
MAX_FINDINGS_SHOWN = 50


class HumanSink(DispatchingSink):
    """Prints what a person at a terminal wants to see while a run goes on."""

    name = "terminal"

    def __init__(self, stream: IO[str], *, show_output: bool = True) -> None:
        self.stream = stream
        self.show_output = show_output

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _on_exec_chunk(self, event: Event) -> None:
        if self.show_output:
            self._write(str(event.payload.get("data", "")))

    def _on_stage_start(self, event: Event) -> None:
        stage = event.payload.get("stage", {})
        self._write(f"==> {stage.get('id')}: {stage.get('title')}\n")

    def _on_stage_end(self, event: Event) -> None:
        stage: StageRecord = event.payload.get("stage", {})
        took = stage.get("durationMs")
        timing = f" ({float(took) / 1000:.2f}s)" if took is not None else ""
        detail = f" - {stage['detail']}" if stage.get("detail") else ""
        self._write(f"<== {stage.get('id')}: {stage.get('status')}{timing}{detail}\n")

    def _on_guardrail_result(self, event: Event) -> None:
        self._guardrail(event.payload.get("guardrail", {}))

    def _on_tool_retry(self, event: Event) -> None:
        payload = event.payload
        self._write(
            f"[codex] retrying ({payload.get('reason')}), attempt {payload.get('attempt')}\n"
        )

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
