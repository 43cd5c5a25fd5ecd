"""Markdown task checklists: parsing items and ticking one.

An *item* is a markdown list line with a checkbox: ``- [ ] text`` or ``- [x] text``, with
``-``, ``*``, ``+`` or ``1.``/``1)`` bullets, any indentation, and ``x`` or ``X`` for a
ticked box. Lines inside fenced code blocks are not items. An item's *evidence* is every
path in its line of the form ``.runs/<task>/cli/<run-id>/manifest.json`` (backticked or
bare, optionally written ``./.runs/...``). Its *key* is what identifies it across the
checklist and its mirrors: the text before the first `` — ``, ``; Evidence`` or
``Evidence:`` (and without manifest paths), lowercased, with markdown emphasis and code
marks removed, whitespace collapsed and trailing punctuation dropped.

Parsing never fails: bytes that are not UTF-8 are decoded with replacement characters, and
both ``\\n`` and ``\\r\\n`` line endings are understood. :func:`tick` changes exactly one line
and keeps every other byte (line endings, indentation, the trailing newline or its absence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

RUNS_PREFIX = ".runs"

_ITEM = re.compile(
    r"^(?P<indent>[ \t]*)(?P<bullet>[-*+]|\d{1,9}[.)])[ \t]+"
    r"\[(?P<mark>[ xX])\](?P<rest>(?:[ \t].*)?)$"
)
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>.*?))?[ \t#]*$")
# Fences open at any indentation (inside list items they are indented) and close only on a
# line of nothing but the fence characters, as CommonMark has it.
_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# A heading naming some task: a number of three or more digits as a whole word
# ("## 0404-other-task", "Task List (0303)").
_TASK_HEADING = re.compile(r"(?<![\w.-])\d{3,}(?![\w.])")
_KEY_MARKERS = re.compile(r" [\u2014\u2013] |;\s*evidence\b|\bevidence\s*:", re.IGNORECASE)
_MARKUP = re.compile(r"[`*_~]")
_SPACES = re.compile(r"\s+")
_MANIFEST_PATHS = re.compile(r"`?[^\s`()\[\]<>]*manifest\.json`?")


@dataclass(frozen=True)
class ChecklistItem:
    """One checkbox line of a markdown document."""

    number: int
    """1-based position among the document's items."""
    line: int
    """1-based line number."""
    checked: bool
    mark: str
    """The character inside the brackets: ``" "``, ``"x"`` or ``"X"``."""
    indent: str
    bullet: str
    text: str
    """Everything after the checkbox, without surrounding whitespace."""
    key: str
    evidence: tuple[str, ...]
    """Cited manifest paths, repository-relative, in order of appearance, without repeats."""

    @property
    def state(self) -> str:
        """``[x]`` or ``[ ]``."""
        return "[x]" if self.checked else "[ ]"

    @property
    def label(self) -> str:
        """A short human label: the text before the evidence, at most 60 characters."""
        head = _head(self.text) or _SPACES.sub(" ", self.text).strip()
        return head if len(head) <= 60 else head[:57].rstrip() + "..."


@dataclass(frozen=True)
class Heading:
    """A markdown ATX heading."""

    line: int
    level: int
    title: str


@dataclass(frozen=True)
class ChecklistDoc:
    """A parsed markdown document: its text, lines, items and headings."""

    text: str
    items: tuple[ChecklistItem, ...]
    headings: tuple[Heading, ...]
    line_count: int

    @classmethod
    def parse(cls, text: str, *, runs_prefix: str = RUNS_PREFIX) -> ChecklistDoc:
        """Parse ``text`` (any line endings)."""
        items: list[ChecklistItem] = []
        headings: list[Heading] = []
        lines = split_lines(text)
        # The item whose wrapped continuation lines may still follow, and its indentation.
        open_item: tuple[int, int] | None = None
        previous = 0
        for number, content in _outside_fences(lines):
            adjacent, previous = number == previous + 1, number
            match = _ITEM.match(content)
            if match is not None:
                rest = match.group("rest").strip()
                items.append(
                    ChecklistItem(
                        number=len(items) + 1,
                        line=number,
                        checked=match.group("mark") in "xX",
                        mark=match.group("mark"),
                        indent=match.group("indent"),
                        bullet=match.group("bullet"),
                        text=rest,
                        key=item_key(rest),
                        evidence=extract_evidence(rest, runs_prefix=runs_prefix),
                    )
                )
                open_item = (len(items) - 1, _width(match.group("indent")))
                continue
            heading = _HEADING.match(content)
            if heading is not None:
                title = (heading.group("title") or "").strip()
                headings.append(Heading(number, len(heading.group("hashes")), title))
                open_item = None
                continue
            stripped = content.strip()
            if open_item is None or not adjacent or not stripped:
                open_item = None
                continue
            position, indent = open_item
            if _width(content[: len(content) - len(content.lstrip())]) <= indent:
                open_item = None
                continue
            # A wrapped item (formatters wrap long evidence paths): its evidence counts.
            more = extract_evidence(stripped, runs_prefix=runs_prefix)
            if more:
                item = items[position]
                merged = tuple(dict.fromkeys((*item.evidence, *more)))
                items[position] = replace(item, evidence=merged)
        return cls(text, tuple(items), tuple(headings), len(lines))

    @classmethod
    def from_bytes(cls, data: bytes, *, runs_prefix: str = RUNS_PREFIX) -> ChecklistDoc:
        """Parse file content; bytes that are not UTF-8 become U+FFFD."""
        return cls.parse(decode(data), runs_prefix=runs_prefix)

    def item_at(self, line: int) -> ChecklistItem | None:
        """The item on 1-based ``line``, if any."""
        return next((item for item in self.items if item.line == line), None)

    def scoped(self, mentions: Sequence[re.Pattern[str]]) -> tuple[ChecklistItem, ...]:
        """The items under headings whose title matches any of ``mentions`` (each such
        heading's section runs to the next heading of the same or a higher level). When no
        heading matches: none if other headings name tasks (a number of three or more
        digits), else every item. Lets a mirror such as ``docs/TASKS.md`` hold the
        checklists of several tasks."""
        ranges: list[tuple[int, int]] = []
        for position, heading in enumerate(self.headings):
            if not any(pattern.search(heading.title) for pattern in mentions):
                continue
            end = self.line_count + 1
            for later in self.headings[position + 1 :]:
                if later.level <= heading.level:
                    end = later.line
                    break
            ranges.append((heading.line, end))
        if not ranges:
            # No section of this task: the whole document, unless it has sections of other
            # tasks (their items are not this task's, even when their text is the same).
            if any(_TASK_HEADING.search(heading.title) for heading in self.headings):
                return ()
            return self.items
        return tuple(
            item for item in self.items if any(start < item.line < end for start, end in ranges)
        )


