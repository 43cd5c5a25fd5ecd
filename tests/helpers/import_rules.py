"""The import rules of LAYOUT.md ("What never imports what"), as functions over an import graph.

:func:`build_graph` parses every module of the given source roots with :mod:`ast` and records
every import (module level, under ``TYPE_CHECKING``, inside functions) with its line, and the
imports written as strings: ``importlib.import_module("...")`` / ``__import__("...")`` with a
literal name, and, in a module with a module-level ``__getattr__`` (PEP 562 lazy names), every
string literal that names a module of the tree.
Each ``rule_*`` function returns the violations, one readable line each
(``pytest_codex/errors.py:12 imports pytest_codex.run``); the tests in
``tests/unit/architecture/test_import_rules.py`` run them on the checkout, and on synthetic
trees that break them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

PACKAGES = ("pytest_codex", "guardrails")

FOUNDATION = frozenset(
    f"pytest_codex.{name}"
    for name in [
        "errors",
        "ids",
        "timeutil",
        "atomic",
        "schemas",
        "credentials",
        "redact",
        "paths",
        "context",
        "emitter",
        "config",
        "handle",
        "events",
        "records",
        "summary",
        "manifest",
        "hookspecs",
        "gitenv",
        "repository",
        "distribution",
        "entry_points",
        "trust",
        "programs",
        "terminal",
    ]
)
PRODUCERS = ("pytest_codex.sandbox", "pytest_codex.digests", "pytest_codex.instructions",
             "pytest_codex.approvals", "pytest_codex.runtime",
             "pytest_codex.orchestrator")  # fmt: skip
# What producers never import (rule 2).
ABOVE_PRODUCERS = ("pytest_codex.run", "pytest_codex.sinks", "pytest_codex.execution",
                   "pytest_codex.cli", "pytest_codex.plugin", "pytest_codex.sdk")  # fmt: skip
SDK_MAY_IMPORT = ("pytest_codex.records", "pytest_codex.events", "pytest_codex.errors")
# The MCP SDK (an optional extra) and what it brings: only the MCP adapter imports them, and
# the CLI module that checks the extra is installed.
MCP_SDK = ("mcp", "mcp_types", "anyio", "pydantic")
MCP_SDK_HOMES = ("pytest_codex.mcp", "pytest_codex.cli.mcp")
# Third-party libraries that load slowly, and the modules they may be imported in (rule 9).
HEAVY = ("opentelemetry", "jsonschema", "yaml")
HEAVY_HOMES = ("pytest_codex.sinks.telemetry", "pytest_codex.schemas", "pytest_codex.config")


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written and resolved."""

    target: str  # the imported module (a module of the tree when it resolves to one)
    line: int
    names: tuple[str, ...] = ()  # for ``from target import a, b``: the names taken from it


@dataclass
class Module:
    """One parsed module."""

    name: str
    path: str  # relative to the source root, for messages
    is_package: bool
    imports: list[Import] = field(default_factory=list)
    source: ast.Module | None = None

    def where(self, imp: Import) -> str:
        return f"{self.path}:{imp.line} imports {imp.target}"


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def build_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Module]:
    """Every module under ``root/<package>`` with its imports, resolved to module names."""
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name, is_package = _module_name(root, path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            modules[name] = Module(name, path.relative_to(root).as_posix(), is_package, [], tree)
    known = set(modules)
    for module in modules.values():
        assert module.source is not None
        module.imports = list(_imports(module, known))
    return modules


def _imports(module: Module, known: set[str]) -> Iterator[Import]:
    assert module.source is not None
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(module.source):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                # ``from pkg import sub`` imports the module pkg.sub when there is one.
                candidate = f"{base}.{alias.name}"
                if candidate in known:
                    yield Import(candidate, node.lineno)
                else:
                    yield Import(base, node.lineno, (alias.name,))
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            yield Import(node.args[0].value, node.lineno)  # type: ignore[attr-defined]
    if _lazy_names(module.source):
        for node in ast.walk(module.source):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in known
                and node.value != module.name
            ):
                yield Import(node.value, node.lineno)


