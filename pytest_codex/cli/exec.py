"""``codex-orchestrator exec`` and ``resume``: run one command inside a run of a task.

Two invocation forms share one implementation:

- ours: ``exec [options] -- CMD [ARGS...]``;
- Codex's, as its TypeScript SDK spawns it: ``exec --experimental-json [--config k=v]...
  [--model M] [--sandbox S] [--cd DIR] [--add-dir DIR]... [--skip-git-repo-check]
  [--output-schema FILE] [--cyber-access-program V] [resume THREAD_ID] [--image F]...`` with
  the prompt on stdin; the prompt is the shell command to run, ``resume THREAD_ID`` appends
  to that run, and ``--cd DIR`` is the working root (the run lands in DIR's repository).
  Codex flags that change nothing here are accepted and listed in ``exec:options``
  (``unusedFlags``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import UsageError
from . import split_command as split_command
from ._options import add_context_options, add_run_options, run_option_config, with_command

if TYPE_CHECKING:
    from ..events import Sink

# The run's modules are imported by _execute, not here: ``exec --help`` and the parser of
# ``resume`` do not need them.

KNOWN_CODEX_CONFIG = ("approval_policy", "sandbox_workspace_write.network_access")


def _add_exec_options(parser: argparse.ArgumentParser) -> None:
    add_context_options(parser)
    parser.add_argument(
        "--cwd",
        "-C",
        "--cd",
        dest="cwd",
        metavar="DIR",
        type=Path,
        help="working directory of the command and of the run: the run is recorded in the "
        "repository (or directory) of DIR, not the caller's (default: current)",
    )
    parser.add_argument(
        "--session",
        metavar="ID",
        help="run in the persistent PTY session ID of the run (created if new)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="kill the command after this many seconds (exit 124)",
    )
    add_run_options(parser)
    parser.add_argument(
        "--full-auto",
        action="store_true",
        help="= --approval-policy on-request --sandbox workspace-write",
    )
    parser.add_argument(
        "--output-schema",
        metavar="FILE",
        type=Path,
        help="the command's final stdout must be JSON valid against FILE",
    )
    parser.add_argument(
        "-o",
        "--output-last-message",
        metavar="FILE",
        type=Path,
        help="write the final message (summary or structured output) to FILE",
    )
    parser.add_argument(
        "--pipe",
        action="store_true",
        help="run without a PTY: stdout and stderr kept apart, stdin closed",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--jsonl",
        action="store_true",
        help="print every event as one JSON envelope per line (default when "
        "stdout is not a terminal)",
    )
    mode.add_argument(
        "--json",
        "--experimental-json",
        dest="codex_json",
        action="store_true",
        help="print the Codex CLI exec --json event protocol",
    )
    codex = parser.add_argument_group("Codex CLI compatibility (as @openai/codex-sdk calls it)")
    codex.add_argument(
        "-c",
        "--config",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="Codex config override; approval_policy and "
        "sandbox_workspace_write.network_access are honoured, others recorded",
    )
    codex.add_argument("-m", "--model", help="accepted and recorded (no model runs here)")
    codex.add_argument(
        "--add-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="extra writable directory for the sandbox",
    )
    codex.add_argument("--skip-git-repo-check", action="store_true", help="accepted")
    codex.add_argument(
        "-i", "--image", metavar="FILE", action="append", default=[], help="accepted and recorded"
    )
    codex.add_argument(
        "--cyber-access-program",
        metavar="VALUE",
        help="accepted and recorded (no model runs here)",
    )
    codex.add_argument("-p", "--profile", help="Codex config profile: accepted and recorded")
    codex.add_argument("--color", metavar="WHEN", help="accepted and recorded")
    codex.add_argument("--oss", action="store_true", help="accepted and recorded")
    codex.add_argument("--ephemeral", action="store_true", help="accepted and recorded")
    codex.add_argument("--thread-source", metavar="SOURCE", help="accepted and recorded")


# The Codex CLI flags accepted for compatibility that change nothing here: (flag, dest).
UNUSED_CODEX_FLAGS = (
    ("--model", "model"),
    ("--image", "image"),
    ("--cyber-access-program", "cyber_access_program"),
    ("--profile", "profile"),
    ("--color", "color"),
    ("--oss", "oss"),
    ("--ephemeral", "ephemeral"),
    ("--thread-source", "thread_source"),
    ("--skip-git-repo-check", "skip_git_repo_check"),
)


def unused_flags(args: argparse.Namespace, ignored_overrides: list[str]) -> list[str]:
    """The Codex flags given on this command line that have no effect here, as given
    (``--config KEY`` for each ignored override)."""
    given = [
        flag
        for flag, dest in UNUSED_CODEX_FLAGS
        if getattr(args, dest, None) not in (None, False, [])
    ]
    return given + [f"--config {key}" for key in ignored_overrides]


def register(subparsers: Any) -> None:
    """Add ``exec`` and ``resume``."""
    exec_parser = subparsers.add_parser(
        "exec",
        help="run a command inside a run of the task (approvals, sandbox, events, manifest)",
        description="Run CMD through the ToolOrchestrator and the exec runtime inside a new "
        "run of the task, write the manifest, and exit with CMD's exit status. Without "
        "'-- CMD', the command line is read from stdin (Codex SDK form). 'resume RUN' in "
        "the Codex form appends to that run.",
        epilog="Exit codes: CMD's own status; 2 usage/config error; 3 approval refused; 4 "
        "sandbox denied; 5 retries exhausted; 6 output failed --output-schema; 124 timed out.",
    )
    _add_exec_options(exec_parser)
    exec_parser.add_argument(
        "words", nargs="*", metavar="[resume THREAD_ID]", help=argparse.SUPPRESS
    )
    exec_parser.usage = with_command(exec_parser, "[-- CMD [ARGS...]]")
    exec_parser.set_defaults(handler=run_exec, takes_command=True)

    resume_parser = subparsers.add_parser(
        "resume",
        help="run another command in an existing run (same manifest)",
        description="Append a command to an existing run: same manifest and events, a "
        "resume_events entry. A finished run is refused unless --reopen.",
    )
    resume_parser.add_argument("run", metavar="RUN", help="a run id, or 'latest'")
    resume_parser.add_argument(
        "--reopen", action="store_true", help="append even though the run already finished"
    )
    _add_exec_options(resume_parser)
    resume_parser.usage = with_command(resume_parser, "-- CMD [ARGS...]")
    resume_parser.set_defaults(handler=run_resume, words=[], takes_command=True)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``key=value`` Codex overrides; the value is TOML when it parses, else a string."""
    parsed: dict[str, Any] = {}
    if not overrides:
        return parsed
    import tomllib

    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config {item!r} is not KEY=VALUE")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        parsed[key.strip()] = value
    return parsed


