"""The instruction loader: order, overrides, skips, budget, codex mode, hashes, the corpus."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.context import Context
from pytest_codex.errors import ConfigError
from pytest_codex.instructions import (
    DEFAULT_BUDGET_BYTES,
    DEFAULT_FILES,
    InstructionsConfig,
    InstructionSet,
    format_report,
    instructions_config_from_mapping,
    load_instructions,
    merge_hierarchy,
)
from pytest_codex.run import Run

CODEX = InstructionsConfig(mode="codex")


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))


def _fates(loaded: InstructionSet) -> list[tuple[str, int, bool, str | None]]:
    return [(s.path, s.level, s.skipped, s.reason) for s in loaded.sources]


# --- hierarchy order and merging ------------------------------------------------------------


def test_the_three_levels_load_root_then_docs_then_agent(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "one\n", "docs/AGENTS.md": "two\n", ".agent/AGENTS.md": "3\n"})
    loaded = load_instructions(tmp_path)
    assert loaded.text == "one\ntwo\n3\n"
    assert [(s.path, s.level) for s in loaded.sources] == [
        ("AGENTS.md", 1),
        ("docs/AGENTS.md", 2),
        (".agent/AGENTS.md", 3),
    ]
    for source in loaded.sources:
        raw = (tmp_path / source.path).read_bytes()
        assert source.sha256 == hashlib.sha256(raw).hexdigest()
        assert (source.bytes, source.included_bytes, source.truncated) == (len(raw), len(raw), 0)


def test_an_override_replaces_the_earlier_section_in_place_with_its_subsections(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "AGENTS.md": "# Guide\n## Commands\n- pytest\n### Detail\nold\n## Style\n- short\n",
            "docs/AGENTS.md": "## Docs\n- write docs\n",
            ".agent/AGENTS.md": "## COMMANDS (override)\n- pytest -x\n",
        },
    )
    assert load_instructions(tmp_path).text == (
        "# Guide\n## COMMANDS\n- pytest -x\n## Style\n- short\n## Docs\n- write docs\n"
    )


def test_a_section_without_the_marker_appends_even_when_the_name_repeats() -> None:
    merged = merge_hierarchy(["## Commands\n- a\n", "## Commands\n- b\n"])
    assert merged == "## Commands\n- a\n## Commands\n- b\n"


def test_an_override_nested_under_an_unmarked_heading_still_replaces() -> None:
    # Files commonly share a top-level title; the marked sub-section must still take effect.
    merged = merge_hierarchy(
        ["# Handbook\n## Tests\nold\n## Style\nkeep\n", "# Handbook\n## Tests (override)\nnew\n"]
    )
    assert merged == "# Handbook\n## Tests\nnew\n## Style\nkeep\n# Handbook\n"


def test_an_override_replaces_every_earlier_section_of_its_name_the_first_in_place() -> None:
    merged = merge_hierarchy(["## A\n1\n## B\nb\n", "## a\n2\n", "## A (Override)\n3\n"])
    assert merged == "## A\n3\n## B\nb\n"


def test_an_override_matches_names_across_heading_levels_and_closing_hashes() -> None:
    merged = merge_hierarchy(
        ["## Build  Steps ##\nold\n### Sub\nold sub\n## Next\n", "# build steps (override)\nnew\n"]
    )
    assert merged == "# build steps\nnew\n## Next\n"


def test_an_override_with_nothing_to_replace_is_appended_without_its_marker() -> None:
    assert merge_hierarchy(["## A\na\n", "## B (override)\nb\n"]) == "## A\na\n## B\nb\n"


def test_an_override_never_replaces_a_section_from_its_own_file() -> None:
    merged = merge_hierarchy(["## Intro\n", "## Tips\none\n## Tips (override)\ntwo\n"])
    assert merged == "## Intro\n## Tips\none\n## Tips\ntwo\n"


def test_headings_inside_fenced_code_blocks_are_not_sections() -> None:
    first = "## Setup\n```sh\n# install (override)\npip install x\n```\n## Other\n"
    second = "~~~\n# Setup (override)\n~~~\n"
    # The '# ...' lines are shell comments and fence content: nothing is replaced.
    assert merge_hierarchy([first, second]) == first + second


def test_crlf_files_and_a_missing_final_newline_still_merge() -> None:
    merged = merge_hierarchy(["## A\r\nold\r\n## B\r\nb", "## a (override)\r\nnew"])
    assert merged == "## a\r\nnew\n## B\r\nb\n"


# --- skipped files --------------------------------------------------------------------------


def test_missing_and_whitespace_only_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\n", "docs/AGENTS.md": " \n\t\r\n"})
    loaded = load_instructions(tmp_path)
    assert _fates(loaded) == [
        ("AGENTS.md", 1, False, None),
        ("docs/AGENTS.md", 2, True, "empty"),
        (".agent/AGENTS.md", 3, True, "missing"),
    ]
    empty, missing = loaded.sources[1], loaded.sources[2]
    assert empty.sha256 == hashlib.sha256(b" \n\t\r\n").hexdigest()
    assert (empty.bytes, empty.included_bytes) == (5, 0)
    assert (missing.sha256, missing.bytes) == (None, 0)
    assert loaded.text == "## A\n"


def test_a_file_holding_only_a_byte_order_mark_is_empty(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": b"\xef\xbb\xbf\n"})
    assert load_instructions(tmp_path).sources[0].reason == "empty"


def test_undecodable_bytes_are_replaced_in_the_text_but_hashed_raw(tmp_path: Path) -> None:
    raw = b"caf\xe9 rules\n"
    _write(tmp_path, {"AGENTS.md": raw})
    loaded = load_instructions(tmp_path)
    assert loaded.text == "caf\ufffd rules\n"
    assert loaded.sources[0].sha256 == hashlib.sha256(raw).hexdigest()


def test_a_symlink_loop_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").symlink_to(tmp_path / "AGENTS.md")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "AGENTS.md").symlink_to(tmp_path / "nowhere.md")
    assert _fates(load_instructions(tmp_path))[:2] == [
        ("AGENTS.md", 1, True, "symlink loop"),
        ("docs/AGENTS.md", 2, True, "broken symlink"),
    ]


def test_directories_and_fifos_named_like_instructions_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").mkdir()
    (tmp_path / "docs").mkdir()
    os.mkfifo(tmp_path / "docs" / "AGENTS.md")  # reading it would block forever
    reasons = [s.reason for s in load_instructions(tmp_path).sources]
    assert reasons[:2] == ["not a regular file", "not a regular file"]


def test_an_unreadable_file_is_skipped_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, {"AGENTS.md": "secret\n", "docs/AGENTS.md": "open\n"})
    real_open = Path.open

    def refuse_root_file(self: Path, *args: Any, **kwargs: Any) -> Any:
        # chmod 000 proves nothing when the tests run as root, so refuse the open directly.
        if self.name == "AGENTS.md" and self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse_root_file)
    loaded = load_instructions(tmp_path)
    assert _fates(loaded)[0] == ("AGENTS.md", 1, True, "unreadable: permission denied")
    assert loaded.text == "open\n"


# --- the budget -----------------------------------------------------------------------------


def test_the_budget_truncates_at_a_utf8_boundary_and_reports_exact_counts(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {"AGENTS.md": "ab\n", "docs/AGENTS.md": "€" * 10, ".agent/AGENTS.md": "## later\n"},
    )
    # 3 bytes for the root file leave 8: two whole euros (6 bytes), never a split third.
    loaded = load_instructions(tmp_path, config=InstructionsConfig(budget_bytes=11))
    first, cut, later = loaded.sources
    assert (first.truncated, first.included_bytes) == (False, 3)
    assert (cut.truncated, cut.skipped, cut.included_bytes, cut.bytes) == (True, False, 6, 30)
    assert cut.reason == "truncated to 6 of 30 bytes (budget 11 bytes)"
    assert cut.sha256 == hashlib.sha256("€".encode() * 10).hexdigest()
    assert (later.skipped, later.reason, later.included_bytes) == (True, "budget exhausted", 0)
    assert later.sha256 == hashlib.sha256(b"## later\n").hexdigest()
    assert loaded.text == "ab\n€€\n"
    manifest = loaded.to_manifest()
    assert (manifest["budgetBytes"], manifest["totalBytes"]) == (11, 9)


def test_a_file_that_exactly_fills_the_budget_is_not_truncated(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "12345", "docs/AGENTS.md": "more\n"})
    loaded = load_instructions(tmp_path, config=InstructionsConfig(budget_bytes=5))
    assert [(s.truncated, s.skipped, s.reason) for s in loaded.sources[:2]] == [
        (False, False, None),
        (False, True, "budget exhausted"),
    ]


def test_a_zero_budget_includes_nothing_but_still_hashes_every_file(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "rules\n"})
    loaded = load_instructions(tmp_path, config=InstructionsConfig(budget_bytes=0))
    assert loaded.text == ""
    assert loaded.sources[0].reason == "budget exhausted" and loaded.sources[0].sha256


def test_the_default_budget_is_32_kib(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "x" * 40_000})
    source = load_instructions(tmp_path).sources[0]
    assert DEFAULT_BUDGET_BYTES == 32768
    assert (source.truncated, source.included_bytes, source.bytes) == (True, 32768, 40_000)


# --- codex mode -----------------------------------------------------------------------------


def test_codex_mode_prefers_the_global_override_then_walks_root_to_cwd(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    _write(home, {"AGENTS.md": "global\n", "AGENTS.override.md": "global override\n"})
    _write(
        repo,
        {
            "AGENTS.md": "root\n",
            "pkg/AGENTS.override.md": "pkg override\n",
            "pkg/AGENTS.md": "pkg plain\n",
            "pkg/sub/GUIDE.md": "fallback\n",
            "pkg/sub/deeper/AGENTS.md": "below the cwd\n",
            "docs/AGENTS.md": "not on the way\n",
        },
    )
    config = InstructionsConfig(mode="codex", fallbacks=("GUIDE.md",))
    loaded = load_instructions(
        repo, cwd=repo / "pkg" / "sub", config=config, env={"CODEX_HOME": str(home)}
    )
    assert loaded.text == "global override\n\nroot\n\npkg override\n\nfallback\n"
    assert [(s.path, s.level) for s in loaded.sources] == [
        (str(home / "AGENTS.override.md"), 0),
        ("AGENTS.md", 1),
        ("pkg/AGENTS.override.md", 2),
        ("pkg/sub/GUIDE.md", 3),
    ]


def test_codex_mode_falls_back_to_the_global_agents_md_when_the_override_is_empty(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    _write(home, {"AGENTS.md": "global\n", "AGENTS.override.md": "\n"})
    (tmp_path / "repo").mkdir()
    loaded = load_instructions(tmp_path / "repo", config=CODEX, env={"CODEX_HOME": str(home)})
    assert loaded.text == "global\n"
    assert _fates(loaded) == [
        (str(home / "AGENTS.override.md"), 0, True, "empty"),
        (str(home / "AGENTS.md"), 0, False, None),
        ("AGENTS.md", 1, True, "missing"),
    ]


def test_codex_mode_reports_directories_without_a_file_and_defaults_to_home(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    _write(repo, {"a/b/AGENTS.md": "deep\n"})
    loaded = load_instructions(repo, cwd=repo / "a" / "b", config=CODEX, env={"HOME": "/nohome"})
    assert _fates(loaded) == [
        ("/nohome/.codex/AGENTS.md", 0, True, "missing"),
        ("AGENTS.md", 1, True, "missing"),
        ("a/AGENTS.md", 2, True, "missing"),
        ("a/b/AGENTS.md", 3, False, None),
    ]


def test_codex_mode_with_a_cwd_outside_the_repository_reads_only_the_root(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {"repo/AGENTS.md": "root\n", "elsewhere/AGENTS.md": "not ours\n"})
    loaded = load_instructions(
        tmp_path / "repo", cwd=tmp_path / "elsewhere", config=CODEX, env={"HOME": "/nohome"}
    )
    assert loaded.text == "root\n"


# --- hashes ---------------------------------------------------------------------------------


def test_the_combined_hash_is_stable_and_changes_with_any_edit(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\nrule\n", ".agent/AGENTS.md": "## B\nmore\n"})
    first, second = load_instructions(tmp_path), load_instructions(tmp_path)
    assert first.combined_hash == second.combined_hash
    assert first.combined_hash == "sha256:" + hashlib.sha256(first.text.encode()).hexdigest()
    (tmp_path / ".agent" / "AGENTS.md").write_text("## B\nmore.\n")
    edited = load_instructions(tmp_path)
    assert edited.combined_hash != first.combined_hash
    assert edited.sources[0].sha256 == first.sources[0].sha256
    assert edited.sources[2].sha256 != first.sources[2].sha256


# --- confinement ----------------------------------------------------------------------------


def test_a_symlink_that_leads_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.md").write_text("secret plans\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "AGENTS.md").write_text("more secrets\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "AGENTS.md").symlink_to(tmp_path / "outside.md")
    (repo / ".agent").symlink_to(tmp_path / "outside", target_is_directory=True)
    loaded = load_instructions(repo)
    assert "secret" not in loaded.text
    assert [s.reason for s in loaded.sources] == [
        "outside the repository",
        "missing",
        "outside the repository",
    ]
    assert all(s.sha256 is None for s in loaded.sources)


def test_a_symlink_inside_the_repository_is_followed(tmp_path: Path) -> None:
    _write(tmp_path, {"shared/rules.md": "shared\n"})
    (tmp_path / "AGENTS.md").symlink_to(tmp_path / "shared" / "rules.md")
    assert load_instructions(tmp_path).text == "shared\n"


@pytest.mark.parametrize("name", ["../AGENTS.md", "/etc/passwd", "docs/../../x.md"])
def test_configured_files_outside_the_repository_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match=r"instructions\.files: expected a path inside"):
        InstructionsConfig(files=(name,))


# --- configuration --------------------------------------------------------------------------


def test_an_empty_mapping_gives_the_defaults() -> None:
    config = instructions_config_from_mapping({})
    assert config == InstructionsConfig()
    assert (config.mode, config.files, config.budget_bytes) == ("hierarchy", DEFAULT_FILES, 32768)


def test_a_full_mapping_is_taken_as_given() -> None:
    config = instructions_config_from_mapping(
        {"mode": "codex", "files": ["A.md"], "fallbacks": ["GUIDE.md"], "budget_bytes": 10}
    )
    assert config == InstructionsConfig("codex", ("A.md",), ("GUIDE.md",), 10)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"mode": "sideways"},
            "instructions.mode: expected one of hierarchy, codex, got 'sideways'",
        ),
        ({"budget_bytes": -1}, "instructions.budget_bytes: expected a whole number"),
        ({"budget_bytes": "32k"}, "instructions.budget_bytes: expected a whole number"),
        ({"budget_bytes": True}, "instructions.budget_bytes: expected a whole number"),
        ({"files": "AGENTS.md"}, "instructions.files: expected a list of file names"),
        ({"files": []}, "instructions.files: expected at least one file name"),
        ({"files": ["A.md", 3]}, "instructions.files: expected non-empty file names"),
        ({"files": ["A.md", "A.md"]}, "instructions.files: 'A.md' is listed twice"),
        ({"fallbacks": ["../up.md"]}, "instructions.fallbacks: expected a path inside"),
        ({"colour": 1}, "instructions: unknown key 'colour'"),
    ],
)
def test_bad_instruction_config_is_a_one_line_error_naming_the_key(
    mapping: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        instructions_config_from_mapping(mapping)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_non_mapping_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="instructions: expected a mapping"):
        instructions_config_from_mapping(["mode"])  # type: ignore[arg-type]


# --- manifest and report --------------------------------------------------------------------


def test_the_manifest_section_has_the_documented_shape(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "## A\n"})
    manifest = load_instructions(tmp_path).to_manifest()
    assert list(manifest) == ["mode", "combinedHash", "budgetBytes", "totalBytes", "sources"]
    assert manifest["sources"][0] == {
        "path": "AGENTS.md",
        "level": 1,
        "sha256": hashlib.sha256(b"## A\n").hexdigest(),
        "bytes": 5,
        "includedBytes": 5,
        "truncated": False,
        "skipped": False,
        "reason": None,
    }
    json.dumps(manifest)  # serialisable as it is


def test_the_report_names_every_source_and_its_fate(tmp_path: Path) -> None:
    _write(tmp_path, {"AGENTS.md": "x" * 20, "docs/AGENTS.md": "\n"})
    loaded = load_instructions(tmp_path, config=InstructionsConfig(budget_bytes=8))
    report = format_report(loaded)
    assert "mode hierarchy, 8 of 8 budget bytes used" in report
    assert "[1] AGENTS.md" in report and "truncated to 8 of 20 bytes" in report
    assert "docs/AGENTS.md    skipped: empty" in report
    assert ".agent/AGENTS.md  skipped: missing" in report
    assert report.endswith(f"combined {loaded.combined_hash}")


# --- wiring: runs, CLI, fixture -------------------------------------------------------------


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


# --- the real corpus ------------------------------------------------------------------------


def test_the_real_corpus_has_three_levels_in_order_with_stable_hashes(corpus: Path) -> None:
    first, second = load_instructions(corpus), load_instructions(corpus)
    assert [s.path for s in first.sources] == ["AGENTS.md", "docs/AGENTS.md", ".agent/AGENTS.md"]
    assert not any(s.skipped or s.truncated for s in first.sources)
    for source in first.sources:
        raw = (corpus / source.path).read_bytes()
        assert source.sha256 == hashlib.sha256(raw).hexdigest()
        assert source.bytes == source.included_bytes == len(raw)
    assert first.combined_hash == second.combined_hash
    assert first.to_manifest() == second.to_manifest()
