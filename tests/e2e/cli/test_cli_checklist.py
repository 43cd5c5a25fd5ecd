"""``codex-orchestrator checklist verify|flip`` end to end (in process, and one subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.cli import main
from pytest_codex.paths import ROOT_ENV, TASK_ENV
from tests.helpers.repos import git, write
from tests.helpers.runs import run_with_command
from tests.helpers.trust import trusted

TASK = "0404-lantern-repair"
CHECKLIST = f"tasks/tasks-{TASK}.md"
AGENT = f".agent/task/{TASK}.md"

CHECKLIST_TEXT = f"""# Lantern repair ({TASK})

## Work
- [ ] Replace the wick — cotton, not nylon
- [ ] Polish the glass
  - [ ] Check the hinge
"""
TASKS_TEXT = f"""# Board

## Another task (0101)
- [ ] Polish the glass

## {TASK}
- [ ] Replace the wick
- [ ] Polish the glass
- [ ] Check the hinge
"""
AGENT_TEXT = f"""# Mirror of {TASK}
* [ ] Replace the `wick`
* [ ] Polish the glass
* [ ] Check the hinge
"""


def real_run(root: Path, task: str = TASK, status: str = "succeeded") -> str:
    """A real finished run; its manifest path relative to ``root``."""
    run = run_with_command(root, task, status)
    return run.paths.manifest.relative_to(root).as_posix()


def collateral(root: Path) -> None:
    """Complete collateral for TASK (so verify's collateral guardrail passes)."""
    entry = {"id": "0404", "slug": TASK, "path": "tasks/0404-prd-lantern-repair.md"}
    write(
        root,
        {
            "tasks/index.json": json.dumps({"items": [entry]}),
            "tasks/0404-prd-lantern-repair.md": "# Lantern repair (0404)\n",
            f"docs/PRD-{TASK}.md": "# PRD 0404\n",
            f"docs/TECH_SPEC-{TASK}.md": "# Tech spec 0404\n",
            f"docs/ACTION_PLAN-{TASK}.md": "# Plan 0404\n",
            CHECKLIST: CHECKLIST_TEXT,
            "docs/TASKS.md": TASKS_TEXT,
            AGENT: AGENT_TEXT,
        },
    )


def make_repo(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    collateral(root)
    monkeypatch.chdir(root)
    monkeypatch.setenv(ROOT_ENV, str(root))
    return root


@pytest.fixture
def lantern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the collateral of TASK, as the current directory."""
    return make_repo(tmp_path / "lantern", monkeypatch)


@pytest.fixture
def bad_lantern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same, for deliberately broken manifests (exempt from the suite's schema check)."""
    return make_repo(tmp_path / "intentionally-invalid-lantern", monkeypatch)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the repository (but .git), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- verify ---------------------------------------------------------------------------------
def test_verify_passes_on_consistent_collateral(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "checklist", "verify", "--task", TASK)
    assert (code, err) == (0, "")
    assert out == "checklist: passed\ncollateral: passed\n"
    code, out, _ = cli(capsys, "checklist", "verify", "--task", TASK)
    assert out == "checklist: passed (cached)\ncollateral: passed (cached)\n"
    code, out, _ = cli(capsys, "checklist", "verify", "--task", TASK, "--no-cache")
    assert out == "checklist: passed\ncollateral: passed\n"


def test_verify_reports_findings_and_exits_1(
    lantern: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = real_run(lantern, status="failed")
    text = CHECKLIST_TEXT.replace("- [ ] Polish the glass", f"- [x] Polish the glass; {failed}")
    write(lantern, {CHECKLIST: text})
    (lantern / f"docs/ACTION_PLAN-{TASK}.md").unlink()
    monkeypatch.setenv(TASK_ENV, TASK)  # the task from the environment
    code, out, err = cli(capsys, "checklist", "verify")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "checklist: failed (3 findings)",
        f"{CHECKLIST}:5: checklist/evidence-not-succeeded: item 2 'Polish the glass' is "
        f"ticked but its evidence {failed} records status failed, not succeeded (hint: cite a "
        "run of the task that succeeded, or untick the item)",
        f"docs/TASKS.md:8: checklist/mirror-state-mismatch: docs/TASKS.md:8 shows [ ] for "
        f"'Polish the glass' but {CHECKLIST}:5 shows [x] (hint: make the mirror show what the "
        "checklist shows ('codex-orchestrator checklist flip' updates both))",
        f"{AGENT}:3: checklist/mirror-state-mismatch: {AGENT}:3 shows [ ] for "
        f"'Polish the glass' but {CHECKLIST}:5 shows [x] (hint: make the mirror show what the "
        "checklist shows ('codex-orchestrator checklist flip' updates both))",
        "collateral: failed (1 finding)",
        f"docs/ACTION_PLAN-{TASK}.md: collateral/doc-missing: no ACTION_PLAN document for "
        f"{TASK} (looked for docs/ACTION_PLAN-{TASK}.md and docs/ACTION_PLAN-*lantern-repair.md) "
        f"(hint: create docs/ACTION_PLAN-{TASK}.md naming the task, or point "
        "guardrails.collateral.docs.ACTION_PLAN at it)",
    ]


def test_verify_json(lantern: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(lantern, {AGENT: AGENT_TEXT.replace("Check the hinge", "Oil the hinge")})
    code, out, _ = cli(capsys, "checklist", "verify", "--task", TASK, "--format", "json")
    assert code == 0  # a warning does not fail
    report = json.loads(out)
    assert report["task"] == TASK
    assert report["status"] == "warned"
    assert [(g["name"], g["status"]) for g in report["guardrails"]] == [
        ("checklist", "warned"),
        ("collateral", "passed"),
    ]
    [finding] = report["guardrails"][0]["findings"]
    assert finding == {
        "rule": "checklist/mirror-missing-item",
        "path": AGENT,
        "line": None,
        "message": f"has no item 'Check the hinge' ({CHECKLIST}:6 shows [ ])",
        "hint": "copy the item (same text before ' — ' / '; Evidence') into the mirror",
        "severity": "warning",
    }


def test_verify_skips_without_collateral(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    code, out, _ = cli(capsys, "checklist", "verify", "--task", TASK)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"checklist: skipped (no checklist for {TASK} (looked for {CHECKLIST}; set "
        "guardrails.checklist.checklist to use another file))"
    )
    assert lines[1].startswith(f"collateral: skipped (no task collateral for {TASK} (looked for ")


def test_verify_without_a_task_exits_2(lantern: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "checklist", "verify")
    assert (code, out) == (2, "")
    assert err == (
        "codex-orchestrator: error: no task id; pass --task <id>, export MCP_RUNNER_TASK_ID, "
        "or set 'task' in the config file\n"
    )


def test_verify_with_bad_settings_exits_2(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trusted(lantern / "codex.orchestrator.yaml", "guardrails:\n  collateral:\n    docs: [a, b]\n")
    code, out, err = cli(capsys, "checklist", "verify", "--task", TASK)
    assert (code, out) == (2, "")
    assert err == (
        "codex-orchestrator: error: guardrails settings: 'docs' must map a document kind to a "
        "path, got ['a', 'b']; e.g. docs: {PRD: docs/PRD-{task}.md}\n"
    )


def test_checklist_without_an_action_is_a_usage_error(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["checklist"])
    assert exited.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err


# -- flip -----------------------------------------------------------------------------------
def test_flip_ticks_the_checklist_and_every_mirror(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    before = snapshot(lantern)
    code, out, err = cli(
        capsys, "checklist", "flip", "Polish the glass", "--manifest", good, "--task", TASK
    )
    assert (code, err) == (0, "")
    assert out == (
        f"ticked item 2 'Polish the glass' with evidence {good}\n"
        f"changed {CHECKLIST}\nchanged docs/TASKS.md\nchanged {AGENT}\n"
    )
    evidence = f"; Evidence: `{good}`"
    after = snapshot(lantern)
    assert after.pop(CHECKLIST).decode() == CHECKLIST_TEXT.replace(
        "- [ ] Polish the glass", f"- [x] Polish the glass{evidence}"
    )
    # Only the task's own section of docs/TASKS.md changes.
    assert after.pop("docs/TASKS.md").decode() == TASKS_TEXT.replace(
        "## 0404-lantern-repair\n- [ ] Replace the wick\n- [ ] Polish the glass",
        f"## 0404-lantern-repair\n- [ ] Replace the wick\n- [x] Polish the glass{evidence}",
    )
    assert after.pop(AGENT).decode() == AGENT_TEXT.replace(
        "* [ ] Polish the glass", f"* [x] Polish the glass{evidence}"
    )
    for rel in (CHECKLIST, "docs/TASKS.md", AGENT):
        before.pop(rel)
    assert after == before  # nothing else changed
    # And the result verifies.
    code, out, _ = cli(capsys, "checklist", "verify", "--task", TASK)
    assert (code, out) == (0, "checklist: passed\ncollateral: passed\n")


def test_flip_by_number_with_a_run_id_and_json(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    run_id = good.split("/")[3]
    code, out, err = cli(
        capsys, "checklist", "flip", "1", "--manifest", run_id, "--task", TASK, "--format", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "item": {"number": 1, "line": 4, "label": "Replace the wick", "key": "replace the wick"},
        "manifest": good,
        "changed": [CHECKLIST, "docs/TASKS.md", AGENT],
        "warnings": [],
    }
    assert (lantern / CHECKLIST).read_text().splitlines()[3] == (
        f"- [x] Replace the wick — cotton, not nylon; Evidence: `{good}`"
    )


def test_flip_warns_about_a_mirror_without_the_item(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    without = TASKS_TEXT.replace("- [ ] Check the hinge\n", "")
    write(lantern, {"docs/TASKS.md": without})
    code, out, err = cli(
        capsys, "checklist", "flip", "hinge", "--manifest", f"./{good}", "--task", TASK
    )
    assert code == 0
    assert err == (
        "codex-orchestrator: warning: docs/TASKS.md has no item 'Check the hinge'; it was not "
        "changed (add the item there)\n"
    )
    assert out.splitlines()[1:] == [f"changed {CHECKLIST}", f"changed {AGENT}"]
    assert (lantern / "docs/TASKS.md").read_text() == without
    assert (lantern / CHECKLIST).read_text().splitlines()[5] == (
        f"  - [x] Check the hinge; Evidence: `{good}`"
    )


def test_flip_keeps_crlf_line_endings_and_file_modes(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    crlf = CHECKLIST_TEXT.replace("\n", "\r\n").rstrip("\r\n")  # and no final newline
    (lantern / CHECKLIST).write_bytes(crlf.encode())
    os.chmod(lantern / CHECKLIST, 0o664)
    code, _, _ = cli(
        capsys, "checklist", "flip", "Check the hinge", "--manifest", good, "--task", TASK
    )
    assert code == 0
    assert (lantern / CHECKLIST).read_bytes() == crlf.replace(
        "- [ ] Check the hinge", f"- [x] Check the hinge; Evidence: `{good}`"
    ).encode()
    assert (lantern / CHECKLIST).stat().st_mode & 0o777 == 0o664


def test_flip_with_a_manifest_path_relative_to_a_subdirectory(
    lantern: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = real_run(lantern)
    monkeypatch.chdir(lantern / "docs")
    code, out, _ = cli(capsys, "checklist", "flip", "2", "--manifest", f"../{good}", "--task", TASK)
    assert code == 0
    assert out.startswith(f"ticked item 2 'Polish the glass' with evidence {good}\n")


def refused(
    capsys: pytest.CaptureFixture[str], root: Path, item: str, manifest: str
) -> tuple[int, str]:
    """Run a flip that must change nothing; its exit code and its stderr."""
    before = snapshot(root)
    code, out, err = cli(capsys, "checklist", "flip", item, "--manifest", manifest, "--task", TASK)
    assert out == ""
    assert snapshot(root) == before
    assert err.count("\n") == 1 and "Traceback" not in err
    return code, err


def test_flip_refuses_a_missing_manifest(lantern: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cited = f".runs/{TASK}/cli/2026-07-08T09-10-11-121Z-0badf00d/manifest.json"
    assert refused(capsys, lantern, "Polish", cited) == (
        1,
        f"codex-orchestrator: error: not ticking item 2 'Polish the glass': {cited} does not "
        f"exist; cite the manifest of a succeeded run of {TASK}\n",
    )


def test_flip_refuses_a_failed_run(lantern: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = real_run(lantern, status="failed")
    assert refused(capsys, lantern, "Polish", failed) == (
        1,
        f"codex-orchestrator: error: not ticking item 2 'Polish the glass': {failed} records "
        f"status failed, not succeeded; cite the manifest of a succeeded run of {TASK}\n",
    )


def test_flip_refuses_a_run_of_another_task(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = real_run(lantern, task="0505-other-thing")
    code, err = refused(capsys, lantern, "Polish", other)
    assert code == 1
    assert f"{other} is a manifest of task 0505-other-thing, not of {TASK}" in err


def test_flip_refuses_an_invalid_manifest(
    bad_lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cited = f".runs/{TASK}/cli/2026-07-08T09-10-11-121Z-0badf00d/manifest.json"
    write(bad_lantern, {cited: json.dumps({"taskId": TASK, "status": "succeeded"})})
    code, err = refused(capsys, bad_lantern, "Polish", cited)
    assert code == 1
    assert err.startswith(
        f"codex-orchestrator: error: not ticking item 2 'Polish the glass': {cited} does not "
        "validate against the manifest schema ("
    )
    write(bad_lantern, {cited: "{not json"})
    code, err = refused(capsys, bad_lantern, "Polish", cited)
    assert code == 1
    assert f"{cited} is not valid JSON (" in err


def test_flip_refuses_a_manifest_outside_the_repository(
    lantern: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(elsewhere, "init", "-q")
    outside = elsewhere / real_run(elsewhere)
    code, err = refused(capsys, lantern, "Polish", str(outside))
    assert code == 1
    assert err == (
        f"codex-orchestrator: error: {outside} is outside the repository {lantern}; cite a "
        f"manifest under its .runs/{TASK}/cli/ directory\n"
    )


def test_flip_refuses_an_item_already_ticked(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    assert cli(capsys, "checklist", "flip", "2", "--manifest", good, "--task", TASK)[0] == 0
    again = real_run(lantern)
    assert refused(capsys, lantern, "Polish the glass", again) == (
        1,
        f"codex-orchestrator: error: item 2 'Polish the glass' at {CHECKLIST}:5 is already "
        f"ticked (evidence: {good}); nothing to do\n",
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "Paint the frame",
            f"no item of {CHECKLIST} matches 'Paint the frame'; pass a number or a part of one "
            "of: 1 [ ] Replace the wick; 2 [ ] Polish the glass; 3 [ ] Check the hinge",
        ),
        (
            "the",
            f"3 items of {CHECKLIST} match 'the': 1 [ ] Replace the wick; 2 [ ] Polish the "
            "glass; 3 [ ] Check the hinge; pass its number or more of its text",
        ),
        ("4", f"{CHECKLIST} has 3 items; pick a number from 1 to 3"),
        ("0", f"{CHECKLIST} has 3 items; pick a number from 1 to 3"),
    ],
)
def test_flip_refuses_an_unknown_or_ambiguous_item(
    lantern: Path, capsys: pytest.CaptureFixture[str], item: str, message: str
) -> None:
    good = real_run(lantern)
    assert refused(capsys, lantern, item, good) == (2, f"codex-orchestrator: error: {message}\n")


def test_flip_without_a_checklist_is_a_usage_error(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    (lantern / CHECKLIST).unlink()
    assert refused(capsys, lantern, "1", good) == (
        2,
        f"codex-orchestrator: error: no checklist for {TASK}: {CHECKLIST} does not exist; "
        "create it or set guardrails.checklist.checklist\n",
    )


def test_flip_refuses_a_file_that_is_not_utf8(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    (lantern / AGENT).write_bytes(AGENT_TEXT.encode() + b"caf\xe9\n")
    assert refused(capsys, lantern, "2", good) == (
        1,
        f"codex-orchestrator: error: {AGENT} is not valid UTF-8 (byte {len(AGENT_TEXT) + 3}); "
        "re-save it as UTF-8 and flip again\n",
    )


# -- as a real process ----------------------------------------------------------------------
def test_the_console_script_runs_both_sub_commands(lantern: Path) -> None:
    good = real_run(lantern)
    env = {**os.environ, ROOT_ENV: str(lantern), TASK_ENV: TASK}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_codex.cli", "checklist", *argv],
            cwd=lantern,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    helped = run("flip", "--help")
    assert helped.returncode == 0
    assert "--manifest PATH|RUN" in helped.stdout
    flipped = run("flip", "wick", "--manifest", good)
    assert (flipped.returncode, flipped.stderr) == (0, "")
    verified = run("verify", "--format", "json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["status"] == "passed"


def test_flip_leaves_a_mirror_that_already_shows_the_item_ticked(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    ticked = AGENT_TEXT.replace("* [ ] Polish the glass", f"* [x] Polish the glass; {good}")
    write(lantern, {AGENT: ticked})
    code, out, err = cli(capsys, "checklist", "flip", "2", "--manifest", good, "--task", TASK)
    assert code == 0
    assert err == (
        f"codex-orchestrator: warning: {AGENT}:3 already shows [x] for 'Polish the glass'; it "
        "was not changed\n"
    )
    assert out.splitlines()[1:] == [f"changed {CHECKLIST}", "changed docs/TASKS.md"]
    assert (lantern / AGENT).read_text() == ticked


def test_flip_writes_a_mirror_that_is_a_symlink_to_the_checklist_once(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = real_run(lantern)
    (lantern / AGENT).unlink()
    (lantern / AGENT).symlink_to(lantern / CHECKLIST)
    code, out, _ = cli(capsys, "checklist", "flip", "3", "--manifest", good, "--task", TASK)
    assert code == 0
    assert out.splitlines()[1:] == [f"changed {CHECKLIST}", "changed docs/TASKS.md"]
    assert (lantern / AGENT).is_symlink()
    assert (lantern / AGENT).read_text().count("[x]") == 1


def test_flip_never_ticks_another_tasks_item_in_a_shared_mirror(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/TASKS.md has no section for this task yet, only another task's, with an item of
    # the same text: that item is not this task's and must stay as it is.
    other = "# Board\n\n## 0101-other-task\n- [ ] Polish the glass\n"
    write(lantern, {"docs/TASKS.md": other})
    manifest = real_run(lantern)
    code, _, err = cli(
        capsys, "checklist", "flip", "Polish the glass", "--manifest", manifest, "--task", TASK
    )
    assert code == 0, err
    assert (lantern / "docs/TASKS.md").read_text() == other
    assert "docs/TASKS.md has no item 'Polish the glass'" in err
    assert "[x] Polish the glass; Evidence:" in (lantern / CHECKLIST).read_text()


def test_a_layout_set_once_under_guardrails_tasks_serves_verify_and_flip(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = f"plan/checklist-{TASK}.md"
    (lantern / moved).parent.mkdir()
    (lantern / CHECKLIST).rename(lantern / moved)
    trusted(lantern / "codex.orchestrator.yaml", f"guardrails:\n  tasks:\n    checklist: {moved}\n")
    code, out, err = cli(capsys, "checklist", "verify", "--task", TASK)
    assert code == 0, out + err
    assert "collateral/checklist-missing" not in out
    manifest = real_run(lantern)
    code, out, err = cli(capsys, "checklist", "flip", "1", "--manifest", manifest, "--task", TASK)
    assert code == 0, err
    assert f"changed {moved}" in out.splitlines()
    assert "[x] Replace the wick" in (lantern / moved).read_text()


def test_flip_replaces_the_pending_evidence_placeholder(
    lantern: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checklist = lantern / CHECKLIST
    checklist.write_text(
        f"# Lantern repair ({TASK})\n\n## Work\n"
        "- [ ] Replace the wick — Evidence: _(pending)._\n"
        "- [ ] Polish the glass — a long item whose evidence\n"
        "  goes on the next line. Evidence: _(pending)._\n"
        "  - [ ] Check the hinge\n",
        encoding="utf-8",
    )
    good = real_run(lantern)
    code, _, err = cli(capsys, "checklist", "flip", "1", "--manifest", good, "--task", TASK)
    assert (code, err) == (0, "")
    code, _, err = cli(capsys, "checklist", "flip", "2", "--manifest", good, "--task", TASK)
    assert (code, err) == (0, "")
    text = checklist.read_text(encoding="utf-8")
    assert "(pending)" not in text
    assert text.splitlines()[3:6] == [
        f"- [x] Replace the wick — Evidence: `{good}`",
        "- [x] Polish the glass — a long item whose evidence",
        f"  goes on the next line. Evidence: `{good}`",
    ]
    # A mirror without the placeholder gets the evidence appended, as before.
    assert f"* [x] Replace the `wick`; Evidence: `{good}`" in (lantern / AGENT).read_text()
