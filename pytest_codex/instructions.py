"""Hierarchical agent instructions, merged, bounded and hashed for every manifest.

Two modes (see ``docs/instructions.md``):

- ``hierarchy`` (default): ``AGENTS.md`` at the repository root, then ``docs/AGENTS.md``, then
  ``.agent/AGENTS.md``. Earlier files give defaults and later files append, except that a
  section whose ATX heading ends with ``(override)`` replaces the earlier sections of the same
  name (case-insensitive, marker removed).
- ``codex``: as Codex CLI reads them, the global ``$CODEX_HOME/AGENTS.override.md`` (else
  ``$CODEX_HOME/AGENTS.md``), then at most one file per directory from the repository root
  down to the working directory, concatenated.

Every candidate file is reported as a :class:`InstructionSource`: missing, empty, unreadable,
outside the repository, truncated by the byte budget or skipped once it is spent. Nothing is
dropped silently.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from .errors import ConfigError

InstructionsMode = Literal["hierarchy", "codex"]
"""How instruction files are found: ``hierarchy`` (fixed levels) or ``codex`` (Codex CLI)."""

MODES: tuple[InstructionsMode, ...] = ("hierarchy", "codex")
"""The accepted values of ``instructions.mode``."""

DEFAULT_FILES: tuple[str, ...] = ("AGENTS.md", "docs/AGENTS.md", ".agent/AGENTS.md")
"""The hierarchy levels, root first, relative to the repository root."""

DEFAULT_BUDGET_BYTES = 32 * 1024
"""Total bytes of instruction files included, across all sources (Codex CLI's default)."""

OVERRIDE_MARKER = "(override)"
"""Ends a heading whose section replaces the earlier section of the same name."""

CODEX_OVERRIDE_NAME = "AGENTS.override.md"
"""Codex CLI's per-directory (and global) override file name, tried first."""

CODEX_DEFAULT_NAME = "AGENTS.md"
"""Codex CLI's standard instruction file name, tried after the override."""

_KEYS = ("mode", "files", "fallbacks", "budget_bytes")
_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_ASCII_SPACE = b" \t\r\n\x0b\x0c"


@dataclass(frozen=True)
class InstructionsConfig:
    """Where instructions are looked for and how many bytes of them are kept.

    ``files`` are the hierarchy levels (``hierarchy`` mode only); ``fallbacks`` are the names
    tried in each directory after ``AGENTS.override.md`` and ``AGENTS.md`` (``codex`` mode
    only); ``budget_bytes`` bounds the bytes included from all sources together. Invalid
    values raise :class:`~pytest_codex.errors.ConfigError`.
    """

    mode: InstructionsMode = "hierarchy"
    files: tuple[str, ...] = DEFAULT_FILES
    fallbacks: tuple[str, ...] = ()
    budget_bytes: int = DEFAULT_BUDGET_BYTES

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"instructions.mode: expected one of {', '.join(MODES)}, got {self.mode!r}"
            )
        # Lists are accepted for convenience; tuples keep the frozen config hashable.
        object.__setattr__(self, "files", _relative_names("files", self.files, empty_ok=False))
        object.__setattr__(
            self, "fallbacks", _relative_names("fallbacks", self.fallbacks, empty_ok=True)
        )
        budget = self.budget_bytes
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ConfigError(
                f"instructions.budget_bytes: expected a whole number of bytes >= 0, got {budget!r}"
            )


