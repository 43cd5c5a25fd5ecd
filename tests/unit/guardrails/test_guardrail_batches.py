"""Batches of guardrails sharing one look at the repository (guardrails.snapshot): every
built-in guardrail cached on an unchanged repository, and no cached result surviving a real
change."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import guardrails.cache
from guardrails import Guardrail, GuardrailContext, GuardrailSession, Inputs, Result, available
from guardrails.cache import signed_text, verified
from guardrails.files import find_files
from guardrails.snapshot import InputSnapshot
from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.paths import ROOT_ENV
from tests.helpers.repos import commit, git, write
from tests.helpers.trust import tools_dir, trusted

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo-repo"
TASK = "0303-orchestrator-autonomy"
MODULE = "src/bench_pkg/module_1.py"


def demo_repository(root: Path) -> Path:
    """The demo repository plus a small package, committed, every file dated a minute back."""
    shutil.copytree(DEMO, root)
    write(root, {"src/bench_pkg/__init__.py": ""})
    for number in range(3):
        source = f"def value() -> int:\n    return {number}\n"
        write(root, {f"src/bench_pkg/module_{number}.py": source})
    git(root, "init", "-q", "-b", "main")
    commit(root, "demo")
    trusted(root / "codex.orchestrator.yaml")  # its guardrail settings need a person's trust
    a_minute_ago = time.time() - 60
    for path in root.rglob("*"):
        if ".git" not in path.parts:
            os.utime(path, (a_minute_ago, a_minute_ago))
    return root


def run_batch(root: Path) -> dict[str, dict[str, Any]]:
    """Every built-in guardrail, run as one batch by a new session; records by name."""
    context = Context.load(cwd=root, env={ROOT_ENV: str(root)})
    session = GuardrailSession.standalone(context, TASK, emitter=RecordingEmitter())
    guardrails = available(context.config.get("guardrails") or {})
    return dict(zip(guardrails, session.run_all(guardrails.values()), strict=True))


def recomputed(records: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, record in records.items() if not record["cached"]}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return demo_repository(tmp_path / "repo")


@pytest.fixture
def memoise_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files just written are memoised too (no racy window)."""
    monkeypatch.setattr(guardrails.cache, "RACY_SECONDS", 0)


def test_an_unchanged_repository_serves_every_builtin_guardrail_from_the_cache(
    demo: Path, memoise_now: None
) -> None:
    first = run_batch(demo)
    assert (
        recomputed(first)
        == set(first)
        == {
            "spec-guard",
            "lint",
            "eval",
            "collateral",
            "checklist",
        }
    )
    assert all(r["status"] == "passed" for r in first.values()), first
    second = run_batch(demo)
    assert recomputed(second) == set()
    assert {n: r["inputsHash"] for n, r in second.items()} == {
        n: r["inputsHash"] for n, r in first.items()
    }


