"""LAYOUT.md's "What never imports what", pinned: one test per rule on the checkout, and one
per rule showing that it catches a synthetic violation."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tests.helpers.import_rules import RULES, Module, build_graph

Rule = Callable[[dict[str, Module]], list[str]]


@pytest.fixture(scope="module")
def checkout() -> dict[str, Module]:
    return build_graph(REPO_ROOT)


def _check(rule: str, modules: dict[str, Module]) -> None:
    violations = RULES[rule](modules)
    doc = " ".join((RULES[rule].__doc__ or rule).split())
    assert not violations, f"{doc}\n  " + "\n  ".join(violations)


def test_foundation_imports_nothing_above_it(checkout: dict[str, Module]) -> None:
    _check("1-foundation", checkout)


def test_producers_never_import_run_sinks_execution_or_adapters(
    checkout: dict[str, Module],
) -> None:
    _check("2-producers", checkout)


def test_sinks_never_import_producers_run_or_each_other(checkout: dict[str, Module]) -> None:
    _check("3-sinks", checkout)


def test_only_run_builds_a_bus_and_the_file_sinks(checkout: dict[str, Module]) -> None:
    _check("4-one-bus-builder", checkout)


def test_the_orchestrator_uses_runtime_runners_only_and_runtime_stays_below_it(
    checkout: dict[str, Module],
) -> None:
    _check("5-runtime-runners", checkout)


def test_cli_and_plugin_never_import_each_other_and_the_sdk_stays_thin(
    checkout: dict[str, Module],
) -> None:
    _check("6-adapters", checkout)


def test_guardrails_reach_the_plugin_through_session_run_only(
    checkout: dict[str, Module],
) -> None:
    _check("7-guardrails", checkout)


def test_pytest_only_in_the_plugin_and_argparse_only_in_the_cli(
    checkout: dict[str, Module],
) -> None:
    _check("8-frameworks", checkout)


def test_heavy_libraries_only_in_their_modules(checkout: dict[str, Module]) -> None:
    _check("9-heavy-libraries", checkout)


def test_no_module_pair_imports_each_other(checkout: dict[str, Module]) -> None:
    _check("no-mutual-imports", checkout)


def test_no_import_circle_of_any_length(checkout: dict[str, Module]) -> None:
    _check("no-cycles", checkout)


def test_every_module_of_both_packages_is_parsed(checkout: dict[str, Module]) -> None:
    files = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for package in ("pytest_codex", "guardrails")
        for p in (REPO_ROOT / package).rglob("*.py")
    )
    assert sorted(m.path for m in checkout.values()) == files
    assert "pytest_codex.plugin.state" in checkout and "guardrails.pytest_items" in checkout


# -- each rule catches what it forbids ------------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for package in ("pytest_codex", "guardrails"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.name != tmp_path.name:
            (path.parent / "__init__.py").touch(exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return build_graph(tmp_path)


SYNTHETIC: dict[str, tuple[dict[str, str], str]] = {
    "1-foundation": (
        {
            "pytest_codex/run.py": "",
            "pytest_codex/errors.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from .run import Run
            """,
        },
        "pytest_codex/errors.py:4 imports pytest_codex.run",
    ),
    "2-producers": (
        {
            "pytest_codex/execution.py": "",
            "pytest_codex/runtime/pipe.py": """
                def later():
                    from ..execution import execute_command
            """,
        },
        "pytest_codex/runtime/pipe.py:3 imports pytest_codex.execution",
    ),
    "3-sinks": (
        {
            "pytest_codex/sinks/human.py": "",
            "pytest_codex/sinks/notify.py": "from . import human\n",
        },
        "pytest_codex/sinks/notify.py:1 imports pytest_codex.sinks.human (a sink importing",
    ),
    "4-one-bus-builder": (
        {
            "pytest_codex/review.py": """
                from .events import EventBus
                bus = EventBus("run-id")
            """,
        },
        "pytest_codex/review.py:3 builds an EventBus",
    ),
    "4-one-bus-builder-direct-write": (
        {
            "pytest_codex/review.py": """
                from .atomic import atomic_write_json
                def record(manifest_path, document):
                    atomic_write_json(manifest_path, document)
            """,
        },
        "pytest_codex/review.py:4 writes manifest_path with atomic_write_json",
    ),
    "5-runtime-runners": (
        {
            "pytest_codex/runtime/pipe.py": "",
            "pytest_codex/orchestrator.py": "from .runtime.pipe import run_pipe\n",
        },
        "pytest_codex/orchestrator.py:1 imports pytest_codex.runtime.pipe (use",
    ),
    "6-adapters": (
        {
            "pytest_codex/plugin/state.py": "",
            "pytest_codex/cli/start.py": "import pytest_codex.plugin.state\n",
        },
        "pytest_codex/cli/start.py:1 imports pytest_codex.plugin.state",
    ),
    "6-adapters-mcp-sdk": (
        {"pytest_codex/execution.py": "import anyio\n"},
        "pytest_codex/execution.py:1 imports anyio (the MCP SDK is the mcp extra's)",
    ),
    "6-adapters-mcp-cli": (
        {
            "pytest_codex/cli/exec.py": "",
            "pytest_codex/mcp/server.py": "from ..cli.exec import run_exec\n",
        },
        "pytest_codex/mcp/server.py:1 imports pytest_codex.cli.exec",
    ),
    "7-guardrails": (
        {
            "pytest_codex/plugin/recorder.py": "",
            "guardrails/pytest_items.py": "from pytest_codex.plugin.recorder import X\n",
        },
        "guardrails/pytest_items.py:1 imports pytest_codex.plugin.recorder",
    ),
    "7-guardrails-private-state": (
        {
            "pytest_codex/plugin/state.py": "",
            "guardrails/pytest_items.py": "from pytest_codex.plugin.state import recorder_key\n",
        },
        "guardrails/pytest_items.py:1 imports pytest_codex.plugin.state (recorder_key; only",
    ),
    "8-frameworks": (
        {"pytest_codex/run.py": "import argparse\n"},
        "pytest_codex/run.py:1 imports argparse",
    ),
    "9-heavy-libraries": (
        {"pytest_codex/plugin/state.py": "def f():\n    import yaml\n"},
        "pytest_codex/plugin/state.py:2 imports yaml",
    ),
    "no-mutual-imports": (
        {
            # The cycle the layout work removed: the plugin's state module reaching back
            # into the package __init__ for a class defined there.
            "pytest_codex/plugin/__init__.py": """
                from .state import session_run
                class CodexRecorder: ...
            """,
            "pytest_codex/plugin/state.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from . import CodexRecorder
            """,
        },
        "pytest_codex/plugin/__init__.py:2 imports pytest_codex.plugin.state and "
        "pytest_codex/plugin/state.py:4 imports pytest_codex.plugin",
    ),
    "no-cycles": (
        {
            # A circle hidden behind a lazy name table (the old manifest <-> sinks.manifest).
            "pytest_codex/manifest.py": """
                import importlib
                def __getattr__(name):
                    return getattr(importlib.import_module(_TABLE[name]), name)
                _TABLE = {"ManifestSink": "pytest_codex.sinks.manifest"}
            """,
            "pytest_codex/sinks/manifest.py": "from ..records import x\n",
            "pytest_codex/records.py": "from .manifest import y\n",
        },
        "circle pytest_codex.manifest <-> pytest_codex.records <-> pytest_codex.sinks.manifest: "
        "pytest_codex/manifest.py:5 imports pytest_codex.sinks.manifest",
    ),
    "no-folder-loops": (
        {
            "pytest_codex/plugin/state.py": "",
            "pytest_codex/plugin/__init__.py": """
                def later():
                    import importlib
                    importlib.import_module("guardrails.pytest_items")
            """,
            "guardrails/pytest_items.py": "from pytest_codex.plugin.state import session_run\n",
        },
        "circle guardrails.pytest_items <-> pytest_codex.plugin: guardrails/pytest_items.py:1 "
        "imports pytest_codex.plugin.state; pytest_codex/plugin/__init__.py:4 imports "
        "guardrails.pytest_items",
    ),
}


@pytest.mark.parametrize("rule", sorted(SYNTHETIC))
def test_each_rule_names_the_import_that_breaks_it(tmp_path: Path, rule: str) -> None:
    """Fed a tree that breaks it, each rule fails naming the file, line and import."""
    files, expected = SYNTHETIC[rule]
    for suffix in ("-private-state", "-direct-write", "-mcp-sdk", "-mcp-cli"):
        rule = rule.removesuffix(suffix)
    violations = RULES[rule](_tree(tmp_path, files))
    assert any(v.startswith(expected) for v in violations), violations
    with pytest.raises(AssertionError, match=r"imports|builds|writes"):
        _check(rule, _tree(tmp_path, files))


def test_a_package_init_reexporting_its_submodules_is_allowed(tmp_path: Path) -> None:
    modules = _tree(
        tmp_path,
        {
            "pytest_codex/runtime/__init__.py": "from .pipe import run_pipe\n",
            "pytest_codex/runtime/pipe.py": "def run_pipe(): ...\n",
            "pytest_codex/runtime/manager.py": (
                "from . import pipe\nfrom pytest_codex.runtime import run_pipe\n"
            ),
        },
    )
    assert RULES["no-mutual-imports"](modules) == []


def test_every_rule_has_a_synthetic_violation() -> None:
    variants = {
        n.removesuffix("-private-state")
        .removesuffix("-direct-write")
        .removesuffix("-mcp-sdk")
        .removesuffix("-mcp-cli")
        for n in SYNTHETIC
    }
    assert variants == set(RULES)
