"""``codex-orchestrator mcp``: serve the exec runtime to an MCP client over stdio.

The server needs the official ``mcp`` SDK, an optional extra
(``pip install 'pytest-codex-orchestrator[mcp]'``); it is imported only when the server
starts, and its absence is one line naming that install command (exit 2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._options import add_context_options, add_run_options, run_option_config

INSTALL_HINT = "pip install 'pytest-codex-orchestrator[mcp]'"


def register(subparsers: Any) -> None:
    """Add ``mcp``."""
    parser = subparsers.add_parser(
        "mcp",
        help="serve commands to an MCP client (Codex, ...) over stdio, recorded in a run",
        description="Run a stdio MCP server whose tools (exec_command, write_stdin, "
        "run_status, checklist_evidence) run commands through the ToolOrchestrator: "
        "approvals (asked through MCP elicitation when the client offers it, else the "
        "policy's answer), the sandbox and retries. The server session is one run of the "
        "task, finished when the client disconnects: succeeded when every command exited 0. "
        f"Needs the mcp extra: {INSTALL_HINT}.",
        epilog='Codex: codex -c \'mcp_servers.orchestrator={command="codex-orchestrator", '
        'args=["mcp", "--task", "T"]}\' (see docs/mcp.md). Exit codes: 0 the client '
        "disconnected, 2 usage/config error or the mcp extra is missing.",
    )
    add_context_options(parser)
    parser.add_argument(
        "--cwd",
        "-C",
        "--cd",
        dest="cwd",
        metavar="DIR",
        type=Path,
        help="working root: commands run here (workdir is relative to it) and the run is "
        "recorded in DIR's repository (default: current directory)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="record into this existing run (a run id or 'latest'; reopened if finished) "
        "instead of a new one",
    )
    parser.add_argument(
        "--add-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="extra writable directory for the sandbox (repeatable)",
    )
    add_run_options(parser)
    parser.set_defaults(handler=run_mcp)


def _import_sdk() -> None:
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"codex-orchestrator mcp needs the MCP SDK ({exc.name or 'mcp'} is missing): "
            f"{INSTALL_HINT}"
        ) from None


def run_mcp(args: argparse.Namespace) -> int:
    """``mcp``."""
    _import_sdk()
    import anyio

    from ..context import Context
    from ..mcp.server import serve
    from ..mcp.session import McpSession
    from ..run import Run

    cwd = (args.cwd or Path.cwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"--cd {cwd}: not a directory; pass an existing directory")
    config_file = None if args.config_file is None else Path(args.config_file).absolute()
    roots = [Path(d).absolute() for d in args.add_dir]
    os.chdir(cwd)
    options, flags = run_option_config(args)
    context = Context.load(
        cwd=cwd,
        cli={"task": args.task, **options},
        cli_flags={"task": "--task", **flags},
        config_file=config_file,
    )
    if args.resume is not None:
        run = Run.resume(
            context,
            args.resume,
            task_id=context.config.get("task"),
            reopen=True,
            reason="mcp server",
        )
    else:
        run = Run.start(context, runner="cli", pipeline_id="mcp", pipeline_title="mcp server")
    from ..execution import finish_on_error

    network = bool(context.config.get("network_access"))
    with finish_on_error(run):  # the session finishes it; an error before that still does
        session = McpSession(run, writable_roots=roots)
        anyio.run(lambda: serve(session, network=network))
    return 0
