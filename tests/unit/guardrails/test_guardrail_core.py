"""The guardrail API, registry, input fingerprints, result cache and session runner."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path

import pytest

from guardrails import (
    Finding,
    Guardrail,
    GuardrailContext,
    Inputs,
    Result,
    discover,
    hookimpl,
    parse_names,
    plugin_manager,
    select,
)
from guardrails.files import find_files, matches
from guardrails.registry import GUARDRAILS_ENV, enabled_names
from pytest_codex.errors import ConfigError, UsageError
from tests.helpers.repos import SessionFactory, commit, write


class CountingGuardrail(Guardrail):
    """Reads notes/*.txt, flags every line containing TODO, and counts its runs."""

    name = "todo"
    version = "1"
    description = "no TODO lines in notes"

    def __init__(self) -> None:
        self.runs = 0

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(globs=("notes/*.txt",), values={"settings": dict(ctx.settings)})

    def run(self, ctx: GuardrailContext) -> Result:
        self.runs += 1
        findings = []
        for rel in ctx.find(["notes/*.txt"]):
            for number, line in enumerate(ctx.path(rel).read_text().splitlines(), start=1):
                if "TODO" in line:
                    findings.append(Finding("todo/found", line.strip(), rel, number, "do it"))
        return Result.from_findings(findings, f"{len(findings)} TODO lines")


class CommandGuardrail(Guardrail):
    """Runs ``cat`` on a file through the orchestrator."""

    name = "cat"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(globs=("a.txt",))

    def run(self, ctx: GuardrailContext) -> Result:
        output = ctx.run_command(["cat", "a.txt"])
        return Result.from_findings([], f"read {len(output.stdout)} bytes")


class RangeGuardrail(CountingGuardrail):
    """Depends on the change range only."""

    name = "range"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(git_range=True)


class Exploding(Guardrail):
    name = "explodes"

    def run(self, ctx: GuardrailContext) -> Result:
        raise RuntimeError("boom")


# --- results ---------------------------------------------------------------------------------
def test_result_status_follows_the_severity_of_findings() -> None:
    error = Finding("r/e", "bad", "a.py", 3)
    warning = Finding("r/w", "meh", severity="warning")
    assert Result.from_findings([]).status == "passed"
    assert Result.from_findings([warning]).status == "warned"
    assert Result.from_findings([warning, error]).status == "failed"
    assert Result.from_findings([error]).as_dry_run().status == "warned"
    assert Result.skipped("nothing").status == "skipped"


def test_a_finding_renders_as_path_line_rule_message_hint_and_round_trips() -> None:
    finding = Finding("lint/F401", "unused import", "src/a.py", 7, "remove it")
    assert finding.render() == "src/a.py:7: lint/F401: unused import (hint: remove it)"
    assert Finding("r", "m").render() == "-: r: m"
    assert Finding.from_record(finding.to_record()) == finding


# --- file globs ------------------------------------------------------------------------------
def test_globs_cross_directories_only_with_double_star(tmp_path: Path) -> None:
    tmp_path = tmp_path / "intentionally-invalid-tree"  # its manifest.json is not a manifest
    write(
        tmp_path,
        {
            "a.py": "",
            "src/pkg/b.py": "",
            "tasks/specs/x.md": "",
            ".venv/lib/c.py": "",
            ".runs/t/cli/r1/manifest.json": "{}",
        },
    )
    assert find_files(tmp_path, ["*.py"]) == ["a.py"]
    assert find_files(tmp_path, ["**/*.py"]) == ["a.py", "src/pkg/b.py"]
    assert find_files(tmp_path, ["tasks/specs/**"]) == ["tasks/specs/x.md"]
    # Pruned directories are read when a pattern names them explicitly.
    assert find_files(tmp_path, [".runs/t/cli/*/manifest.json"]) == [".runs/t/cli/r1/manifest.json"]
    assert matches("src/pkg/b.py", ["src/**"]) and not matches("src/pkg/b.py", ["src/*.py"])


# --- registry ----------------------------------------------------------------------------------
def _plugin(*guardrails: Guardrail) -> types.SimpleNamespace:
    @hookimpl
    def codex_guardrails() -> list[Guardrail]:
        return list(guardrails)

    return types.SimpleNamespace(codex_guardrails=codex_guardrails)


def test_builtins_come_first_and_plugins_add_guardrails_the_same_way() -> None:
    found = discover(plugin_manager(entry_points=False, plugins=[_plugin(CountingGuardrail())]))
    assert list(found)[:5] == ["spec-guard", "lint", "eval", "collateral", "checklist"]
    assert "todo" in found