def _cli_config(
    args: argparse.Namespace, overrides: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The configuration the command line sets (Codex overrides, then --full-auto, then the
    run options), and the flag of each key for error messages."""
    cli: dict[str, Any] = {"task": args.task}
    if "approval_policy" in overrides:
        cli["approval_policy"] = overrides["approval_policy"]
    if "sandbox_workspace_write.network_access" in overrides:
        cli["network_access"] = overrides["sandbox_workspace_write.network_access"]
    if args.full_auto:
        cli["approval_policy"], cli["sandbox"] = "on-request", "workspace-write"
    options, flags = run_option_config(args)
    cli.update(options)
    flags.update(
        task="--task",
        approval_policy="--approval-policy / --config approval_policy",
        network_access="--config sandbox_workspace_write.network_access",
    )
    return cli, flags


def _output_mode(args: argparse.Namespace, stdout: IO[str]) -> str:
    if args.codex_json:
        return "codex"
    if args.jsonl:
        return "jsonl"
    return "human" if stdout.isatty() else "jsonl"


def _resolve_paths(args: argparse.Namespace) -> None:
    """Make the path options absolute against the caller's directory, before ``--cd``
    changes it."""
    for dest in ("output_schema", "output_last_message", "config_file"):
        value = getattr(args, dest, None)
        if value is not None:
            setattr(args, dest, Path(value).absolute())
    if args.output_last_message is not None:
        # The directory is resolved now, before the command runs; the file is written later
        # without following a symbolic link anywhere below it (one the command planted at
        # -o FILE is refused, never written through).
        target = args.output_last_message
        args.output_last_message = Path(os.path.realpath(target.parent)) / target.name
    args.add_dir = [str(Path(d).absolute()) for d in args.add_dir]
    args.image = [str(Path(i).absolute()) for i in args.image]


def _read_prompt(stdin: IO[str]) -> list[str]:
    if stdin.isatty():
        raise UsageError("no command: pass '-- CMD [ARGS...]' or pipe a command line on stdin")
    prompt = stdin.read().strip()
    if not prompt:
        raise UsageError("the command read from stdin is empty; pass '-- CMD [ARGS...]'")
    return ["sh", "-c", prompt]


def run_exec(args: argparse.Namespace) -> int:
    """``exec``."""
    words = list(args.words)
    resume_ref = None
    if words[:1] == ["resume"]:
        if len(words) != 2:
            raise UsageError("usage: exec ... resume THREAD_ID (the run id to append to)")
        resume_ref = words[1]
    elif words and args.command is None:
        raise UsageError(f"unexpected argument {words[0]!r}; put the command after '--'")
    return _execute(args, resume_ref=resume_ref, reopen=resume_ref is not None)


def run_resume(args: argparse.Namespace) -> int:
    """``resume``."""
    return _execute(args, resume_ref=args.run, reopen=args.reopen)


def _execute(args: argparse.Namespace, *, resume_ref: str | None, reopen: bool) -> int:
    from ..config import secrets_in
    from ..context import Context
    from ..execution import execute_command, finish_on_error
    from ..output_schema import EXIT_OUTPUT_SCHEMA, load_output_schema, structured_output
    from ..paths import PARENT_RUN_ENV, TASK_ENV
    from ..run import Run
    from ..sinks.jsonl import JsonlStreamSink
    from ..summary import summary_line
    from ..terminal import visible

    stdout, stdin = sys.stdout, sys.stdin
    if args.session is not None:  # it names a file and a socket: refuse before a run exists
        from ..ids import validate_session_id
        from ..runtime.session_server import checked_socket_dir

        validate_session_id(args.session, source="--session")
        checked_socket_dir()
    overrides = parse_overrides(args.overrides)
    cwd = (args.cwd or Path.cwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"--cd {cwd}: not a directory; pass an existing directory")
    _resolve_paths(args)
    # --cd is the working root, as in Codex: the run, the config file and the instructions
    # are those of DIR's repository (or DIR), whatever directory the caller runs in.
    os.chdir(cwd)
    cli, flags = _cli_config(args, overrides)
    context = Context.load(
        cwd=cwd,
        cli=cli,
        cli_flags=flags,
        config_file=args.config_file,
        secrets=secrets_in(overrides),  # recorded in exec:options: every redactor knows them
    )
    output_schema = load_output_schema(args.output_schema)
    argv = args.command if args.command else _read_prompt(stdin)
    mode = _output_mode(args, stdout)
    sinks: list[Sink] = []
    if mode == "jsonl":
        sinks.append(JsonlStreamSink(stdout, name="stdout"))
    elif mode == "codex":
        from ..sinks.codex_dialect import CodexDialect

        dialect = CodexDialect(structured_output=output_schema is not None)
        sinks.append(JsonlStreamSink(stdout, name="stdout-codex", render=dialect))
    else:
        from ..sinks.human import HumanSink

        sinks.append(HumanSink(stdout, env=context.env))
    if resume_ref is not None:
        task = context.config.get("task")
        run = Run.resume(
            context, resume_ref, task_id=task, reopen=reopen, sinks=sinks, reason="exec resume"
        )
    else:
        run = Run.start(
            context, runner="cli", pipeline_id="exec", pipeline_title="exec", sinks=sinks
        )
    ignored = sorted(k for k in overrides if k not in KNOWN_CODEX_CONFIG)
    # From here to the end of finish, a SIGTERM (or any error) still finishes the run.
    with finish_on_error(run):
        options = run.emit(
            "exec:options",
            {
                "codexOverrides": overrides,
                "ignoredOverrides": ignored,
                "unusedFlags": unused_flags(args, ignored),
                "model": args.model,
                "images": list(args.image),
                "addDirs": list(args.add_dir),
                "workingDirectory": str(cwd),
                "skipGitRepoCheck": bool(args.skip_git_repo_check),
                "cyberAccessProgram": args.cyber_access_program,
                "profile": args.profile,
                "threadSource": args.thread_source,
                "outputSchema": str(args.output_schema) if args.output_schema else None,
            },
        )
        if args.pipe and args.session is None:  # subprocess only: no fork runs Python
            from ..attestation import prepare_signing

            prepare_signing(context.config.get("evidence"))
        execution = execute_command(
            run,
            argv,
            cwd=cwd,
            # As for pipeline stages: the command knows its task, and a run it records
            # (pytest with the plugin) names this one its parent.
            env={TASK_ENV: run.task_id, PARENT_RUN_ENV: run.run_id, **context.config.child_env()},
            timeout=args.timeout,
            session_id=args.session,
            mode="pipe" if args.pipe else "pty",
            writable_roots=[Path(d).resolve() for d in args.add_dir],
        )
        status: str = execution.status
        detail: str | None = execution.detail
        exit_code: int = execution.exit_code
        outputs = execution.outputs()
        if output_schema is not None and status == "succeeded":
            structured, problem = structured_output(execution.stdout_text(), output_schema)
            if problem is None:
                outputs["structured"] = structured
            else:
                status, detail, exit_code = "failed", problem, EXIT_OUTPUT_SCHEMA
        summary = run.finish(
            status,
            detail=detail,
            summary={**execution.summary(), "outputs": outputs, "execOptions": options.payload},
        )
    if args.output_last_message is not None:
        import json

        last = (
            json.dumps(outputs["structured"]) if "structured" in outputs else summary_line(summary)
        )
        from ..atomic import atomic_write_text

        atomic_write_text(args.output_last_message, last + "\n", durable=False)
    if mode == "human":
        print(visible(summary_line(summary)), file=sys.stderr)
    return exit_code
