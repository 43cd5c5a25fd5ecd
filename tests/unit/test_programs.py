"""Programs the trusted side runs are found outside anything a sandboxed command can write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_codex.programs import ProgramNotFoundError, resolve
from tests.helpers.trust import tools_dir


def _program(directory: Path, name: str = "codex-test-tool") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_workspace_relative_and_temporary_entries_are_skipped(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    _program(workspace / ".venv" / "bin")
    _program(workspace / "bin")
    _program(tmp_path / "scratch")
    with tools_dir() as tools:
        installed = _program(tools)
        search = os.pathsep.join(
            [str(workspace / ".venv" / "bin"), "bin", "", str(tmp_path / "scratch"), str(tools)]
        )
        found = resolve("codex-test-tool", workspace=workspace, env={"PATH": search})
        assert found == str(installed)


def test_a_symlink_into_the_workspace_is_skipped(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    planted = _program(workspace / "tools")
    with tools_dir() as tools:
        (tools / "codex-test-tool").symlink_to(planted)
        with pytest.raises(ProgramNotFoundError, match="not found on PATH outside"):
            resolve("codex-test-tool", workspace=workspace, env={"PATH": str(tools)})


def test_none_outside_is_a_one_line_error_naming_what_was_skipped(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    _program(workspace / ".venv" / "bin")
    with pytest.raises(ProgramNotFoundError) as caught:
        resolve("codex-test-tool", workspace=workspace, env={"PATH": f"{workspace}/.venv/bin:."})
    message = str(caught.value)
    assert "\n" not in message and ".venv/bin" in message and "(skipped" in message


def test_paths_with_a_slash_must_be_absolute_and_outside(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    inside = _program(workspace / "bin")
    with pytest.raises(ProgramNotFoundError, match="relative program path"):
        resolve("./bin/codex-test-tool", workspace=workspace)
    with pytest.raises(ProgramNotFoundError, match="in the workspace or a temporary directory"):
        resolve(str(inside), workspace=workspace)
    assert resolve("/bin/sh", workspace=workspace) == "/bin/sh"


def test_a_notify_command_runs_nothing_from_the_workspace(tmp_path: Path) -> None:
    from pytest_codex.errors import ConfigError
    from pytest_codex.sinks.notify import targets_from_config

    workspace = tmp_path / "repo"
    hook = workspace / "hook.py"
    hook.parent.mkdir()
    hook.write_text("print('planted')\n")
    with pytest.raises(ConfigError, match="relative program path"):
        targets_from_config(["./hook.sh"], workspace)
    with pytest.raises(ConfigError, match="a file in the workspace"):
        targets_from_config([f"python3 {hook}"], workspace)
    [target] = targets_from_config(["touch /dev/null"], workspace)
    assert os.path.isabs(target.argv[0]) and target.argv[1:] == ("/dev/null",)