@dataclass(frozen=True)
class InstructionSource:
    """One candidate instruction file and what became of it.

    ``path`` is relative to the repository root (POSIX separators) where possible, absolute
    otherwise (the Codex global file). ``level`` is 0 for the Codex global file and counts
    from 1 at the repository root. ``sha256`` (hex, of the raw bytes) and ``bytes`` are
    ``None``/0 when the file could not be read; ``included_bytes`` is how many of its raw
    bytes count in the merged text.
    """

    path: str
    level: int
    sha256: str | None
    bytes: int
    included_bytes: int
    truncated: bool = False
    skipped: bool = False
    reason: str | None = None

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``instructions.sources[]`` entry (camelCase keys)."""
        return {
            "path": self.path,
            "level": self.level,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "includedBytes": self.included_bytes,
            "truncated": self.truncated,
            "skipped": self.skipped,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class InstructionSet:
    """The merged instructions, where they came from, and one hash of the merged text.

    ``combined_hash`` is ``"sha256:<hex>"`` of ``text`` encoded as UTF-8, so two loads of the
    same instructions agree and any change to the merged text changes it.
    """

    mode: InstructionsMode
    text: str
    sources: tuple[InstructionSource, ...]
    budget_bytes: int
    combined_hash: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        object.__setattr__(self, "combined_hash", f"sha256:{digest}")

    @property
    def total_bytes(self) -> int:
        """Bytes of source files counted against the budget (never above ``budget_bytes``)."""
        return sum(source.included_bytes for source in self.sources)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``instructions`` section."""
        return {
            "mode": self.mode,
            "combinedHash": self.combined_hash,
            "budgetBytes": self.budget_bytes,
            "totalBytes": self.total_bytes,
            "sources": [source.to_manifest() for source in self.sources],
        }