def _dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("name")``, ``import_module("name")``, ``__import__("name")``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return (
        name in ("import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def _lazy_names(tree: ast.Module) -> bool:
    """Whether the module answers names lazily (a module-level ``__getattr__``)."""
    return any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _within_any(name: str, prefixes: Iterable[str]) -> bool:
    return any(_within(name, p) for p in prefixes)


def _tree(name: str) -> bool:
    return _within_any(name, PACKAGES)


# -- the rules --------------------------------------------------------------------------------
def rule_foundation(modules: dict[str, Module]) -> list[str]:
    """1. Foundation imports nothing above it."""
    return [
        m.where(i)
        for m in modules.values()
        if m.name in FOUNDATION
        for i in m.imports
        if _tree(i.target) and i.target not in FOUNDATION and i.target != "pytest_codex"
    ]


def rule_producers(modules: dict[str, Module]) -> list[str]:
    """2. Producers never import run, sinks, execution, cli, plugin or sdk."""
    return [
        m.where(i)
        for m in modules.values()
        if _within_any(m.name, PRODUCERS)
        for i in m.imports
        if _within_any(i.target, ABOVE_PRODUCERS)
    ]


def rule_sinks(modules: dict[str, Module]) -> list[str]:
    """3. Sinks never import producers, run or each other."""
    found = []
    for m in modules.values():
        if not _within(m.name, "pytest_codex.sinks"):
            continue
        for i in m.imports:
            if _within_any(i.target, (*PRODUCERS, "pytest_codex.run")):
                found.append(m.where(i))
            elif (
                _within(i.target, "pytest_codex.sinks")
                and i.target != m.name
                and not m.is_package  # the package __init__ re-exports its sinks
                and i.target != "pytest_codex.sinks"
                # A private helper module (``sinks/_otlp_http.py``) is no sink.
                and not i.target.rsplit(".", 1)[-1].startswith("_")
            ):
                found.append(m.where(i) + " (a sink importing another sink)")
    return found


def _calls(module: Module, names: Iterable[str]) -> Iterator[tuple[str, int]]:
    wanted = set(names)
    assert module.source is not None
    for node in ast.walk(module.source):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in wanted:
                yield str(called), node.lineno


def rule_one_bus_builder(modules: dict[str, Module]) -> list[str]:
    """4. Only run.py builds an EventBus; only run.py (and the sinks package) builds the
    manifest and JSONL file sinks, the writers of manifest.json and events.jsonl."""
    found = []
    for m in modules.values():
        if m.name == "pytest_codex.run":
            continue
        for called, line in _calls(m, ["EventBus"]):
            found.append(f"{m.path}:{line} builds an {called}")
        if _within(m.name, "pytest_codex.sinks") or m.name == "pytest_codex.manifest":
            continue
        for called, line in _calls(m, ["ManifestSink", "JsonlFileSink"]):
            found.append(f"{m.path}:{line} builds a {called} (writes the run's files)")
        found.extend(
            f"{m.path}:{line} writes {target} with {called} (only the sinks may)"
            for called, line, target in _file_writes(m)
        )
    return found


_WRITERS = ("atomic_write_json", "atomic_write_text", "update_json")


def _file_writes(module: Module) -> Iterator[tuple[str, int, str]]:
    """Direct writes whose target looks like a run's manifest or journal."""
    assert module.source is not None
    for node in ast.walk(module.source):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called not in _WRITERS:
            continue
        target = ast.unparse(node.args[0])
        if "manifest" in target.lower() or "events" in target.lower():
            yield str(called), node.lineno, target


def rule_runtime_runners(modules: dict[str, Module]) -> list[str]:
    """5. orchestrator uses runtime.runners only; runtime never imports orchestrator or
    approvals."""
    found = []
    for m in modules.values():
        for i in m.imports:
            if (
                m.name == "pytest_codex.orchestrator"
                and _within(i.target, "pytest_codex.runtime")
                and i.target != "pytest_codex.runtime.runners"
            ):
                found.append(m.where(i) + " (use pytest_codex.runtime.runners)")
            if _within(m.name, "pytest_codex.runtime") and _within_any(
                i.target, ("pytest_codex.orchestrator", "pytest_codex.approvals")
            ):
                found.append(m.where(i))
    return found


def rule_adapters(modules: dict[str, Module]) -> list[str]:
    """6. cli and plugin never import each other; sdk imports only records/events/errors; the
    MCP adapter imports neither cli nor plugin, and only it (and cli/mcp.py) imports the MCP
    SDK."""
    found = []
    for m in modules.values():
        for i in m.imports:
            if _within(m.name, "pytest_codex.mcp") and _within_any(
                i.target, ("pytest_codex.cli", "pytest_codex.plugin")
            ):
                found.append(m.where(i))
            if i.target.split(".")[0] in MCP_SDK and not _within_any(m.name, MCP_SDK_HOMES):
                found.append(m.where(i) + " (the MCP SDK is the mcp extra's)")
            if _within(m.name, "pytest_codex.cli") and _within(i.target, "pytest_codex.plugin"):
                found.append(m.where(i))
            if _within(m.name, "pytest_codex.plugin") and _within(i.target, "pytest_codex.cli"):
                found.append(m.where(i))
            if (
                m.name == "pytest_codex.sdk"
                and _tree(i.target)
                and i.target != "pytest_codex"
                and not _within_any(i.target, SDK_MAY_IMPORT)
            ):
                found.append(m.where(i))
    return found


def rule_guardrails(modules: dict[str, Module]) -> list[str]:
    """7. guardrails never import the CLI, run, sinks or plugin internals (the one door:
    pytest_codex.plugin.state.session_run)."""
    banned = ("pytest_codex.cli", "pytest_codex.run", "pytest_codex.sinks", "pytest_codex.plugin")
    found = []
    for m in modules.values():
        if not _within(m.name, "guardrails"):
            continue
        for i in m.imports:
            if i.target == "pytest_codex.plugin.state":
                if set(i.names) - {"session_run"} or not i.names:
                    names = ", ".join(i.names) or "the module"
                    found.append(f"{m.where(i)} ({names}; only session_run is public)")
            elif _within_any(i.target, banned):
                found.append(m.where(i))
    return found


def rule_frameworks(modules: dict[str, Module]) -> list[str]:
    """8. pytest only in plugin/ and guardrails/pytest_items.py; argparse only in cli/."""
    found = []
    for m in modules.values():
        for i in m.imports:
            top = i.target.split(".")[0]
            if top in ("pytest", "_pytest") and not (
                _within(m.name, "pytest_codex.plugin") or m.name == "guardrails.pytest_items"
            ):
                found.append(m.where(i))
            if top == "argparse" and not _within(m.name, "pytest_codex.cli"):
                found.append(m.where(i))
    return found


def rule_heavy_libraries(modules: dict[str, Module]) -> list[str]:
    """9. opentelemetry, jsonschema and yaml only in sinks/telemetry.py, schemas.py and
    config.py (start-up stays light)."""
    homes = ", ".join(HEAVY_HOMES)
    return [
        m.where(i) + f" (only {homes} may)"
        for m in modules.values()
        for i in m.imports
        if i.target.split(".")[0] in HEAVY and m.name not in HEAVY_HOMES
    ]


def rule_no_mutual_imports(modules: dict[str, Module]) -> list[str]:
    """No module pair imports each other, even under TYPE_CHECKING; allowed: a package's
    ``__init__`` re-exporting its own submodules."""
    edges: dict[str, dict[str, Import]] = {}
    for m in modules.values():
        targets = edges.setdefault(m.name, {})
        for i in m.imports:
            # Keep the import that matters most: one naming something (see below).
            if i.target in modules and i.target != m.name and (i.target not in targets or i.names):
                targets[i.target] = i
    found = []
    for a, targets in sorted(edges.items()):
        for b, imp in sorted(targets.items()):
            if a >= b or a not in edges.get(b, {}):
                continue
            ma, mb = modules[a], modules[b]
            back = edges[b][a]
            if ma.is_package and b.startswith(a + ".") and _only_reexports(ma, mb, back):
                continue
            if mb.is_package and a.startswith(b + ".") and _only_reexports(mb, ma, imp):
                continue
            found.append(f"{ma.where(imp)} and {mb.where(back)}")
    return found


def _only_reexports(package: Module, sub: Module, back: Import) -> bool:
    """Whether everything ``sub`` takes from its ``package`` is something the package's
    ``__init__`` itself imports (re-exports), not something it defines."""
    assert package.source is not None
    defined: set[str] = set()
    for node in package.source.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
    taken = {name for i in sub.imports if i.target == package.name for name in (i.names or ("*",))}
    return "*" not in taken and not (taken & defined)


def _folder(name: str) -> str:
    """The folder a module lives in, as a node of the folder graph: a subpackage's modules
    share their subpackage's node; a top-level module of a root package is a node of its
    own (the root folder holds layers, the subpackages are units)."""
    parts = name.split(".")
    if len(parts) <= 2:
        return name
    return ".".join(parts[:2])


def _cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, {}):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _edges(
    modules: dict[str, Module], node_of: Callable[[str], str]
) -> dict[str, dict[str, Import]]:
    """Edges between nodes (``node_of`` a module name), each with the first import that makes
    it; a package ``__init__`` re-exporting its own submodules is not an edge back up."""
    edges: dict[str, dict[str, Import]] = {}
    for m in modules.values():
        for i in m.imports:
            if i.target not in modules or i.target == m.name:
                continue
            if m.is_package and i.target.startswith(m.name + "."):
                continue  # a package re-exporting (or lazily answering) its submodules
            a, b = node_of(m.name), node_of(i.target)
            if a != b:
                edges.setdefault(a, {}).setdefault(
                    b, replace(i, target=f"{m.path}:{i.line} imports {i.target}")
                )
    return edges


def rule_no_cycles(modules: dict[str, Module]) -> list[str]:
    """No import circle of any length between modules, even under TYPE_CHECKING or through
    importlib strings; allowed: a package's ``__init__`` re-exporting its own submodules."""
    edges = _edges(modules, lambda name: name)
    return [_describe(c, edges) for c in _cycles(edges)]


def rule_no_folder_loops(modules: dict[str, Module]) -> list[str]:
    """No loop between folders: a subpackage (``plugin/``, ``sinks/``, ``guardrails/``...) as
    one node, each top-level module its own."""
    edges = _edges(modules, _folder)
    return [_describe(c, edges) for c in _cycles(edges)]


def _describe(component: list[str], edges: dict[str, dict[str, Import]]) -> str:
    members = set(component)
    links = [
        edges[a][b].target for a in component for b in sorted(edges.get(a, {})) if b in members
    ]
    return f"circle {' <-> '.join(component)}: " + "; ".join(links)


RULES = {
    "1-foundation": rule_foundation,
    "2-producers": rule_producers,
    "3-sinks": rule_sinks,
    "4-one-bus-builder": rule_one_bus_builder,
    "5-runtime-runners": rule_runtime_runners,
    "6-adapters": rule_adapters,
    "7-guardrails": rule_guardrails,
    "8-frameworks": rule_frameworks,
    "9-heavy-libraries": rule_heavy_libraries,
    "no-mutual-imports": rule_no_mutual_imports,
    "no-cycles": rule_no_cycles,
    "no-folder-loops": rule_no_folder_loops,
}
