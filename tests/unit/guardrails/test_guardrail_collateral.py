"""The collateral guardrail: index entry, documents, checklist and mirrors of a task."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from guardrails.collateral import CollateralGuardrail
from pytest_codex.context import Context
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from tests.helpers.repos import SessionFactory, rules, write

TASK = "0707-harbor-lights"
RUN = "2026-02-03T04-05-06-789Z-00c0ffee"
GATE_LOG = f".runs/{TASK}/cli/{RUN}/manifest.json"


def index_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "0707",
        "slug": TASK,
        "title": "Harbor lights survey",
        "path": "tasks/0707-prd-harbor-lights.md",
        "status": "in-progress",
    }
    entry.update(overrides)
    return entry


def index_text(*entries: Mapping[str, Any]) -> str:
    return json.dumps({"items": list(entries)}, indent=2) + "\n"


def complete_files() -> dict[str, str]:
    """A repository whose collateral for TASK is complete and consistent."""
    return {
        "tasks/index.json": index_text(
            {"id": "0606", "slug": "0606-quay-paint", "path": "tasks/x.md"}, index_entry()
        ),
        "tasks/0707-prd-harbor-lights.md": "# Harbor lights (0707)\n\nCount the lamps.\n",
        "docs/PRD-0707-harbor-lights.md": f"# PRD for {TASK}\n",
        "docs/TECH_SPEC-0707-harbor-lights.md": "# Tech spec, task 0707\n",
        "docs/ACTION_PLAN-0707-harbor-lights.md": "# Action plan (0707)\n",
        f"tasks/tasks-{TASK}.md": "# Checklist 0707\n- [ ] Count lamps\n",
        "docs/TASKS.md": "# All tasks\n## 0707\n- [ ] Count lamps\n",
        f".agent/task/{TASK}.md": f"# Mirror of {TASK}\n- [ ] Count lamps\n",
    }


def real_run(root: Path) -> Path:
    """A real, finished run of TASK with run id RUN (the gate's manifest)."""
    run = Run.start(
        Context.load(cwd=root, env={ROOT_ENV: str(root)}), task_id=TASK, heartbeat=False, run_id=RUN
    )
    run.finish("succeeded")
    assert run.paths.manifest == root / GATE_LOG
    return run.paths.manifest


def run_collateral(
    session_factory: SessionFactory, root: Path, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    session, _ = session_factory(root, task_id=TASK, config=config)
    return session.run(CollateralGuardrail())


def only(record: Mapping[str, Any]) -> dict[str, Any]:
    [finding] = record["findings"]
    return dict(finding)


def test_complete_collateral_passes(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, complete_files())
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "passed", record["findings"]
    assert record["findings"] == []
    assert record["summary"] == "8 collateral files for 0707-harbor-lights: 0 errors, 0 warnings"


def test_no_collateral_at_all_is_skipped(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {"README.md": "nothing about tasks\n"})
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "skipped"
    assert record["summary"] == (
        f"no task collateral for {TASK} (looked for tasks/index.json, "
        f"docs/PRD-{TASK}.md, docs/PRD-*harbor-lights.md, docs/TECH_SPEC-{TASK}.md, "
        f"docs/TECH_SPEC-*harbor-lights.md, docs/ACTION_PLAN-{TASK}.md, "
        f"docs/ACTION_PLAN-*harbor-lights.md, tasks/tasks-{TASK}.md, docs/TASKS.md, "
        f".agent/task/{TASK}.md)"
    )


def test_missing_index(repo: Path, guardrail_session: SessionFactory) -> None:
    files = complete_files()
    del files["tasks/index.json"]
    write(repo, files)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-missing"
    assert finding["path"] == "tasks/index.json"
    assert finding["message"] == "no task index (looked for tasks/index.json)"
    assert finding["severity"] == "error"


def test_index_that_is_not_json_reports_line_and_column(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {**complete_files(), "tasks/index.json": '{\n  "items": [\n    {"id": 7,}\n'})
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "failed"
    finding = only(record)
    assert finding["rule"] == "collateral/index-invalid"
    assert (finding["path"], finding["line"]) == ("tasks/index.json", 3)
    assert finding["message"] == (
        "is not valid JSON: Expecting property name enclosed in double quotes at line 3, column 14"
    )


def test_index_without_an_items_list(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {**complete_files(), "tasks/index.json": '{"tasks": []}\n'})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-invalid"
    assert finding["message"] == 'has no "items" list at its top level'


def test_index_without_an_entry_for_the_task(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {**complete_files(), "tasks/index.json": index_text(index_entry(slug="other"))})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-no-entry"
    assert finding["message"] == (
        "has no entry for task 0707-harbor-lights (no item whose slug or id is "
        "'0707-harbor-lights', or whose '<id>-<slug>' is)"
    )


@pytest.mark.parametrize(
    "entry",
    [
        {"id": "0707", "slug": TASK},
        {"id": TASK, "slug": "whatever"},
        {"id": "0707", "slug": "harbor-lights"},
        {"slug": TASK},
    ],
)
def test_entry_matching(
    repo: Path, guardrail_session: SessionFactory, entry: dict[str, Any]
) -> None:
    files = complete_files()
    files["tasks/index.json"] = index_text({**entry, "path": "tasks/0707-prd-harbor-lights.md"})
    write(repo, files)
    assert run_collateral(guardrail_session, repo)["status"] == "passed"


def test_duplicate_entries_warn(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {**complete_files(), "tasks/index.json": index_text(index_entry(), index_entry())})
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "warned"
    finding = only(record)
    assert finding["rule"] == "collateral/index-duplicate-entry"
    assert finding["severity"] == "warning"
    assert finding["line"] == 4  # the line of the first entry's "id"
    assert finding["message"] == (
        "has 2 entries for task 0707-harbor-lights (lines 4, 11); the first is checked"
    )


def test_entry_path_that_does_not_exist(repo: Path, guardrail_session: SessionFactory) -> None:
    files = complete_files()
    files["tasks/index.json"] = index_text(index_entry(path="tasks/gone.md"))
    write(repo, files)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-path-missing"
    assert (finding["path"], finding["line"]) == ("tasks/index.json", 4)
    assert finding["message"] == (
        "entry for 0707-harbor-lights has \"path\": 'tasks/gone.md', which does not exist"
    )


def test_entry_without_a_path(repo: Path, guardrail_session: SessionFactory) -> None:
    entry = index_entry()
    del entry["path"]
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-path-missing"
    assert finding["message"] == 'entry for 0707-harbor-lights has no "path"'


@pytest.mark.parametrize("kind", ["PRD", "TECH_SPEC", "ACTION_PLAN"])
def test_each_missing_document(repo: Path, guardrail_session: SessionFactory, kind: str) -> None:
    files = complete_files()
    del files[f"docs/{kind}-{TASK}.md"]
    write(repo, files)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/doc-missing"
    assert finding["path"] == f"docs/{kind}-{TASK}.md"
    assert finding["message"] == (
        f"no {kind} document for {TASK} (looked for docs/{kind}-{TASK}.md and "
        f"docs/{kind}-*harbor-lights.md)"
    )
    assert finding["hint"] == (
        f"create docs/{kind}-{TASK}.md naming the task, or point "
        f"guardrails.collateral.docs.{kind} at it"
    )


def test_documents_named_after_the_slug_tail_are_found(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    files = complete_files()
    for kind in ("PRD", "TECH_SPEC", "ACTION_PLAN"):
        text = files.pop(f"docs/{kind}-{TASK}.md")
        files[f"docs/{kind}-port-harbor-lights.md"] = text
    write(repo, files)
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "passed", record["findings"]


def test_a_tail_match_about_another_task_is_unreferenced(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    files = complete_files()
    del files[f"docs/PRD-{TASK}.md"]
    files["docs/PRD-old-harbor-lights.md"] = "# Harbor lights, first attempt (task 0101)\n"
    write(repo, files)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/unreferenced"
    assert finding["path"] == "docs/PRD-old-harbor-lights.md"
    assert finding["message"] == (
        "never mentions task 0707-harbor-lights (neither '0707-harbor-lights' or '0707' "
        "appears in it)"
    )


@pytest.mark.parametrize(
    "rel",
    [
        f"docs/TECH_SPEC-{TASK}.md",
        f"tasks/tasks-{TASK}.md",
        "docs/TASKS.md",
        f".agent/task/{TASK}.md",
        "tasks/0707-prd-harbor-lights.md",
    ],
)
def test_present_files_that_never_name_the_task(
    repo: Path, guardrail_session: SessionFactory, rel: str
) -> None:
    # "07070" and "x0707" are not the number as a whole word.
    write(
        repo,
        {**complete_files(), rel: "# Lamps\nSee ticket 07070 and x0707y.\n- [ ] Count lamps\n"},
    )
    finding = only(run_collateral(guardrail_session, repo))
    assert (finding["rule"], finding["path"]) == ("collateral/unreferenced", rel)


def test_missing_checklist_and_mirrors(repo: Path, guardrail_session: SessionFactory) -> None:
    files = complete_files()
    for rel in (f"tasks/tasks-{TASK}.md", "docs/TASKS.md", f".agent/task/{TASK}.md"):
        del files[rel]
    write(repo, files)
    record = run_collateral(guardrail_session, repo)
    assert [(f["rule"], f["path"], f["message"]) for f in record["findings"]] == [
        (
            "collateral/checklist-missing",
            f"tasks/tasks-{TASK}.md",
            f"no checklist for {TASK} (looked for tasks/tasks-{TASK}.md)",
        ),
        (
            "collateral/mirror-missing",
            "docs/TASKS.md",
            f"no checklist mirror docs/TASKS.md for {TASK}",
        ),
        (
            "collateral/mirror-missing",
            f".agent/task/{TASK}.md",
            f"no checklist mirror .agent/task/{TASK}.md for {TASK}",
        ),
    ]


def test_gate_log_of_another_task(repo: Path, guardrail_session: SessionFactory) -> None:
    other = f".runs/0606-quay-paint/cli/{RUN}/manifest.json"
    entry = index_entry(gate={"log": other, "run_id": RUN})
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/gate-log-wrong-task"
    assert finding["line"] == 4
    assert finding["message"] == (
        f"entry for {TASK} has gate.log {other}, a manifest of task 0606-quay-paint, not of {TASK}"
    )


def test_gate_log_that_is_no_manifest_path(repo: Path, guardrail_session: SessionFactory) -> None:
    entry = index_entry(gate={"log": "logs/gate.txt", "run_id": None})
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/gate-log-wrong-task"
    assert finding["message"] == (
        f"entry for {TASK} has gate.log logs/gate.txt, a manifest of no task run, not of {TASK}"
    )


def test_gate_run_id_disagreeing_with_the_log(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    entry = index_entry(gate={"log": GATE_LOG, "run_id": "2026-02-03T04-05-06-789Z-11111111"})
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    real_run(repo)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/gate-run-id-mismatch"
    assert finding["message"] == (
        f"entry for {TASK} has gate.run_id '2026-02-03T04-05-06-789Z-11111111' but gate.log "
        f"{GATE_LOG} is run {RUN}"
    )


def test_gate_run_id_without_a_log(repo: Path, guardrail_session: SessionFactory) -> None:
    entry = index_entry(gate={"log": None, "run_id": RUN})
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/gate-run-id-mismatch"
    assert finding["message"] == f"entry for {TASK} has gate.run_id '{RUN}' but no gate.log"


def test_gate_log_not_in_the_checkout_warns(repo: Path, guardrail_session: SessionFactory) -> None:
    entry = index_entry(gate={"log": GATE_LOG, "run_id": RUN, "status": "approved"})
    write(repo, {**complete_files(), "tasks/index.json": index_text(entry)})
    record = run_collateral(guardrail_session, repo)
    assert record["status"] == "warned"
    finding = only(record)
    assert (finding["rule"], finding["severity"]) == ("collateral/gate-log-missing", "warning")
    # Once the gate's manifest is there, the same index passes.
    real_run(repo)
    assert run_collateral(guardrail_session, repo)["status"] == "passed"


def test_locations_come_from_the_settings(repo: Path, guardrail_session: SessionFactory) -> None:
    write(
        repo,
        {
            "plan/index.json": index_text(index_entry(path="plan/prd.md")),
            "plan/prd.md": f"# {TASK}\n",
            "plan/design-0707.md": "# Design 0707\n",
            "plan/todo-0707.md": "# 0707\n- [ ] Count lamps\n",
        },
    )
    config = {
        "guardrails": {
            "collateral": {
                "index": "plan/index.json",
                "checklist": "plan/todo-{number}.md",
                "mirrors": [],
                "docs": {
                    "PRD": "plan/prd.md",
                    "TECH_SPEC": ["plan/missing.md", "plan/design-*.md"],
                    "ACTION_PLAN": False,
                },
            }
        }
    }
    record = run_collateral(guardrail_session, repo, config)
    assert record["status"] == "passed", record["findings"]


def test_bad_settings_are_reported_as_one_finding(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, complete_files())
    config = {"guardrails": {"collateral": {"mirrors": 3}}}
    record = run_collateral(guardrail_session, repo, config)
    assert rules(record) == ["guardrail/error"]
    assert record["findings"][0]["message"] == (
        "guardrails settings: 'mirrors' must be a list of paths, got 3; set it to e.g. "
        "[docs/TASKS.md]"
    )


def test_results_are_cached_until_a_document_changes(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, complete_files())
    session, _ = guardrail_session(repo, task_id=TASK)
    first = session.run(CollateralGuardrail())
    second = session.run(CollateralGuardrail())
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["findings"] == first["findings"] == []
    write(repo, {f"docs/PRD-{TASK}.md": "# A PRD about nothing in particular\n"})
    third = session.run(CollateralGuardrail())
    assert third["cached"] is False
    assert rules(third) == ["collateral/unreferenced"]
    # The index entry's path is an input too.
    write(repo, {"tasks/0707-prd-harbor-lights.md": "# Harbor lights\n"})
    fourth = session.run(CollateralGuardrail())
    assert fourth["cached"] is False
    assert rules(fourth) == ["collateral/unreferenced", "collateral/unreferenced"]


@pytest.mark.parametrize("outside", ["/etc/hostname", "../outside.md", "tasks/../../x.md"])
def test_an_index_path_outside_the_repository_is_a_finding_and_never_read(
    repo: Path, guardrail_session: SessionFactory, outside: str
) -> None:
    files = complete_files()
    files["tasks/index.json"] = index_text(index_entry(path=outside))
    write(repo, files)
    finding = only(run_collateral(guardrail_session, repo))
    assert finding["rule"] == "collateral/index-path-outside"
    assert outside in finding["message"] and finding["path"] == "tasks/index.json"
