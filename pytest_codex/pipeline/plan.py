"""What a pipeline would do, without doing it: its stages, their commands and guardrails,
and which guardrail results the cache would serve as things stand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..emitter import RecordingEmitter
from .model import Pipeline

if TYPE_CHECKING:
    from ..context import Context


def plan_pipeline(
    context: Context, pipeline: Pipeline, *, task_id: str | None, use_cache: bool = True
) -> dict[str, Any]:
    """``{"pipeline", "title", "source", "stages": [...]}``; each stage has ``id``, ``kind``,
    ``title``, ``allowFailure``, ``command`` (argv) or ``guardrail``, and for guardrails
    ``cache`` (``hit`` with ``cachedFrom``, ``miss``, or ``off``). Nothing is run, emitted
    or written."""
    from guardrails import GuardrailSession

    from .execute import resolve_guardrails

    guardrails = resolve_guardrails(context.config, pipeline, context.roots.root)
    session = GuardrailSession.standalone(
        context, task_id, emitter=RecordingEmitter(), use_cache=use_cache
    )
    stages: list[dict[str, Any]] = []
    for stage in pipeline.stages:
        entry: dict[str, Any] = {
            "id": stage.id,
            "kind": stage.kind,
            "title": stage.title,
            "allowFailure": stage.allow_failure,
        }
        if stage.kind == "command":
            entry["command"] = stage.argv()
            entry["timeoutSeconds"] = stage.timeout
        else:
            guardrail = guardrails[stage.guardrail or stage.id]
            entry["guardrail"] = guardrail.name
            entry["version"] = guardrail.version
            cached = session.cached(guardrail) if use_cache else None
            entry["cache"] = "off" if not use_cache else ("hit" if cached else "miss")
            entry["cachedFrom"] = cached.get("runId") if cached else None
            if cached:
                entry["cachedStatus"] = cached["record"].get("rawStatus") or cached["record"].get(
                    "status"
                )
        stages.append(entry)
    return {
        "pipeline": pipeline.id,
        "title": pipeline.title,
        "source": pipeline.source,
        "taskId": task_id,
        "stages": stages,
    }
