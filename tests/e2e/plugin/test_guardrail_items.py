"""Guardrails as pytest items under --codex-task, end to end with pytester."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from tests.helpers.trust import trusted

pytest_plugins = ["pytester"]

# Guardrails of the test repository, provided through `guardrails.plugins`.
LOCAL_GUARDRAILS = """
from guardrails import Finding, Guardrail, Inputs, Result, hookimpl

RUNS = []


class Clean(Guardrail):
    name = "clean"
    def inputs(self, ctx):
        return Inputs(globs=("src/*.py",))
    def run(self, ctx):
        return Result.from_findings([], "nothing found")


class Dirty(Guardrail):
    name = "dirty"
    def inputs(self, ctx):
        return Inputs(globs=("src/*.py",))
    def run(self, ctx):
        findings = []
        for rel in ctx.find(["src/*.py"]):
            for number, line in enumerate(ctx.path(rel).read_text().splitlines(), start=1):
                if "XXX" in line:
                    findings.append(
                        Finding("dirty/xxx", "XXX marker left", rel, number, "finish it")
                    )
        return Result.from_findings(findings, f"{len(findings)} markers")


class Nothing(Guardrail):
    name = "nothing"
    def run(self, ctx):
        return Result.skipped("no inputs configured for nothing")


class Soft(Guardrail):
    name = "soft"
    def run(self, ctx):
        return Result.from_findings([Finding("soft/style", "could be nicer", "src/app.py", 1,
                                             severity="warning")])


class Shell(Guardrail):
    name = "shell"
    def inputs(self, ctx):
        return Inputs(globs=("src/*.py",))
    def run(self, ctx):
        out = ctx.run_command(["wc", "-l", "src/app.py"])
        return Result.from_findings([], out.stdout.split()[0] + " lines")


@hookimpl
def codex_guardrails():
    return [Clean(), Dirty(), Nothing(), Soft(), Shell()]