def _width(indent: str) -> int:
    """The width of leading white space (a tab counts as four columns)."""
    return len(indent.expandtabs(4))


def decode(data: bytes) -> str:
    """UTF-8 text of ``data`` (a leading BOM dropped, undecodable bytes replaced)."""
    return data.decode("utf-8-sig", errors="replace")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their ``\\n`` / ``\\r\\n`` endings (only ``\\n`` ends
    a line, so line numbers agree with editors and ``grep -n``)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _outside_fences(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """``(line number, content)`` of every line outside fenced code blocks and multi-line
    HTML comments (examples there are not items)."""
    fence: str | None = None
    in_comment = False
    for number, content in enumerate(lines, start=1):
        opened = _FENCE.match(content)
        if fence is not None:
            closes = (
                opened is not None
                and not opened.group("info").strip()
                and opened.group("fence")[0] == fence[0]
                and len(opened.group("fence")) >= len(fence)
            )
            if closes:
                fence = None
            continue
        if in_comment:
            in_comment = "-->" not in content
            continue
        if opened is not None:
            fence = opened.group("fence")
            continue
        start = content.rfind("<!--")
        if start != -1 and "-->" not in content[start:]:
            in_comment = True
            continue
        yield number, content


def _head(text: str) -> str:
    """The text before the first separator or evidence marker, without manifest paths,
    whitespace collapsed and trailing punctuation dropped."""
    head = _MANIFEST_PATHS.sub(" ", _KEY_MARKERS.split(text, maxsplit=1)[0])
    return _SPACES.sub(" ", head).strip().rstrip(" .,;:").rstrip()


def item_key(text: str) -> str:
    """The normalised key of an item's text (see the module docstring)."""
    key = _head(_MARKUP.sub("", text)).lower()
    if key:
        return key
    # Nothing before the marker: fall back to the whole text.
    return _SPACES.sub(" ", _MARKUP.sub("", text)).strip().lower().rstrip(" .,;:")


@lru_cache(maxsize=16)
def evidence_pattern(runs_prefix: str = RUNS_PREFIX) -> re.Pattern[str]:
    """The pattern of a cited manifest path under ``runs_prefix`` (groups ``path``,
    ``task`` and ``run``)."""
    return re.compile(
        r"(?<![\w./\\-])(?:\./)?(?P<path>"
        + re.escape(runs_prefix.strip("/"))
        + r"/(?P<task>[A-Za-z0-9_-][A-Za-z0-9._-]{0,127})/cli/"
        r"(?P<run>[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127})/manifest\.json)(?![\w/-])"
    )


def extract_evidence(text: str, *, runs_prefix: str = RUNS_PREFIX) -> tuple[str, ...]:
    """Every cited manifest path in ``text``, in order, without repeats."""
    found: dict[str, None] = {}
    for match in evidence_pattern(runs_prefix).finditer(text):
        found.setdefault(match.group("path"), None)
    return tuple(found)


def evidence_suffix(path: str) -> str:
    """What :func:`tick` appends to an item: ``; Evidence: `<path>```."""
    return f"; Evidence: `{path}`"


def tick(text: str, line: int, evidence: str | None = None) -> str:
    """``text`` with the item on 1-based ``line`` ticked (``[ ]`` becomes ``[x]``) and, when
    given, ``evidence`` appended to it as ``; Evidence: `<path>```. Every other byte is
    kept. A :class:`ValueError` when that line is not an open item."""
    pieces = text.split("\n")
    if not 1 <= line <= len(pieces) or (line == len(pieces) and pieces[-1] == ""):
        raise ValueError(f"line {line} is past the end of the document")
    content = pieces[line - 1]
    ending = "\r" if content.endswith("\r") else ""
    body = content[: len(content) - len(ending)]
    match = _ITEM.match(body)
    if match is None or match.group("mark") != " ":
        raise ValueError(f"line {line} is not an open checklist item")
    start = match.start("mark")
    body = f"{body[:start]}x{body[start + 1 :]}"
    if evidence is not None:
        empty = not match.group("rest").strip()
        body = body.rstrip(" \t") + (
            f" Evidence: `{evidence}`" if empty else evidence_suffix(evidence)
        )
    pieces[line - 1] = body + ending
    return "\n".join(pieces)
