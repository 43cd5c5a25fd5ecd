"""The guardrail extension point: pluggy hookspecs under the project name ``codex_guardrails``.

A package adds guardrails the way the built-ins are added: a module with a ``hookimpl`` of
:func:`codex_guardrails`, named in the package's ``codex_guardrails`` entry-point group::

    # pyproject.toml
    [project.entry-points.codex_guardrails]
    mycheck = "my_package.guardrails"

    # my_package/guardrails.py
    from guardrails import Guardrail, Result, hookimpl

    class NoTodo(Guardrail):
        name = "no-todo"
        def run(self, ctx): ...

    @hookimpl
    def codex_guardrails():
        return [NoTodo()]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .api import Guardrail

PROJECT = "codex_guardrails"
ENTRY_POINT_GROUP = "codex_guardrails"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def codex_guardrails() -> list[Guardrail]:  # type: ignore[empty-body]
    """Return the guardrails this plugin provides (instances of
    :class:`guardrails.Guardrail`). Names must be unique across all plugins."""
