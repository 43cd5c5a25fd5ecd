"""lint: run the configured linter and report one finding per diagnostic.

By default the linter is ruff (``ruff check --output-format json --no-cache .`` in the
repository root). ``ruff`` is looked up on ``PATH``, then next to the running Python, then as
``python -m ruff``; when none is found the guardrail is skipped. ``--no-cache`` keeps ruff
from writing ``.ruff_cache`` into the workspace (the guardrail result is cached instead, and
a read-only sandbox would refuse the write).

Rules: ``lint/<code>`` per diagnostic (``lint/F401``, ``lint/E501``, ...;
``lint/syntax-error`` for ruff's syntax errors, ``lint/diagnostic`` for a line without a
code) and ``lint/linter-error`` when the linter cannot run or fails without diagnostics.

Settings (``guardrails: {lint: {...}}`` in ``codex.orchestrator.yaml``):

``command``
    The linter to run, a string (split like a shell would, no shell involved) or a list;
    it runs in the repository root. Default: ruff as above.
``format``
    How to read its output: ``ruff-json`` (ruff's ``--output-format json``), ``lines``
    (``path:line[:col]: message`` lines, as flake8, pylint's parseable format and mypy
    print) or ``auto`` (default: a JSON array is ruff JSON, anything else is lines).
``globs``
    The files the result depends on (default: sources, notebooks, ruff's configuration
    files at any depth, ``.gitignore`` files and ``setup.cfg``); a change to any of them
    runs the linter again. The linter executable's path and modification time count too.
``timeout_seconds``
    Stop the linter after this many seconds (default: no limit).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_codex.errors import ConfigError
from pytest_codex.programs import ProgramNotFoundError, resolve

from .api import Finding, Guardrail, Inputs, Result
from .context import CommandOutput, GuardrailContext

# What ruff reads: sources, notebooks, its configuration at any depth, and the ignore
# files it honours.
DEFAULT_GLOBS = (
    "**/*.py",
    "**/*.pyi",
    "**/*.ipynb",
    "**/pyproject.toml",
    "**/ruff.toml",
    "**/.ruff.toml",
    "**/.gitignore",
    "setup.cfg",
)
RUFF_ARGS = ("check", "--output-format", "json", "--no-cache", ".")
LINTER_ERROR = "lint/linter-error"
SYNTAX_ERROR = "lint/syntax-error"
NO_RUFF = "ruff is not installed; pip install ruff, or set guardrails.lint.command"

Format = Literal["ruff-json", "lines", "auto"]
FORMATS: tuple[Format, ...] = ("ruff-json", "lines", "auto")

# path:line[:col]: rest  (the path must not start with a space; Linux paths only)
_LINE = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<rest>.*)$")
_SEVERITY = re.compile(r"^(?P<severity>error|warning|note)\s*:\s*(?P<message>.*)$", re.I)
_LEADING_CODE = re.compile(r"^(?P<code>[A-Z]+[0-9]+)(?::\s*|\s+)(?P<message>.*)$")
_TRAILING_CODE = re.compile(r"^(?P<message>.*?)\s+\[(?P<code>[\w.-]+)\]$")
# pylint --output-format=parseable: "[C0114(missing-module-docstring), ] message"
_BRACKET_CODE = re.compile(
    r"^\[(?P<code>[A-Z]+[0-9]+)(?:\([^)]*\))?(?:,[^\]]*)?\]\s*(?P<message>.*)$"
)


def find_ruff(root: Path | None = None) -> list[str] | None:
    """How to run ruff: next to the running Python, ``python -m ruff`` (the orchestrator's
    own environment), or on ``PATH`` outside the workspace ``root`` and the temporary
    directories: the verdict never depends on a ruff the agent planted (a ``.venv/bin/ruff``
    in the repository that always says "clean")."""
    sibling = Path(sys.executable).parent / "ruff"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    try:
        return [resolve("ruff", workspace=root)]
    except ProgramNotFoundError:
        return None


@dataclass(frozen=True)
class LintPlan:
    """What the lint guardrail will run, resolved from its settings without running it."""

    argv: tuple[str, ...] | None  # None: the default linter (ruff) is not installed
    format: Format
    globs: tuple[str, ...]
    timeout: float | None
    # Why the configured program was not found outside the workspace (it is not run then).
    missing: str | None = None

    @classmethod
    def from_context(cls, ctx: GuardrailContext) -> LintPlan:
        """The plan for ``ctx``'s settings; :class:`ConfigError` when they are invalid."""
        fmt = ctx.setting("format", "auto")
        if fmt not in FORMATS:
            raise ConfigError(
                f"guardrails.lint.format must be one of {', '.join(FORMATS)}, not {fmt!r}"
            )
        argv = ctx.command_setting()
        missing = None
        if argv and "/" not in argv[0]:
            # By absolute path, found outside the workspace: never a planted linter.
            try:
                argv = [resolve(argv[0], workspace=ctx.root), *argv[1:]]
            except ProgramNotFoundError as exc:
                missing = str(exc)
        if argv is None:
            ruff = find_ruff(ctx.root)
            argv = [*ruff, *RUFF_ARGS] if ruff else None
        return cls(
            argv=tuple(argv) if argv else None,
            format=fmt,
            globs=ctx.strings_setting("globs", DEFAULT_GLOBS),
            timeout=ctx.timeout_setting(),
            missing=missing,
        )

    @property
    def tool(self) -> str:
        """The linter's name for summaries (``ruff``, ``flake8``, the script name)."""
        if not self.argv:
            return "ruff"
        first = Path(self.argv[0]).name
        rest = self.argv[1:]
        if first.startswith("python") and rest:
            if rest[0] == "-m" and len(rest) > 1:
                return rest[1]  # python -m ruff
            if not rest[0].startswith("-"):
                return Path(rest[0]).name  # python tools/lint.py
        return first

    def executable(self, root: Path) -> dict[str, Any]:
        """The program that will run (its path and modification time) so that installing
        another version invalidates cached results; nothing is executed."""
        if not self.argv:
            return {"path": None, "mtime": None}
        program = self.argv[0]
        if self.argv[1:3] == ("-m", "ruff"):
            spec = importlib.util.find_spec("ruff")
            path: str | None = spec.origin if spec else None
        elif "/" in program:
            path = str(root / program)  # relative paths run from the repository root
        else:
            try:
                path = resolve(program, workspace=root)
            except ProgramNotFoundError:
                path = None
        try:
            mtime = os.stat(path).st_mtime_ns if path else None
        except OSError:
            mtime = None
        return {"path": path, "mtime": mtime}


