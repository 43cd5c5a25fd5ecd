"""Where a task's collateral lives: the ``tasks/index.json`` entry, the PRD / TECH_SPEC /
ACTION_PLAN documents, the checklist and its mirrors.

Shared by the ``collateral`` and ``checklist`` guardrails and ``codex-orchestrator
checklist``. Every location is a repository-relative template; ``{task}`` stands for the
task id (``0303-orchestrator-autonomy``), ``{number}`` for its leading number (``0303``)
and ``{tail}`` for the rest (``orchestrator-autonomy``). Templates may hold glob patterns
(``*``, ``**``, ``?``).

Settings (``guardrails.tasks`` in the configuration, read by both guardrails and the
CLI; ``guardrails.collateral`` / ``guardrails.checklist`` override them for one of them):

``index``
    the task index (default ``tasks/index.json``);
``checklist``
    the task's checklist (default ``tasks/tasks-{task}.md``);
``mirrors``
    documents that repeat the checklist (default ``[docs/TASKS.md, .agent/task/{task}.md]``);
``docs``
    a mapping from document kind to a template or a list of templates tried in order
    (default: ``PRD``, ``TECH_SPEC`` and ``ACTION_PLAN``, each ``docs/<KIND>-{task}.md``
    then ``docs/<KIND>-*{tail}.md``); a kind mapped to ``false`` or ``null`` is not
    required. Given kinds replace the defaults of those kinds only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_codex.errors import ConfigError

from .checklist.doc import RUNS_PREFIX
from .files import MAGIC, find_files, read_regular

if TYPE_CHECKING:
    from .context import GuardrailContext

DEFAULT_INDEX = "tasks/index.json"
DEFAULT_CHECKLIST = "tasks/tasks-{task}.md"
DEFAULT_MIRRORS: tuple[str, ...] = ("docs/TASKS.md", ".agent/task/{task}.md")
DOC_KINDS: tuple[str, ...] = ("PRD", "TECH_SPEC", "ACTION_PLAN")
_NUMBERED = re.compile(r"(?P<number>\d+)-(?P<tail>.+)")


@dataclass(frozen=True)
class TaskName:
    """A task id and its parts: ``0303-orchestrator-autonomy`` is number ``0303`` and tail
    ``orchestrator-autonomy``; an id without a leading number has no number and is its own
    tail."""

    task_id: str
    number: str | None
    tail: str

    @classmethod
    def parse(cls, task_id: str) -> TaskName:
        """Split ``task_id`` into its parts."""
        match = _NUMBERED.fullmatch(task_id)
        if match is None:
            return cls(task_id, None, task_id)
        return cls(task_id, match.group("number"), match.group("tail"))

    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """What counts as mentioning the task: its id, or its number as a whole word."""
        found = [re.compile(rf"(?<!\w){re.escape(self.task_id)}(?!\w)")]
        if self.number is not None:
            found.append(re.compile(rf"(?<!\w){re.escape(self.number)}(?!\w)"))
        return tuple(found)

    def mentioned_in(self, text: str) -> bool:
        """Whether ``text`` names the task (full id, or its number as a whole word)."""
        return any(pattern.search(text) for pattern in self.patterns())

    def expand(self, template: str) -> str:
        """``template`` with ``{task}``, ``{number}`` and ``{tail}`` filled in."""
        return (
            template.replace("{task}", self.task_id)
            .replace("{number}", self.number or self.task_id)
            .replace("{tail}", self.tail)
        )


@dataclass(frozen=True)
class DocSpec:
    """Where one kind of document is looked for: templates tried in order."""

    kind: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """The resolved (task-specific) locations of a task's collateral."""

    task: TaskName
    index: str
    checklist: str
    mirrors: tuple[str, ...]
    docs: tuple[DocSpec, ...] = ()
    runs_prefix: str = RUNS_PREFIX

    @classmethod
    def from_settings(
        cls, task_id: str, settings: Mapping[str, Any], *, runs_prefix: str = RUNS_PREFIX
    ) -> Layout:
        """The layout for ``task_id`` under ``settings`` (see the module docstring); a
        :class:`ConfigError` for a setting of the wrong type."""
        task = TaskName.parse(task_id)
        where = "guardrails settings"
        index = _template(settings, "index", DEFAULT_INDEX, where)
        checklist = _template(settings, "checklist", DEFAULT_CHECKLIST, where)
        mirrors_value = settings.get("mirrors")
        if mirrors_value is None:
            mirrors: tuple[str, ...] = DEFAULT_MIRRORS
        elif isinstance(mirrors_value, str):
            mirrors = (mirrors_value,)
        elif isinstance(mirrors_value, Sequence) and all(
            isinstance(v, str) and v for v in mirrors_value
        ):
            mirrors = tuple(mirrors_value)
        else:
            raise ConfigError(
                f"{where}: 'mirrors' must be a list of paths, got {mirrors_value!r}; "
                "set it to e.g. [docs/TASKS.md]"
            )
        return cls(
            task=task,
            index=task.expand(index),
            checklist=task.expand(checklist),
            mirrors=tuple(dict.fromkeys(task.expand(m) for m in mirrors if m)),
            docs=_doc_specs(task, settings.get("docs"), where),
            runs_prefix=runs_prefix,
        )

    def mirror_files(self, root: Path) -> list[str]:
        """The mirrors that exist (templates with wildcards expand to every match), never
        the checklist itself."""
        found: list[str] = []
        for template in self.mirrors:
            if MAGIC.search(template):
                found.extend(find_files(root, [template]))
            elif (root / template).is_file():
                found.append(template)
        checklist = _resolved(root / self.checklist)
        # Never the checklist itself, also when a mirror is a link to it.
        return [m for m in dict.fromkeys(found) if _resolved(root / m) != checklist]

    def locate_doc(self, root: Path, spec: DocSpec) -> str | None:
        """The document of one kind: the first candidate that exists; among the matches of
        a wildcard candidate, the first that mentions the task, else the first."""
        for candidate in spec.candidates:
            if not MAGIC.search(candidate):
                if (root / candidate).is_file():
                    return candidate
                continue
            matches = find_files(root, [candidate])
            if not matches:
                continue
            for match in matches:
                if self.task.mentioned_in(read_text(root / match)):
                    return match
            return matches[0]
        return None

    def globs(self) -> tuple[str, ...]:
        """Every location this layout may read (for guardrail input fingerprints)."""
        found = [self.index, self.checklist, *self.mirrors]
        for spec in self.docs:
            found.extend(spec.candidates)
        return tuple(dict.fromkeys(found))


