"""Every command and snippet of README.md and docs/*.md is executed, or validated.

- Shell blocks (``sh``, ``bash``, ``console``, and the ``run:`` scripts of CI steps in YAML
  blocks) run line by line in a copy of ``examples/demo-repo`` (a git repository with its task
  collateral and one succeeded run of the task), with this checkout's ``.venv`` on ``PATH``;
  ``<task>``, ``<run-id>`` and the like become the task and that run's id. A line whose
  comment says ``# refused`` must exit non-zero; every other line must exit 0.
- Python blocks run as a script in that repository; one that defines ``test_*`` functions
  runs as a test file, under ``pytest --codex-task`` there and under plain pytest outside any
  git repository.
- YAML, JSON and TOML blocks are validated: configuration through ``pytest_codex.config``
  (the schema and the settings views), event envelopes against the event schema, entry-point
  tables against this project's entry-point groups, the instructions section against what a
  real load records.
- Inline ``codex-orchestrator ...`` and ``pytest --codex-...`` spans, and lone ``--flags``,
  name only sub-commands and options that exist.

Blocks that must not run carry ``<!-- docs-test: skip ... (reason) -->`` before them
(:mod:`tests.helpers.doc_snippets`); ``test_the_skips_are_few_and_say_why`` lists them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT
from tests.helpers.doc_snippets import (
    Snippet,
    all_snippets,
    command_lines,
    console_outputs,
    documents,
    inline_code,
)
from tests.helpers.repos import commit, git

TASK = "0303-orchestrator-autonomy"
DEMO = REPO_ROOT / "examples" / "demo-repo"
BIN = Path(sys.executable).parent

SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}
DATA = {"yaml", "yml", "json", "toml"}
# Output samples and prose; js: docs/node-sdk.md's blocks run in sdk/node/test/docs.test.js.
NOT_CODE = {"", "text", "markdown", "js"}
SNIPPETS = all_snippets()

# The `./flaky.sh` of the Python SDK example (docs/exec.md): fails once with 75, then passes.
FLAKY = "#!/bin/sh\n[ -e .flaky-once ] && exit 0\ntouch .flaky-once\nexit 75\n"


# Snippets that are true of the docs but fail because of a known bug elsewhere, with the bug.
# Strict: once the bug is fixed the entry must go.
KNOWN: dict[str, str] = {}


def _by_kind(kinds: set[str]) -> list[Any]:
    return [
        pytest.param(
            s,
            id=s.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[s.id])] if s.id in KNOWN else [],
        )
        for s in SNIPPETS
        if s.lang in kinds
    ]


@dataclass(frozen=True)
class Prepared:
    """The demo repository, ready: git, specs reviewed today, one succeeded run."""

    root: Path
    run_id: str
    env: dict[str, str]
    output: str


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_")) and k not in ("MCP_RUNNER_TASK_ID",)
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CODEX_REVIEWER"] = "docs-test"
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("docs-snippets") / "ledger-demo"
    shutil.copytree(DEMO, root)
    for spec in (root / "tasks" / "specs").glob("*.md"):
        text = re.sub(r"last_review: .*", f"last_review: {dt.date.today()}", spec.read_text())
        spec.write_text(text)
    (root / "flaky.sh").write_text(FLAKY)
    (root / "flaky.sh").chmod(0o755)
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + ".flaky-once\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "ledger demo")
    env = _env()
    _trust(root, env)
    done = subprocess.run(
        [str(BIN / "pytest"), "--codex-task", TASK, "-p", "no:cacheprovider", "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [manifest] = (root / ".runs" / TASK / "cli").glob("*/manifest.json")
    return Prepared(root, manifest.parent.name, env, done.stdout)


@pytest.fixture
def workspace(prepared: Prepared, tmp_path: Path) -> Path:
    """A copy of the prepared repository for one snippet (snippets change what they touch)."""
    root = tmp_path / "ledger-demo"
    shutil.copytree(prepared.root, root, symlinks=True)
    _trust(root, prepared.env)
    return root


def _trust(root: Path, env: dict[str, str]) -> None:
    """A person trusts the demo's configuration (its guardrail settings need it), as
    examples/demo.py does."""
    done = subprocess.run(
        [str(BIN / "codex-orchestrator"), "trust", "codex.orchestrator.yaml"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _substitute(line: str, run_id: str) -> str:
    for placeholder, value in (
        ("<task-id>", TASK),
        ("<task>", TASK),
        ("<run-id>", run_id),
        ("[--task T]", f"--task {TASK}"),
    ):
        line = line.replace(placeholder, value)
    return line


def _run_lines(
    snippet: Snippet, lines: list[tuple[int, str]], cwd: Path, prepared: Prepared
) -> list[str]:
    """Run the command lines; one message per line that did not do what the docs say."""
    env = dict(prepared.env)
    problems: list[str] = []
    for offset, raw in lines:
        where = f"{snippet.path.relative_to(REPO_ROOT)}:{snippet.line + 1 + offset}"
        skip = next((s for s in snippet.skips if s.prefix and raw.startswith(s.prefix)), None)
        if skip is not None:
            continue
        line = _substitute(raw, prepared.run_id)
        words = shlex.split(line, comments=True)
        if words and words[0] == "export" and len(words) == 2 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            env[name] = value
            continue
        if words and words[0] == "cd" and words[1:] == ["your-repository"]:
            continue  # the docs' stand-in for the repository the snippet runs in
        refused = re.search(r"#\s*refused\b", line) is not None
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # A console block shows the output: each line of it without an ellipsis is printed.
        shown = console_outputs(snippet.text).get(offset, []) if snippet.lang == "console" else []
        missing = [s for s in shown if "..." not in s and s.strip() not in done.stdout]
        if missing:
            problems.append(f"{where}: `{raw}` did not print {missing!r}")
        if refused != (done.returncode != 0):
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            expected = "non-zero (the docs say it is refused)" if refused else "0"
            problems.append(
                f"{where}: `{raw}` exited {done.returncode}, expected {expected}: "
                + " | ".join(tail)
            )
    return problems


@pytest.mark.parametrize("snippet", _by_kind(SHELL))
def test_shell_block_runs(snippet: Snippet, workspace: Path, prepared: Prepared) -> None:
    if snippet.skipped:
        pytest.skip(f"docs-test: skip ({snippet.skipped.reason})")
    lines = command_lines(snippet.text)
    assert lines, f"{snippet.id}: a shell block without a command"
    assert _run_lines(snippet, lines, workspace, prepared) == []


def _python_test_file(snippet: Snippet) -> bool:
    return re.search(r"^def test_", snippet.text, flags=re.M) is not None


@pytest.mark.parametrize("snippet", _by_kind(PYTHON))
def test_python_block_runs(
    snippet: Snippet, workspace: Path, prepared: Prepared, tmp_path: Path
) -> None:
    if snippet.skipped:
        pytest.skip(f"docs-test: skip ({snippet.skipped.reason})")
    env = dict(prepared.env)
    if _python_test_file(snippet):
        # In the repository, as a run of the task ...
        (workspace / "tests" / "test_docs_snippet.py").write_text(snippet.text)
        inside = subprocess.run(
            [str(BIN / "pytest"), "--codex-task", TASK, "-p", "no:cacheprovider", "-q",
             "-m", "not codex_guardrail", "tests/test_docs_snippet.py"],
            cwd=workspace, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert inside.returncode == 0, inside.stdout[-4000:] + inside.stderr[-2000:]
        # ... and in a directory that is no git repository, as a plain suite.
        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / "test_docs_snippet.py").write_text(snippet.text)
        outside = subprocess.run(
            [str(BIN / "pytest"), "-p", "no:cacheprovider", "-q", "test_docs_snippet.py"],
            cwd=plain, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert outside.returncode == 0, outside.stdout[-4000:] + outside.stderr[-2000:]
        return
    first = snippet.text.splitlines()[0]
    named = re.fullmatch(r"#\s*(\S+\.py)", first.strip())
    if named:  # "# my_checks/guardrails.py": the file the docs mean, imported from the root
        target = workspace / named[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(snippet.text)
        module = named[1].removesuffix(".py").replace("/", ".")
        argv = [str(BIN / "python"), "-c", f"import {module}"]
    else:
        script = tmp_path / "snippet.py"
        script.write_text(snippet.text)
        argv = [str(BIN / "python"), str(script)]
    done = subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _config(document: Any, directory: Path, suffix: str) -> None:
    """Validate a configuration document as the library loads it (schema, then settings)."""
    from pytest_codex.config import resolve_config, trust_file

    path = directory / f"codex.orchestrator{suffix}"
    text = json.dumps(document) if suffix == ".json" else yaml.safe_dump(document)
    path.write_text(text)
    trust_file(path)  # a person wrote it (the docs' examples use keys that need trust)
    resolve_config(directory, env={}, config_file=path).settings()


def _check_codex_mcp_servers(snippet: Snippet, servers: dict[str, Any]) -> None:
    """Each server is ``codex-orchestrator mcp ...`` with arguments our parser accepts."""
    from pytest_codex.cli import build_parser

    for name, server in servers.items():
        assert Path(server["command"]).name == "codex-orchestrator", f"{snippet.id}: {name}"
        args = [str(a) for a in server["args"]]
        assert args[:1] == ["mcp"], f"{snippet.id}: {name} does not start the mcp command"
        parsed = build_parser("mcp").parse_args(args)
        assert parsed.handler.__name__ == "run_mcp", snippet.id
        mode = server.get("default_tools_approval_mode")
        assert mode in (None, "approve"), f"{snippet.id}: {mode!r}"


def _entry_point_groups() -> set[str]:
    ours = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return set(ours["project"]["entry-points"])


def _instructions_shape() -> tuple[set[str], set[str]]:
    from pytest_codex.instructions import load_instructions

    section = load_instructions(DEMO).to_manifest()
    return set(section), set(section["sources"][0])


@pytest.mark.parametrize("snippet", _by_kind(DATA))
def test_data_block_is_valid(
    snippet: Snippet, tmp_path: Path, workspace: Path, prepared: Prepared
) -> None:
    from pytest_codex import schemas

    if snippet.skipped:
        pytest.skip(f"docs-test: skip ({snippet.skipped.reason})")
    if snippet.lang == "toml":
        document = tomllib.loads(snippet.text)
        if "mcp_servers" in document:  # Codex's config.toml starting our MCP server
            _check_codex_mcp_servers(snippet, document["mcp_servers"])
            return
        if "project" in document:
            groups = set(document["project"].get("entry-points", {}))
            assert groups and groups <= _entry_point_groups(), (
                f"{snippet.id}: entry-point groups {sorted(groups)} are not ours "
                f"({sorted(_entry_point_groups())})"
            )
        else:
            _config(document.get("tool", {}).get("codex-orchestrator", document), tmp_path, ".json")
        return
    if snippet.lang == "json":
        document = json.loads(snippet.text)
        if {"v", "type", "seq", "runId"} <= set(document):
            schemas.validate("event", document, what=snippet.id)
        elif "combinedHash" in document:
            top, source = _instructions_shape()
            assert set(document) == top, f"{snippet.id}: {sorted(set(document) ^ top)}"
            for entry in document["sources"]:
                assert set(entry) == source, f"{snippet.id}: {sorted(set(entry) ^ source)}"
        else:
            _config(document, tmp_path, ".json")
        return
    document = yaml.safe_load(snippet.text)
    if isinstance(document, list) and all(isinstance(s, dict) and "run" in s for s in document):
        # CI steps: their scripts are shell commands like any other.
        problems = [
            problem
            for step in document
            for problem in _run_lines(snippet, command_lines(step["run"]), workspace, prepared)
        ]
        assert problems == []
        return
    assert isinstance(document, dict), f"{snippet.id}: neither configuration nor CI steps"
    _config(document, tmp_path, ".yaml")


_RUN_ID = r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-[0-9a-f]{8}"


@pytest.mark.parametrize(
    "snippet", [pytest.param(s, id=s.id) for s in SNIPPETS if s.text.startswith("codex: run ")]
)
def test_the_terminal_summary_line_is_as_shown(snippet: Snippet, prepared: Prepared) -> None:
    shown = snippet.text.strip()
    pattern = re.escape(re.sub(_RUN_ID, "RUNID", shown).replace("...", "ELLIPSIS"))
    for stand_in, value in (
        ("/path/to/your\\-repository", re.escape(str(prepared.root))),
        ("RUNID", _RUN_ID),
        ("ELLIPSIS", ".+"),
    ):
        pattern = pattern.replace(stand_in, value)
    printed = [line for line in prepared.output.splitlines() if line.startswith("codex: run ")]
    assert printed and re.fullmatch(pattern, printed[-1]), (shown, printed)


def test_every_block_is_of_a_known_kind() -> None:
    unknown = [s.id for s in SNIPPETS if s.lang not in SHELL | PYTHON | DATA | NOT_CODE]
    assert unknown == [], "teach tests/integration/test_docs_snippets.py these blocks"


def test_the_skips_are_few_and_say_why(capsys: pytest.CaptureFixture[str]) -> None:
    skips = [(s.id, skip) for s in SNIPPETS for skip in s.skips]
    with capsys.disabled():
        print(f"\ndocs snippets: {len(SNIPPETS)} blocks, {len(skips)} skips")
        for where, skip in skips:
            what = f'lines starting "{skip.prefix}"' if skip.prefix else "the block"
            print(f"  {where}: {what} skipped ({skip.reason})")
    assert all(skip.reason.strip() for _, skip in skips)
    assert len(skips) <= 6


# --- inline commands and flags ---------------------------------------------------------


def _cli_options() -> dict[str, set[str]]:
    from pytest_codex.cli import build_parser
    from pytest_codex.cli.docs import _subcommands

    return {
        path: {s for action in sub._actions for s in action.option_strings}
        for path, sub in _subcommands(build_parser(), "codex-orchestrator")
    }


@pytest.fixture(scope="module")
def pytest_options() -> set[str]:
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))


# Options of other programs that the approval rules discuss (git, sort, file, rg).
FOREIGN_OPTIONS = {"--output", "--compress-program", "--config-env", "--exec-path", "--ext-diff",
                   "--compile"}  # fmt: skip
# bubblewrap's own options, which docs/sandbox.md names when it says what the sandbox does.
FOREIGN_OPTIONS |= {"--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                    "--unshare-uts", "--unshare-cgroup-try", "--new-session", "--die-with-parent",
                    "--cap-drop", "--ro-bind", "--bind", "--tmpfs", "--proc", "--dev",
                    "--unsetenv", "--chdir"}  # fmt: skip


def _words(code: str) -> list[str]:
    try:
        words = shlex.split(code)
    except ValueError:
        words = code.split()
    return [w.strip("[]().,;").split("=")[0] for w in words]


def _inline_problems(code: str, options: dict[str, set[str]], pytest_opts: set[str]) -> list[str]:
    words = _words(code)
    if words[:1] and words[0] in _SUBCOMMANDS and len(words) > 1:
        words = ["codex-orchestrator", *words]
    problem = _config_key_problem(code)
    if problem:
        return [problem]
    if words[:1] == ["codex-orchestrator"]:
        path = "codex-orchestrator"
        problems = []
        for word in words[1:]:
            if word == "--":
                break
            if word.startswith("--"):
                if word not in options[path]:
                    problems.append(f"`{path}` has no option {word}")
            elif f"{path} {word}" in options:
                path = f"{path} {word}"
        return problems
    if words[:1] == ["pytest"]:
        return [
            f"pytest has no option {w}"
            for w in words
            if w.startswith("--codex") and w not in pytest_opts
        ]
    if re.fullmatch(r"--[a-z][\w-]*(\s.*)?", code):
        flag = code.split()[0].split("=")[0]
        from pytest_codex.cli.docs import option_strings

        known = set().union(*option_strings().values()) | pytest_opts | FOREIGN_OPTIONS
        return [] if flag in known else [f"no command or pytest has an option {flag}"]
    return []


_SUBCOMMANDS = ("exec", "resume", "runs", "start", "checklist", "review", "guardrails",
                "instructions", "approvals", "schema", "plan", "status", "spec-guard")  # fmt: skip
_FILE_SUFFIXES = {"md", "json", "jsonl", "yaml", "yml", "toml", "py", "log", "pem", "pub"}


def _config_key_problem(code: str) -> str | None:
    """A dotted configuration key (`exec.timeout_seconds`) that the schema does not have."""
    from pytest_codex import schemas

    if not re.fullmatch(r"[a-z_]+(\.[a-z_-]+)+", code) or code.split(".")[-1] in _FILE_SUFFIXES:
        return None
    node: Any = schemas.load_schema("config")
    first, *rest = code.split(".")
    if first not in node["properties"]:
        return None  # not a configuration key (a manifest field, a module ...)
    node = node["properties"][first]
    for part in rest:
        properties = node.get("properties", {})
        if part in properties:
            node = properties[part]
        elif isinstance(node.get("additionalProperties"), dict):
            return None  # free-form names, e.g. a guardrail's settings section
        else:
            return f"the configuration has no key {code} (schemas/config.schema.json)"
    return None


def test_inline_commands_and_flags_exist(pytest_options: set[str]) -> None:
    options = _cli_options()
    problems = [
        f"{span.id}: `{span.code}`: {problem}"
        for path in documents()
        if path.name != "cli.md"  # generated from the parser
        for span in inline_code(path)
        for problem in _inline_problems(span.code, options, pytest_options)
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("--config-path FILE", "no command or pytest has an option --config-path"),
        ("codex-orchestrator runs list --config FILE", "has no option --config"),
        ("checklist flip 1 --evidence PATH", "has no option --evidence"),
        ("pytest --codex-tasks T", "pytest has no option --codex-tasks"),
        ("exec.max_session", "the configuration has no key exec.max_session"),
    ],
)
def test_the_inline_check_catches_what_does_not_exist(
    statement: str, problem: str, pytest_options: set[str]
) -> None:
    [found] = _inline_problems(statement, _cli_options(), pytest_options)
    assert problem in found
    assert (
        _inline_problems(
            statement.replace("--config-path", "--config-file")
            .replace("--config FILE", "--config-file FILE")
            .replace("--evidence", "--manifest")
            .replace("--codex-tasks", "--codex-task")
            .replace("max_session", "max_sessions"),
            _cli_options(),
            pytest_options,
        )
        == []
    )


_GUARDRAIL_MODULE = next(s for s in SNIPPETS if s.text.startswith("# my_checks/guardrails.py"))


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["python", "-m", "pytest", "-q"], id="python-m-pytest"),
        pytest.param(["pytest", "-q"], id="pytest"),
        pytest.param(["codex-orchestrator", "guardrails", "run", "no-print"], id="cli-refuses"),
    ],
)  # fmt: skip
def test_the_documented_guardrail_loads_from_the_repository_root(
    argv: list[str], workspace: Path, prepared: Prepared
) -> None:
    """docs/guardrails.md: `guardrails: { plugins: [...] }` loads a repository's own module
    under pytest; codex-orchestrator refuses a module in the workspace."""
    module = workspace / "my_checks" / "guardrails.py"
    module.parent.mkdir()
    module.write_text(_GUARDRAIL_MODULE.text)
    config = workspace / "codex.orchestrator.yaml"
    document = yaml.safe_load(config.read_text())
    document["guardrails"]["plugins"] = ["my_checks.guardrails"]
    config.write_text(yaml.safe_dump(document))
    _trust(workspace, prepared.env)
    commit(workspace, "a guardrail of our own")
    env = {**prepared.env, "MCP_RUNNER_TASK_ID": TASK, "CODEX_ORCHESTRATOR_GUARDRAILS": "no-print"}
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=workspace, env=env, capture_output=True, text=True
    )
    if argv[0] == "codex-orchestrator":
        assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
        assert "'my_checks.guardrails' is" in done.stderr and "in the workspace" in done.stderr
        return
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    newest = max((workspace / ".runs" / TASK / "cli").glob("*/manifest.json"), key=_started)
    records = json.loads(newest.read_text())["guardrails"]
    assert [(g["name"], g["status"]) for g in records] == [("no-print", "passed")]


def _started(manifest: Path) -> str:
    return str(json.loads(manifest.read_text())["startedAt"])
