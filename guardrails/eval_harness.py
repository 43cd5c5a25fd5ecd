"""eval: run the project's evaluation harness (pytest eval fixtures, a command, or both).

``pytest`` mode runs the configured paths with the running Python's pytest (``-p
no:codex``, so the nested session records no run of its own, and ``-p no:cacheprovider``)
and reads its JUnit XML report: one finding per failed or erroring eval. The report is
written to ``.codex-eval-<hex>.xml`` at the repository root (inside the workspace: the
sandbox keeps ``/tmp`` private and the runs directory read-only), read without following
links and deleted afterwards. ``command`` mode runs a command and fails
when it exits non-zero. With both configured, both run.

Rules: ``eval/failed`` and ``eval/error`` (per eval test), ``eval/missing-fixtures`` (a
configured path does not exist), ``eval/command-failed``, ``eval/timeout`` and
``eval/harness-error`` (pytest stopped without a usable report).

Settings (``guardrails: {eval: {...}}`` in ``codex.orchestrator.yaml``):

``pytest``
    A path (or a list of paths, or node ids such as ``evals/test_x.py::test_a``) of eval
    tests, relative to the repository root, e.g. ``evals/``.
``command``
    A command to run instead or as well: a string (split like a shell would, no shell
    involved) or a list; it runs in the repository root and passes when it exits 0.
``timeout_seconds``
    Stop each run after this many seconds (default: no limit).
``inputs``
    The files the result depends on (default: Python sources, JSON, JSONL, YAML, TOML, CSV
    and text files, ``pytest.ini``, ``tox.ini`` and ``setup.cfg``); any change to them
    runs the evals again.

With neither ``pytest`` nor ``command`` the guardrail is skipped.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .api import Finding, Guardrail, Inputs, Result
from .context import CommandOutput, GuardrailContext

# The code under evaluation, the eval data, and pytest's configuration files.
_MAX_REPORT_BYTES = 64 * 1024 * 1024
DEFAULT_INPUTS = (
    "**/*.py",
    "**/*.json",
    "**/*.jsonl",
    "**/*.yaml",
    "**/*.yml",
    "**/*.toml",
    "**/*.csv",
    "**/*.txt",
    "pytest.ini",
    "tox.ini",
    "setup.cfg",
)
NOT_CONFIGURED = (
    "no evaluation harness configured; set guardrails.eval.pytest (eval fixtures) or "
    "guardrails.eval.command"
)
NO_TESTS_COLLECTED = 5  # pytest's ExitCode.NO_TESTS_COLLECTED

FAILED = "eval/failed"
ERROR = "eval/error"
MISSING_FIXTURES = "eval/missing-fixtures"
COMMAND_FAILED = "eval/command-failed"
TIMEOUT = "eval/timeout"
HARNESS_ERROR = "eval/harness-error"


@dataclass(frozen=True)
class EvalSettings:
    """The validated settings of the eval guardrail (see the module docstring)."""

    pytest_paths: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    timeout: float | None = None
    inputs: tuple[str, ...] = DEFAULT_INPUTS

    @classmethod
    def from_context(cls, ctx: GuardrailContext) -> EvalSettings:
        """The settings of ``ctx``; :class:`ConfigError` when they are invalid."""
        paths = ctx.strings_setting("pytest", (), what="path")
        command = ctx.command_setting()
        timeout = ctx.timeout_setting()
        inputs = ctx.strings_setting("inputs", DEFAULT_INPUTS)
        return cls(paths, tuple(command) if command else None, timeout, inputs)

    @property
    def configured(self) -> bool:
        """Whether there is anything to run."""
        return bool(self.pytest_paths) or self.command is not None


@dataclass
class _Outcome:
    """What one part (pytest or command) found."""

    findings: list[Finding] = field(default_factory=list)
    summary: str | None = None
    skipped: str | None = None  # why nothing ran, when nothing did


class EvalGuardrail(Guardrail):
    """Runs the configured evaluation harness; one finding per failing eval."""

    name = "eval"
    version = "1"
    description = "the configured evaluations (pytest eval fixtures or a command) pass"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """The input globs' contents, the settings, and the Python and pytest that run."""
        settings = EvalSettings.from_context(ctx)
        return Inputs(
            globs=settings.inputs,
            values={
                "settings": dict(ctx.settings),
                "python": sys.executable,
                "pytest": metadata.version("pytest"),
            },
        )

    def run(self, ctx: GuardrailContext) -> Result:
        """Run the harness (see the module docstring) and report."""
        settings = EvalSettings.from_context(ctx)
        if not settings.configured:
            return Result.skipped(NOT_CONFIGURED)
        parts: list[_Outcome] = []
        if settings.pytest_paths:
            parts.append(_run_pytest(ctx, settings))
        if settings.command is not None:
            parts.append(_run_command(ctx, settings.command, settings.timeout))
        findings = [finding for part in parts for finding in part.findings]
        if not findings and all(part.skipped for part in parts):
            return Result.skipped("; ".join(part.skipped or "" for part in parts))
        summary = "; ".join(part.summary or part.skipped or "" for part in parts)
        return Result.from_findings(findings, summary)