def _template(settings: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: {key!r} must be a repository-relative path, got {value!r}; "
            f"remove it to use {default}"
        )
    return value.strip()


def _doc_specs(task: TaskName, value: Any, where: str) -> tuple[DocSpec, ...]:
    configured: Mapping[str, Any]
    if value is None:
        configured = {}
    elif isinstance(value, Mapping):
        configured = value
    else:
        raise ConfigError(
            f"{where}: 'docs' must map a document kind to a path, got {value!r}; "
            "e.g. docs: {PRD: docs/PRD-{task}.md}"
        )
    kinds: dict[str, Any] = {
        kind: [f"docs/{kind}-{{task}}.md", f"docs/{kind}-*{{tail}}.md"] for kind in DOC_KINDS
    }
    kinds.update(configured)
    specs: list[DocSpec] = []
    for kind, candidates in kinds.items():
        if candidates is None or candidates is False:
            continue
        if isinstance(candidates, str):
            candidates = [candidates]
        if not (
            isinstance(candidates, Sequence)
            and candidates
            and all(isinstance(c, str) and c.strip() for c in candidates)
        ):
            raise ConfigError(
                f"{where}: docs.{kind} must be a path or a list of paths, got {candidates!r}; "
                f"set it to false to not require a {kind}"
            )
        expanded = tuple(dict.fromkeys(task.expand(c.strip()) for c in candidates))
        specs.append(DocSpec(str(kind), expanded))
    return tuple(specs)


