"""Guardrail result caching: every built-in guardrail run twice on an unchanged repository.

Builds a repository (the bundled demo repository, whose eval guardrail runs its pytest
eval fixtures, plus ``--modules`` generated Python modules, committed with git), then runs
spec-guard, lint, eval (pytest fixtures),
collateral and checklist through a :class:`guardrails.GuardrailSession`, twice, as one
batch each (``run_all``, as pytest runs consecutive guardrail items). The first run computes
every result (ruff, git, a pytest run of the eval fixtures); the second finds every input
unchanged and reuses the stored results. A batch computes the fingerprints of all its
guardrails ahead (git in a thread while files are hashed), so a cached guardrail's own
record takes well under a millisecond and the batch line carries the rest. Repeated
``--repeat`` times on fresh copies; medians are reported.

Usage: ``python bench/guardrails_cache.py [--modules 200] [--repeat 3] [--json]``.
Goal: the second run takes at most 5% of the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from guardrails import GuardrailSession, available
from guardrails.cache import RACY_SECONDS
from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.paths import ROOT_ENV

GOAL = 0.05
DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo-repo"
TASK = "0303-orchestrator-autonomy"
GIT = ("git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid")


def build_repository(root: Path, modules: int) -> None:
    """The demo repository (with its eval fixtures) and ``modules`` more modules, committed."""
    shutil.copytree(DEMO, root)
    package = root / "src" / "bench_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for number in range(modules):
        (package / f"module_{number:04d}.py").write_text(
            f'"""Generated module {number}."""\n\n\n'
            f"def value_{number}(x: int) -> int:\n"
            f'    """Return x plus {number}."""\n'
            f"    return x + {number}\n"
        )
    # A checkout is older than the two "racy" seconds during which file digests are not
    # memoised (guardrails.cache.FileDigests): date every file a minute back.
    a_minute_ago = time.time() - 60
    for path in root.rglob("*"):
        os.utime(path, (a_minute_ago, a_minute_ago))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "bench"], cwd=root, check=True)
    # A file's ctime cannot be dated back, and a file changed within RACY_SECONDS is hashed
    # every time (it may still be being written): wait that out, as any real checkout has.
    time.sleep(RACY_SECONDS + 0.1)


def run_all(root: Path) -> tuple[float, dict[str, dict[str, Any]]]:
    """Run every built-in guardrail once; (seconds, records by name)."""
    context = Context.load(cwd=root, env={ROOT_ENV: str(root)})
    session = GuardrailSession.standalone(context, TASK, emitter=RecordingEmitter())
    guardrails = available(context.config.get("guardrails") or {})
    started = time.perf_counter()
    # One batch, as pytest runs its consecutive guardrail items: the fingerprints share one
    # look at the repository (guardrails.snapshot).
    records = dict(zip(guardrails, session.run_all(guardrails.values()), strict=True))
    return time.perf_counter() - started, records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=200, help="generated modules")
    parser.add_argument("--repeat", type=int, default=3, help="fresh repositories to time")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    args = parser.parse_args()
    firsts: list[float] = []
    seconds: list[float] = []
    aheads: list[float] = []
    per_guardrail: dict[str, list[tuple[float, float]]] = {}
    statuses: dict[str, str] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="codex-bench-guardrails-") as tmp:
            root = Path(tmp) / "repo"
            build_repository(root, args.modules)
            first, first_records = run_all(root)
            second, second_records = run_all(root)
            if not all(r["cached"] for r in second_records.values()):
                print("bench: the second run did not reuse every result", file=sys.stderr)
                return 1
            firsts.append(first)
            seconds.append(second)
            # What the batch did outside the guardrails' own records: mostly the
            # fingerprints computed ahead (GuardrailSession.prepare).
            aheads.append(second * 1000 - sum(r["durationMs"] for r in second_records.values()))
            for name, record in first_records.items():
                statuses[name] = record["status"]
                per_guardrail.setdefault(name, []).append(
                    (record["durationMs"], second_records[name]["durationMs"])
                )
    first_ms = statistics.median(firsts) * 1000
    second_ms = statistics.median(seconds) * 1000
    ratio = second_ms / first_ms
    figures = {
        "modules": args.modules,
        "repeat": args.repeat,
        "firstRunMs": round(first_ms, 1),
        "secondRunMs": round(second_ms, 1),
        "secondRunAheadMs": round(statistics.median(aheads), 1),
        "ratio": round(ratio, 4),
        "goal": GOAL,
        "met": ratio <= GOAL,
        "guardrails": {
            name: {
                "status": statuses[name],
                "firstMs": round(statistics.median(a for a, _ in pairs), 1),
                "secondMs": round(statistics.median(b for _, b in pairs), 1),
            }
            for name, pairs in per_guardrail.items()
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"repository: demo repository + {args.modules} modules; {args.repeat} fresh copies")
    for name, row in figures["guardrails"].items():
        print(
            f"  {name:12} {row['status']:8} first {row['firstMs']:8.1f} ms   "
            f"second (cached) {row['secondMs']:7.1f} ms"
        )
    print(
        f"  {'(batch)':12} {'':8} fingerprints computed ahead, second run "
        f"{figures['secondRunAheadMs']:7.1f} ms"
    )
    verdict = "met" if figures["met"] else "NOT met"
    print(
        f"all guardrails: first {first_ms:.1f} ms, second {second_ms:.1f} ms "
        f"({ratio:.1%} of the first; goal <= {GOAL:.0%}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
