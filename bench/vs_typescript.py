"""``exec`` against the TypeScript codex-orchestrator 0.2.1 from npm: start-up, and 200 MB
of output (wall time and peak RSS), each printed for both with the ratio.

Run: .venv/bin/python bench/vs_typescript.py [--repeat 7] [--mib 200] [--ts-dir DIR]
The TypeScript package is installed with ``npm install @kbediako/codex-orchestrator@0.2.1``
into a temporary directory (or ``--ts-dir``, reused when it already holds it). Without npm,
or when the install fails (no network), the bench says so and exits 0.
Both run the same command in a fresh git repository with ``--jsonl`` (every chunk's text on
stdout, sent to /dev/null); ours in pipe mode for the output run, as the TypeScript one
captures by pipe. Medians of interleaved runs; peak RSS is the orchestrator's own process
(``wait4``), not the command's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE = "@kbediako/codex-orchestrator@0.2.1"
LINE = "0123456789abcdefghijklmnopqrstuvwxyz" * 3


def install(directory: Path) -> Path | None:
    """The TypeScript CLI, installed into ``directory`` if needed; None when impossible."""
    binary = directory / "node_modules" / ".bin" / "codex-orchestrator"
    if binary.exists():
        return binary
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("skipped: npm/node not found; install Node.js to compare with the TypeScript one")
        return None
    done = subprocess.run(
        [
            "npm",
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(directory),
            PACKAGE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not binary.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"skipped: npm install {PACKAGE} failed ({last})")
        return None
    return binary


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the process itself) of one run, stdout discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {process.returncode}: {' '.join(argv)}")
    return took, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="start-up runs of each")
    parser.add_argument("--output-repeat", type=int, default=3, help="200 MB runs of each")
    parser.add_argument("--mib", type=int, default=200, help="output size in MiB")
    parser.add_argument("--ts-dir", type=Path, default=None, help="where to install it")
    args = parser.parse_args()
    ours = shutil.which("codex-orchestrator", path=str(Path(sys.executable).parent))
    assert ours, "install the package first (make install)"
    with tempfile.TemporaryDirectory(prefix="codex-bench-ts-") as tmp:
        ts = install(args.ts_dir or Path(tmp) / "ts")
        if ts is None:
            return
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env.update({"MCP_RUNNER_TASK_ID": "bench", "CODEX_ORCHESTRATOR_ROOT": str(repo)})
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as when installed
        script = f"yes {LINE} 2>/dev/null | head -c {args.mib}M"
        startup = {
            "true": ["true"],
            "python (ours)": [ours, "exec", "--jsonl", "--pipe", "--", "true"],
            "typescript 0.2.1": [str(ts), "exec", "--jsonl", "--", "true"],
        }
        output = {
            "python (ours)": [ours, "exec", "--jsonl", "--pipe", "--", "sh", "-c", script],
            "typescript 0.2.1": [str(ts), "exec", "--jsonl", "--", "sh", "-c", script],
        }
        for argv in startup.values():  # warm-up: caches, bytecode, signing keys
            measure(argv, repo, env)
        starts: dict[str, list[float]] = {name: [] for name in startup}
        for _ in range(args.repeat):
            for name, argv in startup.items():
                starts[name].append(measure(argv, repo, env)[0] * 1000)
        outputs: dict[str, list[tuple[float, float]]] = {name: [] for name in output}
        for _ in range(args.output_repeat):
            for name, argv in output.items():
                outputs[name].append(measure(argv, repo, env))
    base = statistics.median(starts["true"])
    added = {name: statistics.median(s) - base for name, s in starts.items()}
    print(f"start-up, exec --jsonl -- true ({args.repeat} interleaved runs, medians):")
    for name in ("python (ours)", "typescript 0.2.1"):
        print(f"  {name:18} +{added[name]:.1f} ms over true")
    print(f"  ratio ours/typescript: {added['python (ours)'] / added['typescript 0.2.1']:.2f}")
    print(f"{args.mib} MiB of output ({args.output_repeat} interleaved runs, medians):")
    walls = {n: statistics.median(w for w, _ in runs) for n, runs in outputs.items()}
    peaks = {n: statistics.median(r for _, r in runs) for n, runs in outputs.items()}
    for name in output:
        print(f"  {name:18} wall {walls[name]:.2f} s, peak RSS {peaks[name]:.1f} MiB")
    print(
        f"  ratio ours/typescript: wall {walls['python (ours)'] / walls['typescript 0.2.1']:.2f}, "
        f"peak RSS {peaks['python (ours)'] / peaks['typescript 0.2.1']:.3f}"
    )


if __name__ == "__main__":
    main()
