"""Per-call cost of ``codex-orchestrator mcp``'s exec_command against Codex's own sandboxed
command, ``codex sandbox -- true``, in the same run.

Run: .venv/bin/python bench/mcp_exec.py [calls]
Goal: an exec_command call (approval, bubblewrap sandbox, PTY or pipe process, events, the
manifest's records) no slower than ``codex sandbox -c sandbox_mode="workspace-write" -- true``
(a fresh Codex process per command). The server is long-lived, so it pays no interpreter
start per call; the client is the official ``mcp`` SDK over stdio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _stats import summary  # noqa: E402

WARMUP = 5


def codex_sandbox(codex: Path, repo: Path, calls: int, home: Path) -> list[float]:
    env = {**os.environ, "CODEX_HOME": str(home)}
    argv = [str(codex), "sandbox", "-c", 'sandbox_mode="workspace-write"', "--", "true"]
    samples = []
    for index in range(WARMUP + calls):
        started = time.perf_counter()
        subprocess.run(argv, cwd=repo, env=env, check=True, stdin=subprocess.DEVNULL)
        if index >= WARMUP:
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def mcp_exec(repo: Path, calls: int, tty: bool) -> list[float]:
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pytest_codex.cli", "mcp", "--task", "bench", "--cd", str(repo)],
        env=dict(os.environ),
    )
    samples: list[float] = []

    async def main() -> None:
        async with Client(params, mode="legacy") as client:
            for index in range(WARMUP + calls):
                started = time.perf_counter()
                result: Any = await client.call_tool("exec_command", {"cmd": "true", "tty": tty})
                took = (time.perf_counter() - started) * 1000
                assert result.structured_content["exit_code"] == 0, result.content
                if index >= WARMUP:
                    samples.append(took)

    anyio.run(main)
    return samples


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    from tests.helpers.npm import codex_bin

    codex = codex_bin()
    with tempfile.TemporaryDirectory() as tmp:
        repo, home = Path(tmp) / "repo", Path.home() / ".cache" / "pytest-codex-bench-home"
        repo.mkdir()
        home.mkdir(parents=True, exist_ok=True)  # CODEX_HOME must not be under TMPDIR
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        results = {}
        for round_ in range(2):  # interleaved: each side twice
            for label, measure in (
                ("codex sandbox -- true", lambda: codex_sandbox(codex, repo, calls, home)),
                ("mcp exec_command (pipe)", lambda: mcp_exec(repo, calls, False)),
                ("mcp exec_command (tty)", lambda: mcp_exec(repo, calls, True)),
            ):
                results.setdefault(label, []).extend(measure())
            del round_
    for label, samples in results.items():
        print(summary(label, samples))
    base = statistics.median(results["codex sandbox -- true"])
    for label in ("mcp exec_command (pipe)", "mcp exec_command (tty)"):
        median = statistics.median(results[label])
        verdict = "met" if median <= base else "NOT met"
        print(
            f"{label}: median {median:.1f} ms vs codex sandbox {base:.1f} ms = "
            f"{median / base:.2f}x (goal <= 1.00x: {verdict})"
        )


if __name__ == "__main__":
    main()
