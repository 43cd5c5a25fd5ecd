"""The instruction loader: order, overrides, skips, budget, codex mode, hashes, the corpus."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.context import Context
from pytest_codex.errors import ConfigError
from pytest_codex.instructions import (
    InstructionsConfig,
    instructions_config_from_mapping,
    load_instructions,
)
from pytest_codex.run import Run

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "co-0303"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_levels_merge_in_order_and_an_override_replaces_its_section(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "AGENTS.md": (
                "# Guide\n## Commands\n- pytest\n### Detail\nroot detail\n## Style\n- short\n"
            ),
            "docs/AGENTS.md": "## Docs\n- write docs\n",
            ".agent/AGENTS.md": "## Commands (override)\n- pytest --codex-task T\n",
        },
    )
    loaded = load_instructions(tmp_path)
    assert loaded.text == (
        "# Guide\n## Commands\n- pytest --codex-task T\n## Style\n- short\n## Docs\n- write docs\n"
    )
    assert [s.path for s in loaded.sources] == ["AGENTS.md", "docs/AGENTS.md", ".agent/AGENTS.md"]
    for source in loaded.sources:
        raw = (tmp_path / source.path).read_bytes()
        assert source.sha256 == hashlib.sha256(raw).hexdigest() and source.bytes == len(raw)


def test_an_override_of_an_unknown_section_appends(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\na\n", ".agent/AGENTS.md": "## B (override)\nb\n"})
    assert load_instructions(tmp_path).text == "## A\na\n## B\nb\n"


def test_missing_and_empty_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\n", "docs/AGENTS.md": "  \n\n"})
    sources = load_instructions(tmp_path).sources
    assert [(s.path, s.skipped, s.reason) for s in sources] == [
        ("AGENTS.md", False, None),
        ("docs/AGENTS.md", True, "empty"),
        (".agent/AGENTS.md", True, "missing"),
    ]


def test_the_budget_truncates_on_a_character_boundary_and_says_so(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "€" * 10, "docs/AGENTS.md": "## later\n"})
    loaded = load_instructions(tmp_path, config=InstructionsConfig(budget_bytes=7))
    first, second = loaded.sources[0], loaded.sources[1]
    assert (first.truncated, first.included_bytes, first.bytes) == (True, 6, 30)
    assert "truncated to 6 of 30 bytes" in str(first.reason)
    assert (second.skipped, second.reason) == (True, "budget exhausted")
    assert loaded.text == "€€\n"


def test_codex_mode_walks_from_the_global_file_down_to_the_cwd(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    _write(home, {"AGENTS.md": "global\n", "AGENTS.override.md": "global override\n"})
    _write(
        repo,
        {
            "AGENTS.md": "root\n",
            "pkg/AGENTS.override.md": "pkg override\n",
            "pkg/AGENTS.md": "pkg plain\n",
            "pkg/sub/GUIDE.md": "fallback\n",
        },
    )
    config = InstructionsConfig(mode="codex", files=("AGENTS.md",), fallbacks=("GUIDE.md",))
    loaded = load_instructions(
        repo, cwd=repo / "pkg" / "sub", config=config, env={"CODEX_HOME": str(home)}
    )
    assert loaded.text == "global override\n\nroot\n\npkg override\n\nfallback\n"
    assert [s.level for s in loaded.sources] == [0, 1, 2, 3]


def test_the_hash_is_stable_and_changes_with_any_edit(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\nrule\n"})
    first, second = load_instructions(tmp_path), load_instructions(tmp_path)
    assert first.combined_hash == second.combined_hash
    (tmp_path / "AGENTS.md").write_text("## A\nrule!\n")
    assert load_instructions(tmp_path).combined_hash != first.combined_hash


def test_a_file_that_escapes_the_repository_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("secret plans\n")
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "AGENTS.md").symlink_to(outside)
    loaded = load_instructions(repo)
    assert "secret plans" not in loaded.text
    assert loaded.sources[1].reason == "outside the repository"


@pytest.mark.parametrize(
    ("mapping", "needle"),
    [
        ({"mode": "sideways"}, "instructions.mode"),
        ({"budget_bytes": -1}, "instructions.budget_bytes"),
        ({"files": "AGENTS.md"}, "instructions.files"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_bad_instruction_config_is_a_one_line_error(
    mapping: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        instructions_config_from_mapping(mapping)


def test_every_run_records_the_instructions(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\n"})
    context = Context.load(cwd=tmp_path, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)})
    runs = [Run.start(context, task_id="inst", heartbeat=False) for _ in range(2)]
    for run in runs:
        run.finish("succeeded")
    recorded = [json.loads(r.paths.manifest.read_text())["instructions"] for r in runs]
    assert recorded[0]["combinedHash"] == recorded[1]["combinedHash"]
    assert recorded[0]["sources"][0]["path"] == "AGENTS.md"


def test_the_cli_prints_the_text_and_the_report(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\nrule\n"})
    env = {"PATH": "/usr/bin:/bin", "CODEX_ORCHESTRATOR_ROOT": str(tmp_path)}
    cli = [sys.executable, "-m", "pytest_codex.cli", "instructions"]
    text = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert text.stdout == "## A\nrule\n"
    report = json.loads(
        subprocess.run(
            [*cli, "--format", "json"], cwd=tmp_path, env=env, capture_output=True, text=True
        ).stdout
    )
    assert report["combinedHash"].startswith("sha256:") and report["text"] == "## A\nrule\n"


def test_the_codex_instructions_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    _write(pytester.path, {"AGENTS.md": "## Rules\nbe kind\n"})
    pytester.makepyfile(
        "def test_it(codex_instructions):\n"
        "    assert 'be kind' in codex_instructions.text\n"
        "    assert codex_instructions.combined_hash.startswith('sha256:')\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/co-0303 is not present")
def test_the_real_corpus_has_three_levels_in_order() -> None:
    first, second = load_instructions(CORPUS), load_instructions(CORPUS)
    assert [s.path for s in first.sources] == ["AGENTS.md", "docs/AGENTS.md", ".agent/AGENTS.md"]
    assert all(not s.skipped for s in first.sources)
    for source in first.sources:
        assert source.sha256 == hashlib.sha256((CORPUS / source.path).read_bytes()).hexdigest()
    assert first.combined_hash == second.combined_hash
