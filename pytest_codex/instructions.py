"""Hierarchical agent instructions, merged and hashed into every manifest.

Two modes:

- ``hierarchy`` (default): ``AGENTS.md`` at the root, then ``docs/AGENTS.md``, then
  ``.agent/AGENTS.md``. Earlier files give defaults; later files append, except that a section
  whose heading ends with the marker ``(override)`` (e.g. ``## Commands (override)``) replaces
  the earlier section of the same name (compared case-insensitively, marker removed). A
  section runs from its heading to the next heading of the same or a higher level.
- ``codex`` (as Codex CLI does it): the global ``$CODEX_HOME/AGENTS.override.md`` (else
  ``$CODEX_HOME/AGENTS.md``; ``CODEX_HOME`` defaults to ``~/.codex``), then one file per
  directory from the repository root down to the working directory (``AGENTS.override.md``,
  else ``AGENTS.md``, else the configured fallback names), concatenated in that order.

Missing and empty files are skipped and reported; a total byte budget (default 32 KiB)
truncates the file that crosses it (at a UTF-8 boundary) and skips the rest, all reported.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_FILES: tuple[str, ...] = ("AGENTS.md", "docs/AGENTS.md", ".agent/AGENTS.md")
DEFAULT_BUDGET = 32 * 1024
OVERRIDE_MARKER = "(override)"
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")


@dataclass(frozen=True)
class InstructionsConfig:
    """How instructions are found and bounded."""

    mode: str = "hierarchy"
    files: tuple[str, ...] = DEFAULT_FILES
    fallbacks: tuple[str, ...] = ()
    budget_bytes: int = DEFAULT_BUDGET


@dataclass(frozen=True)
class Source:
    """One candidate instruction file and what became of it."""

    path: str
    level: int
    sha256: str | None
    bytes: int
    included_bytes: int
    truncated: bool = False
    skipped: bool = False
    reason: str | None = None

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``instructions.sources[]`` entry."""
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
    """The merged instructions and their provenance."""

    mode: str
    text: str
    sources: tuple[Source, ...]
    budget_bytes: int
    combined_hash: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        object.__setattr__(self, "combined_hash", f"sha256:{digest}")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``instructions`` section."""
        return {
            "mode": self.mode,
            "combinedHash": self.combined_hash,
            "budgetBytes": self.budget_bytes,
            "totalBytes": len(self.text.encode("utf-8")),
            "sources": [source.to_manifest() for source in self.sources],
        }


def instructions_config_from_mapping(mapping: Mapping[str, Any]) -> InstructionsConfig:
    """Validate the config file's ``instructions`` section."""
    known = {"mode", "files", "fallbacks", "budget_bytes"}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ConfigError(f"instructions: unknown key {unknown[0]!r}; known keys: {sorted(known)}")
    mode = mapping.get("mode", "hierarchy")
    if mode not in ("hierarchy", "codex"):
        raise ConfigError(f"instructions.mode: expected hierarchy or codex, got {mode!r}")
    files = _names(mapping, "files", DEFAULT_FILES if mode == "hierarchy" else ("AGENTS.md",))
    fallbacks = _names(mapping, "fallbacks", ())
    budget = mapping.get("budget_bytes", DEFAULT_BUDGET)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise ConfigError(
            f"instructions.budget_bytes: expected a whole number >= 0, got {budget!r}"
        )
    return InstructionsConfig(mode, files, fallbacks, budget)


def _names(mapping: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = mapping.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"instructions.{key}: expected a list of file names, got {value!r}")
    return tuple(value)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _read(path: Path, root: Path, level: int, *, confine: bool) -> tuple[Source, str | None]:
    shown = _display(path, root)
    if confine and not _inside(path, root):
        return Source(shown, level, None, 0, 0, skipped=True, reason="outside the repository"), None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Source(shown, level, None, 0, 0, skipped=True, reason="missing"), None
    except (OSError, RuntimeError) as exc:
        reason = f"unreadable: {type(exc).__name__}"
        return Source(shown, level, None, 0, 0, skipped=True, reason=reason), None
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        return Source(shown, level, digest, len(raw), 0, skipped=True, reason="empty"), None
    return Source(shown, level, digest, len(raw), len(raw)), raw.decode("utf-8", "replace")


def _sections(text: str) -> list[tuple[int, str, str]]:
    """(level, heading name, section text); text before the first heading has level 0."""
    sections: list[tuple[int, str, list[str]]] = [(0, "", [])]
    for line in text.splitlines(keepends=True):
        match = _HEADING.match(line.rstrip("\n"))
        if match:
            sections.append((len(match.group(1)), match.group(2), [line]))
        else:
            sections[-1][2].append(line)
    return [(level, name, "".join(lines)) for level, name, lines in sections if lines]


def _key(name: str) -> str:
    return name.lower().removesuffix(OVERRIDE_MARKER).strip()


