"""``codex-orchestrator completion bash|zsh``: shell completion through argcomplete.

argcomplete is an optional extra (``pip install 'pytest-codex-orchestrator[completion]'``).
The shell's completion function runs the CLI with ``_ARGCOMPLETE`` in the environment;
only then does :func:`complete` import argcomplete, which answers from the parser and
exits, so a normal start-up never imports it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import UsageError

PROG = "codex-orchestrator"
SHELLS = ("bash", "zsh")
INSTALL_HINT = "pip install 'pytest-codex-orchestrator[completion]'"


def register(subparsers: Any) -> None:
    """Add ``completion``."""
    parser = subparsers.add_parser(
        "completion",
        help="print the shell code that enables tab completion (bash or zsh)",
        description="Print the code that makes SHELL complete codex-orchestrator's commands "
        "and options; add it to your shell's start-up file, e.g. "
        "'eval \"$(codex-orchestrator completion bash)\"' in ~/.bashrc (or, with the "
        "argcomplete tools installed, 'eval \"$(register-python-argcomplete "
        f"codex-orchestrator)\"'). Needs the completion extra: {INSTALL_HINT}.",
        epilog="Exit codes: 0 printed, 2 argcomplete is not installed.",
    )
    parser.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash or zsh")
    parser.set_defaults(handler=run)


def _argcomplete() -> Any:
    try:
        import argcomplete
    except ImportError as exc:
        raise UsageError(f"shell completion needs argcomplete; install it: {INSTALL_HINT}") from exc
    return argcomplete


def run(args: argparse.Namespace) -> int:
    """Print the activation snippet for ``args.shell``."""
    argcomplete = _argcomplete()
    print(argcomplete.shellcode([PROG], shell=args.shell), end="")
    return 0


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request of the shell (and exit) when this process is one;
    return at once otherwise, or when argcomplete is not installed."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)
