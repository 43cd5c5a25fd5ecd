"""spec-guard: code changes since the base need a spec change; specs need a fresh last_review.

Every test builds a real git repository and runs the guardrail through a real session (git
runs through the ToolOrchestrator and its sandbox).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from guardrails.spec_guard import SpecGuard, find_review_date, parse_review_date
from tests.helpers.repos import SessionFactory, commit, git, rules, write

TODAY = dt.date(2026, 11, 24)
FRESH = "---\ntitle: demo\nlast_review: 2026-11-20\n---\n# Demo spec\n"
HINT = "update the task's spec (tasks/specs/...) or tasks/index.json in the same change"
WHERE = "tasks/specs/**, tasks/index.json"


def run(
    session_factory: SessionFactory,
    root: Path,
    *,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    today: dt.date = TODAY,
) -> dict[str, Any]:
    config = {"guardrails": {"spec-guard": settings}} if settings is not None else None
    session, _ = session_factory(root, config=config, env=env, today=today)
    return session.run(SpecGuard())


def code_finding(path: str, since: str) -> dict[str, Any]:
    return {
        "rule": "spec-guard/code-without-spec",
        "path": path,
        "line": None,
        "message": f"changed since {since} without a change under {WHERE}",
        "hint": HINT,
        "severity": "error",
    }


def short(sha: str) -> str:
    return sha[:7]


# --- rule 1: code changes need a spec change ---------------------------------------------------
def test_code_changed_together_with_a_spec_and_fresh_specs_pass(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    root_sha = commit(repo, "initial")
    write(repo, {"src/app.py": "x = 1\n", "tasks/specs/0303-demo.md": FRESH})
    commit(repo, "feature with spec")
    record = run(guardrail_session, repo)
    assert record["status"] == "passed", record["findings"]
    assert record["findings"] == []
    assert record["summary"] == (
        f"1 code file and 1 spec file changed since {short(root_sha)} (root commit); "
        "1 spec checked, all fresh"
    )


def test_a_change_to_tasks_index_json_counts_as_a_spec_change(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    commit(repo, "initial")
    write(repo, {"src/app.py": "x = 1\n", "tasks/index.json": "{}\n"})
    record = run(guardrail_session, repo)
    assert record["status"] == "passed"
    assert record["summary"].endswith("; no markdown specs to check")


def test_each_code_file_changed_without_a_spec_change_is_a_finding(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {"README.md": "demo\n", "src/app.py": "x = 1\n"})
    root_sha = commit(repo, "initial")
    write(
        repo,
        {
            "src/app.py": "x = 2\n",  # modified, committed
            "src/data.txt": "src/** is code too\n",
            "pkg/util.py": "y = 1\n",
            "tests/test_app.py": "def test(): pass\n",  # ignored by default
            "pkg/tests/test_util.py": "def test(): pass\n",  # ignored by default
            "docs/conf.py": "project = 'x'\n",  # ignored by default
            "README.md": "changed, but not code\n",
        },
    )
    commit(repo, "code only")
    record = run(guardrail_session, repo)
    since = f"{short(root_sha)} (root commit)"
    assert record["status"] == "failed"
    assert record["findings"] == [
        code_finding("pkg/util.py", since),
        code_finding("src/app.py", since),
        code_finding("src/data.txt", since),
    ]
    # No spec exists at all: the change rule still applies.
    assert record["summary"] == (
        f"3 code files changed since {since} with no spec change; no markdown specs to check"
    )


def test_uncommitted_and_untracked_code_changes_count_but_ignored_files_do_not(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {".gitignore": "generated/\n", "src/app.py": "x = 1\n"})
    root_sha = commit(repo, "initial")
    write(
        repo,
        {
            "src/app.py": "x = 2\n",  # tracked, not committed
            "src/new module.py": "z = 1\n",  # untracked, with a space in its name
            "generated/out.py": "ignored = True\n",  # git-ignored
        },
    )
    git(repo, "add", "src/app.py")  # staged counts the same as unstaged
    record = run(guardrail_session, repo)
    since = f"{short(root_sha)} (root commit)"
    assert record["findings"] == [
        code_finding("src/app.py", since),
        code_finding("src/new module.py", since),
    ]


def test_a_deleted_code_file_is_a_change(repo: Path, guardrail_session: SessionFactory) -> None:
    write(repo, {"src/old.py": "x = 1\n"})
    root_sha = commit(repo, "initial")
    (repo / "src" / "old.py").unlink()
    record = run(guardrail_session, repo)
    assert record["findings"] == [code_finding("src/old.py", f"{short(root_sha)} (root commit)")]


def test_base_sha_bounds_the_change_range(repo: Path, guardrail_session: SessionFactory) -> None:
    commit(repo, "initial")
    write(repo, {"src/before.py": "x = 1\n"})
    base = commit(repo, "code before the base")
    write(repo, {"README.md": "docs only after the base\n"})
    commit(repo, "after")
    record = run(guardrail_session, repo, env={"BASE_SHA": base})
    assert record["status"] == "passed"
    assert record["summary"].startswith(f"no code changes since {short(base)} (BASE_SHA)")
    # Without BASE_SHA the root commit is the base and the earlier change counts.
    assert rules(run(guardrail_session, repo)) == ["spec-guard/code-without-spec"]


def test_origin_main_is_the_base_without_base_sha(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    commit(repo, "initial")
    write(repo, {"src/merged.py": "x = 1\n"})
    main = commit(repo, "already on main")
    git(repo, "update-ref", "refs/remotes/origin/main", main)
    write(repo, {"src/branch.py": "y = 1\n"})
    commit(repo, "on the branch")
    record = run(guardrail_session, repo)
    assert record["findings"] == [code_finding("src/branch.py", f"{short(main)} (origin/main)")]
    # BASE_SHA beats origin/main.
    record = run(guardrail_session, repo, env={"BASE_SHA": "HEAD"})
    assert record["status"] == "passed"
    assert "(BASE_SHA)" in record["summary"]


def test_a_base_sha_that_is_no_commit_warns_and_falls_back(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    commit(repo, "initial")
    write(repo, {"src/merged.py": "x = 1\n"})
    main = commit(repo, "main")
    git(repo, "update-ref", "refs/remotes/origin/main", main)
    record = run(guardrail_session, repo, env={"BASE_SHA": "0" * 40})
    assert record["status"] == "warned"
    [warning] = record["findings"]
    assert warning["rule"] == "spec-guard/invalid-base"
    assert warning["severity"] == "warning"
    assert warning["message"].startswith(f"BASE_SHA={'0' * 40} is not a commit")
    assert record["summary"].startswith(f"no code changes since {short(main)} (origin/main)")


def test_code_and_ignore_globs_are_configurable(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    root_sha = commit(repo, "initial")
    write(
        repo,
        {
            "lib/core.rs": "fn main() {}\n",
            "lib/scripts/gen.rs": "fn gen() {}\n",
            "src/app.py": "x = 1\n",  # not code under these settings
        },
    )
    settings = {"code_globs": ["lib/**"], "ignore_globs": "lib/scripts/**"}
    record = run(guardrail_session, repo, settings=settings)
    assert record["findings"] == [code_finding("lib/core.rs", f"{short(root_sha)} (root commit)")]


def test_spec_globs_are_configurable(repo: Path, guardrail_session: SessionFactory) -> None:
    commit(repo, "initial")
    write(repo, {"src/app.py": "x = 1\n", "design/app.md": "last_review: 2026-11-24\n"})
    record = run(guardrail_session, repo, settings={"spec_globs": ["design/**"]})
    assert record["status"] == "passed"
    assert record["summary"].endswith("; 1 spec checked, all fresh")
    # The default spec location does not count any more.
    base = commit(repo, "code and spec committed")
    write(repo, {"src/app.py": "x = 2\n", "tasks/specs/a.md": FRESH})
    record = run(
        guardrail_session, repo, settings={"spec_globs": ["design/**"]}, env={"BASE_SHA": base}
    )
    assert rules(record) == ["spec-guard/code-without-spec"]
    assert "without a change under design/**" in record["findings"][0]["message"]


def test_the_runs_directory_is_not_part_of_the_change(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    commit(repo, "initial")
    write(repo, {".runs/0303-demo-task/notes.py": "x = 1\n"})
    record = run(guardrail_session, repo)
    assert record["status"] == "passed"
    assert record["summary"].startswith("no code changes since ")


# --- rule 2: specs stay fresh --------------------------------------------------------------------
SPECS = {
    # 23 days old: fresh.
    "tasks/specs/fresh.md": "---\nid: fresh\nlast_review: 2026-11-01\n---\n# Fresh\n",
    # Exactly at the limit: fresh.
    "tasks/specs/limit.md": "# Limit\n\nlast_review: '2026-10-25'\n",
    # 84 days old, on a plain line after the heading.
    "tasks/specs/stale.md": "# Stale\n\nSome text.\nlast_review: 2026-09-01  # reviewed by ops\n",
    "tasks/specs/missing.md": "---\nid: missing\n---\n# No date\n",
    "tasks/specs/invalid.md": "---\nlast_review: soon\n---\n",
    "tasks/specs/impossible.md": "---\nlast_review: 2026-02-30\n---\n",
    "tasks/specs/future.md": '---\nlast_review: "2026-12-01"\n---\n',
    # Only the first last_review counts.
    "tasks/specs/nested/twice.md": "last_review: 2026-11-24\nlast_review: 2001-01-01\n",
    "tasks/specs/notes.txt": "not markdown: not checked\n",
    "tasks/index.json": '{"tasks": []}\n',
}


def test_review_dates_are_checked_with_exact_rules_paths_and_lines(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, SPECS)  # not a git repository: only the freshness rule runs
    record = run(guardrail_session, tmp_path)
    assert record["status"] == "failed"
    assert [(f["rule"], f["path"], f["line"]) for f in record["findings"]] == [
        ("spec-guard/review-date-in-future", "tasks/specs/future.md", 2),
        ("spec-guard/invalid-review-date", "tasks/specs/impossible.md", 2),
        ("spec-guard/invalid-review-date", "tasks/specs/invalid.md", 2),
        ("spec-guard/missing-review-date", "tasks/specs/missing.md", None),
        ("spec-guard/stale-spec", "tasks/specs/stale.md", 4),
    ]
    future, impossible, invalid, missing, stale = record["findings"]
    assert stale["message"] == "last reviewed 2026-09-01, 84 days ago (limit 30 days)"
    assert stale["hint"] == "review the spec and update last_review"
    assert missing["message"] == "no last_review date"
    assert missing["hint"] == "add 'last_review: YYYY-MM-DD' to the front matter"
    assert invalid["message"] == "last_review 'soon' is not a date in YYYY-MM-DD form"
    assert impossible["message"] == "last_review '2026-02-30' is not a date in YYYY-MM-DD form"
    assert future["severity"] == "warning"
    assert (
        future["message"] == "last_review 2026-12-01 is 7 days in the future (today is 2026-11-24)"
    )
    assert [f["severity"] for f in (impossible, invalid, missing, stale)] == ["error"] * 4
    assert record["summary"] == (
        "not a git repository: code/spec change check skipped; 8 specs checked, 1 stale, "
        "1 missing last_review, 2 invalid last_review, 1 dated in the future"
    )


def test_max_age_days_sets_the_limit(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"tasks/specs/a.md": "last_review: 2026-11-14\n"})  # 10 days old
    assert run(guardrail_session, tmp_path, settings={"max_age_days": 10})["status"] == "passed"
    record = run(guardrail_session, tmp_path, settings={"max_age_days": 9})
    assert (
        record["findings"][0]["message"] == "last reviewed 2026-11-14, 10 days ago (limit 9 days)"
    )


def test_only_future_dates_warn(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"tasks/specs/a.md": "last_review: 2026-11-25\n"})
    record = run(guardrail_session, tmp_path)
    assert (record["status"], rules(record)) == ("warned", ["spec-guard/review-date-in-future"])
    assert record["findings"][0]["message"] == (
        "last_review 2026-11-25 is 1 day in the future (today is 2026-11-24)"
    )


def test_review_date_parsing() -> None:
    assert find_review_date("# x\nlast_review: 2026-01-02\n") == ("2026-01-02", 2)
    assert find_review_date("  last_review :  '2026-01-02' \n") == ("2026-01-02", 1)
    assert find_review_date("the last_review: 2026-01-02 in a sentence\n") is None
    assert find_review_date("last_review:\n") == ("", 1)
    assert parse_review_date("2026-01-02") == dt.date(2026, 1, 2)
    assert parse_review_date("20260102") is None
    assert parse_review_date("2026-1-2") is None
    assert parse_review_date("") is None


# --- without git -------------------------------------------------------------------------------
def test_without_git_and_without_specs_it_is_skipped(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"src/app.py": "x = 1\n"})
    record = run(guardrail_session, tmp_path)
    assert record["status"] == "skipped"
    assert record["findings"] == []
    assert record["summary"] == (
        f"not a git repository and no files match {WHERE}: nothing to check; add specs there "
        "or run spec-guard in a git checkout with commits"
    )


def test_a_repository_without_commits_checks_only_freshness(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {"src/app.py": "x = 1\n", "tasks/specs/a.md": FRESH})
    record = run(guardrail_session, repo)
    assert record["status"] == "passed"
    assert record["summary"] == (
        "no commits yet: code/spec change check skipped; 1 spec checked, all fresh"
    )
    (repo / "tasks/specs/a.md").unlink()
    assert run(guardrail_session, repo)["status"] == "skipped"


# --- dry run, approvals, settings -------------------------------------------------------------
def test_the_dry_run_setting_reports_the_same_findings_without_failing(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {"tasks/specs/a.md": "last_review: 2026-01-01\n"})
    commit(repo, "initial")
    write(repo, {"src/app.py": "x = 1\n"})
    failing = run(guardrail_session, repo)
    dry = run(guardrail_session, repo, settings={"dry_run": True})
    assert failing["status"] == "failed"
    assert (dry["status"], dry["rawStatus"], dry["dryRun"]) == ("warned", "failed", True)
    assert dry["findings"] == failing["findings"]
    assert rules(dry) == ["spec-guard/code-without-spec", "spec-guard/stale-spec"]
    assert dry["summary"] == f"dry run: {failing['summary']}"


def test_git_runs_through_the_orchestrator_and_is_recorded(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    commit(repo, "initial")
    record = run(guardrail_session, repo)
    approvals = record["approvals"]
    assert approvals, "git commands must go through ctx.run_command / ctx.git"
    # git by absolute path, found outside the workspace (never a planted one)
    assert all(Path(a["argv"][0]).name == "git" for a in approvals)
    assert all(Path(a["argv"][0]).is_absolute() for a in approvals)
    assert all(a["approvalSource"] == "not-required" for a in approvals)
    assert any("diff" in a["argv"] for a in approvals)
    assert any("ls-files" in a["argv"] for a in approvals)


def test_invalid_settings_fail_with_a_one_line_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    record = run(guardrail_session, tmp_path, settings={"max_age_days": "thirty"})
    assert record["status"] == "failed"
    [finding] = record["findings"]
    assert finding["rule"] == "guardrail/error"
    assert finding["message"] == (
        "guardrails.spec-guard.max_age_days must be a whole number of days >= 0, not 'thirty'"
    )


# --- caching ---------------------------------------------------------------------------------
def test_results_are_cached_until_commits_specs_or_the_date_change(
    repo: Path, guardrail_session: SessionFactory
) -> None:
    write(repo, {"tasks/specs/a.md": FRESH, "src/app.py": "x = 1\n"})
    commit(repo, "initial")
    session, _ = guardrail_session(repo, today=TODAY)
    guard = SpecGuard()
    first = session.run(guard)
    again = session.run(guard)
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["findings"] == first["findings"] and again["summary"] == first["summary"]
    assert again["approvals"] == first["approvals"]

    write(repo, {"src/app.py": "x = 2\n"})
    commit(repo, "a new commit")
    after_commit = session.run(guard)
    assert after_commit["cached"] is False
    assert rules(after_commit) == ["spec-guard/code-without-spec"]
    assert session.run(guard)["cached"] is True

    write(repo, {"tasks/specs/a.md": FRESH + "\nMore detail.\n"})  # a spec edit
    after_spec = session.run(guard)
    assert after_spec["cached"] is False and after_spec["status"] == "passed"
    assert session.run(guard)["cached"] is True

    later, _ = guardrail_session(repo, today=TODAY + dt.timedelta(days=60))
    aged = later.run(guard)
    assert aged["cached"] is False
    assert "spec-guard/stale-spec" in rules(aged)


def test_an_unreadable_spec_is_a_finding(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"tasks/specs/ok.md": FRESH})
    (tmp_path / "tasks/specs/gone.md").symlink_to(tmp_path / "nowhere.md")
    record = run(guardrail_session, tmp_path)
    assert [(f["rule"], f["path"]) for f in record["findings"]] == [
        ("spec-guard/unreadable-spec", "tasks/specs/gone.md")
    ]
    assert record["findings"][0]["message"] == "cannot read the spec: No such file or directory"
    assert record["summary"].endswith("; 2 specs checked, 1 unreadable")
