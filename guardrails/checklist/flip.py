"""Ticking a checklist item with the manifest of a succeeded run as its evidence.

:func:`plan_flip` decides everything first: which item (a 1-based number, its key, or a
unique part of its text), whether the manifest is evidence (it exists, validates against
the manifest schema, belongs to the task and succeeded: :mod:`guardrails.evidence`), and
the new text of the checklist and of every mirror that has the item, each re-parsed to
check that exactly that item flipped. :func:`apply_flip` then writes them atomically,
refusing before the first write when a file changed in between. Nothing is ever half
done: a refusal (:class:`FlipRefused`) or a usage error changes no file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex.attestation import EvidencePolicy
from pytest_codex.errors import CodexError, UnsafePathError, UsageError

from .doc import ChecklistDoc, ChecklistItem


class FlipRefused(CodexError):
    """``checklist flip`` will not tick the item (exit code 1); nothing was changed."""

    exit_code = 1


@dataclass
class FileChange:
    """One file ``flip`` rewrites: its old bytes (to detect concurrent edits) and new text."""

    rel: str
    path: Path
    old: bytes
    new_text: str
    line: int
    root: Path


@dataclass
class FlipPlan:
    """Everything ``flip`` will do, computed and checked before anything is written."""

    item: dict[str, Any]
    manifest: str
    changes: list[FileChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan_flip(
    root: Path,
    task: str,
    settings: Mapping[str, Any],
    selector: str,
    manifest: str,
    *,
    runs_dir: Path,
    cwd: Path,
    policy: EvidencePolicy | None = None,
) -> FlipPlan:
    """Decide what ticking ``selector`` with ``manifest`` changes; :class:`UsageError` for
    a missing checklist or an item that cannot be told, :class:`FlipRefused` when the
    manifest is not evidence under ``policy`` (default: the repository's configured
    evidence policy) or the item is already ticked."""
    from ..evidence import check_evidence
    from ..tasks import Layout, runs_prefix_for
    from . import match_mirror

    runs_prefix = runs_prefix_for(_relative(runs_dir, root) or str(runs_dir))
    layout = Layout.from_settings(task, settings, runs_prefix=runs_prefix)
    checklist_path = root / layout.checklist
    if not checklist_path.is_file():
        raise UsageError(
            f"no checklist for {task}: {layout.checklist} does not exist; create it or set "
            "guardrails.checklist.checklist"
        )
    _confined(root, checklist_path, layout.checklist)  # before reading it
    old = _read(checklist_path, layout.checklist)
    doc = ChecklistDoc.from_bytes(old, runs_prefix=runs_prefix)
    item = select_item(doc, selector, layout.checklist)
    label = f"item {item.number} '{item.label}'"
    if item.checked:
        cites = f" (evidence: {', '.join(item.evidence)})" if item.evidence else ""
        raise FlipRefused(
            f"{label} at {layout.checklist}:{item.line} is already ticked{cites}; nothing to do"
        )
    rel = _manifest_rel(manifest, root=root, cwd=cwd, runs_dir=runs_dir, task=task)
    verdict = check_evidence(root, rel, task, runs_prefix=runs_prefix, policy=policy)
    if not verdict.ok:
        raise FlipRefused(
            f"not ticking {label}: {verdict.describe()}; cite the manifest of a succeeded "
            f"run of {task}"
        )
    plan = FlipPlan(
        item={"number": item.number, "line": item.line, "label": item.label, "key": item.key},
        manifest=verdict.cited,
    )
    if verdict.warning is not None:
        plan.warnings.append(f"{verdict.cited} {verdict.warning} (stale evidence)")
    plan.changes.append(
        _ticked(root, layout.checklist, checklist_path, old, item.line, verdict.cited)
    )
    for mirror in layout.mirror_files(root):
        path = root / mirror
        _confined(root, path, mirror)
        data = _read(path, mirror)
        mirror_doc = ChecklistDoc.from_bytes(data, runs_prefix=runs_prefix)
        pair = next(
            (p for p in match_mirror(layout.task, doc, mirror_doc).pairs if p[0] is item), None
        )
        if pair is None:
            plan.warnings.append(
                f"{mirror} has no item '{item.label}'; it was not changed (add the item there)"
            )
        elif pair[1].checked:
            plan.warnings.append(
                f"{mirror}:{pair[1].line} already shows [x] for '{item.label}'; it was not changed"
            )
        else:
            plan.changes.append(_ticked(root, mirror, path, data, pair[1].line, verdict.cited))
    for change in plan.changes:  # the new texts must parse as intended before any write
        after = ChecklistDoc.parse(change.new_text.lstrip("\ufeff"), runs_prefix=runs_prefix)
        before = ChecklistDoc.from_bytes(change.old, runs_prefix=runs_prefix)
        now, was = after.item_at(change.line), before.item_at(change.line)
        flipped = [
            a.line
            for a, b in zip(after.items, before.items, strict=False)
            if a.checked != b.checked
        ]
        if (
            now is None
            or was is None
            or len(after.items) != len(before.items)
            or flipped != [change.line]
            or verdict.cited not in now.evidence
        ):
            raise FlipRefused(
                f"ticking {label} would not change {change.rel} as intended; edit it by hand"
            )
    return plan


def select_item(doc: ChecklistDoc, selector: str, where: str) -> ChecklistItem:
    """The checklist item ``selector`` names: a 1-based number, an item's key, or a
    case-insensitive part of the text of exactly one item; a :class:`UsageError` listing
    the candidates otherwise."""
    from .doc import item_key

    items = list(doc.items)
    if not items:
        raise UsageError(f"{where} has no checklist items ('- [ ] ...' lines) to tick")
    text = selector.strip()
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= len(items):
            raise UsageError(
                f"{where} has {len(items)} items; pick a number from 1 to {len(items)}"
            )
        return items[number - 1]
    key = item_key(text)
    found = [i for i in items if i.key == key] if key else []
    if not found:
        needle = text.lower()
        found = [i for i in items if needle and (needle in i.text.lower() or key in i.key)]
    if len(found) == 1:
        return found[0]
    if not found:
        listing = "; ".join(f"{i.number} {i.state} {i.label}" for i in items[:20])
        more = f"; ... ({len(items) - 20} more)" if len(items) > 20 else ""
        raise UsageError(
            f"no item of {where} matches {selector!r}; pass a number or a part of one of: "
            f"{listing}{more}"
        )
    listing = "; ".join(f"{i.number} {i.state} {i.label}" for i in found[:20])
    raise UsageError(
        f"{len(found)} items of {where} match {selector!r}: {listing}; pass its number or more "
        "of its text"
    )


def _relative(path: Path, root: Path) -> str | None:
    for candidate, base in ((Path(os.path.abspath(path)), root), (path.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def _manifest_rel(manifest: str, *, root: Path, cwd: Path, runs_dir: Path, task: str) -> str:
    """The repository-relative path of ``--manifest`` (a path or a run id of the task)."""
    from pytest_codex.ids import is_run_id

    if is_run_id(manifest):
        path = runs_dir / task / "cli" / manifest / "manifest.json"
    else:
        given = Path(manifest).expanduser()
        options = [given] if given.is_absolute() else [cwd / given, root / given]
        path = next((p for p in options if p.exists()), options[0])
    rel = _relative(path, root)
    if rel is None:
        raise FlipRefused(
            f"{manifest} is outside the repository {root}; cite a manifest under its "
            f".runs/{task}/cli/ directory"
        )
    return rel


def _ticked(root: Path, rel: str, path: Path, data: bytes, line: int, evidence: str) -> FileChange:
    """The change ticking the item on ``line`` of ``path`` (whose content is ``data``);
    ``root`` is the repository it must stay in."""
    from .doc import tick

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlipRefused(
            f"{rel} is not valid UTF-8 (byte {exc.start}); re-save it as UTF-8 and flip again"
        ) from exc
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    filled = _fill_placeholder(body, line, evidence)
    new_text = tick(body, line, evidence) if filled is None else tick(filled, line)
    return FileChange(rel, path, data, bom + new_text, line, root)


# What a checklist template writes where the evidence will go: ``Evidence: _(pending)._``
# (also ``*(pending)*``, ``(pending)``), on the item's line or a wrapped line under it.
_PLACEHOLDER = re.compile(r"Evidence:[ \t]*[_*]{0,2}\(pending\)[_*.]{0,3}", re.IGNORECASE)


def _fill_placeholder(text: str, line: int, evidence: str) -> str | None:
    """``text`` with the pending-evidence placeholder of the item on ``line`` replaced by
    ``Evidence: `<evidence>``` (where it stands: the item's line or one of its wrapped
    lines), or None when the item has no placeholder."""
    pieces = text.split("\n")
    if not 1 <= line <= len(pieces):
        return None
    item = pieces[line - 1]
    indent = len(item.expandtabs(4)) - len(item.expandtabs(4).lstrip())
    candidates = [line - 1]
    for index in range(line, len(pieces)):  # the wrapped lines that follow the item
        content = pieces[index].rstrip("\r")
        width = len(content.expandtabs(4)) - len(content.expandtabs(4).lstrip())
        if not content.strip() or width <= indent:
            break
        candidates.append(index)
    for index in candidates:
        found = _PLACEHOLDER.search(pieces[index])
        if found is not None:
            content = pieces[index]
            cited = f"Evidence: `{evidence}`"
            pieces[index] = content[: found.start()] + cited + content[found.end() :]
            return "\n".join(pieces)
    return None


def apply_flip(plan: FlipPlan) -> None:
    """Write the planned changes atomically (each file keeps its permissions); refuses
    (before the first write) when a file changed since it was read."""
    from pytest_codex.atomic import atomic_write_text

    for change in plan.changes:
        if _read(change.path, change.rel) != change.old:
            raise FlipRefused(
                f"{change.rel} changed while flipping; nothing changed, run the command again"
            )
    for change in plan.changes:
        # Re-resolved: a link swapped since planning is refused, never written through.
        atomic_write_text(_confined(change.root, change.path, change.rel), change.new_text)


def _confined(root: Path, path: Path, rel: str) -> Path:
    """``path`` resolved, when it stays inside the repository ``root`` (through ``..`` or
    symlinks alike); :class:`UnsafePathError` otherwise: flip never writes outside it."""
    resolved, inside = path.resolve(), root.resolve()
    if not resolved.is_relative_to(inside):
        raise UnsafePathError(
            f"{rel} resolves to {resolved}, outside the repository {inside}; "
            "refusing to write it (fix the checklist path or the link)"
        )
    return resolved


def _read(path: Path, rel: str) -> bytes:
    """A checklist or mirror's content; :class:`FlipRefused` when it is not a readable
    regular file (a FIFO or a device would block, a huge file is no checklist)."""
    from ..files import read_regular, why_unreadable

    data = read_regular(path)
    if data is None:
        raise FlipRefused(f"{rel} cannot be read ({why_unreadable(path)}); nothing changed")
    return data