def test_an_edit_keeping_size_and_mtime_inside_the_racy_window_is_seen(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every file counts as just written (however slow the machine): none is memoised.
    monkeypatch.setattr(guardrails.cache, "RACY_SECONDS", 3600)
    module = demo / MODULE
    module.write_text("def value() -> int:\n    return 7\n")
    run_batch(demo)
    memo = demo / ".runs" / TASK / "guardrail-cache" / "memo" / "file-digests.json"
    assert not memo.exists() or "module_1.py" not in memo.read_text()
    before = module.stat()
    module.write_text("import os\ndef value():\n return 8\n")
    assert module.stat().st_size == before.st_size
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    records = run_batch(demo)
    # What lint and eval read changed; spec-guard depends on which files changed, and
    # module_1.py was already one of them.
    assert recomputed(records) == {"lint", "eval"}
    assert records["lint"]["status"] == "failed"  # F401: os is unused


@pytest.mark.parametrize("change", ["untracked file", "deleted file", "same-size edit"])
def test_a_change_to_the_sources_reruns_the_guardrails_that_read_them(
    demo: Path, memoise_now: None, change: str
) -> None:
    run_batch(demo)
    assert recomputed(run_batch(demo)) == set()
    module = demo / MODULE
    if change == "untracked file":
        write(demo, {"src/bench_pkg/new.py": "import sys\n"})
    elif change == "deleted file":
        module.unlink()
    else:
        before = module.stat()
        module.write_text(module.read_text().replace("1", "9"))
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    records = run_batch(demo)
    assert recomputed(records) == {"lint", "eval", "spec-guard"}
    assert recomputed(run_batch(demo)) == set()


def test_a_changed_evidence_policy_reruns_the_checklist(demo: Path, memoise_now: None) -> None:
    run_batch(demo)
    config = demo / "codex.orchestrator.yaml"
    trusted(config, config.read_text() + "evidence:\n  require_signed: true\n")
    records = run_batch(demo)
    assert "checklist" in recomputed(records)
    assert {"lint", "collateral"}.isdisjoint(recomputed(records))


def test_an_upgraded_ruff_reruns_lint_only(demo: Path, memoise_now: None) -> None:
    from guardrails.lint import RUFF_ARGS, find_ruff

    real = find_ruff()
    assert real is not None
    with tools_dir() as shims:  # where a person installs tools: outside the workspace
        shim = shims / "ruff"
        shim.write_text(f'#!/bin/sh\nexec {" ".join(real)} "$@"\n')
        shim.chmod(0o755)
        config = demo / "codex.orchestrator.yaml"
        lint = f"  lint:\n    command: {json.dumps([str(shim), *RUFF_ARGS])}\n"
        trusted(config, config.read_text().replace("guardrails:\n", "guardrails:\n" + lint))
        first = run_batch(demo)
        assert first["lint"]["approvals"][0]["argv"][0] == str(shim)
        assert recomputed(run_batch(demo)) == set()
        shim.write_text(shim.read_text() + "# ruff 99.0\n")
        info = shim.stat()
        os.utime(shim, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
        records = run_batch(demo)
    assert recomputed(records) == {"lint"}
    assert records["lint"]["status"] == "passed"


def test_a_cached_batch_asks_git_three_times_for_every_guardrail(
    demo: Path, tmp_path: Path, memoise_now: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "git.log"
    real = shutil.which("git")
    assert real is not None
    with tools_dir() as shims:  # the trusted side finds git outside the temporary directories
        (shims / "git").write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
        (shims / "git").chmod(0o755)
        monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
        run_batch(demo)
        log.unlink()
        assert recomputed(run_batch(demo)) == set()
    # The filter drivers to switch off, HEAD and the base at once, the uncommitted changes.
    assert sorted(log.read_text().split()) == ["cat-file", "config", "status"]


class Writer(Guardrail):
    """Writes notes/written.txt when it runs (as a command of a guardrail may)."""

    name = "writer"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(values={"always": "the same"})

    def run(self, ctx: GuardrailContext) -> Result:
        write(ctx.root, {"notes/written.txt": "new\n"})
        return Result.from_findings([])


class Notes(Guardrail):
    """Depends on notes/*.txt."""

    name = "notes"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(globs=("notes/*.txt",))

    def run(self, ctx: GuardrailContext) -> Result:
        return Result.from_findings([], f"{len(ctx.find(['notes/*.txt']))} notes")


def test_a_guardrail_that_runs_inside_a_batch_makes_the_next_one_look_again(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"notes/a.txt": "a\n"})
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    session = GuardrailSession.standalone(context, "t", emitter=RecordingEmitter())
    assert session.run_all([Notes()])[0]["summary"] == "1 notes"
    writer, notes = session.run_all([Writer(), Notes()])
    assert writer["cached"] is False
    assert (notes["cached"], notes["summary"]) == (False, "2 notes")
    # Outside a batch every run looks at the repository as it is.
    (tmp_path / "notes" / "written.txt").unlink()
    assert session.run(Notes())["summary"] == "1 notes"


def test_a_snapshot_lists_and_digests_each_file_once_and_finds_what_a_walk_finds(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "a.py": "",
            "pkg/b.py": "",
            "pkg/build/c.py": "",
            "build/d.py": "",
            "node_modules/e.py": "",
            "tasks/specs/one.md": "",
            "tasks/index.json": "{}",
            "elsewhere/f.py": "",
        },
    )
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    asked: list[str] = []

    def digests(rels: Sequence[str]) -> list[bytes]:
        asked.extend(rels)
        return [rel.encode() for rel in rels]

    snapshot = InputSnapshot(tmp_path, env={}, digest_files=digests)
    patterns = [
        ["**/*.py"],
        ["pkg/**"],
        ["build/**"],
        ["linked/*.py"],
        ["node_modules/*.py", "tasks/index.json"],
        ["tasks/specs/**", "tasks/*.json"],
        ["missing/**"],
    ]
    for group in patterns:
        assert snapshot.find(group) == find_files(tmp_path, group), group
    everything = snapshot.find(["**"])
    for _ in range(2):
        assert snapshot.digests(everything) == [rel.encode() for rel in everything]
        assert snapshot.digests(everything[:2] * 2) == [rel.encode() for rel in everything[:2] * 2]
    assert sorted(asked) == sorted(set(asked)) == snapshot.find(["**"])


def test_a_signed_file_verifies_only_byte_for_byte(tmp_path: Path) -> None:
    secret = os.urandom(32)
    path = tmp_path / "entry.json"
    body = {"name": "x", "record": {"status": "passed", "path": os.fsdecode(b"bad\xff")}}
    text = signed_text(secret, body)
    path.write_text(text)
    assert verified(secret, path) == body
    assert verified(os.urandom(32), path) is None
    for tampered in (
        text.replace("passed", "failed"),
        text.replace(",", ", "),
        text.rstrip("\n"),
        text[:10],
    ):
        path.write_text(tampered)
        assert verified(secret, path) is None
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(text)
    assert verified(secret, path) is None
