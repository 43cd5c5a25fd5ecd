"""Code blocks and inline commands of README.md and docs/*.md, for the docs test.

A fenced block is a :class:`Snippet` with its file, the line of its opening fence and its
language. An HTML comment on the line just before the fence (blank lines between allowed)
tells the docs test what to leave out:

- ``<!-- docs-test: skip (reason) -->``: the whole block is not run;
- ``<!-- docs-test: skip "PREFIX" (reason) -->``: the block's command lines starting with
  PREFIX are not run (the other lines are).

Every skip carries its reason, and the docs test lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import REPO_ROOT

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(
    r"^\s*<!--\s*docs-test:\s*skip\s*(?:\"(?P<prefix>[^\"]+)\"\s*)?\((?P<reason>[^)]+)\)\s*-->\s*$"
)
_INLINE = re.compile(r"(?<!`)`(?P<code>[^`\n]+)`(?!`)")


@dataclass(frozen=True)
class Skip:
    """What a ``docs-test: skip`` comment leaves out: a whole block, or lines by prefix."""

    reason: str
    prefix: str | None = None


@dataclass(frozen=True)
class Snippet:
    """One fenced code block."""

    path: Path
    line: int
    lang: str
    text: str
    skips: tuple[Skip, ...] = field(default=())

    @property
    def id(self) -> str:
        """``README.md:31`` or ``docs/exec.md:3``: the file and the opening fence's line."""
        return f"{self.path.relative_to(REPO_ROOT).as_posix()}:{self.line}"

    @property
    def skipped(self) -> Skip | None:
        """The skip of the whole block, if any."""
        return next((s for s in self.skips if s.prefix is None), None)


@dataclass(frozen=True)
class InlineCode:
    """One inline code span (`` `...` ``) outside fenced blocks."""

    path: Path
    line: int
    code: str

    @property
    def id(self) -> str:
        """The file and line of the span."""
        return f"{self.path.relative_to(REPO_ROOT).as_posix()}:{self.line}"


def documents(root: Path = REPO_ROOT) -> list[Path]:
    """README.md and every docs/*.md, in a stable order."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def snippets(path: Path) -> list[Snippet]:
    """The fenced code blocks of one Markdown file, with the skips written before them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    pending: list[Skip] = []
    number = 0
    while number < len(lines):
        line = lines[number]
        directive = _DIRECTIVE.match(line)
        opening = _FENCE.match(line)
        if directive:
            pending.append(Skip(directive["reason"].strip(), directive["prefix"]))
        elif opening:
            indent, fence = len(opening["indent"]), opening["fence"]
            lang = opening["info"].strip().split(" ")[0].lower()
            body: list[str] = []
            start = number + 1
            number += 1
            while number < len(lines) and not lines[number].strip().startswith(fence):
                body.append(
                    lines[number][indent:] if lines[number][:indent].isspace() else lines[number]
                )
                number += 1
            found.append(Snippet(path, start, lang, "\n".join(body) + "\n", tuple(pending)))
            pending = []
        elif line.strip():
            pending = []
        number += 1
    return found


def inline_code(path: Path) -> list[InlineCode]:
    """Inline code spans outside fenced blocks (tables and prose), with their lines."""
    spans: list[InlineCode] = []
    fence: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        opening = _FENCE.match(line)
        if opening and (fence is None or line.strip().startswith(fence)):
            fence = None if fence is not None else opening["fence"]
            continue
        if fence is None:
            spans.extend(InlineCode(path, number, m["code"]) for m in _INLINE.finditer(line))
    return spans


def all_snippets(root: Path = REPO_ROOT) -> list[Snippet]:
    """Every fenced block of README.md and docs/*.md."""
    return [snippet for path in documents(root) for snippet in snippets(path)]


def command_lines(text: str) -> list[tuple[int, str]]:
    """Shell command lines of a block, with their offset in it: continuation lines joined,
    blank and comment-only lines dropped, a ``$ `` prompt removed (``console`` blocks, whose
    other lines are output)."""
    raw = text.splitlines()
    prompted = any(line.startswith("$ ") for line in raw)
    commands: list[tuple[int, str]] = []
    offset = 0
    while offset < len(raw):
        start, line = offset, raw[offset]
        while line.endswith("\\") and offset + 1 < len(raw):
            offset += 1
            line = line[:-1] + " " + raw[offset].strip()
        offset += 1
        if prompted:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append((start, line.strip()))
    return commands


def console_outputs(text: str) -> dict[int, list[str]]:
    """For a ``console`` block: the output lines shown after each ``$`` command, keyed by the
    command's offset in the block."""
    outputs: dict[int, list[str]] = {}
    current: int | None = None
    for offset, line in enumerate(text.splitlines()):
        if line.startswith("$ "):
            current = offset
            outputs[current] = []
        elif current is not None and line.strip():
            outputs[current].append(line)
    return outputs
