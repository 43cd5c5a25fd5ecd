"""``exec.*`` settings take effect, and exec's usage errors point at the right flag."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli.test_cli_exec import _lines, exec_cli
from tests.helpers.trust import trusted


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def _config(repo: Path, text: str) -> None:
    trusted(repo / "codex.orchestrator.yaml", text)


def test_exec_timeout_seconds_from_the_config_kills_the_command(repo: Path) -> None:
    _config(repo, "exec: { timeout_seconds: 1 }\n")
    result = exec_cli(repo, "exec", "--pipe", "--", "sleep", "5")
    assert result.returncode == 124, result.stderr
    summary = _lines(result.stdout)[-1]["payload"]
    assert summary["status"] == "failed" and summary["statusDetail"] == "command timed out"


def test_the_timeout_flag_wins_over_the_config(repo: Path) -> None:
    _config(repo, "exec: { timeout_seconds: 1 }\n")
    result = exec_cli(repo, "exec", "--pipe", "--timeout", "60", "--", "sh", "-c", "sleep 2")
    assert result.returncode == 0, result.stderr


def test_exec_memory_cap_bytes_bounds_the_captured_output(repo: Path) -> None:
    _config(repo, "exec: { memory_cap_bytes: 2048 }\n")
    script = "import sys; sys.stdout.write('x' * 20000)"
    result = exec_cli(repo, "exec", "--pipe", "--", "python3", "-c", script)
    assert result.returncode == 0, result.stderr
    stdout = _lines(result.stdout)[-1]["payload"]["outputs"]["stdout"]
    assert stdout["bytes"] == 20000
    assert stdout["truncated"] is True
    assert len(stdout["text"]) <= 2048 + 200  # the cap, plus the omission marker
    log = Path(_lines(result.stdout)[-1]["payload"]["logs"]["command"])
    assert log.read_bytes().count(b"x") == 20000  # every byte still reaches the log


def test_exec_without_the_cap_keeps_more(repo: Path) -> None:
    script = "import sys; sys.stdout.write('x' * 20000)"
    result = exec_cli(repo, "exec", "--pipe", "--", "python3", "-c", script)
    stdout = _lines(result.stdout)[-1]["payload"]["outputs"]["stdout"]
    assert stdout["truncated"] is False and len(stdout["text"]) == 20000


def test_exec_usage_shows_the_command(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--help")
    usage = result.stdout.split("\n\n")[0]
    assert "-- CMD [ARGS...]" in usage


def test_a_misspelt_exec_option_suggests_the_nearest(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--sandox", "read-only", "--", "true")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "did you mean --sandbox?" in lines[0]
    assert "see 'codex-orchestrator exec --help'" in lines[0]


def test_a_misspelt_sub_command_suggests_the_nearest(repo: Path) -> None:
    result = exec_cli(repo, "exce", "--", "true")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "did you mean exec?" in lines[0], lines


def test_the_manifest_records_the_exec_settings(repo: Path) -> None:
    _config(repo, "exec: { timeout_seconds: 30, max_sessions: 2 }\n")
    result = exec_cli(repo, "exec", "--pipe", "--", "true")
    manifest = json.loads(
        Path(_lines(result.stdout)[-1]["payload"]["run"]["manifestPath"]).read_text()
    )
    assert manifest["config"]["exec"]["value"] == {"timeout_seconds": 30, "max_sessions": 2}


def test_start_command_stages_honour_the_exec_settings(repo: Path) -> None:
    # The big stage costs a few milliseconds (no interpreter to start), far inside the
    # timeout however loaded the machine; the slow one would outlast any test run.
    _config(
        repo,
        "exec: { memory_cap_bytes: 2048, timeout_seconds: 5 }\n"
        "pipelines:\n"
        "  - id: bounded\n"
        "    stages:\n"
        "      - { kind: command, id: big, command: \"head -c 20000 /dev/zero | tr '\\\\0' x\" }\n"
        '      - { kind: command, id: slow, command: "sleep 600" }\n',
    )
    result = exec_cli(repo, "start", "bounded", "--format", "json")
    assert result.returncode == 1, result.stderr
    manifest = json.loads(
        next((repo / ".runs" / "exec-task" / "cli").glob("*/manifest.json")).read_text()
    )
    big, slow = manifest["commands"]
    assert big["bytes"]["stdout"] == 20000 and big["truncated"]["stdout"] is True
    assert slow["timedOut"] is True
