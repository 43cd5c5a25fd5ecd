"""Plugin overhead on 2,000 trivial tests: plain pytest vs --codex-task vs --report-log.

``--codex-task`` runs the built-in guardrails as items too (cached after the warm-up run,
since nothing changes); ``--codex-guardrails=none`` measures the per-test recording alone.
The same two sessions with every test deselected split the recording's cost into what a
session costs whatever its size and what each test adds.

Run: .venv/bin/python bench/plugin_overhead.py [repetitions] [--no-bytecode]
Goal: `pytest --codex-task` (guardrails on, cached) within 5% of plain pytest and below
`--report-log`, in wall time and in CPU time (user + system: far less moved by other load on
a shared machine), medians of interleaved runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from _stats import timed

TESTS = 2000
GOAL = 0.05
NO_TEST = "not test_"  # deselects every test


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--no-bytecode"]
    no_bytecode = len(args) < len(sys.argv) - 1
    repetitions = int(args[0]) if args else 7
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        # Lint-clean under ruff's defaults, so the lint guardrail passes.
        body = "\n\n".join(f"def test_{i}():\n    assert str({i}).isdigit()" for i in range(TESTS))
        (root / "test_many.py").write_text(body)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env["CODEX_ORCHESTRATOR_ROOT"] = str(root)
        # Bytecode (and pytest's rewritten test module) cached, as on a developer's machine;
        # otherwise every variant re-compiles, which hides the plugin's own cost.
        # --no-bytecode: PYTHONDONTWRITEBYTECODE=1, as containers often set it.
        if no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_many.py"]
        variants = {
            "plain pytest": base,
            "pytest --codex-task": [*base, "--codex-task", "bench"],
            "  --codex-guardrails=none": [
                *base,
                "--codex-task",
                "bench",
                "--codex-guardrails=none",
            ],
            "pytest --report-log": [*base, f"--report-log={root / 'log.jsonl'}"],
            # The same sessions with every test deselected: what a session costs whatever its
            # size (imports, run start and finish, collection), so the rest is per test.
            "plain, none selected": [*base, "-k", NO_TEST],
            "  --codex-guardrails=none, none selected": [
                *base,
                "--codex-task",
                "bench",
                "--codex-guardrails=none",
                "-k",
                NO_TEST,
            ],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        # Warm the file cache and bytecode, and store the guardrails' results.
        for argv in variants.values():
            timed(argv, cwd=root, env=env)
        for _ in range(repetitions):  # interleaved, so drift hits every variant alike
            for name, argv in variants.items():
                samples[name].append(timed(argv, cwd=root, env=env))
    what = "PYTHONDONTWRITEBYTECODE=1" if no_bytecode else "bytecode cached"
    print(f"{TESTS} trivial tests, {repetitions} interleaved repetitions each (medians), {what}")
    plain_wall = statistics.median(s[0] for s in samples["plain pytest"])
    plain_cpu = statistics.median(s[1] for s in samples["plain pytest"])
    extra: dict[str, tuple[float, float]] = {}
    medians: dict[str, tuple[float, float]] = {}
    for name, runs in samples.items():
        wall_s = statistics.median(s[0] for s in runs)
        cpu_s = statistics.median(s[1] for s in runs)
        medians[name] = (wall_s, cpu_s)
        extra[name] = (wall_s / plain_wall - 1, cpu_s / plain_cpu - 1)
        print(
            f"  {name:40} wall {wall_s:.3f} s ({extra[name][0]:+.1%})  "
            f"CPU {cpu_s:.3f} s ({extra[name][1]:+.1%})"
        )
    # --codex-guardrails=none over plain, split into what the session costs and per test.
    for index, what in ((0, "wall"), (1, "CPU")):
        fixed = (
            medians["  --codex-guardrails=none, none selected"][index]
            - medians["plain, none selected"][index]
        )
        total = medians["  --codex-guardrails=none"][index] - medians["plain pytest"][index]
        reportlog = medians["pytest --report-log"][index] - medians["plain pytest"][index]
        print(
            f"{what}: recording costs {fixed * 1000:+.0f} ms a session and "
            f"{(total - fixed) / TESTS * 1e6:+.0f} us a test (--report-log: "
            f"{reportlog / TESTS * 1e6:+.0f} us a test)"
        )
    for index, what in ((0, "wall"), (1, "CPU")):
        codex = extra["pytest --codex-task"][index]
        reportlog = extra["pytest --report-log"][index]
        verdict = "met" if codex <= GOAL and codex < reportlog else "NOT met"
        print(
            f"{what}: --codex-task {codex:+.1%} vs --report-log {reportlog:+.1%} "
            f"(goal <= +{GOAL:.0%} and below --report-log: {verdict})"
        )


if __name__ == "__main__":
    main()