class LintGuardrail(Guardrail):
    """Runs the configured linter (ruff by default); one finding per diagnostic."""

    name = "lint"
    version = "1"
    description = "the configured linter (ruff by default) reports no diagnostics"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """The linted files and configs, the settings, and the linter executable."""
        plan = LintPlan.from_context(ctx)
        return Inputs(
            globs=plan.globs,
            values={
                "settings": dict(ctx.settings),
                "argv": list(plan.argv) if plan.argv else None,
                "executable": plan.executable(ctx.root),
            },
        )

    def run(self, ctx: GuardrailContext) -> Result:
        """Run the linter and turn its output into findings."""
        plan = LintPlan.from_context(ctx)
        if plan.argv is None:
            return Result.skipped(NO_RUFF)
        if plan.missing is not None:
            return _linter_error(
                plan,
                f"{plan.tool} could not be started: {plan.missing}",
                "install it, or fix guardrails.lint.command (it runs in the repository root)",
            )
        output = ctx.run_command(
            plan.argv, timeout=plan.timeout, reason=f"guardrail {self.name} runs {plan.tool}"
        )
        if output.timed_out:
            return _linter_error(
                plan,
                f"{plan.tool} did not finish within {plan.timeout:g} seconds",
                "raise guardrails.lint.timeout_seconds or lint fewer files",
            )
        if _not_found(output):
            return _linter_error(
                plan,
                f"{plan.tool} could not be started: {output.last_line()}",
                "install it, or fix guardrails.lint.command (it runs in the repository root)",
            )
        fmt = plan.format
        if fmt == "auto":
            fmt = "ruff-json" if output.stdout.lstrip().startswith("[") else "lines"
        if fmt == "ruff-json":
            return _from_ruff_json(ctx, plan, output)
        return _from_lines(ctx, plan, output)


