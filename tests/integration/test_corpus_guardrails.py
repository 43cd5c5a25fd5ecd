"""The collateral and checklist guardrails, and ``checklist verify``, on a real task
repository (the co-0303 sample in shared/corpus, copied: it is read-only input)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrails import Guardrail, GuardrailSession
from guardrails.checklist import ChecklistGuardrail
from guardrails.collateral import CollateralGuardrail
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.paths import ROOT_ENV
from tests.helpers.trust import trusted

TASK = "0303-orchestrator-autonomy"
CHECKLIST = f"tasks/tasks-{TASK}.md"
CITED = re.compile(rf"\.runs/{TASK}/cli/[^/`\s]+/manifest\.json")


@pytest.fixture
def corpus(corpus: Path, tmp_path: Path) -> Path:
    """A writable copy of the corpus (the root conftest's ``corpus`` skips where it is absent)."""
    root = tmp_path / "co-0303"
    shutil.copytree(corpus, root, copy_function=shutil.copyfile)
    for directory, _, _ in os.walk(root):
        os.chmod(directory, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)
    # Its configuration declares pipelines: trusted after review, as a person would.
    trusted(root / "codex.orchestrator.json")
    return root


def run(root: Path, guardrail: Guardrail, config: dict[str, Any] | None = None) -> dict[str, Any]:
    session = GuardrailSession(
        root=root,
        task_id=TASK,
        config=config or {},
        emitter=RecordingEmitter(),
        runs_dir=root / ".runs",
        use_cache=False,
    )
    return session.run(guardrail)


def ticked_citations(text: str) -> list[tuple[int, str]]:
    """(line, cited path) of every manifest cited on a ticked item line, scanned plainly."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*[-*] \[[xX]\]", line):
            found.extend((number, path) for path in dict.fromkeys(CITED.findall(line)))
    return found


def line_of(text: str, prefix: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix)]
    return number


def test_checklist_reports_every_absent_manifest_precisely(corpus: Path) -> None:
    record = run(corpus, ChecklistGuardrail())
    assert record["status"] == "failed"
    missing = [f for f in record["findings"] if f["rule"] == "checklist/evidence-missing"]
    expected = ticked_citations((corpus / CHECKLIST).read_text(encoding="utf-8"))
    assert len(expected) == 21
    assert {f["path"] for f in missing} == {CHECKLIST}
    got = [(f["line"], path) for f in missing for path in CITED.findall(f["message"])]
    assert got == expected
    for finding, (_, cited) in zip(missing, expected, strict=True):
        assert finding["message"].endswith(f"its evidence {cited} does not exist")


def test_checklist_reports_the_tasks_md_evidence_disagreement(corpus: Path) -> None:
    record = run(corpus, ChecklistGuardrail())
    mismatches = [
        f for f in record["findings"] if f["rule"] == "checklist/mirror-evidence-mismatch"
    ]
    tasks_md = (corpus / "docs/TASKS.md").read_text(encoding="utf-8")
    checklist = (corpus / CHECKLIST).read_text(encoding="utf-8")
    mirror_line = line_of(tasks_md, "- [x] Run diagnostics")
    checklist_line = line_of(checklist, "- [x] Run diagnostics")
    [mirrored] = CITED.findall(tasks_md.splitlines()[mirror_line - 1])
    [original] = CITED.findall(checklist.splitlines()[checklist_line - 1])
    assert mirrored != original
    assert [(f["path"], f["line"]) for f in mismatches] == [("docs/TASKS.md", mirror_line)]
    message = mismatches[0]["message"]
    assert message.startswith(f"docs/TASKS.md:{mirror_line} cites {mirrored} for 'Run diagnostics")
    assert message.endswith(f"but {CHECKLIST}:{checklist_line} cites {original}")
    # The .agent mirror lists its status lines differently: one warning, not 21 errors.
    agent = [f for f in record["findings"] if f["path"] == f".agent/task/{TASK}.md"]
    assert [(f["rule"], f["severity"]) for f in agent] == [
        ("checklist/mirror-missing-item", "warning")
    ]
    assert len(record["findings"]) == 21 + 1 + 1


def test_collateral_finds_the_documents_by_their_slug_tail(corpus: Path) -> None:
    record = run(corpus, CollateralGuardrail())
    assert record["status"] == "warned"
    assert [(f["rule"], f["path"]) for f in record["findings"]] == [
        ("collateral/gate-log-missing", "tasks/index.json")
    ]
    # Without the docs the three are reported missing, naming both places looked at.
    for kind in ("PRD", "TECH_SPEC", "ACTION_PLAN"):
        (corpus / f"docs/{kind}-codex-orchestrator-autonomy.md").unlink()
    record = run(corpus, CollateralGuardrail())
    missing = [f["message"] for f in record["findings"] if f["rule"] == "collateral/doc-missing"]
    assert missing == [
        f"no {kind} document for {TASK} (looked for docs/{kind}-{TASK}.md and "
        f"docs/{kind}-*orchestrator-autonomy.md)"
        for kind in ("PRD", "TECH_SPEC", "ACTION_PLAN")
    ]


def test_no_file_of_the_corpus_crashes_either_guardrail(corpus: Path) -> None:
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    assert len(files) > 30
    for rel in files:
        checklist = run(
            corpus, ChecklistGuardrail(), {"checklist": {"checklist": rel, "mirrors": ["**/*.md"]}}
        )
        collateral = run(
            corpus,
            CollateralGuardrail(),
            {"collateral": {"index": rel, "checklist": rel, "docs": {"PRD": rel}}},
        )
        for record in (checklist, collateral):
            assert not [f for f in record["findings"] if f["rule"].startswith("guardrail/")], (
                rel,
                record["findings"],
            )


def test_checklist_verify_on_the_corpus(corpus: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", "checklist", "verify", "--task", TASK],
        cwd=corpus,
        env={**os.environ, ROOT_ENV: str(corpus)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "checklist: failed (23 findings)"
    assert "collateral: warned (1 finding)" in lines
    assert len(lines) == 1 + 23 + 1 + 1
