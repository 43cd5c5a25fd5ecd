"""Start-up stays cheap: a command line builds only its own sub-command's parser, and
``exec --pipe`` imports nothing it does not use (checked on ``sys.modules``, never timed)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex import cli


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_command_table_names_every_command_of_its_module() -> None:
    """COMMAND_MODULE maps each sub-command to the module that registers it, and no other."""
    expected: dict[str, str] = {}
    for module in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers(dest="command")
        importlib.import_module(module).register(subparsers)
        expected.update(dict.fromkeys(_commands(parser), module))
    assert expected == cli.COMMAND_MODULE


@pytest.mark.parametrize("command", sorted(cli.COMMAND_MODULE))
def test_a_commands_own_parser_helps_and_parses_as_the_full_one(command: str) -> None:
    full = _commands(cli.build_parser())[command]
    alone = _commands(cli.build_parser(command))[command]
    assert alone.format_help() == full.format_help()
    assert alone.prog == full.prog


def _cli(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_misspelt_command_still_suggests_the_nearest(tmp_path: Path) -> None:
    result = _cli("exce", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'exce'" in result.stderr
    assert "did you mean exec?" in result.stderr


def test_top_level_help_lists_every_command(tmp_path: Path) -> None:
    result = _cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in cli.COMMAND_MODULE:
        assert command in result.stdout


def test_misspelt_option_of_a_command_is_named(tmp_path: Path) -> None:
    result = _cli("exec", "--jsnl", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean --jsonl?" in result.stderr


@pytest.mark.parametrize(
    "group", ["console_scripts", "pytest11", "codex_sinks", "codex_guardrails"]
)
def test_entry_point_names_agree_with_importlib_metadata(group: str) -> None:
    import importlib.metadata

    from pytest_codex.entry_points import entry_point_names

    expected = [
        ep.name
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
        if ep.group == group
    ]
    names = entry_point_names(group)
    assert names is not None
    assert sorted(names) == sorted(expected)


def test_an_installed_sink_entry_point_is_loaded_without_importlib_metadata_in_the_way(
    tmp_path: Path,
) -> None:
    """A third-party ``codex_sinks`` entry point (a .dist-info on sys.path) is still found."""
    site = tmp_path / "site"
    info = site / "third_party_sink-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: third-party-sink\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nx = y:z\n\n[codex_sinks]\n  # a comment\nthird = third_party_sink\n"
    )
    (site / "third_party_sink.py").write_text(
        "from pytest_codex.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef codex_sinks(context, paths):\n    return []\n"
    )
    code = (
        "import sys\n"
        "from pytest_codex.sinks import plugin_manager\n"
        "manager = plugin_manager()\n"
        "print(manager.has_plugin('third'), manager.has_plugin('builtin'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "True"]
    # Without a foreign entry point, nothing imports importlib.metadata.
    code = (
        "import sys\n"
        "from pytest_codex.sinks import plugin_manager\n"
        "plugin_manager()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


# Never needed to start the CLI, nor by `exec --pipe` in a repository without a TOML config.
HEAVY = (
    "ptyprocess",
    "pty",
    "jsonschema",
    "yaml",
    "opentelemetry",
    "securesystemslib",
    "tomllib",
    "importlib.metadata",
    "email",
    "zipfile",
    "socket",
    "platform",
    "logging",
    "argcomplete",
    "pytest_codex.runtime.session_server",
    "pytest_codex.pipeline",
    "pytest_codex.sinks.telemetry",
    "pytest_codex.sinks.notify",
    "pytest_codex.sinks.codex_dialect",
    "pytest_codex.sinks.human",
    "guardrails",
)
_REPORT = (
    "import json, os, sys\n"
    "def report():\n"
    "    with open(os.environ['MODULES_OUT'], 'w') as out:\n"
    "        json.dump(sorted(sys.modules), out)\n"
)


def _modules_after(code: str, tmp_path: Path, *argv: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CODEX_", "MCP_"))},
        "MODULES_OUT": str(out),
        "MCP_RUNNER_TASK_ID": "startup",
        "CODEX_ORCHESTRATOR_ROOT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", _REPORT + code, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def test_importing_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _modules_after("import pytest_codex.cli\nreport()\n", tmp_path)
    assert not {m for m in loaded if m.startswith((*HEAVY, "cryptography"))}
    # Nor any sub-command: each is imported when it is the one invoked.
    assert not {m for m in loaded if m.startswith("pytest_codex.cli.")}


def test_exec_pipe_imports_only_what_it_uses(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    code = (
        "import atexit, sys\n"
        "atexit.register(report)\n"
        "from pytest_codex.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ("exec", "--jsonl", "--pipe", "--", "true")
    _modules_after(code, tmp_path, *argv)  # the first run may create the signing key
    loaded = _modules_after(code, tmp_path, *argv)
    assert "pytest_codex.run" in loaded  # it ran
    assert not {m for m in loaded if m.startswith(HEAVY)}
    commands = {m for m in loaded if m.startswith("pytest_codex.cli.")}
    assert commands == {"pytest_codex.cli._options", "pytest_codex.cli.exec"}
    # Signing loads pyca's binding, not its primitives layer.
    assert not {m for m in loaded if m.startswith("cryptography.hazmat.primitives")}
