"""Plugin overhead on 2,000 trivial tests: plain pytest vs --codex-task vs --report-log.

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
        body = "".join(f"def test_{i}():\n    assert {i} == {i}\n\n" for i in range(TESTS))
        (root / "test_many.py").write_text(body)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env["CODEX_ORCHESTRATOR_ROOT"] = str(root)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_many.py"]
        variants = {
            "plain pytest": base,
            "pytest --codex-task": [*base, "--codex-task", "bench"],
            "pytest --report-log": [*base, f"--report-log={root / 'log.jsonl'}"],
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        wall(base, cwd=root, env=env)  # warm the file cache and bytecode
        for _ in range(repetitions):  # interleaved, so drift hits every variant alike
            for name, argv in variants.items():
                times[name].append(wall(argv, cwd=root, env=env))
        plain = statistics.median(times["plain pytest"])
        print(f"{TESTS} trivial tests, {repetitions} interleaved repetitions each")
        for name, samples in times.items():
            median = statistics.median(samples)
            print(
                f"  {name:22} median {median:.3f} s  ({(median / plain - 1) * 100:+.1f}% vs plain)"
            )


if __name__ == "__main__":
    main()