def merge_hierarchy(texts: Sequence[str]) -> str:
    """Append later files; an ``(override)`` section replaces the earlier one of its name."""
    merged: list[tuple[int, str, str]] = []
    for text in texts:
        blocks = _sections(text)
        index = 0
        while index < len(blocks):
            level, name, body = blocks[index]
            # A section owns the sub-sections below it, up to the next of its level or higher.
            end = index + 1
            while end < len(blocks) and level and blocks[end][0] > level:
                end += 1
            group = blocks[index:end]
            if level and name.lower().rstrip().endswith(OVERRIDE_MARKER):
                target = _find_section(merged, level, _key(name))
                replacement = [
                    (level, name.rstrip()[: -len(OVERRIDE_MARKER)].rstrip(), _strip_marker(body)),
                    *group[1:],
                ]
                if target is not None:
                    start, stop = target
                    merged[start:stop] = replacement
                else:
                    merged.extend(replacement)
            else:
                merged.extend(group)
            index = end
    return "".join(_ensure_newline(body) for _, _, body in merged)


def _strip_marker(body: str) -> str:
    first, _, rest = body.partition("\n")
    stripped = re.sub(r"[ \t]*\(override\)[ \t]*(#*)[ \t]*$", r" \1", first, flags=re.I).rstrip()
    return stripped + ("\n" + rest if _ or rest else "")


def _find_section(
    merged: list[tuple[int, str, str]], level: int, key: str
) -> tuple[int, int] | None:
    for start, (section_level, name, _) in enumerate(merged):
        if section_level == level and _key(name) == key:
            stop = start + 1
            while stop < len(merged) and merged[stop][0] > level:
                stop += 1
            return start, stop
    return None


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _candidates(
    root: Path, cwd: Path, config: InstructionsConfig, env: Mapping[str, str]
) -> list[tuple[list[Path], int, bool]]:
    """Per level: the names to try in order (first existing wins), the level, confinement."""
    if config.mode == "hierarchy":
        return [([root / name], level, True) for level, name in enumerate(config.files)]
    home = Path(env.get("CODEX_HOME") or Path.home() / ".codex")
    levels: list[tuple[list[Path], int, bool]] = [
        ([home / "AGENTS.override.md", home / "AGENTS.md"], 0, False)
    ]
    cwd = cwd.resolve()
    chain = [root.resolve()]
    if _inside(cwd, root):
        for part in cwd.relative_to(root.resolve()).parts:
            chain.append(chain[-1] / part)
    names = ["AGENTS.override.md", *config.files, *config.fallbacks]
    for depth, directory in enumerate(chain, start=1):
        levels.append(([directory / name for name in names], depth, True))
    return levels


def load_instructions(
    root: Path,
    cwd: Path | None = None,
    config: InstructionsConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> InstructionSet:
    """Find, read, merge and hash the instructions for ``root`` (and ``cwd`` in codex mode)."""
    config = config or InstructionsConfig()
    env = os.environ if env is None else env
    root = root.resolve()
    sources: list[Source] = []
    texts: list[str] = []
    remaining = config.budget_bytes
    for paths, level, confine in _candidates(root, cwd or root, config, env):
        found: tuple[Source, str | None] | None = None
        for path in paths:
            source, text = _read(path, root, level, confine=confine)
            if text is not None or (source.reason not in ("missing",)):
                found = (source, text)
                break
            found = found or (source, text)
        assert found is not None
        source, text = found
        if text is None:
            if config.mode == "hierarchy" or source.reason != "missing":
                sources.append(source)
            continue
        encoded = text.encode("utf-8")
        if remaining <= 0:
            sources.append(_replace(source, included=0, skipped=True, reason="budget exhausted"))
            continue
        if len(encoded) > remaining:
            cut = encoded[:remaining].decode("utf-8", "ignore")
            kept = len(cut.encode("utf-8"))
            reason = f"truncated to {kept} of {len(encoded)} bytes (budget {config.budget_bytes})"
            sources.append(_replace(source, included=kept, truncated=True, reason=reason))
            texts.append(cut)
            remaining = 0
            continue
        remaining -= len(encoded)
        sources.append(source)
        texts.append(text)
    if config.mode == "hierarchy":
        merged = merge_hierarchy(texts)
    else:
        merged = "\n".join(_ensure_newline(t) for t in texts)
    return InstructionSet(config.mode, merged, tuple(sources), config.budget_bytes)


def _replace(
    source: Source,
    *,
    included: int,
    skipped: bool = False,
    truncated: bool = False,
    reason: str | None = None,
) -> Source:
    return Source(
        source.path, source.level, source.sha256, source.bytes, included, truncated, skipped, reason
    )


def format_report(instructions: InstructionSet) -> str:
    """A human report of the sources, in order, and the combined hash."""
    lines = [f"mode {instructions.mode}; budget {instructions.budget_bytes} bytes"]
    for source in instructions.sources:
        if source.skipped:
            state = f"skipped ({source.reason})"
        elif source.truncated:
            state = f"included, {source.reason}"
        else:
            state = f"included, {source.bytes} bytes"
        digest = f" sha256:{source.sha256[:12]}" if source.sha256 else ""
        lines.append(f"  {source.level}. {source.path}: {state}{digest}")
    lines.append(f"combined {instructions.combined_hash}")
    return "\n".join(lines)