def instructions_config_from_mapping(mapping: Mapping[str, Any]) -> InstructionsConfig:
    """Validate a configuration's ``instructions`` section and build the config.

    Keys: ``mode``, ``files``, ``fallbacks``, ``budget_bytes``; all optional. Raises
    :class:`~pytest_codex.errors.ConfigError` naming the key and what was expected.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"instructions: expected a mapping of {', '.join(_KEYS)}, got {type(mapping).__name__}"
        )
    for key in mapping:
        if key not in _KEYS:
            raise ConfigError(
                f"instructions: unknown key {key!r}; expected one of {', '.join(_KEYS)}"
            )
    mode = mapping.get("mode", "hierarchy")
    if mode not in MODES:
        raise ConfigError(f"instructions.mode: expected one of {', '.join(MODES)}, got {mode!r}")
    names: dict[str, tuple[str, ...]] = {"files": DEFAULT_FILES, "fallbacks": ()}
    for key in names:
        value = mapping.get(key)
        if value is None:
            continue
        # A bare string is iterable, so it would silently become a list of one-letter names.
        if not isinstance(value, list | tuple):
            raise ConfigError(f"instructions.{key}: expected a list of file names, got {value!r}")
        names[key] = tuple(value)
    return InstructionsConfig(
        mode=cast(InstructionsMode, mode),
        files=names["files"],
        fallbacks=names["fallbacks"],
        budget_bytes=mapping.get("budget_bytes", DEFAULT_BUDGET_BYTES),
    )


def _relative_names(key: str, names: Sequence[str], *, empty_ok: bool) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(f"instructions.{key}: expected a list of file names, got {names!r}")
    if not names and not empty_ok:
        raise ConfigError(f"instructions.{key}: expected at least one file name, got []")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"instructions.{key}: expected non-empty file names, got {name!r} in {names!r}"
            )
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise ConfigError(
                f"instructions.{key}: expected a path inside the repository (relative, "
                f"no '..'), got {name!r}"
            )
        if name in seen:
            raise ConfigError(f"instructions.{key}: {name!r} is listed twice")
        seen.add(name)
    return tuple(names)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """A readable file: its raw hash and size, and at most ``limit`` leading bytes."""

    sha256: str
    size: int
    head: bytes
    blank: bool


def _read(path: Path, limit: int) -> _Read:
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    blank = True
    # Streamed so an oversized file costs a hash, not its size in memory.
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if blank:
                body = chunk[len(_BOM) :] if size == 0 and chunk.startswith(_BOM) else chunk
                blank = not body.strip(_ASCII_SPACE)
            if len(head) < limit:
                head += chunk[: limit - len(head)]
            size += len(chunk)
    return _Read(digest.hexdigest(), size, bytes(head), blank)


def _locate(path: Path, root: Path | None) -> Path | str:
    """The resolved file to read, or why it cannot be read (``root``: confine to it)."""
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        return "broken symlink" if path.is_symlink() else "missing"
    except RuntimeError:
        # Python 3.11 reports a symlink loop from resolve() as RuntimeError, later ones as ELOOP.
        return "symlink loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return f"unreadable: {_describe(exc)}"
    if root is not None and not resolved.is_relative_to(root):
        return "outside the repository"
    if not stat.S_ISREG(mode):
        # A FIFO would block the read; a directory cannot be read at all.
        return "not a regular file"
    return resolved


def _describe(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _utf8_cut(data: bytes, limit: int) -> int:
    """The largest cut <= ``limit`` that does not split a UTF-8 sequence in ``data``."""
    if limit >= len(data):
        return len(data)
    # Continuation bytes are 10xxxxxx and a sequence has at most three, so look back at most
    # three bytes for the start of the sequence the cut falls in; beyond that the bytes are
    # not UTF-8 anyway and the plain cut is as good as any.
    for cut in range(limit, max(limit - 3, 0) - 1, -1):
        if data[cut] & 0xC0 != 0x80:
            return cut
    return limit


def _decode(data: bytes) -> str:
    # The BOM is an encoding artefact; left in, it would land mid-text after a merge.
    return data.removeprefix(_BOM).decode("utf-8", "replace")


# --- finding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    """One level: the paths to try in order, how to show them, and the confinement root."""

    level: int
    paths: tuple[tuple[Path, str], ...]
    missing_as: str  # how the level is shown when none of its paths exists
    root: Path | None
    # True: take the first file that yields text (Codex's global file); False: the first that
    # exists, even if it turns out empty (Codex's per-directory rule).
    until_text: bool


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _hierarchy_levels(root: Path, config: InstructionsConfig) -> Iterator[_Level]:
    for level, name in enumerate(config.files, start=1):
        path = root / name
        shown = _display(path, root)
        yield _Level(level, ((path, shown),), shown, root, until_text=False)


def _codex_levels(
    root: Path, cwd: Path, config: InstructionsConfig, env: Mapping[str, str]
) -> Iterator[_Level]:
    home = _codex_home(env)
    if home is None:
        # No home directory at all: nothing to read, but the level is still reported.
        yield _Level(0, (), "~/.codex/AGENTS.md", None, until_text=True)
    else:
        globals_ = tuple(
            (home / name, str(home / name)) for name in (CODEX_OVERRIDE_NAME, CODEX_DEFAULT_NAME)
        )
        yield _Level(0, globals_, str(home / CODEX_DEFAULT_NAME), None, until_text=True)
    names = tuple(dict.fromkeys((CODEX_OVERRIDE_NAME, CODEX_DEFAULT_NAME, *config.fallbacks)))
    for depth, directory in enumerate(_directory_chain(root, cwd), start=1):
        paths = tuple((directory / n, _display(directory / n, root)) for n in names)
        missing_as = _display(directory / CODEX_DEFAULT_NAME, root)
        yield _Level(depth, paths, missing_as, root, until_text=False)


def _codex_home(env: Mapping[str, str]) -> Path | None:
    configured = env.get("CODEX_HOME")
    if configured:
        return Path(configured).absolute()
    home = env.get("HOME") or os.path.expanduser("~")
    # expanduser returns "~" unchanged when there is no home at all; a relative ~/.codex
    # would silently read from the working directory instead.
    return Path(home) / ".codex" if Path(home).is_absolute() else None


def _directory_chain(root: Path, cwd: Path) -> list[Path]:
    """``root`` and each directory below it down to ``cwd`` (just ``root`` if outside)."""
    try:
        target = cwd.resolve()
    except (OSError, RuntimeError):
        return [root]
    if not target.is_dir():
        target = target.parent
    if not target.is_relative_to(root):
        return [root]
    chain = [root]
    for part in target.relative_to(root).parts:
        chain.append(chain[-1] / part)
    return chain


# --- loading ------------------------------------------------------------------------------


def load_instructions(
    root: Path,
    cwd: Path | None = None,
    config: InstructionsConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> InstructionSet:
    """Find, read, bound, merge and hash the instructions of the repository at ``root``.

    ``cwd`` is the working directory for the ``codex`` mode's per-directory chain (default:
    ``root``; a directory outside ``root`` contributes nothing below the root). ``env``
    supplies ``CODEX_HOME`` and ``HOME`` (default: ``os.environ``). Unreadable, missing,
    empty and out-of-repository files are reported in ``sources``, never raised.
    """
    config = config or InstructionsConfig()
    env = os.environ if env is None else env
    try:
        root = root.resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(
            f"instructions: cannot resolve the repository root {root}: {exc}; "
            "point the root at an existing directory"
        ) from exc
    if config.mode == "hierarchy":
        levels: Iterator[_Level] = _hierarchy_levels(root, config)
    else:
        levels = _codex_levels(root, cwd or root, config, env)
    sources: list[InstructionSource] = []
    texts: list[str] = []
    remaining = config.budget_bytes
    for level in levels:
        for source, text in _load_level(level, remaining, config.budget_bytes):
            sources.append(source)
            if text is not None:
                texts.append(text)
                # The file that crosses the budget ends it: the few bytes a UTF-8-safe cut
                # leaves unused would only admit a meaningless fragment of the next file.
                remaining = 0 if source.truncated else remaining - source.included_bytes
    if config.mode == "hierarchy":
        merged = merge_hierarchy(texts)
    else:
        # Codex CLI joins its files with a blank line.
        merged = "\n".join(_with_newline(text) for text in texts)
    return InstructionSet(config.mode, merged, tuple(sources), config.budget_bytes)


def _load_level(
    level: _Level, remaining: int, budget: int
) -> list[tuple[InstructionSource, str | None]]:
    """The level's reported sources; at most one carries text."""
    reported: list[tuple[InstructionSource, str | None]] = []
    for path, shown in level.paths:
        located = _locate(path, level.root)
        if located == "missing":
            continue
        if isinstance(located, str):
            reported.append((_skipped(shown, level.level, located), None))
            if level.until_text:
                continue
            return reported
        try:
            read = _read(located, remaining + 1)
        except OSError as exc:
            reason = f"unreadable: {_describe(exc)}"
            reported.append((_skipped(shown, level.level, reason), None))
        else:
            reported.append(_bounded(shown, level.level, read, remaining, budget))
        if not level.until_text or reported[-1][1] is not None:
            return reported
    if not reported:
        reported.append((_skipped(level.missing_as, level.level, "missing"), None))
    return reported