def read_bytes(path: Path) -> bytes | None:
    """The content of ``path``, or None when it is not a readable regular file of at most
    :data:`guardrails.files.MAX_READ_BYTES`."""
    return read_regular(path)


def read_text(path: Path) -> str:
    """The text of ``path`` (undecodable bytes replaced; ``""`` when it cannot be read)."""
    data = read_bytes(path)
    return "" if data is None else data.decode("utf-8-sig", errors="replace")


@dataclass(frozen=True)
class IndexProblem:
    """Why the task index cannot be used: a message, and where in the file."""

    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class TaskIndex:
    """``tasks/index.json``: its entries, or the problem reading it."""

    path: str
    exists: bool
    items: tuple[Mapping[str, Any], ...] = ()
    problem: IndexProblem | None = None
    lines: Mapping[int, int] = field(default_factory=dict)
    """Line of each item (by position in ``items``), where it could be found."""

    @classmethod
    def load(cls, root: Path, path: str) -> TaskIndex:
        """Read and parse the index at repository-relative ``path``."""
        file = root / path
        if not file.is_file():
            return cls(path, exists=False)
        data = read_bytes(file)
        if data is None:
            return cls(path, True, problem=IndexProblem("cannot be read"))
        text = data.decode("utf-8-sig", errors="replace")
        try:
            document = json.loads(text)
        except RecursionError:
            return cls(path, True, problem=IndexProblem("is nested too deeply to read"))
        except json.JSONDecodeError as exc:
            return cls(
                path,
                True,
                problem=IndexProblem(
                    f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                    exc.lineno,
                    exc.colno,
                ),
            )
        raw = document.get("items") if isinstance(document, dict) else None
        if not isinstance(raw, list):
            return cls(
                path,
                True,
                problem=IndexProblem('has no "items" list at its top level'),
            )
        items = tuple(item for item in raw if isinstance(item, Mapping))
        return cls(path, True, items, lines=_item_lines(text, items))

    def entries_for(self, task_id: str) -> list[tuple[int, Mapping[str, Any]]]:
        """``(position, entry)`` of every entry of ``task_id``: ``slug`` or ``id`` equal to
        the task id, or ``f"{id}-{slug}"`` equal to it."""
        found = []
        for position, item in enumerate(self.items):
            ident, slug = item.get("id"), item.get("slug")
            ident_s = str(ident) if isinstance(ident, str | int) else None
            slug_s = slug if isinstance(slug, str) else None
            if task_id in (ident_s, slug_s) or (
                ident_s is not None and slug_s is not None and f"{ident_s}-{slug_s}" == task_id
            ):
                found.append((position, item))
        return found


def _item_lines(text: str, items: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Best-effort line numbers of the index items: the line of each item's ``"id"`` (or
    ``"slug"``) key, matched in document order."""
    lines = text.split("\n")
    found: dict[int, int] = {}
    cursor = 0
    for position, item in enumerate(items):
        for key in ("id", "slug"):
            value = item.get(key)
            if not isinstance(value, str | int):
                continue
            needle = re.compile(rf'"{key}"\s*:\s*{re.escape(json.dumps(value))}')
            for number in range(cursor, len(lines)):
                if needle.search(lines[number]):
                    found[position] = number + 1
                    cursor = number + 1
                    break
            if position in found:
                break
    return found


def runs_prefix_for(relative_runs_dir: str) -> str:
    """The prefix cited manifest paths start with: the runs directory relative to the
    repository (``.runs`` by default), or ``.runs`` when it lies outside the repository."""
    relative = relative_runs_dir.strip()
    if not relative or Path(relative).is_absolute() or relative.split("/")[0] == "..":
        return RUNS_PREFIX
    return relative.strip("/")


def layout_for(ctx: GuardrailContext) -> Layout:
    """The collateral locations of the context's task under its settings."""
    return Layout.from_settings(
        ctx.require_task(), ctx.settings, runs_prefix=runs_prefix_for(ctx.rel(ctx.runs_dir))
    )


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # a link loop: compare it as it is
        return path
