"""Suite-wide settings and the session-wide schema check.

Every manifest write in this test session (and in the CLI processes it starts) validates
against the schema, and at the end of the session every manifest, event line and run summary
the suite produced is validated against the published schemas, so no producer can drift
from them. Fixtures that build invalid evidence on purpose put it under a directory whose
name starts with ``intentionally-invalid``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ["CODEX_ORCHESTRATOR_VALIDATE"] = "1"
# Tests choose their task ids and roots themselves.
for _name in (
    "MCP_RUNNER_TASK_ID",
    "CODEX_ORCHESTRATOR_ROOT",
    "CODEX_ORCHESTRATOR_RUNS_DIR",
    "CODEX_ORCHESTRATOR_OUT_DIR",
    "CODEX_ORCHESTRATOR_CONFIG",
    "CODEX_ORCHESTRATOR_GUARDRAILS",
    "BASE_SHA",
    "CODEX_ORCHESTRATOR_SIGNING_KEY",
    "CODEX_ORCHESTRATOR_SIGNING_KEY_PEM",
):
    os.environ.pop(_name, None)
# Runs sign their attestations with a key of this session, never the developer's own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="codex-tests-config-")
# Trusted configuration files (and the other user state) of this session only.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="codex-tests-state-")

_EXEMPT = "intentionally-invalid"


def _produced(base: Path) -> tuple[list[Path], list[Path], list[Path]]:
    manifests, events, states = [], [], []
    for path in base.rglob("*"):
        if any(part.startswith(_EXEMPT) for part in path.parts) or not path.is_file():
            continue
        if path.name == "manifest.json" and path.parent.parent.name == "cli":
            manifests.append(path)
        elif path.name == "events.jsonl":
            events.append(path)
        elif path.name == "state.json" and path.parent.parent.name == "out":
            states.append(path)
    return manifests, events, states


def _check_everything(base: Path) -> list[str]:
    from pytest_codex import schemas

    problems: list[str] = []
    manifests, events, states = _produced(base)
    for path in manifests:
        try:
            schemas.validate("manifest", json.loads(path.read_text()), what=str(path))
        except FileNotFoundError:
            continue
        except Exception as exc:
            problems.append(str(exc))
    for path in events:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue  # removed by a test that cleans up after itself (a run garbage-collected)
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                schemas.validate("event", json.loads(line), what=f"{path}:{number}")
            except Exception as exc:
                problems.append(str(exc))
    for path in states:
        try:
            schemas.validate("summary", json.loads(path.read_text()), what=str(path))
        except Exception as exc:
            problems.append(str(exc))
    return problems


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # under xdist the controller checks the whole base directory
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except Exception:
        return
    problems = _check_everything(base)
    counted = [len(group) for group in _produced(base)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"schema check: {counted[0]} manifests, {counted[1]} event files, "
            f"{counted[2]} summaries validated; {len(problems)} problems"
        )
        for problem in problems[:20]:
            reporter.write_line(f"  schema problem: {problem}")
    if problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
