"""Pipelines: named lists of stages (commands and guardrails) run inside one run.

:mod:`.model` holds the stages, the built-in pipelines and the stage loop; :mod:`.execute`
runs a pipeline's command stages through the exec runtime and its guardrail stages through a
guardrail session.
"""

from __future__ import annotations

from .model import (
    Pipeline,
    PipelineResult,
    Stage,
    StageKind,
    StageOutcome,
    StageStatus,
    available_pipelines,
    builtin_pipelines,
    find_pipeline,
    pipeline_from_config,
    run_pipeline,
)

__all__ = [
    "Pipeline",
    "PipelineResult",
    "Stage",
    "StageKind",
    "StageOutcome",
    "StageStatus",
    "available_pipelines",
    "builtin_pipelines",
    "find_pipeline",
    "pipeline_from_config",
    "run_pipeline",
]
