"""The sink extension point: pluggy hookspecs under the project name ``codex_sinks``.

A package adds sinks to every run the way the built-in OTEL and notification sinks are
added: a module with a ``hookimpl`` of :func:`codex_sinks`, named in the package's
``codex_sinks`` entry-point group::

    # pyproject.toml
    [project.entry-points.codex_sinks]
    audit = "my_package.audit_sink"

    # my_package/audit_sink.py
    from pytest_codex.hookspecs import hookimpl

    class AuditSink:
        name = "audit"
        def handle(self, event): ...
        def close(self): ...

    @hookimpl
    def codex_sinks(context, paths):
        return [AuditSink()] if context.config.get("audit") else []

A sink implements :class:`pytest_codex.events.Sink` (and optionally ``finalize`` and
``health``, see :class:`~pytest_codex.events.FinalizingSink` and
:class:`~pytest_codex.events.ReportingSink`). Keep the hook cheap: import heavy libraries only
when the configuration asks for the sink, as the built-ins do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .context import Context
    from .events import Sink
    from .paths import RunPaths

PROJECT = "codex_sinks"
ENTRY_POINT_GROUP = "codex_sinks"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def codex_sinks(context: Context, paths: RunPaths) -> list[Sink]:  # type: ignore[empty-body]
    """Return the sinks this plugin attaches to the run at ``paths`` (an empty list when its
    configuration does not ask for any). Called once per started or resumed run; sink names
    must be unique within a run."""