def _skipped(shown: str, level: int, reason: str) -> InstructionSource:
    return InstructionSource(shown, level, None, 0, 0, skipped=True, reason=reason)


def _bounded(
    shown: str, level: int, read: _Read, remaining: int, budget: int
) -> tuple[InstructionSource, str | None]:
    """Apply the budget to one readable file."""

    def source(included: int, **flags: Any) -> InstructionSource:
        return InstructionSource(shown, level, read.sha256, read.size, included, **flags)

    if read.blank:
        return source(0, skipped=True, reason="empty"), None
    if remaining <= 0:
        return source(0, skipped=True, reason="budget exhausted"), None
    if read.size <= remaining:
        return source(read.size), _decode(read.head)
    cut = _utf8_cut(read.head, remaining)
    reason = f"truncated to {cut} of {read.size} bytes (budget {budget} bytes)"
    return source(cut, truncated=True, reason=reason), _decode(read.head[:cut])


# --- merging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """A heading line and its own body up to the next heading of any level."""

    level: int  # 0: text before a file's first heading
    key: str  # the case-folded name, without the marker
    text: str
    origin: int  # which file it came from
    override: bool


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line, else None (CommonMark's rules, simplified)."""
    content = line.rstrip("\r\n")
    body = content.lstrip(" ")
    if len(content) - len(body) > 3:
        return None
    hashes = len(body) - len(body.lstrip("#"))
    rest = body[hashes:]
    if not 1 <= hashes <= 6 or (rest and rest[0] not in " \t"):
        return None
    title = rest.strip(" \t")
    # An optional closing run of '#'s counts only when separated from the title by a space.
    unclosed = title.rstrip("#")
    if unclosed != title and (not unclosed or unclosed[-1] in " \t"):
        title = unclosed.rstrip(" \t")
    return hashes, title


def _fence(line: str) -> tuple[str, int] | None:
    """(fence character, run length) if ``line`` opens or closes a fenced code block."""
    body = line.rstrip("\r\n")
    stripped = body.lstrip(" ")
    if len(body) - len(stripped) > 3 or stripped[:3] not in ("```", "~~~"):
        return None
    char = stripped[0]
    run = len(stripped) - len(stripped.lstrip(char))
    if char == "`" and "`" in stripped[run:]:
        return None
    return char, run


def _split_marker(title: str) -> tuple[str, bool]:
    if title.lower().endswith(OVERRIDE_MARKER):
        return title[: -len(OVERRIDE_MARKER)].rstrip(" \t"), True
    return title, False


def _blocks(text: str, origin: int) -> list[_Block]:
    blocks: list[_Block] = []
    level, key, override = 0, "", False
    lines: list[str] = []
    fence: tuple[str, int] | None = None
    for line in text.splitlines(keepends=True):
        found = _fence(line)
        if fence is not None:
            # Inside a code block a '#' line is code (a shell comment, say), not a heading.
            rest = line.rstrip("\r\n").strip(" ").rstrip(fence[0])
            if found and found[0] == fence[0] and found[1] >= fence[1] and not rest:
                fence = None
            lines.append(line)
            continue
        heading = None if found else _heading(line)
        fence = found
        if heading is None:
            lines.append(line)
            continue
        if lines:
            blocks.append(_Block(level, key, "".join(lines), origin, override))
        level, title = heading
        name, override = _split_marker(title)
        key = " ".join(name.split()).casefold()
        if override:
            # The marker is a merge instruction, not content: the merged text drops it.
            ending = line[len(line.rstrip("\r\n")) :]
            line = "#" * level + (f" {name}" if name else "") + ending
        lines = [line]
    if lines:
        blocks.append(_Block(level, key, "".join(lines), origin, override))
    return blocks


def _span_end(blocks: Sequence[_Block], start: int) -> int:
    """End of the section starting at ``start``: its sub-sections are included."""
    level = blocks[start].level
    end = start + 1
    while end < len(blocks) and blocks[end].level > level:
        end += 1
    return end


def _apply_override(merged: list[_Block], replacement: list[_Block]) -> None:
    head = replacement[0]
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(merged):
        block = merged[index]
        if block.level and block.key == head.key and block.origin < head.origin:
            end = _span_end(merged, index)
            spans.append((index, end))
            index = end
        else:
            index += 1
    if not spans:
        merged.extend(replacement)
        return
    rebuilt: list[_Block] = []
    kept_from = 0
    for number, (start, end) in enumerate(spans):
        rebuilt.extend(merged[kept_from:start])
        if number == 0:
            rebuilt.extend(replacement)
        kept_from = end
    rebuilt.extend(merged[kept_from:])
    merged[:] = rebuilt


def merge_hierarchy(texts: Sequence[str]) -> str:
    """Merge instruction files, earliest first, by the ``hierarchy`` rules.

    Each file's text is appended, except that a section whose heading ends with
    ``(override)`` replaces every earlier file's section of the same name (any heading level,
    case-insensitive, marker removed): the first in place, the others removed. A section
    spans its heading up to the next heading of the same or a higher level. An override with
    nothing to replace is appended. Headings inside fenced code blocks do not count.
    """
    merged: list[_Block] = []
    for origin, text in enumerate(texts):
        blocks = _blocks(text, origin)
        index = 0
        while index < len(blocks):
            if blocks[index].override:
                end = _span_end(blocks, index)
                _apply_override(merged, blocks[index:end])
                index = end
            else:
                merged.append(blocks[index])
                index += 1
    return "".join(_with_newline(block.text) for block in merged)


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


# --- reporting ----------------------------------------------------------------------------


def format_report(instruction_set: InstructionSet) -> str:
    """A human report: mode and budget, each source in order with its fate, the hash."""
    loaded = instruction_set
    lines = [
        f"instructions: mode {loaded.mode}, {loaded.total_bytes} of {loaded.budget_bytes} "
        f"budget bytes used, {len(loaded.text.encode('utf-8'))} bytes merged"
    ]
    width = max((len(source.path) for source in loaded.sources), default=0)
    for source in loaded.sources:
        if source.skipped:
            fate = f"skipped: {source.reason}"
        elif source.truncated:
            fate = f"TRUNCATED: {source.reason}"
        else:
            fate = f"included, {source.bytes} bytes"
        digest = f"  sha256:{source.sha256[:16]}" if source.sha256 else ""
        lines.append(f"  [{source.level}] {source.path.ljust(width)}  {fate}{digest}")
    if not loaded.sources:
        lines.append("  (no sources)")
    lines.append(f"combined {loaded.combined_hash}")
    return "\n".join(lines)