# -- pytest mode ------------------------------------------------------------------------------
def _run_pytest(ctx: GuardrailContext, settings: EvalSettings) -> _Outcome:
    outcome = _Outcome()
    present: list[str] = []
    for target in settings.pytest_paths:
        if ctx.path(target.split("::", 1)[0]).exists():
            present.append(target)
            continue
        outcome.findings.append(
            Finding(
                rule=MISSING_FIXTURES,
                message=f"eval fixtures {target} do not exist",
                path=target.split("::", 1)[0],
                hint="create them, or fix guardrails.eval.pytest (paths are relative to the "
                "repository root)",
            )
        )
    where = ", ".join(settings.pytest_paths)
    if not present:
        outcome.summary = f"evals: no fixtures found at {where}"
        return outcome

    # The runs directory is read-only in the sandbox: the report goes to the workspace (the
    # sandboxed suite writes there anyway), read without following links, then removed.
    report = ctx.root / f".codex-eval-{uuid.uuid4().hex}.xml"
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:codex",
        "-o", "junit_family=xunit1", f"--junitxml={report}", f"--rootdir={ctx.root}",
        *present,
    ]  # fmt: skip
    # --rootdir: the report's file attributes are then relative to the repository root.
    try:
        # An empty MCP_RUNNER_TASK_ID keeps the nested pytest from recording a run.
        output = ctx.run_command(
            argv,
            env={"MCP_RUNNER_TASK_ID": ""},
            timeout=settings.timeout,
            reason="guardrail eval runs the eval fixtures",
        )
        xml = _read_report_file(report)
    finally:
        report.unlink(missing_ok=True)

    if output.timed_out:
        outcome.findings.append(_timeout_finding("pytest " + " ".join(present), settings.timeout))
        outcome.summary = "evals: timed out"
        return outcome
    if output.exit_code == NO_TESTS_COLLECTED:
        outcome.skipped = f"no eval fixtures collected under {', '.join(present)}"
        return outcome

    cases = _read_report(xml) if xml else None
    if cases is None:
        outcome.findings.append(_harness_error(output))
        outcome.summary = "evals: pytest produced no report"
        return outcome
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[Finding] = []
    for case in cases:
        case_findings = _case_findings(case)
        failures.extend(case_findings)
        if any(f.rule == FAILED for f in case_findings):
            counts["failed"] += 1
        elif case_findings:
            counts["errors"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    outcome.findings.extend(failures)
    if not output.ok and not failures:
        # pytest failed (usage error, internal error, ...) without naming a failing eval.
        outcome.findings.append(_harness_error(output))
    shown = ["passed", *(key for key in ("failed", "errors", "skipped") if counts[key])]
    outcome.summary = "evals: " + ", ".join(
        f"{counts[key]} {'error' if key == 'errors' and counts[key] == 1 else key}" for key in shown
    )
    return outcome


def _read_report_file(path: Path) -> bytes | None:
    """The report's bytes: a regular file, never through a symlink, at most 64 MiB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(_MAX_REPORT_BYTES + 1)
    return data if len(data) <= _MAX_REPORT_BYTES else None


def _read_report(xml: bytes) -> list[ET.Element] | None:
    """The ``testcase`` elements of a JUnit XML report; None when it cannot be read."""
    try:
        tree = ET.fromstring(xml)  # written by the pytest we just ran, not untrusted input
    except ET.ParseError:
        return None
    return list(tree.iter("testcase"))


def _case_findings(case: ET.Element) -> list[Finding]:
    """One finding per ``failure`` / ``error`` of a testcase."""
    path = case.get("file") or None
    line_attr = case.get("line")
    line = int(line_attr) + 1 if line_attr and line_attr.isdigit() else None  # 0-based
    name = _test_name(case)
    findings = []
    for child in case:
        if child.tag not in ("failure", "error"):
            continue
        findings.append(
            Finding(
                rule=FAILED if child.tag == "failure" else ERROR,
                message=f"{name}: {_reason(child)}",
                path=path,
                line=line,
                hint="run the eval with pytest to see the full report",
            )
        )
    return findings


def _test_name(case: ET.Element) -> str:
    """A node-id-like name: ``evals/test_x.py::TestK::test_a``."""
    name = case.get("name") or "?"
    path = case.get("file")
    classname = case.get("classname") or ""
    if not path:
        return f"{classname}::{name}" if classname else name
    module = path.removesuffix(".py").replace("/", ".")
    if not classname and name == module:
        return path  # a module that failed to collect
    classes = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
    return "::".join(part for part in (path, *classes.split(".")) if part) + f"::{name}"


def _reason(child: ET.Element) -> str:
    """The first line of a failure's message; for a collection error (whose message says
    only "collection failure") the last ``E`` line of its text, which names the error."""
    message = (child.get("message") or "").strip()
    first = message.splitlines()[0].strip() if message else ""
    if first and first != "collection failure":
        return first
    errors = [line[1:].strip() for line in (child.text or "").splitlines() if line.startswith("E ")]
    return errors[-1] if errors else first or child.tag


# -- command mode -----------------------------------------------------------------------------
def _run_command(ctx: GuardrailContext, argv: Sequence[str], timeout: float | None) -> _Outcome:
    shown = shlex.join(argv)
    output = ctx.run_command(argv, timeout=timeout, reason="guardrail eval runs the eval command")
    if output.timed_out:
        return _Outcome([_timeout_finding(shown, timeout)], "eval command timed out")
    if output.ok:
        return _Outcome([], "eval command passed")
    finding = Finding(
        rule=COMMAND_FAILED,
        message=f"{shown} exited with status {output.exit_code}: {output.last_line()}",
        hint="run the command in the repository root to see why, or fix guardrails.eval.command",
    )
    return _Outcome([finding], f"eval command failed (exit status {output.exit_code})")


# -- shared -----------------------------------------------------------------------------------
def _timeout_finding(what: str, timeout: float | None) -> Finding:
    return Finding(
        rule=TIMEOUT,
        message=f"{what} did not finish within {timeout or 0:g} seconds",
        hint="raise guardrails.eval.timeout_seconds or make the evals faster",
    )


def _harness_error(output: CommandOutput) -> Finding:
    return Finding(
        rule=HARNESS_ERROR,
        message=f"pytest exited with status {output.exit_code} without reporting a failing "
        f"eval: {output.last_line()}",
        hint="run the same pytest command in the repository root to see the whole error",
    )
