"""The sandbox side by side with Codex's: the same attack probes under ``codex sandbox``
(read-only and workspace-write) and under ours, as root and as an unprivileged user.

Run: .venv/bin/python bench/sandbox_vs_codex.py
Goal: ours holds every row Codex holds, in every mode, for every actor, and the rows Codex
misses (as root it lets a sandboxed command open ``kernel.core_pattern`` for writing). A
cell is ``held`` (the attack failed: the errno it got) or ``OPEN`` (it worked). Columns that
cannot run here (no Codex CLI, no setpriv, a Codex install the unprivileged user cannot
read) say why below the table. Nothing is written outside the columns' own directories; the
probes never write a kernel setting (they open and close).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.sandbox_table import ROWS, column, unprivileged_actor, usable_codex


def _codex() -> str | None:
    try:
        from tests.helpers.npm import codex_bin

        return str(codex_bin())
    except Exception as exc:  # no node/npm here: the Codex columns say so
        print(f"the Codex CLI is not available: {exc}", file=sys.stderr)
        return None


def main() -> int:
    codex = _codex()
    actors: dict[str, tuple[str, ...] | str] = {"root" if os.getuid() == 0 else "user": ()}
    if os.getuid() == 0:
        actors["user"] = unprivileged_actor()
    columns: dict[str, dict[str, object] | str] = {}
    for actor, prefix in actors.items():
        for runner in ("codex", "ours"):
            for mode in ("read-only", "workspace-write"):
                name = f"{runner}/{mode}/{actor}"
                if isinstance(prefix, str):
                    columns[name] = prefix
                elif runner == "codex" and usable_codex(codex, prefix) is None:
                    columns[name] = f"{actor} cannot run the Codex CLI ({codex})"
                else:
                    columns[name] = column(runner, mode, prefix, codex)  # type: ignore[assignment]
    ran = {k: v for k, v in columns.items() if not isinstance(v, str)}
    width = max(len(r) for r in ROWS) + 2
    print("probe".ljust(width) + "".join(k.ljust(28) for k in ran))
    gaps = []
    for row, words in ROWS.items():
        cells = []
        for name, results in ran.items():
            result = results[row]  # type: ignore[index]
            cells.append(("held " + result.detail if result.held else "OPEN " + result.detail)[:27])
            if name.startswith("ours/") and not result.held:
                gaps.append(f"{name}: {row} ({words})")
        print(row.ljust(width) + "".join(c.ljust(28) for c in cells))
    for name, why in columns.items():
        if isinstance(why, str):
            print(f"{name}: not run: {why}")
    for name, results in ran.items():
        if name.startswith("codex/"):
            ours = ran.get(name.replace("codex/", "ours/", 1))
            for row, result in results.items():  # type: ignore[union-attr]
                if ours is not None and result.held and not ours[row].held:  # type: ignore[index]
                    gaps.append(f"{name}: Codex holds {row}, ours does not")
    print("goal: ours holds every row: " + ("met" if not gaps else "NOT met: " + "; ".join(gaps)))
    return 0 if not gaps else 1


if __name__ == "__main__":
    raise SystemExit(main())
