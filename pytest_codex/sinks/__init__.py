"""The sinks of a run: every event of its bus reaches each of them.

Always attached by :class:`~pytest_codex.run.Run`: :mod:`.manifest` (``manifest.json``) and
:mod:`.jsonl` (``events.jsonl``). Attached by the CLI: the ``--jsonl`` stream, the Codex
``exec --json`` dialect (:mod:`.codex_dialect`) and the terminal (:mod:`.human`). Attached
from the configuration through the ``codex_sinks`` hook (:mod:`pytest_codex.hookspecs`):
the built-ins of :mod:`.builtin` (OTEL in :mod:`.telemetry`, :mod:`.notify`) and every
installed package's ``codex_sinks`` entry point. Sinks never import each other; what they
render alike lives in :mod:`pytest_codex.summary`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError
from ..events import Sink
from .builtin import CONFIGURED_SINKS

if TYPE_CHECKING:
    import pluggy

    from ..context import Context
    from ..paths import RunPaths

__all__ = ["CONFIGURED_SINKS", "configured_sinks", "plugin_manager"]


def plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, ``plugins`` and (unless told not to) every
    installed package's ``codex_sinks`` entry point registered."""
    import pluggy

    from .. import hookspecs
    from . import builtin

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    # Registered under its entry point's name, so the installed entry point is recognised as
    # already loaded rather than registered twice.
    manager.register(builtin, name="builtin")
    for plugin in plugins:
        manager.register(plugin)
    if entry_points and _entry_points_to_load(manager, hookspecs.ENTRY_POINT_GROUP):
        manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    return manager


def _entry_points_to_load(manager: pluggy.PluginManager, group: str) -> bool:
    """Whether pluggy's entry point scan would load anything: it skips the names already
    registered (``builtin``) or blocked. Answered from the ``entry_points.txt`` files when
    possible, since the scan itself imports importlib.metadata (a fifth of ``exec``'s
    start-up)."""
    from ..entry_points import entry_point_names

    names = entry_point_names(group)
    if names is None:
        return True
    return any(not manager.has_plugin(n) and not manager.is_blocked(n) for n in names)


def configured_sinks(
    context: Context, paths: RunPaths, manager: pluggy.PluginManager | None = None
) -> list[Sink]:
    """The sinks every ``codex_sinks`` implementation attaches: the built-ins first."""
    manager = manager or plugin_manager()
    sinks: list[Sink] = []
    owners: dict[str, str] = {}
    # get_hookimpls() lists implementations in registration order: the built-ins first.
    for impl in manager.hook.codex_sinks.get_hookimpls():
        provided = cast("Iterable[Any]", impl.function(context, paths) or ())
        for sink in provided:
            if not isinstance(sink, Sink):
                raise ConfigError(
                    f"sink plugin {impl.plugin_name!r} returned {sink!r}, which has no "
                    "name/handle/close; return pytest_codex.events.Sink objects"
                )
            if sink.name in owners:
                raise ConfigError(
                    f"sink {sink.name!r} is provided by both {owners[sink.name]!r} and "
                    f"{impl.plugin_name!r}; uninstall or rename one"
                )
            owners[sink.name] = impl.plugin_name
            sinks.append(sink)
    return sinks