"""

CONFIG = """
guardrails:
  plugins: [local_guardrails]
  enabled: [clean, dirty, nothing, soft, shell]
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A repository with a test, a source file with one XXX marker, and local guardrails."""
    pytester.makepyfile(local_guardrails=LOCAL_GUARDRAILS)
    pytester.makepyfile(test_app="def test_app():\n    assert True\n")
    (pytester.path / "src").mkdir()
    (pytester.path / "src" / "app.py").write_text("x = 1\n\ny = 2  # XXX\n")
    trusted(pytester.path / "codex.orchestrator.yaml", CONFIG)
    pytester.syspathinsert()
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))  # subprocesses and xdist workers
    return pytester


def _manifests(root: Path, task: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text())
        for p in sorted((root / ".runs" / task / "cli").glob("*/manifest.json"))
    ]


def test_each_enabled_guardrail_is_one_item_with_a_guardrails_node_id(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--codex-task=items", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_app.py::test_app",
            "guardrails::clean",
            "guardrails::dirty",
            "guardrails::nothing",
            "guardrails::soft",
            "guardrails::shell",
        ]
    )


def test_guardrail_items_report_like_tests_and_land_in_the_manifest(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--codex-task=items", "-rs")
    result.assert_outcomes(passed=4, failed=1, skipped=1, warnings=1)
    # The failure report lists every finding as path:line: rule: message (hint).
    result.stdout.fnmatch_lines(
        [
            "collected 6 items",
            "guardrail dirty failed: 1 markers",
            "  src/app.py:3: dirty/xxx: XXX marker left (hint: finish it)",
            "guardrails::soft",
            "  src/app.py:1: GuardrailWarning: soft/style: could be nicer",
            "SKIPPED [1] guardrails::nothing: no inputs configured for nothing",
        ]
    )
    [manifest] = _manifests(project.path, "items")
    schemas.validate("manifest", manifest)
    records = {g["name"]: g for g in manifest["guardrails"]}
    assert {name: r["status"] for name, r in records.items()} == {
        "clean": "passed",
        "dirty": "failed",
        "nothing": "skipped",
        "soft": "warned",
        "shell": "passed",
    }
    assert records["dirty"]["findings"] == [
        {
            "rule": "dirty/xxx",
            "path": "src/app.py",
            "line": 3,
            "message": "XXX marker left",
            "hint": "finish it",
            "severity": "error",
        }
    ]
    assert all(r["cached"] is False and r["durationMs"] >= 0 for r in records.values())
    # The command the shell guardrail ran went through the orchestrator, and is named.
    [approval] = records["shell"]["approvals"]
    assert approval["argv"] == ["wc", "-l", "src/app.py"]
    assert approval["toolRunId"] in {t["id"] for t in manifest["toolRuns"]}
    tests = {t["nodeid"]: t for t in manifest["tests"]}
    assert tests["guardrails::dirty"]["outcome"] == "failed"
    assert "codex_guardrail" in tests["guardrails::dirty"]["markers"]
    assert manifest["status"] == "failed"


def test_m_and_k_select_guardrail_items(project: pytest.Pytester) -> None:
    only_guardrails = project.runpytest("--codex-task=sel", "-m", "codex_guardrail")
    only_guardrails.assert_outcomes(passed=3, failed=1, skipped=1, warnings=1, deselected=1)
    one = project.runpytest("--codex-task=sel", "-k", "clean")
    one.assert_outcomes(passed=1, deselected=5)
    no_guardrails = project.runpytest("--codex-task=sel", "-m", "not codex_guardrail")
    no_guardrails.assert_outcomes(passed=1, deselected=5)


def test_an_unchanged_repository_reuses_results_until_an_input_changes(
    project: pytest.Pytester,
) -> None:
    project.runpytest("--codex-task=cache", "--codex-guardrails=dirty,shell")
    project.runpytest("--codex-task=cache", "--codex-guardrails=dirty,shell")
    (project.path / "src" / "app.py").write_text("x = 1\n")
    project.runpytest("--codex-task=cache", "--codex-guardrails=dirty,shell").assert_outcomes(
        passed=3
    )
    project.runpytest("--codex-task=cache", "--codex-guardrails=dirty", "--codex-no-cache")
    runs = _manifests(project.path, "cache")
    cached = [{g["name"]: g["cached"] for g in m["guardrails"]} for m in runs]
    assert cached == [
        {"dirty": False, "shell": False},
        {"dirty": True, "shell": True},
        {"dirty": False, "shell": False},
        {"dirty": False},
    ]
    # The reused result is the stored one: same findings, and the run it came from.
    first, second = runs[0]["guardrails"][0], runs[1]["guardrails"][0]
    assert second["findings"] == first["findings"] and second["cachedFrom"] == runs[0]["runId"]
    assert runs[2]["guardrails"][0]["status"] == "passed"


def test_the_flag_and_the_ini_key_choose_which_guardrails_run(
    project: pytest.Pytester,
) -> None:
    project.runpytest("--codex-task=pick", "--codex-guardrails=clean").assert_outcomes(passed=2)
    project.makeini("[pytest]\ncodex_guardrails = nothing soft\n")
    project.runpytest("--codex-task=pick").assert_outcomes(passed=2, skipped=1, warnings=1)
    project.runpytest("--codex-task=pick", "--codex-guardrails=none").assert_outcomes(passed=1)


def test_an_unknown_guardrail_exits_2_with_one_line(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--codex-task=bad", "--codex-guardrails=nope")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*unknown guardrail 'nope'; available: *clean*"])
    assert not (project.path / ".runs").exists()


def test_without_a_task_there_are_no_guardrail_items(project: pytest.Pytester) -> None:
    project.runpytest().assert_outcomes(passed=1)


def test_under_xdist_every_guardrail_is_recorded_once_by_the_controller(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest_subprocess("--codex-task=xd", "-n", "2")
    result.assert_outcomes(passed=4, failed=1, skipped=1, warnings=1)
    [manifest] = _manifests(project.path, "xd")
    names = sorted(g["name"] for g in manifest["guardrails"])
    assert names == ["clean", "dirty", "nothing", "shell", "soft"]
    shell = next(g for g in manifest["guardrails"] if g["name"] == "shell")
    assert shell["approvals"][0]["toolRunId"] in {t["id"] for t in manifest["toolRuns"]}
    nodeids = sorted(t["nodeid"] for t in manifest["tests"])
    assert nodeids == [f"guardrails::{name}" for name in names] + ["test_app.py::test_app"]


def test_by_default_every_installed_guardrail_is_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--codex-task=defaults", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "guardrails::spec-guard",
            "guardrails::lint",
            "guardrails::eval",
            "guardrails::collateral",
            "guardrails::checklist",
        ]
    )


def test_the_codex_guardrails_fixture_runs_guardrails_inside_the_run(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_uses_fixture="""
def test_run_one(codex_guardrails):
    record = codex_guardrails.run("dirty")
    assert record["status"] == "failed"
    assert record["findings"][0]["path"] == "src/app.py"
    assert codex_guardrails.run("dirty", dry_run=True)["status"] == "warned"
    assert "clean" in codex_guardrails.available