def test_the_installed_entry_point_registers_the_builtins_once() -> None:
    found = discover(plugin_manager(entry_points=True))
    assert [name for name in found if name == "spec-guard"] == ["spec-guard"]


def test_two_plugins_providing_one_name_is_a_config_error() -> None:
    manager = plugin_manager(
        entry_points=False, plugins=[_plugin(CountingGuardrail()), _plugin(CountingGuardrail())]
    )
    with pytest.raises(ConfigError, match="'todo' is provided by both"):
        discover(manager)


def test_selection_keeps_the_given_order_and_rejects_unknown_names() -> None:
    found = discover(plugin_manager(entry_points=False))
    assert [g.name for g in select(found, ["lint", "spec-guard"])] == ["lint", "spec-guard"]
    assert select(found, []) == []
    with pytest.raises(UsageError, match="unknown guardrail 'nope'; available: spec-guard"):
        select(found, ["nope"])


def test_names_parse_from_commas_lists_and_none() -> None:
    assert parse_names("a, b,,c") == ["a", "b", "c"]
    assert parse_names(["a,b", "c"]) == ["a", "b", "c"]
    assert parse_names("none") == []
    assert parse_names(None) is None


def test_the_flag_beats_the_environment_beats_ini_beats_the_config_file() -> None:
    settings = {"enabled": ["lint"]}
    env = {GUARDRAILS_ENV: "eval"}
    assert enabled_names(explicit="spec-guard", env=env, settings=settings, ini=["x"]) == [
        "spec-guard"
    ]
    assert enabled_names(explicit=None, env=env, settings=settings, ini=["x"]) == ["eval"]
    assert enabled_names(explicit=None, env={}, settings=settings, ini=["x"]) == ["x"]
    assert enabled_names(explicit=None, env={}, settings=settings, ini=[]) == ["lint"]
    assert enabled_names(explicit=None, env={}, settings={}, ini=[]) is None


# --- the session: cache, commands, failures ----------------------------------------------------
def test_a_second_run_with_unchanged_inputs_reuses_the_result(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"notes/a.txt": "fine\nTODO: fix\n"})
    session, emitter = guardrail_session(tmp_path)
    guardrail = CountingGuardrail()
    first = session.run(guardrail)
    second = session.run(guardrail)
    assert guardrail.runs == 1
    assert (first["cached"], second["cached"]) == (False, True)
    assert (
        second["findings"]
        == first["findings"]
        == [
            {
                "rule": "todo/found",
                "path": "notes/a.txt",
                "line": 2,
                "message": "TODO: fix",
                "hint": "do it",
                "severity": "error",
            }
        ]
    )
    assert second["status"] == "failed" and second["inputsHash"] == first["inputsHash"]
    assert emitter.types.count("guardrail:result") == 2


@pytest.mark.parametrize("change", ["edit", "add", "delete", "settings", "version", "task"])
def test_any_input_change_invalidates_the_cached_result(
    tmp_path: Path, guardrail_session: SessionFactory, change: str
) -> None:
    write(tmp_path, {"notes/a.txt": "TODO one\n", "notes/b.txt": "ok\n"})
    session, _ = guardrail_session(tmp_path)
    guardrail = CountingGuardrail()
    session.run(guardrail)
    task = "0303-demo-task"
    if change == "edit":
        write(tmp_path, {"notes/a.txt": "TODO two\n"})
    elif change == "add":
        write(tmp_path, {"notes/c.txt": "x\n"})
    elif change == "delete":
        (tmp_path / "notes" / "b.txt").unlink()
    elif change == "settings":
        session, _ = guardrail_session(tmp_path, config={"guardrails": {"todo": {"x": 1}}})
    elif change == "version":
        setattr(guardrail, "version", "2")  # noqa: B010 (a class attribute, shadowed)
    else:
        task = "another-task"
    if change == "task":
        session, _ = guardrail_session(tmp_path, task_id=task)
    assert session.run(guardrail)["cached"] is False
    assert guardrail.runs == 2


def test_no_cache_runs_again(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"notes/a.txt": "ok\n"})
    guardrail = CountingGuardrail()
    session, _ = guardrail_session(tmp_path)
    session.run(guardrail)
    session.use_cache = False
    assert session.run(guardrail)["cached"] is False
    assert guardrail.runs == 2


