"""The configured built-in sinks (OTEL, notifications), registered through ``codex_sinks``
like any third-party sink. Each module is imported only when its config key is set, so a run
without an OTEL endpoint never imports opentelemetry."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..context import Context
    from ..events import Sink
    from ..paths import RunPaths

# (config key, "module:factory"); a factory takes (context, paths) and returns a Sink or None.
CONFIGURED_SINKS: tuple[tuple[str, str], ...] = (
    ("otel", "pytest_codex.sinks.telemetry:sink_from_config"),
    ("notify", "pytest_codex.sinks.notify:sink_from_config"),
)


@hookimpl
def codex_sinks(context: Context, paths: RunPaths) -> list[Sink]:
    """The sinks the configuration asks for, in a fixed order."""
    sinks: list[Sink] = []
    for key, target in CONFIGURED_SINKS:
        if not context.config.get(key):
            continue
        module_name, _, factory_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that capability is not part of this build
        sink = getattr(module, factory_name)(context, paths)
        if sink is not None:
            sinks.append(sink)
    return sinks
