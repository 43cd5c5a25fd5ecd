"""The checklist guardrail: ticked items cite manifests of succeeded runs of the task, and
the mirrors agree with the checklist."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from guardrails.checklist import ChecklistGuardrail
from tests.helpers.repos import SessionFactory, git, rules, write
from tests.helpers.runs import run_with_command

TASK = "0808-tide-tables"
OTHER = "0909-buoy-census"
CHECKLIST = f"tasks/tasks-{TASK}.md"
AGENT = f".agent/task/{TASK}.md"


def real_run(
    root: Path, task: str = TASK, status: str = "succeeded", run_id: str | None = None
) -> str:
    """Start and finish a real run; its manifest path relative to ``root``."""
    run = run_with_command(root, task, status, run_id=run_id)
    return run.paths.manifest.relative_to(root).as_posix()


def checklist(*items: str, title: str = f"# Checklist for {TASK}") -> str:
    return "\n".join([title, "", *items]) + "\n"


def run_checklist(
    factory: SessionFactory, root: Path, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    session, _ = factory(root, task_id=TASK, config=config)
    return session.run(ChecklistGuardrail())


def findings(record: Mapping[str, Any]) -> list[tuple[str, str | None, int | None]]:
    return [(f["rule"], f["path"], f["line"]) for f in record["findings"]]


@pytest.fixture
def bad_repo(tmp_path: Path) -> Path:
    """A repository for deliberately broken evidence (exempt from the suite's schema check)."""
    root = tmp_path / "intentionally-invalid-repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def test_good_evidence_and_agreeing_mirrors_pass(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good = real_run(repo)
    items = (
        f"- [x] Read the gauges — all six; Evidence: `{good}`",
        "- [ ] Publish the tables",
    )
    write(
        repo,
        {
            CHECKLIST: checklist(*items),
            "docs/TASKS.md": checklist(*items, title=f"## {TASK}"),
            AGENT: checklist(
                f"- [x] Read the gauges; Evidence: {good}", "* [ ] Publish the tables"
            ),
        },
    )
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "passed", record["findings"]
    assert record["summary"] == (
        f"2 items (1 ticked) in {CHECKLIST}, 2 mirrors: 0 errors, 0 warnings"
    )


def test_no_checklist_is_skipped(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {"docs/TASKS.md": "- [x] something\n"})
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "skipped"
    assert record["summary"] == (
        f"no checklist for {TASK} (looked for {CHECKLIST}; set "
        "guardrails.checklist.checklist to use another file)"
    )


def test_a_checklist_without_items_warns(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {CHECKLIST: "# Nothing to do yet\n"})
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "warned"
    assert findings(record) == [("checklist/no-items", CHECKLIST, None)]


def test_missing_evidence(repo: Path, guardrail_session: SessionFactory) -> None:
    cited = f".runs/{TASK}/cli/2026-03-04T05-06-07-890Z-abcdef01/manifest.json"
    write(repo, {CHECKLIST: checklist("- [ ] First", f"- [x] Second step; Evidence: `{cited}`")})
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert (finding["rule"], finding["path"], finding["line"]) == (
        "checklist/evidence-missing",
        CHECKLIST,
        4,
    )
    assert finding["message"] == (
        f"item 2 'Second step' is ticked but its evidence {cited} does not exist"
    )
    assert finding["hint"] == (
        "run the work as a run of the task and cite the manifest it writes, or untick the item"
    )


def test_evidence_of_a_failed_run(repo: Path, guardrail_session: SessionFactory) -> None:
    failed = real_run(repo, status="failed")
    write(repo, {CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{failed}`")})
    [finding] = run_checklist(guardrail_session, repo)["findings"]
    assert (finding["rule"], finding["line"]) == ("checklist/evidence-not-succeeded", 3)
    assert finding["message"] == (
        f"item 1 'Calibrate' is ticked but its evidence {failed} records status failed, "
        "not succeeded"
    )


def test_evidence_of_another_task(repo: Path, guardrail_session: SessionFactory) -> None:
    other = real_run(repo, task=OTHER)
    write(repo, {CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{other}`")})
    [finding] = run_checklist(guardrail_session, repo)["findings"]
    assert finding["rule"] == "checklist/evidence-wrong-task"
    assert finding["message"] == (
        f"item 1 'Calibrate' is ticked but its evidence {other} is a manifest of task "
        f"{OTHER}, not of {TASK}"
    )
    assert finding["hint"] == (
        f"cite a manifest under .runs/{TASK}/cli/ (a run started with --task {TASK})"
    )


def test_evidence_copied_from_another_task(repo: Path, guardrail_session: SessionFactory) -> None:
    other = real_run(repo, task=OTHER)
    copied = other.replace(OTHER, TASK)
    (repo / copied).parent.mkdir(parents=True)
    shutil.copy(repo / other, repo / copied)
    write(repo, {CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{copied}`")})
    [finding] = run_checklist(guardrail_session, repo)["findings"]
    assert finding["rule"] == "checklist/evidence-wrong-task"
    assert finding["message"] == (
        f"item 1 'Calibrate' is ticked but its evidence {copied} records taskId {OTHER}, not {TASK}"
    )


def test_evidence_in_the_wrong_run_directory(repo: Path, guardrail_session: SessionFactory) -> None:
    good = real_run(repo)
    moved = f".runs/{TASK}/cli/2020-01-01T00-00-00-000Z-00000000/manifest.json"
    (repo / moved).parent.mkdir(parents=True)
    shutil.copy(repo / good, repo / moved)
    write(repo, {CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{moved}`")})
    [finding] = run_checklist(guardrail_session, repo)["findings"]
    assert finding["rule"] == "checklist/evidence-invalid"
    assert finding["message"] == (
        f"item 1 'Calibrate' is ticked but its evidence {moved} records runId "
        f"{good.split('/')[3]} but lies in run directory 2020-01-01T00-00-00-000Z-00000000"
    )


def test_evidence_that_is_not_json(bad_repo: Path, guardrail_session: SessionFactory) -> None:
    cited = f".runs/{TASK}/cli/2026-03-04T05-06-07-890Z-abcdef01/manifest.json"
    write(
        bad_repo,
        {
            cited: '{"taskId": "0808-tide-tables",\n  oops\n',
            CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{cited}`"),
        },
    )
    [finding] = run_checklist(guardrail_session, bad_repo)["findings"]
    assert finding["rule"] == "checklist/evidence-invalid"
    assert finding["message"] == (
        f"item 1 'Calibrate' is ticked but its evidence {cited} is not valid JSON "
        "(Expecting property name enclosed in double quotes at line 2, column 3)"
    )


def test_evidence_that_fails_the_schema(bad_repo: Path, guardrail_session: SessionFactory) -> None:
    good = real_run(bad_repo)
    document = json.loads((bad_repo / good).read_text())
    document["status"] = "splendid"
    (bad_repo / good).write_text(json.dumps(document))
    write(bad_repo, {CHECKLIST: checklist(f"- [x] Calibrate; Evidence: `{good}`")})
    [finding] = run_checklist(guardrail_session, bad_repo)["findings"]
    assert finding["rule"] == "checklist/evidence-invalid"
    assert finding["message"].startswith(
        f"item 1 'Calibrate' is ticked but its evidence {good} does not validate against the "
        "manifest schema (status: 'splendid' is not one of"
    )


def test_every_cited_manifest_is_checked_once_per_path(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good, failed = real_run(repo), real_run(repo, status="failed")
    write(
        repo,
        {
            CHECKLIST: checklist(
                f"- [x] One; Evidence: `{good}`, `{failed}`",
                f"- [x] Two; Evidence: `{failed}`",
            )
        },
    )
    assert findings(run_checklist(guardrail_session, repo)) == [
        ("checklist/evidence-not-succeeded", CHECKLIST, 3),
        ("checklist/evidence-not-succeeded", CHECKLIST, 4),
    ]


def test_ticked_without_evidence_and_evidence_on_an_open_item(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good = real_run(repo)
    write(
        repo,
        {
            CHECKLIST: checklist(
                "- [x] Ticked on trust — no proof",
                f"  - [ ] Still open; Evidence: `{good}`",
            )
        },
    )
    record = run_checklist(guardrail_session, repo)
    first, second = record["findings"]
    assert (first["rule"], first["line"]) == ("checklist/ticked-without-evidence", 3)
    assert first["message"] == "item 1 'Ticked on trust' is ticked [x] but cites no run manifest"
    assert first["hint"] == (
        f"cite the manifest of a succeeded run (Evidence: `.runs/{TASK}/cli/<run-id>/"
        "manifest.json`) or untick it"
    )
    assert (second["rule"], second["line"]) == ("checklist/evidence-on-open-item", 4)
    assert second["message"] == f"item 2 'Still open' is open [ ] but cites {good}"


def test_mirror_state_and_evidence_mismatches(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good, later = real_run(repo), real_run(repo)
    write(
        repo,
        {
            CHECKLIST: checklist(
                f"- [x] Read the gauges; Evidence: `{good}`",
                f"- [x] Plot the curve; Evidence: `{good}`",
                "- [ ] Publish",
            ),
            "docs/TASKS.md": checklist(
                "- [ ] Read the gauges",
                f"- [x] Plot the **curve** — mirrored; Evidence: `{later}`",
                "- [ ] Publish",
                "- [x] Something this checklist does not have",
                title="# Mirror (0808)",
            ),
            AGENT: checklist(
                f"- [x] Read the gauges; Evidence: `{good}`",
                f"- [x] Plot the curve; Evidence: `{good}`",
                "- [ ] Publish",
            ),
        },
    )
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "failed"
    state, evidence = record["findings"]
    assert (state["rule"], state["path"], state["line"]) == (
        "checklist/mirror-state-mismatch",
        "docs/TASKS.md",
        3,
    )
    assert state["message"] == (
        f"docs/TASKS.md:3 shows [ ] for 'Read the gauges' but {CHECKLIST}:3 shows [x]"
    )
    assert (evidence["rule"], evidence["path"], evidence["line"]) == (
        "checklist/mirror-evidence-mismatch",
        "docs/TASKS.md",
        4,
    )
    assert evidence["message"] == (
        f"docs/TASKS.md:4 cites {later} for 'Plot the curve' but {CHECKLIST}:4 cites {good}"
    )


def test_mirror_missing_items_warn(repo: Path, guardrail_session: SessionFactory) -> None:
    write(
        repo,
        {
            CHECKLIST: checklist("- [ ] Read the gauges", "- [ ] Plot the curve"),
            "docs/TASKS.md": checklist("- [ ] Read the gauges"),
            AGENT: "# Notes (0808)\n\n1. **Gauges**\n   - [ ] Status: pending\n",
        },
    )
    record = run_checklist(guardrail_session, repo)
    assert record["status"] == "warned"
    assert [(f["rule"], f["path"], f["line"], f["severity"]) for f in record["findings"]] == [
        ("checklist/mirror-missing-item", "docs/TASKS.md", None, "warning"),
        ("checklist/mirror-missing-item", AGENT, None, "warning"),
    ]
    assert record["findings"][0]["message"] == (
        f"has no item 'Plot the curve' ({CHECKLIST}:4 shows [ ])"
    )
    assert record["findings"][1]["message"] == (
        f"has none of the 2 items of {CHECKLIST} (no '- [ ]' / '- [x]' line with the same text)"
    )


def test_a_shared_mirror_is_compared_only_in_the_tasks_section(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good = real_run(repo)
    write(
        repo,
        {
            CHECKLIST: checklist(f"- [x] Review; Evidence: `{good}`"),
            "docs/TASKS.md": (
                "# Snapshot (0909)\n- [ ] Review\n\n"
                f"# Snapshot ({TASK})\n## Work\n- [x] Review; Evidence: `{good}`\n\n"
                "# Snapshot (0101)\n- [ ] Review\n"
            ),
        },
    )
    record = run_checklist(
        guardrail_session, repo, {"guardrails": {"checklist": {"mirrors": ["docs/TASKS.md"]}}}
    )
    assert record["status"] == "passed", record["findings"]


def test_repeated_items_are_paired_in_order(repo: Path, guardrail_session: SessionFactory) -> None:
    good = real_run(repo)
    write(
        repo,
        {
            CHECKLIST: checklist(
                "## Phase 1",
                f"- [x] Run tests; Evidence: `{good}`",
                "## Phase 2",
                "- [ ] Run tests",
            ),
            "docs/TASKS.md": checklist(f"- [x] Run tests; Evidence: `{good}`", "- [x] Run tests"),
        },
    )
    config = {"guardrails": {"checklist": {"mirrors": ["docs/TASKS.md"]}}}
    record = run_checklist(guardrail_session, repo, config)
    assert findings(record) == [("checklist/mirror-state-mismatch", "docs/TASKS.md", 4)]


def test_locations_come_from_the_settings(repo: Path, guardrail_session: SessionFactory) -> None:
    write(
        repo,
        {
            "plan/0808.md": checklist("- [x] Unproven"),
            "plan/mirrors/a.md": checklist("- [ ] Unproven"),
            "plan/mirrors/b.md": checklist("- [x] Unproven"),
        },
    )
    config = {
        "guardrails": {
            "checklist": {"checklist": "plan/{number}.md", "mirrors": ["plan/mirrors/*.md"]}
        }
    }
    assert findings(run_checklist(guardrail_session, repo, config)) == [
        ("checklist/ticked-without-evidence", "plan/0808.md", 3),
        ("checklist/mirror-state-mismatch", "plan/mirrors/a.md", 3),
    ]


def test_odd_files_do_not_crash_it(bad_repo: Path, guardrail_session: SessionFactory) -> None:
    cited = f".runs/{TASK}/cli/2026-03-04T05-06-07-890Z-abcdef01/manifest.json"
    (bad_repo / "tasks").mkdir()
    (bad_repo / CHECKLIST).write_bytes(
        b"\xef\xbb\xbf# T\r\n- [x] Caf\xe9 \xff; Evidence: `" + cited.encode() + b"`\r\n"
        b"```\r\n- [x] fenced\r\n```\r\n\t* [X] tabbed\r\n- [ ]"
    )
    write(bad_repo, {"docs/TASKS.md": "\x00\x01 binary-ish\n- [ ] Caf\n"})
    (bad_repo / ".agent" / "task").mkdir(parents=True)
    (bad_repo / AGENT).mkdir()  # a directory where a mirror file is expected
    (bad_repo / cited).parent.mkdir(parents=True)
    (bad_repo / cited).write_bytes(b'{"a": "\xc3\x28"}')
    record = run_checklist(guardrail_session, bad_repo)
    assert findings(record) == [
        ("checklist/evidence-invalid", CHECKLIST, 2),
        ("checklist/ticked-without-evidence", CHECKLIST, 6),
        ("checklist/mirror-missing-item", "docs/TASKS.md", None),
    ]
    assert record["findings"][0]["message"].endswith(f"{cited} is not UTF-8 text")


def test_results_are_cached_until_an_input_changes(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    good = real_run(repo)
    pending = f".runs/{TASK}/cli/2026-05-06T07-08-09-010Z-feedface/manifest.json"
    write(
        repo,
        {
            CHECKLIST: checklist(
                f"- [x] One; Evidence: `{good}`", f"- [x] Two; Evidence: `{pending}`"
            )
        },
    )
    session, _ = guardrail_session(repo, task_id=TASK)
    first = session.run(ChecklistGuardrail())
    second = session.run(ChecklistGuardrail())
    assert (first["cached"], second["cached"]) == (False, True)
    assert rules(first) == rules(second) == ["checklist/evidence-missing"]

    # A run that is not cited does not matter.
    real_run(repo)
    assert session.run(ChecklistGuardrail())["cached"] is True

    # The cited manifest appearing does.
    real_run(repo, run_id="2026-05-06T07-08-09-010Z-feedface")
    third = session.run(ChecklistGuardrail())
    assert (third["cached"], third["status"]) == (False, "passed")

    # So does a cited manifest changing ...
    document = json.loads((repo / good).read_text())
    document["status"] = "failed"
    (repo / good).write_text(json.dumps(document, indent=2))
    fourth = session.run(ChecklistGuardrail())
    assert fourth["cached"] is False
    assert rules(fourth) == ["checklist/evidence-not-succeeded"]
    assert session.run(ChecklistGuardrail())["cached"] is True

    # ... the checklist changing ...
    write(repo, {CHECKLIST: checklist(f"- [x] Two; Evidence: `{pending}`")})
    fifth = session.run(ChecklistGuardrail())
    assert (fifth["cached"], fifth["status"]) == (False, "passed")

    # ... and a mirror appearing.
    write(repo, {"docs/TASKS.md": checklist("- [ ] Two")})
    sixth = session.run(ChecklistGuardrail())
    assert sixth["cached"] is False
    assert rules(sixth) == ["checklist/mirror-state-mismatch"]

    # --no-cache (use_cache False) always runs it.
    session.use_cache = False
    assert session.run(ChecklistGuardrail())["cached"] is False
