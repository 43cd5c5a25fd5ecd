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


def config_plugins(
    settings: Mapping[str, Any], root: Path | None = None, *, workspace_modules: bool = False
) -> list[Any]:
    """The modules named in ``guardrails.plugins``.

    The trusted side (``codex-orchestrator``) never imports code a command could have
    written: a module is imported from the orchestrator's own environment only, and one whose
    file lies in the workspace ``root`` is a :class:`ConfigError`. Under pytest
    (``workspace_modules=True``) the process imports the workspace's conftest files and tests
    anyway, so modules there are importable from the repository root however pytest started
    (``pytest`` or ``python -m pytest``): the root is put first on ``sys.path`` for them, and
    stays there so that a plugin's own later imports of its sibling modules work too."""
    import importlib

    names = [str(name) for name in settings.get("plugins") or ()]
    if names and root is not None and workspace_modules:
        _importable_from(root)
    plugins = []
    for name in names:
        if root is not None and not workspace_modules:
            _refuse_workspace_module(name, root)
        try:
            plugins.append(importlib.import_module(name))
        except ImportError as exc:
            where = (
                "importable from the repository root"
                if workspace_modules
                else "installed beside codex-orchestrator"
            )
            raise ConfigError(
                f"guardrails.plugins: cannot import {name!r} ({exc}); check the module name "
                f"and that it is {where}"
            ) from exc
    return plugins


def _refuse_workspace_module(name: str, root: Path) -> None:
    """Refuse ``name`` when its top-level package lies in the workspace: at the repository
    root, or wherever the import system would find it (looked up without running any of its
    code)."""
    import importlib.util
    import os

    top = name.split(".", 1)[0]
    places = [str(p) for p in (root / f"{top}.py", root / top) if p.exists()]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None  # the import below says what is wrong
    if spec is not None:
        places += [spec.origin or "", *(spec.submodule_search_locations or ())]
    workspace = os.path.realpath(root)
    for place in places:
        real = os.path.realpath(place) if place else ""
        if real == workspace or real.startswith(workspace + os.sep):
            raise ConfigError(
                f"guardrails.plugins: {name!r} is {place}, in the workspace, where a command "
                "can rewrite it, and codex-orchestrator never imports workspace code; install "
                "the plugin outside the workspace (e.g. 'pipx inject pytest-codex-orchestrator "
                "PACKAGE'), or run the guardrails under pytest"
            )


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
    settings: Mapping[str, Any] | None = None,
    root: Path | None = None,
    *,
    workspace_modules: bool = False,
) -> dict[str, Guardrail]:
    """Every guardrail available under the ``guardrails`` configuration ``settings``: the
    built-ins, installed entry points and ``guardrails.plugins`` modules (see
    :func:`config_plugins`: from the workspace ``root`` only with ``workspace_modules``)."""
    settings = settings or {}
    plugins = config_plugins(settings, root, workspace_modules=workspace_modules)
    return discover(plugin_manager(plugins=plugins))


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
