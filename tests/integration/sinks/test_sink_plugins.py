"""Sinks through the ``codex_sinks`` hook, the dispatch by event type, and one exec bracket."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.errors import ConfigError
from pytest_codex.events import DispatchingSink, Event
from pytest_codex.execution import execute_command
from pytest_codex.hookspecs import hookimpl
from pytest_codex.run import Run
from pytest_codex.runtime import ExecSessionManager
from pytest_codex.sinks import configured_sinks, plugin_manager
from tests.helpers.trust import trusted


class Collecting(DispatchingSink):
    def __init__(self, name: str = "collecting") -> None:
        self.name = name
        self.ends: list[int] = []

    def _on_exec_end(self, event: Event) -> None:
        self.ends.append(event.seq)


def _plugin(*sinks: Collecting, name: str = "third_party_sinks") -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def codex_sinks(context: Context, paths: object) -> list[Collecting]:
        return list(sinks)

    module.codex_sinks = codex_sinks  # type: ignore[attr-defined]
    return module


def _context(root: Path) -> Context:
    return Context.load(cwd=root, env={"CODEX_ORCHESTRATOR_ROOT": str(root)})


def test_the_builtin_sinks_are_the_installed_codex_sinks_entry_point() -> None:
    manager = plugin_manager()
    assert manager.get_plugin("builtin") is not None
    names = [impl.plugin_name for impl in manager.hook.codex_sinks.get_hookimpls()]
    assert names.count("builtin") == 1


def test_a_third_party_sink_comes_after_the_builtins_and_sees_dispatched_events(
    tmp_path: Path,
) -> None:
    trusted(
        tmp_path / "codex.orchestrator.json", json.dumps({"notify": [f"file://{tmp_path}/n.jsonl"]})
    )
    context = _context(tmp_path)
    sink = Collecting()
    run = Run.start(context, task_id="plugins", heartbeat=False)
    found = configured_sinks(context, run.paths, plugin_manager(plugins=[_plugin(sink)]))
    assert [s.name for s in found] == ["notify", "collecting"]
    run.add_sink(sink)
    command = {"id": "c", "argv": ["x"], "cwd": "/", "exitCode": 0, "durationMs": 1.0}
    event = run.emit("exec:end", {"command": {**command, "logPath": None}})
    run.emit("stage:start", {"stage": {"id": "s", "kind": "command", "title": "s"}})
    assert sink.ends == [event.seq]
    run.finish("succeeded")


def test_two_plugins_with_one_sink_name_are_a_config_error(tmp_path: Path) -> None:
    context = _context(tmp_path)
    run = Run.start(context, task_id="plugins", heartbeat=False)
    manager = plugin_manager(
        plugins=[_plugin(Collecting("dup"), name="one"), _plugin(Collecting("dup"), name="two")]
    )
    with pytest.raises(ConfigError, match="'dup' is provided by both"):
        configured_sinks(context, run.paths, manager)
    run.finish("succeeded")


def test_a_run_without_an_endpoint_never_imports_opentelemetry(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pytest_codex.context import Context\n"
        "from pytest_codex.run import Run\n"
        f"c = Context.load(cwd={str(tmp_path)!r}, env={{'CODEX_ORCHESTRATOR_ROOT': "
        f"{str(tmp_path)!r}}})\n"
        "Run.start(c, task_id='light', heartbeat=False).finish('succeeded')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["pipe", "pty"])
def test_a_command_has_one_exec_begin_and_one_exec_end(tmp_path: Path, mode: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    run = Run.start(_context(tmp_path), task_id="bracket", heartbeat=False)
    sink = Collecting()
    run.add_sink(sink)
    execution = execute_command(run, ["sh", "-c", "echo one; exit 4"], cwd=tmp_path, mode=mode)
    run.finish("succeeded")
    types_seen = [e["type"] for e in map(json.loads, run.paths.events.read_text().splitlines())]
    assert types_seen.count("exec:begin") == 1 and types_seen.count("exec:end") == 1
    assert len(sink.ends) == 1
    manifest = json.loads(run.paths.manifest.read_text())
    assert [c["exitCode"] for c in manifest["commands"]] == [4]
    assert manifest["commands"][0] == execution.record


def test_the_runtime_alone_still_brackets_its_commands(tmp_path: Path) -> None:
    emitter = RecordingEmitter()
    with ExecSessionManager() as manager:
        manager.run(["echo", "hi"], mode="pipe", cwd=tmp_path, emitter=emitter)
        manager.run(["echo", "hi"], mode="pipe", cwd=tmp_path, emitter=emitter, bracket=False)
    assert emitter.types.count("exec:begin") == 1 and emitter.types.count("exec:end") == 1
    assert emitter.types.count("exec:chunk") == 2
