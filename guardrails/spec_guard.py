"""spec-guard: code changes come with a spec change, and specs are reviewed regularly.

Two rules:

1. **Code needs a spec change.** Files under ``code_globs`` changed since the base revision
   (``BASE_SHA``, else ``origin/main``, else the repository's root commit) must come with a
   change under ``spec_globs``. "Changed" means ``git diff --name-only <base>`` (committed
   and uncommitted changes of tracked files) plus untracked files git does not ignore.
   Without git, or before the first commit, this rule is not checked.
2. **Specs stay fresh.** Every markdown spec (``*.md``) under ``spec_globs`` carries
   ``last_review: YYYY-MM-DD`` (in its front matter or on a line of its own; the first one
   counts) at most ``max_age_days`` days before today.

Rules: ``spec-guard/code-without-spec`` (one per changed code file),
``spec-guard/missing-review-date``, ``spec-guard/invalid-review-date``,
``spec-guard/stale-spec``, ``spec-guard/unreadable-spec``, and the warnings
``spec-guard/review-date-in-future`` and ``spec-guard/invalid-base`` (``BASE_SHA`` names no
commit, so the next base was used).

Settings (``guardrails: {spec-guard: {...}}`` in ``codex.orchestrator.yaml``):

``code_globs``
    What counts as code (default ``["src/**", "**/*.py"]``).
``ignore_globs``
    Code files that do not need a spec change (default
    ``["tests/**", "**/tests/**", "docs/**"]``).
``spec_globs``
    Where specs live (default ``["tasks/specs/**", "tasks/index.json"]``).
``max_age_days``
    How old a spec's ``last_review`` may be, in days (default ``30``).
``dry_run``
    Report findings without failing (default ``false``): a setting every guardrail takes
    (see :class:`guardrails.GuardrailSession`), like ``--dry-run``.

A glob setting may also be a single string.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_codex.errors import ConfigError

from .api import Finding, Guardrail, Inputs, Result
from .context import GuardrailContext
from .files import matches, read_regular, why_unreadable

DEFAULT_CODE_GLOBS = ("src/**", "**/*.py")
DEFAULT_IGNORE_GLOBS = ("tests/**", "**/tests/**", "docs/**")
DEFAULT_SPEC_GLOBS = ("tasks/specs/**", "tasks/index.json")
DEFAULT_MAX_AGE_DAYS = 30

CODE_WITHOUT_SPEC = "spec-guard/code-without-spec"
MISSING_REVIEW_DATE = "spec-guard/missing-review-date"
INVALID_REVIEW_DATE = "spec-guard/invalid-review-date"
STALE_SPEC = "spec-guard/stale-spec"
REVIEW_DATE_IN_FUTURE = "spec-guard/review-date-in-future"
INVALID_BASE = "spec-guard/invalid-base"
UNREADABLE_SPEC = "spec-guard/unreadable-spec"

# How the summary counts each freshness problem.
_PROBLEMS = {
    STALE_SPEC: "stale",
    MISSING_REVIEW_DATE: "missing last_review",
    INVALID_REVIEW_DATE: "invalid last_review",
    REVIEW_DATE_IN_FUTURE: "dated in the future",
    UNREADABLE_SPEC: "unreadable",
}

# ``last_review: 2026-09-01`` at the start of a line (YAML front matter or plain text).
_REVIEW_LINE = re.compile(r"^\s*last_review\s*:(?P<value>.*)$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SpecGuardSettings:
    """The validated settings of spec-guard (see the module docstring)."""

    code_globs: tuple[str, ...] = DEFAULT_CODE_GLOBS
    ignore_globs: tuple[str, ...] = DEFAULT_IGNORE_GLOBS
    spec_globs: tuple[str, ...] = DEFAULT_SPEC_GLOBS
    max_age_days: int = DEFAULT_MAX_AGE_DAYS

    @classmethod
    def from_context(cls, ctx: GuardrailContext) -> SpecGuardSettings:
        """The settings of ``ctx``, defaults filled in; :class:`ConfigError` when invalid."""
        max_age = ctx.setting("max_age_days", DEFAULT_MAX_AGE_DAYS)
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ConfigError(
                f"guardrails.spec-guard.max_age_days must be a whole number of days >= 0, "
                f"not {max_age!r}"
            )
        return cls(
            code_globs=ctx.strings_setting("code_globs", DEFAULT_CODE_GLOBS),
            ignore_globs=ctx.strings_setting("ignore_globs", DEFAULT_IGNORE_GLOBS),
            spec_globs=ctx.strings_setting("spec_globs", DEFAULT_SPEC_GLOBS),
            max_age_days=max_age,
        )


@dataclass(frozen=True)
class Base:
    """The revision changes are measured against, and where it came from."""

    sha: str
    source: str  # "BASE_SHA", "origin/main" or "root commit"

    @property
    def short(self) -> str:
        """The abbreviated sha shown in messages."""
        return self.sha[:7]

    def describe(self) -> str:
        """``1a2b3c4 (origin/main)``."""
        return f"{self.short} ({self.source})"


class SpecGuard(Guardrail):
    """Code changes need a spec change; specs need a recent ``last_review`` date."""

    name = "spec-guard"
    version = "1"
    description = (
        "code changes since the base revision come with a spec change, and every spec was "
        "reviewed within max_age_days"
    )

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        """The spec files' contents, the change range, the settings and today's date."""
        settings = SpecGuardSettings.from_context(ctx)
        return Inputs(
            globs=settings.spec_globs,
            git_range=True,
            values={
                "settings": dict(ctx.settings),
                "today": ctx.today.isoformat(),
                "BASE_SHA": ctx.env.get("BASE_SHA"),
            },
        )

    def run(self, ctx: GuardrailContext) -> Result:
        """Check both rules (see the module docstring)."""
        settings = SpecGuardSettings.from_context(ctx)
        findings: list[Finding] = []
        summary: list[str] = []

        base, why_not, base_findings = resolve_base(ctx)
        findings.extend(base_findings)
        spec_files = ctx.find(settings.spec_globs)
        if base is None and not spec_files:
            return Result.skipped(
                f"{why_not} and no files match {', '.join(settings.spec_globs)}: nothing to "
                "check; add specs there or run spec-guard in a git checkout with commits"
            )

        if base is None:
            summary.append(f"{why_not}: code/spec change check skipped")
        else:
            change_findings, change_summary = _check_changes(ctx, settings, base)
            findings.extend(change_findings)
            summary.append(change_summary)

        review_findings, review_summary = _check_reviews(ctx, settings, spec_files)
        findings.extend(review_findings)
        summary.append(review_summary)

        return Result.from_findings(findings, "; ".join(summary))


# -- the base revision ------------------------------------------------------------------------
def _git_or_none(ctx: GuardrailContext, *args: str) -> str | None:
    """``git ARGS``'s stdout, or None when git fails (an expected outcome for probes)."""
    output = ctx.run_git(*args)
    return output.stdout if output.ok else None