def test_commands_go_through_the_orchestrator_and_their_approvals_are_recorded(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"a.txt": "hello"})
    session, emitter = guardrail_session(tmp_path)
    record = session.run(CommandGuardrail())
    assert record["status"] == "passed" and record["summary"] == "read 5 bytes"
    [approval] = record["approvals"]
    assert approval["argv"] == ["cat", "a.txt"]
    assert approval["approvalSource"] == "not-required"
    assert approval["status"] == "succeeded"
    [tool] = emitter.of_type("tool:complete")
    assert tool["toolRun"]["id"] == approval["toolRunId"]
    # A cached result still names the approvals its commands used.
    again = session.run(CommandGuardrail())
    assert again["cached"] is True and again["approvals"] == record["approvals"]
    assert len(emitter.of_type("tool:complete")) == 1


def test_a_refused_command_fails_the_guardrail_with_a_finding(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"a.txt": "hello"})
    session, _ = guardrail_session(tmp_path, config={"approvals": {"deny": ["cat"]}})
    record = session.run(CommandGuardrail())
    assert record["status"] == "failed"
    assert [f["rule"] for f in record["findings"]] == ["guardrail/command-failed"]
    assert record["approvals"][0]["status"] == "refused"
    # A failure to run is not a result: nothing was cached.
    assert session.run(CommandGuardrail())["cached"] is False


def test_a_guardrail_that_raises_fails_with_a_crash_finding(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    session, _ = guardrail_session(tmp_path)
    record = session.run(Exploding())
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert finding["rule"] == "guardrail/crashed"
    assert "RuntimeError while running: boom" in finding["message"]


def test_dry_run_reports_findings_without_failing(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"notes/a.txt": "TODO\n"})
    session, _ = guardrail_session(tmp_path, dry_run=True)
    record = session.run(CountingGuardrail())
    assert (record["status"], record["rawStatus"], record["dryRun"]) == ("warned", "failed", True)
    assert len(record["findings"]) == 1


def test_a_cached_dry_run_result_reads_as_a_real_result_in_a_real_run(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"notes/a.txt": "TODO\n"})
    dry, _ = guardrail_session(tmp_path, dry_run=True)
    first = dry.run(CountingGuardrail())
    assert first["summary"].startswith("dry run")
    real, _ = guardrail_session(tmp_path)
    again = real.run(CountingGuardrail())
    assert again["cached"] is True
    assert again["status"] == "failed"
    assert not (again["summary"] or "").startswith("dry run")
    assert again["summary"] == first["rawSummary"]


def test_a_session_says_what_the_cache_would_serve_without_running_anything(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"notes/a.txt": "TODO\n"})
    session, emitter = guardrail_session(tmp_path)
    assert session.cached(CountingGuardrail()) is None
    record = session.run(CountingGuardrail())
    before = list(emitter.events)
    entry = session.cached(CountingGuardrail())
    assert entry is not None and entry["record"]["inputsHash"] == record["inputsHash"]
    assert emitter.events == before
    write(tmp_path, {"notes/a.txt": "TODO\nTODO\n"})
    assert session.cached(CountingGuardrail()) is None


def test_git_range_inputs_follow_commits_and_uncommitted_changes(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {"a.py": "x = 1\n"})
    commit(repo, "first")
    guardrail = RangeGuardrail()
    session, _ = guardrail_session(repo, today=dt.date(2026, 11, 24))
    session.run(guardrail)
    assert session.run(guardrail)["cached"] is True
    write(repo, {"b.py": "y = 2\n"})  # untracked
    assert session.run(guardrail)["cached"] is False
    commit(repo, "second")
    assert session.run(guardrail)["cached"] is False
    assert session.run(guardrail)["cached"] is True


def test_a_cache_that_cannot_be_written_costs_the_cache_not_the_result(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"notes/a.txt": "TODO\n"})
    session, _ = guardrail_session(tmp_path)
    # A file where the cache directory should be: every store fails with an OSError.
    write(tmp_path, {".runs/0303-demo-task/guardrail-cache": "not a directory"})
    record = session.run(CountingGuardrail())
    assert record["status"] == "failed" and len(record["findings"]) == 1
    assert record["cacheError"].startswith(("NotADirectoryError", "FileExistsError"))


