"""Finding guardrails: the built-ins and every ``codex_guardrails`` entry point, through pluggy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pluggy

from pytest_codex.errors import ConfigError, UsageError

from . import hookspecs
from .api import Guardrail

GUARDRAILS_ENV = "CODEX_ORCHESTRATOR_GUARDRAILS"


def plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, ``plugins`` and (unless told not to) every
    installed package's ``codex_guardrails`` entry point registered."""
    from . import builtin

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    # Registered under the entry point's own name, so the installed entry point for the
    # built-ins is recognised as already loaded rather than registered twice.
    manager.register(builtin, name="builtin")
    for plugin in plugins:
        manager.register(plugin)
    if entry_points:
        manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    return manager


def discover(manager: pluggy.PluginManager | None = None) -> dict[str, Guardrail]:
    """Every available guardrail by name: built-ins first, in their documented order."""
    manager = manager or plugin_manager()
    found: dict[str, Guardrail] = {}
    owners: dict[str, str] = {}
    # get_hookimpls() lists implementations in registration order: the built-ins first.
    for impl in manager.hook.codex_guardrails.get_hookimpls():
        plugin_name = impl.plugin_name
        provided = cast("Iterable[Any]", impl.function() or ())
        for guardrail in provided:
            if not isinstance(guardrail, Guardrail):
                raise ConfigError(
                    f"guardrail plugin {plugin_name!r} returned {guardrail!r}, which is not a "
                    "guardrails.Guardrail instance"
                )
            name = getattr(guardrail, "name", None)
            if not isinstance(name, str) or not name:
                raise ConfigError(
                    f"guardrail plugin {plugin_name!r}: {type(guardrail).__name__} has no name"
                )
            if name in found:
                raise ConfigError(
                    f"guardrail {name!r} is provided by both {owners[name]!r} and "
                    f"{plugin_name!r}; uninstall or rename one"
                )
            found[name] = guardrail
            owners[name] = plugin_name
    return found


def config_plugins(settings: Mapping[str, Any], root: Path | None = None) -> list[Any]:
    """The modules named in ``guardrails.plugins``, importable from the repository ``root``
    however the process started (``pytest``, ``python -m pytest`` or ``codex-orchestrator``):
    the root is put first on ``sys.path`` for them, and stays there so that a plugin's own
    later imports of its sibling modules work too."""
    import importlib

    names = [str(name) for name in settings.get("plugins") or ()]
    if names and root is not None:
        _importable_from(root)
    plugins = []
    for name in names:
        try:
            plugins.append(importlib.import_module(name))
        except ImportError as exc:
            raise ConfigError(
                f"guardrails.plugins: cannot import {name!r} ({exc}); check the module name "
                "and that it is importable from the repository root"
            ) from exc
    return plugins


def _importable_from(root: Path) -> None:
    """Put ``root`` first on ``sys.path`` (once), as ``python -m`` puts the current
    directory."""
    import importlib
    import os
    import sys

    entry = os.path.abspath(root)
    present = {os.path.abspath(p or os.curdir) for p in sys.path}
    if entry not in present:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()


def available(
    settings: Mapping[str, Any] | None = None, root: Path | None = None
) -> dict[str, Guardrail]:
    """Every guardrail available under the ``guardrails`` configuration ``settings``: the
    built-ins, installed entry points and ``guardrails.plugins`` modules (imported from the
    repository ``root`` when given)."""
    settings = settings or {}
    return discover(plugin_manager(plugins=config_plugins(settings, root)))


def parse_names(value: str | Sequence[str] | None) -> list[str] | None:
    """``a,b`` (or a list) as names; None when nothing was given; ``none`` selects nothing."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if [n.lower() for n in names] in ([], ["none"]):
        return []
    return names


def enabled_names(
    *,
    explicit: str | Sequence[str] | None,
    env: Mapping[str, str],
    settings: Mapping[str, Any],
    ini: Sequence[str] | None = None,
) -> list[str] | None:
    """Which guardrails are enabled: the flag > ``CODEX_ORCHESTRATOR_GUARDRAILS`` > the ini
    key > ``guardrails.enabled`` in the config file; None (all) when nothing says."""
    for value in (explicit, env.get(GUARDRAILS_ENV) or None, ini or None):
        names = parse_names(value)
        if names is not None:
            return names
    if settings.get("enabled") is not None:
        return parse_names(list(settings["enabled"]))
    return None


def select(available: dict[str, Guardrail], names: Sequence[str] | None) -> list[Guardrail]:
    """The guardrails to run: ``names`` in the given order (None: all available)."""
    if names is None:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(
            f"unknown guardrail {', '.join(map(repr, unknown))}; available: "
            f"{', '.join(available) or 'none'}"
        )
    seen: dict[str, Guardrail] = {}
    for name in names:
        seen.setdefault(name, available[name])
    return list(seen.values())