def resolve_base(ctx: GuardrailContext) -> tuple[Base | None, str, list[Finding]]:
    """The base revision (``BASE_SHA``, else ``origin/main``, else the root commit), through
    ``ctx.git`` so the probes are sandboxed and recorded. Returns ``(base, why there is none,
    warnings)``."""
    inside = _git_or_none(ctx, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.strip() != "true":
        return None, "not a git repository", []
    warnings: list[Finding] = []
    requested = ctx.env.get("BASE_SHA")
    if requested:
        sha = _git_or_none(ctx, "rev-parse", "--verify", "--quiet", f"{requested}^{{commit}}")
        if sha and sha.strip():
            return Base(sha.strip(), "BASE_SHA"), "", []
        # The cache falls back the same way; say so, since a mistyped BASE_SHA widens the range.
        warnings.append(
            Finding(
                rule=INVALID_BASE,
                message=f"BASE_SHA={requested} is not a commit in this repository; "
                "using origin/main or the root commit instead",
                hint="export BASE_SHA as a commit that exists here (fetch it first in CI)",
                severity="warning",
            )
        )
    sha = _git_or_none(ctx, "rev-parse", "--verify", "--quiet", "origin/main^{commit}")
    if sha and sha.strip():
        return Base(sha.strip(), "origin/main"), "", warnings
    roots = (_git_or_none(ctx, "rev-list", "--max-parents=0", "HEAD") or "").split()
    if not roots:
        return None, "no commits yet", warnings
    return Base(roots[-1], "root commit"), "", warnings


# -- rule 1: code changes need a spec change --------------------------------------------------
def changed_files(ctx: GuardrailContext, base: Base) -> list[str]:
    """Repository-relative paths changed since ``base``: tracked changes (committed or not)
    and untracked, non-ignored files, without the run artifacts guardrails write."""
    quiet = ("-c", "core.quotepath=off")
    # -z: names come NUL-separated and unquoted, whatever characters they contain.
    tracked = ctx.git(
        *quiet, "diff", "--name-only", "--no-renames", "--no-ext-diff", "--relative", "-z",
        base.sha, "--",
    )  # fmt: skip
    untracked = ctx.git(*quiet, "ls-files", "--others", "--exclude-standard", "-z")
    artifacts = ctx.rel(ctx.runs_dir)
    inside = not artifacts.startswith("/")
    found = set()
    for path in (*tracked.split("\0"), *untracked.split("\0")):
        if not path:
            continue
        if inside and (path == artifacts or path.startswith(artifacts + "/")):
            continue  # guardrail results and caches are not part of the change
        found.add(path)
    return sorted(found)


def _check_changes(
    ctx: GuardrailContext, settings: SpecGuardSettings, base: Base
) -> tuple[list[Finding], str]:
    changed = changed_files(ctx, base)
    code = [
        path
        for path in changed
        if matches(path, settings.code_globs)
        and not matches(path, settings.ignore_globs)
        and not matches(path, settings.spec_globs)
    ]
    specs = [path for path in changed if matches(path, settings.spec_globs)]
    since = f"since {base.describe()}"
    if not code:
        return [], f"no code changes {since}"
    if specs:
        both = f"{_count(len(code), 'code file')} and {_count(len(specs), 'spec file')}"
        return [], f"{both} changed {since}"
    where = ", ".join(settings.spec_globs)
    findings = [
        Finding(
            rule=CODE_WITHOUT_SPEC,
            message=f"changed {since} without a change under {where}",
            path=path,
            hint="update the task's spec (tasks/specs/...) or tasks/index.json in the same change",
        )
        for path in code
    ]
    return findings, f"{_count(len(code), 'code file')} changed {since} with no spec change"


# -- rule 2: specs stay fresh -----------------------------------------------------------------
def find_review_date(text: str) -> tuple[str, int] | None:
    """The raw value of the first ``last_review:`` line and its 1-based line number."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _REVIEW_LINE.match(line)
        if match:
            return _clean_value(match.group("value")), number
    return None


def _clean_value(raw: str) -> str:
    value = raw.strip()
    if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
        return value[1:-1].strip()
    return value.split(" #", 1)[0].strip()  # a YAML comment after the date


def parse_review_date(value: str) -> dt.date | None:
    """``YYYY-MM-DD`` as a date; None for anything else (including impossible dates)."""
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _check_reviews(
    ctx: GuardrailContext, settings: SpecGuardSettings, spec_files: Sequence[str]
) -> tuple[list[Finding], str]:
    findings: list[Finding] = []
    specs = [path for path in spec_files if path.endswith(".md")]
    for path in specs:
        data = read_regular(ctx.path(path))
        if data is None:  # a dangling symlink, a permission problem, a FIFO, a huge file
            findings.append(
                Finding(
                    rule=UNREADABLE_SPEC,
                    message=f"cannot read the spec: {why_unreadable(ctx.path(path))}",
                    path=path,
                    hint="fix the file's permissions or remove the broken link",
                )
            )
            continue
        text = data.decode("utf-8", errors="replace")
        finding = _review_finding(path, text, ctx.today, settings.max_age_days)
        if finding is not None:
            findings.append(finding)
    if not specs:
        return findings, "no markdown specs to check"
    counts = Counter(finding.rule for finding in findings)
    problems = [f"{counts[rule]} {label}" for rule, label in _PROBLEMS.items() if counts[rule]]
    checked = f"{_count(len(specs), 'spec')} checked, "
    return findings, checked + (", ".join(problems) if problems else "all fresh")


def _review_finding(path: str, text: str, today: dt.date, max_age: int) -> Finding | None:
    found = find_review_date(text)
    if found is None:
        return Finding(
            rule=MISSING_REVIEW_DATE,
            message="no last_review date",
            path=path,
            hint="add 'last_review: YYYY-MM-DD' to the front matter",
        )
    value, line = found
    reviewed = parse_review_date(value)
    if reviewed is None:
        return Finding(
            rule=INVALID_REVIEW_DATE,
            message=f"last_review {value!r} is not a date in YYYY-MM-DD form",
            path=path,
            line=line,
            hint=f"write the date the spec was reviewed, e.g. last_review: {today.isoformat()}",
        )
    age = (today - reviewed).days
    if age < 0:
        return Finding(
            rule=REVIEW_DATE_IN_FUTURE,
            message=f"last_review {reviewed.isoformat()} is {_count(-age, 'day')} in the future "
            f"(today is {today.isoformat()})",
            path=path,
            line=line,
            hint="set last_review to the date the spec was actually reviewed",
            severity="warning",
        )
    if age > max_age:
        return Finding(
            rule=STALE_SPEC,
            message=f"last reviewed {reviewed.isoformat()}, {_count(age, 'day')} ago "
            f"(limit {_count(max_age, 'day')})",
            path=path,
            line=line,
            hint="review the spec and update last_review",
        )
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
