"""Plugin overhead on 2,000 trivial tests: plain pytest vs --codex-task vs --report-log.

``--codex-task`` runs the built-in guardrails as items too (cached after the warm-up run,
since nothing changes); ``--codex-guardrails=none`` measures the per-test recording alone.

Run: .venv/bin/python bench/plugin_overhead.py [repetitions]
Goal: `pytest --codex-task` within 5% of plain pytest.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import wall

TESTS = 2000


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        # Lint-clean under ruff's defaults, so the lint guardrail passes.
        body = "\n\n".join(f"def test_{i}():\n    assert str({i}).isdigit()" for i in range(TESTS))
        (root / "test_many.py").write_text(body)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env["CODEX_ORCHESTRATOR_ROOT"] = str(root)
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
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        # Warm the file cache and bytecode, and store the guardrails' results.
        wall(base, cwd=root, env=env)
        wall(variants["pytest --codex-task"], cwd=root, env=env)
        for _ in range(repetitions):  # interleaved, so drift hits every variant alike
            for name, argv in variants.items():
                times[name].append(wall(argv, cwd=root, env=env))
        plain = statistics.median(times["plain pytest"])
        print(f"{TESTS} trivial tests, {repetitions} interleaved repetitions each")
        for name, samples in times.items():
            median = statistics.median(samples)
            print(
                f"  {name:26} median {median:.3f} s  ({(median / plain - 1) * 100:+.1f}% vs plain)"
            )


if __name__ == "__main__":
    main()