# -- reading the linter's output --------------------------------------------------------------
def _from_ruff_json(ctx: GuardrailContext, plan: LintPlan, output: CommandOutput) -> Result:
    # ruff exits 0 (clean), 1 (diagnostics) or 2 (it failed: bad config, bad arguments, ...).
    if output.exit_code not in (0, 1):
        return _linter_error(
            plan,
            f"{plan.tool} failed with exit status {output.exit_code}: {output.last_line()}",
            f"run {shlex.join(plan.argv or ())} in the repository root to see the whole error",
        )
    try:
        diagnostics = json.loads(output.stdout or "[]")
        if not isinstance(diagnostics, list):
            raise ValueError("not a JSON array")
        findings = [_ruff_finding(ctx, item) for item in diagnostics]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return _linter_error(
            plan,
            f"cannot read {plan.tool}'s output as ruff JSON ({exc}): {output.last_line()}",
            "set guardrails.lint.format to 'lines' for linters that print path:line: message",
        )
    return Result.from_findings(findings, _summary(plan, findings))


def _ruff_finding(ctx: GuardrailContext, item: dict[str, Any]) -> Finding:
    code = item.get("code")
    # Syntax errors have no code in older ruff versions and "invalid-syntax" in newer ones.
    rule = f"lint/{code}" if code and code != "invalid-syntax" else SYNTAX_ERROR
    location = item.get("location") or {}
    fix = item.get("fix") or {}
    hint = fix.get("message") or item.get("url")
    filename = item.get("filename")
    message = str(item["message"])
    line = int(location["row"]) if location.get("row") is not None else None
    if item.get("cell") is not None:
        # A notebook: the row counts within the cell, not within the file.
        message = f"cell {item['cell']}, line {line}: {message}"
        line = None
    return Finding(
        rule=rule,
        message=message,
        path=ctx.rel(filename) if filename else None,
        line=line,
        hint=str(hint) if hint else None,
        severity="warning" if item.get("severity") == "warning" else "error",
    )


def parse_line(line: str) -> tuple[str, int, str, str | None, bool] | None:
    """One ``path:line[:col]: message`` line as ``(path, line, message, code, is_warning)``;
    None for any other line and for mypy-style ``note:`` lines (context of an error)."""
    match = _LINE.match(line.rstrip())
    if match is None:
        return None
    rest = match.group("rest").strip()
    warning = False
    severity = _SEVERITY.match(rest)
    if severity:
        kind = severity.group("severity").lower()
        if kind == "note":
            return None
        warning = kind == "warning"
        rest = severity.group("message")
    code: str | None = None
    for pattern in (_LEADING_CODE, _BRACKET_CODE, _TRAILING_CODE):
        coded = pattern.match(rest)
        if coded:
            code, rest = coded.group("code"), coded.group("message")
            break
    return match.group("path"), int(match.group("line")), rest, code, warning


def _from_lines(ctx: GuardrailContext, plan: LintPlan, output: CommandOutput) -> Result:
    findings: list[Finding] = []
    for raw in output.stdout.splitlines():
        parsed = parse_line(raw)
        if parsed is None:
            continue
        path, line, message, code, warning = parsed
        findings.append(
            Finding(
                rule=f"lint/{code}" if code else "lint/diagnostic",
                message=message,
                path=ctx.rel(path).removeprefix("./"),
                line=line,
                severity="warning" if warning else "error",
            )
        )
    if not output.ok and not findings:
        return _linter_error(
            plan,
            f"{plan.tool} exited with status {output.exit_code} and no diagnostics: "
            f"{output.last_line()}",
            f"run {shlex.join(plan.argv or ())} in the repository root to see why",
        )
    return Result.from_findings(findings, _summary(plan, findings))


def _not_found(output: CommandOutput) -> bool:
    """Whether the program could not be started at all (the shell's 126 and 127, which the
    orchestrator also reports for a program the sandbox could not start)."""
    return output.exit_code in (126, 127)


def _linter_error(plan: LintPlan, message: str, hint: str) -> Result:
    finding = Finding(rule=LINTER_ERROR, message=message, hint=hint)
    return Result.from_findings([finding], f"{plan.tool} could not lint the repository")


def _summary(plan: LintPlan, findings: Sequence[Finding]) -> str:
    if not findings:
        return f"{plan.tool}: no diagnostics"
    files = {f.path for f in findings}
    noun = "diagnostic" if len(findings) == 1 else "diagnostics"
    return (
        f"{plan.tool}: {len(findings)} {noun} in {len(files)} file{'' if len(files) == 1 else 's'}"
    )
