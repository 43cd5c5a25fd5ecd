"""Configuration that would make a run slow or huge is refused with one line (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.config import MAX_CONFIG_BYTES, resolve_config
from pytest_codex.errors import ConfigError
from tests.helpers.trust import trusted


def _bomb() -> str:
    lines = [
        "guardrails:",
        "  x:",
        '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"    {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def _resolve(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text)
    resolve_config(root, env={})


def test_a_yaml_anchor_bomb_is_refused(tmp_path: Path) -> None:
    bomb = _bomb()
    assert len(bomb.encode()) < 500
    with pytest.raises(ConfigError, match=r"key 'guardrails.x.i': .* expands to more than"):
        _resolve(tmp_path, "codex.orchestrator.yaml", bomb)


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    text = "guardrails:\n  x:\n    a: &a 1\n    b: [" + ",".join(["*a"] * 300) + "]\n"
    with pytest.raises(ConfigError, match="more than 200 YAML aliases"):
        _resolve(tmp_path, "codex.orchestrator.yaml", text)


def test_a_few_anchors_are_fine(tmp_path: Path) -> None:
    text = "guardrails:\n  base: &base { max_age_days: 30 }\n  spec-guard: *base\n"
    trusted(tmp_path / "codex.orchestrator.yaml", text)
    config = resolve_config(tmp_path, env={})
    assert config.get("guardrails")["spec-guard"] == {"max_age_days": 30}


def test_a_huge_config_file_is_refused(tmp_path: Path) -> None:
    text = "task: t\n" + "#" * (MAX_CONFIG_BYTES + 1) + "\n"
    with pytest.raises(ConfigError, match="more than the 1048576 allowed"):
        _resolve(tmp_path, "codex.orchestrator.yaml", text)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("codex.orchestrator.yaml", "heartbeat_interval_seconds: .nan\n"),
        ("codex.orchestrator.yaml", "backoff_initial_ms: .inf\n"),
        ("codex.orchestrator.yaml", "guardrails: { lint: { limit: -.inf } }\n"),
        ("codex.orchestrator.json", '{"heartbeat_interval_seconds": NaN}'),
        ("codex.orchestrator.json", '{"backoff_initial_ms": Infinity}'),
        ("pyproject.toml", "[tool.codex-orchestrator]\nbackoff_initial_ms = inf\n"),
    ],
)
def test_nan_and_infinity_are_refused(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=r"(?i)nan|inf"):
        _resolve(tmp_path, name, text)


@pytest.mark.parametrize(
    "text",
    [
        "heartbeat_interval_seconds: 0.000001\n",
        "exec: { max_sessions: 0 }\n",
        "exec: { timeout_seconds: 0.0000001 }\n",
        "exec: { idle_timeout_seconds: 0.001 }\n",
        "backoff_initial_ms: 100000000\n",
    ],
)
def test_numeric_settings_have_sane_bounds(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"codex\.orchestrator\.yaml: key '"):
        _resolve(tmp_path, "codex.orchestrator.yaml", text)


def test_the_cli_refuses_the_bomb_with_one_line_and_exit_2(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "codex.orchestrator.yaml").write_text(_bomb())
    result = subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", "exec", "--pipe", "--", "true"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "CODEX_ORCHESTRATOR_ROOT": str(tmp_path),
            "MCP_RUNNER_TASK_ID": "t",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "expands to more than" in result.stderr
    assert not (tmp_path / ".runs").exists()
