"""``codex-orchestrator``: the command-line adapter over the library.

Each sub-command lives in its own module of this package exposing ``register(subparsers)``;
this module parses, dispatches, and maps errors to exit codes in one place:
0 success, 1 failure, 2 usage or configuration error, 3 approval refused, 4 sandbox denial,
5 retries exhausted, 124 timeout, 130 interrupted, 143 terminated (SIGTERM); ``exec`` passes
the command's status on.
"""

from __future__ import annotations

import os
import sys

# ``python -m pytest_codex.cli`` puts the working directory (usually the workspace) first on
# sys.path: an ``argparse.py`` or ``yaml.py`` a command left there would be imported by the
# trusted process. While ``-m`` locates the module, sys.argv[0] is "-m" (see runpy): take the
# entry off before importing anything more (as ``python -P`` would have).
if sys.argv[:1] == ["-m"]:
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from .. import __version__
from ..errors import CodexError

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwound like Ctrl-C, so the command's process group is killed and the
    run is finished as cancelled (with its ``run:summary``) before the CLI exits 143."""

    signum = signal.SIGTERM


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While running a command, the first SIGTERM raises :class:`Terminated` (main thread
    only); later ones are ignored, so they cannot interrupt the clean-up it started. (Not
    ``SIG_IGN``: processes started during the clean-up would inherit that.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def _raise_terminated(signum: int, frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


COMMAND_MODULES = (
    "pytest_codex.cli.runs",
    "pytest_codex.cli.schema",
    "pytest_codex.cli.review",
    "pytest_codex.cli.approvals",
    "pytest_codex.cli.exec",
    "pytest_codex.cli.instructions",
    "pytest_codex.cli.start",
    "pytest_codex.cli.checklist",
    "pytest_codex.cli.doctor",
    "pytest_codex.cli.plan",
    "pytest_codex.cli.status",
    "pytest_codex.cli.completion",
    "pytest_codex.cli.mcp",
    "pytest_codex.cli.trust",
)

# Which module registers each sub-command, so a command line naming one builds (and
# imports) only that module's parsers; a test checks this table against COMMAND_MODULES.
COMMAND_MODULE = {
    "runs": "pytest_codex.cli.runs",
    "schema": "pytest_codex.cli.schema",
    "review": "pytest_codex.cli.review",
    "approvals": "pytest_codex.cli.approvals",
    "exec": "pytest_codex.cli.exec",
    "resume": "pytest_codex.cli.exec",
    "instructions": "pytest_codex.cli.instructions",
    "start": "pytest_codex.cli.start",
    "guardrails": "pytest_codex.cli.start",
    "spec-guard": "pytest_codex.cli.start",
    "checklist": "pytest_codex.cli.checklist",
    "doctor": "pytest_codex.cli.doctor",
    "plan": "pytest_codex.cli.plan",
    "status": "pytest_codex.cli.status",
    "completion": "pytest_codex.cli.completion",
    "mcp": "pytest_codex.cli.mcp",
    "trust": "pytest_codex.cli.trust",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line, suggest the nearest name, and exit 2
    (argparse's own convention)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = _suggest_choice(message)
        glue = " " if message.endswith("?") else "; "
        self.exit(2, f"{self.prog}: error: {message}{glue}see '{self.prog} --help'\n")


_INVALID_CHOICE = (
    r"argument (?P<arg>[^:]+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.*)\)$"
)


def _suggest_choice(message: str) -> str:
    """``invalid choice`` messages gain the nearest choice (``did you mean exec?``)."""
    import difflib
    import re

    match = re.match(_INVALID_CHOICE, message)
    if match is None:
        return message
    value = match["value"].strip("'\"")
    choices = [c.strip().strip("'\"") for c in match["choices"].split(",")]
    nearest = difflib.get_close_matches(value, choices, n=1)
    if match["arg"] == "COMMAND":
        message = f"unknown command {value!r} (commands: {', '.join(choices)})"
    return f"{message}; did you mean {nearest[0]}?" if nearest else message


def _unknown_option(parser: argparse.ArgumentParser, args: argparse.Namespace, word: str) -> None:
    """Refuse an unrecognised option on behalf of the (sub-)command it was given to, naming
    the nearest option of that command."""
    while True:  # descend to the sub-command that was parsed
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, sub.dest, None) if sub is not None else None
        if sub is None or chosen not in sub.choices:
            break
        parser = sub.choices[chosen]
    import difflib

    name = word.split("=", 1)[0]
    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    nearest = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {nearest[0]}?" if nearest else ""
    what = "option" if word.startswith("-") else "argument"
    parser.error(f"unknown {what} {word!r}{hint}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser (also used to check the CLI reference in docs/), or, for a
    known ``command``, one with only the sub-commands of that command's module: the same
    parsing and ``--help`` for that command, without importing the others."""
    import importlib

    parser = _Parser(
        prog="codex-orchestrator",
        description=(
            "Run commands, pipelines and guardrails for a task, with approvals, sandboxing "
            "and a run manifest (.runs/<task>/cli/<run-id>/manifest.json) as evidence."
        ),
        epilog=(
            "Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 approval refused, "
            "4 sandbox denied, 5 retries exhausted, 124 timed out; exec passes the "
            "command's own exit status through."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = (COMMAND_MODULE[command],) if command in COMMAND_MODULE else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Split ``argv`` at the first ``--``: (options, command or None)."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    options, command = split_command(list(sys.argv[1:] if argv is None else argv))
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (argcomplete, optional)
        from .completion import complete

        complete(build_parser())
    # The first word names the sub-command (the top level has no option taking a value);
    # anything else (--help, --version, a misspelt name) gets the full parser.
    parser = build_parser(options[0] if options else None)
    args, unknown = parser.parse_known_args(options)
    if unknown:
        _unknown_option(parser, args, unknown[0])
    args.command = command
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    if command is not None and not getattr(args, "takes_command", False):
        parser.error("'--' and a command are only accepted by exec and resume")
    from ..distribution import check_guardrails_owner

    try:
        check_guardrails_owner()  # one line naming another owner of `guardrails`, with the fix
        with _sigterm_unwinds():
            return int(handler(args))
    except CodexError as exc:
        print(f"codex-orchestrator: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("codex-orchestrator: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("codex-orchestrator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