"""
    )
    result = project.runpytest("--codex-task=fx", "--codex-guardrails=none", "test_uses_fixture.py")
    result.assert_outcomes(passed=1)
    [manifest] = _manifests(project.path, "fx")
    assert [(g["name"], g["status"]) for g in manifest["guardrails"]] == [
        ("dirty", "failed"),
        ("dirty", "warned"),
    ]


def test_a_guardrail_plugin_that_cannot_be_imported_exits_2_with_one_line(
    project: pytest.Pytester,
) -> None:
    trusted(
        project.path / "codex.orchestrator.yaml",
        "guardrails:\n  plugins: [no_such_guardrail_module]\n",
    )
    result = project.runpytest_subprocess("--codex-task=broken-plugin")
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        ["*guardrails.plugins: cannot import 'no_such_guardrail_module'*check the module name*"]
    )
    assert not (project.path / ".runs").exists()


def test_a_failing_guardrail_item_is_notified_like_any_guardrail_failure(
    project: pytest.Pytester,
) -> None:
    target = project.path / "notes.jsonl"
    project.runpytest(
        "--codex-task=notify", "--codex-guardrails=dirty,clean", f"--codex-notify=file://{target}"
    ).assert_outcomes(passed=2, failed=1)
    notes = [json.loads(line) for line in target.read_text().splitlines()]
    failed = [n for n in notes if n["type"] == "guardrail-failed"]
    assert [(n["guardrail"], n["findings"]) for n in failed] == [("dirty", 1)]


def test_codex_dry_run_reports_findings_without_failing(project: pytest.Pytester) -> None:
    result = project.runpytest("--codex-task=dry", "--codex-guardrails=dirty", "--codex-dry-run")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*src/app.py:3: GuardrailWarning: dirty/xxx: XXX marker left"])
    [manifest] = _manifests(project.path, "dry")
    [record] = manifest["guardrails"]
    assert (record["status"], record["rawStatus"], record["dryRun"]) == ("warned", "failed", True)
    assert manifest["status"] == "succeeded"


def test_a_test_between_guardrail_items_ends_their_batch(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Consecutive guardrail items share one look at the repository; a test run between
    # two of them (moved there by a conftest) may change it, so the next item looks again.
    project.makeconftest(
        """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    edit = next(item for item in items if item.name == "test_edit")
    items.remove(edit)
    items.insert(items.index(next(i for i in items if i.name == "dirty")), edit)
"""
    )
    project.makepyfile(
        test_edit="""
import os
from pathlib import Path

def test_edit():
    if os.environ.get("EDIT_BETWEEN_GUARDRAILS"):
        Path("src/app.py").write_text("x = 1\\n")
"""
    )
    args = ("--codex-task=between", "--codex-guardrails=clean,dirty", "-p", "no:randomly")
    project.runpytest(*args).assert_outcomes(passed=3, failed=1)
    monkeypatch.setenv("EDIT_BETWEEN_GUARDRAILS", "1")
    result = project.runpytest(*args, "-v")
    result.stdout.fnmatch_lines(["*guardrails::clean*", "*test_edit*", "*guardrails::dirty*"])
    result.assert_outcomes(passed=4)
    second = _manifests(project.path, "between")[1]
    cached = {g["name"]: g["cached"] for g in second["guardrails"]}
    assert cached == {"clean": True, "dirty": False}
