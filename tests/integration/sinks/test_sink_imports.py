"""LAYOUT rule 3, pinned: sinks never import producers, the run, or each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_codex

PACKAGE = Path(pytest_codex.__file__).parent
SINKS = ["manifest", "jsonl", "codex_dialect", "human", "notify", "telemetry"]
HELPERS = ["_otlp_http"]  # private to one sink; imports what sinks may import
FORBIDDEN = [
    "run",
    "execution",
    "orchestrator",
    "approvals",
    "runtime",
    "sandbox",
    "instructions",
    "pipeline",
    "review",
    "cli",
    "plugin",
    "sdk",
    *(f"sinks.{name}" for name in SINKS),
]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module or "")
                continue
            # Relative to pytest_codex.sinks: one dot is the sinks package, two the top.
            base = "sinks" if node.level == 1 else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(f"pytest_codex.{module}" if module else "pytest_codex")
            found.update(
                f"pytest_codex.{module}.{alias.name}".replace("..", ".") for alias in node.names
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("sink", [*SINKS, *HELPERS])
def test_a_sink_imports_no_producer_no_run_and_no_other_sink(sink: str) -> None:
    imported = _imports(PACKAGE / "sinks" / f"{sink}.py")
    bad = sorted(
        name
        for name in imported
        for forbidden in FORBIDDEN
        if forbidden != f"sinks.{sink}"
        and (name == f"pytest_codex.{forbidden}" or name.startswith(f"pytest_codex.{forbidden}."))
    )
    assert bad == []


def test_only_the_telemetry_sink_imports_opentelemetry() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "sinks" / "telemetry.py":
            continue
        assert not any(name.startswith("opentelemetry") for name in _imports(path)), path