def test_file_digests_are_memoised_by_stat_across_sessions_but_not_while_racy(
    tmp_path: Path, guardrail_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import guardrails.cache

    write(tmp_path, {"notes/old.txt": "TODO a\n", "notes/new.txt": "fine\n"})
    old = tmp_path / "notes" / "old.txt"
    guardrail = CountingGuardrail()
    memo = tmp_path / ".runs" / "0303-demo-task" / "guardrail-cache" / "memo"
    # Both were just written (ctime is now): racy, so neither is memoised.
    guardrail_session(tmp_path)[0].run(guardrail)
    assert not (memo / "file-digests.json").exists()
    # Once they are old enough, they are memoised.
    monkeypatch.setattr(guardrails.cache, "RACY_SECONDS", 0)
    assert guardrail_session(tmp_path)[0].run(guardrail)["cached"] is True
    stored = (memo / "file-digests.json").read_text()
    assert "notes/old.txt" in stored and "notes/new.txt" in stored
    assert guardrail_session(tmp_path)[0].run(guardrail)["cached"] is True
    # Same size, same mtime, same inode: only the ctime (which no command can set back)
    # tells this edit apart, and it does.
    before = old.stat()
    with old.open("r+") as handle:
        handle.write("TODO b\n")
    os.utime(old, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert guardrail_session(tmp_path)[0].run(guardrail)["cached"] is False


def test_an_installed_package_adds_guardrails_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real distribution on sys.path: a module and its dist-info naming the entry point.
    site = tmp_path / "site"
    write(
        site,
        {
            "acme_checks.py": (
                "from guardrails import Guardrail, Result, hookimpl\n\n"
                "class Acme(Guardrail):\n"
                "    name = 'acme'\n"
                "    def run(self, ctx):\n"
                "        return Result.from_findings([])\n\n"
                "@hookimpl\n"
                "def codex_guardrails():\n"
                "    return [Acme()]\n"
            ),
            "acme_checks-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: acme-checks\n"
            "Version: 1.0\n",
            "acme_checks-1.0.dist-info/entry_points.txt": "[codex_guardrails]\n"
            "acme = acme_checks\n",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    found = discover(plugin_manager())
    assert list(found)[:5] == ["spec-guard", "lint", "eval", "collateral", "checklist"]
    assert type(found["acme"]).__module__ == "acme_checks"
    assert "acme" not in discover(plugin_manager(entry_points=False))


def test_secret_values_never_reach_the_record_or_the_cache_file(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    secret = "sk-live-0123456789abcdef"
    write(tmp_path, {"notes/a.txt": f"TODO rotate {secret}\n"})
    session, emitter = guardrail_session(tmp_path, env={"DEPLOY_API_TOKEN": secret})
    record = session.run(CountingGuardrail())
    assert record["findings"][0]["message"] == "TODO rotate [REDACTED]"
    cache_dir = tmp_path / ".runs" / "0303-demo-task" / "guardrail-cache"
    assert all(secret not in p.read_text() for p in cache_dir.rglob("*.json"))
    assert secret not in str(emitter.events)


def test_fifos_and_undecodable_names_are_inputs_that_neither_block_nor_crash(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    import os

    class EverythingInNotes(CountingGuardrail):
        name = "notes"

        def inputs(self, ctx: GuardrailContext) -> Inputs:
            return Inputs(globs=("notes/*",))

        def run(self, ctx: GuardrailContext) -> Result:
            self.runs += 1
            return Result.from_findings([])

    write(tmp_path, {"notes/a.txt": "TODO\n"})
    os.mkfifo(tmp_path / "notes" / "pipe")  # opening it for reading would block
    (tmp_path / "notes" / os.fsdecode(b"bad\xff.txt")).write_bytes(b"fine\n")
    guardrail = EverythingInNotes()
    session, _ = guardrail_session(tmp_path)
    record = session.run(guardrail)
    assert record["cached"] is False and record["inputsHash"].startswith("hmac-sha256:")
    assert session.run(guardrail)["cached"] is True


def test_build_and_out_are_pruned_only_at_the_top_of_the_repository(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "out/generated.py": "",
            "build/lib/x.py": "",
            "pkg/out/steps.py": "",
            "pkg/build/tools.py": "",
            "pkg/__pycache__/cached.py": "",
        },
    )
    assert find_files(tmp_path, ["**/*.py"]) == ["pkg/build/tools.py", "pkg/out/steps.py"]


def test_a_root_below_the_git_top_level_still_reuses_change_range_results(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    sub = repo / "sub"
    write(sub, {"a.py": "x = 1\n"})
    commit(repo, "first")
    guardrail = RangeGuardrail()
    # Every session writes its cache under sub/.runs: that must not count as a change.
    for expected in (False, True, True):
        assert guardrail_session(sub)[0].run(guardrail)["cached"] is expected
