"""``codex-orchestrator trust [FILE...] [--revoke] [--show]``: which repository configuration
files a person trusted (see :mod:`pytest_codex.trust`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._options import add_format_option

DESCRIPTION = (
    "A repository's configuration file is written by whoever can write the repository, "
    "the agent included. Settings that run code or weaken the guarantees (notify commands, "
    "telemetry endpoints, guardrail plugins and settings, pipelines, trusted keys, signing "
    "off, the runs and out directories, a looser sandbox or approval policy, allow rules) take "
    "effect from it only once you trusted the file as it is now: review it, then run "
    "'codex-orchestrator trust FILE'. A trusted file that changes is refused until you trust "
    "it again; settings that only tighten (task, deny rules, a stricter policy, timeouts) "
    "apply from any file. Flags, environment variables and your own "
    "$XDG_CONFIG_HOME/pytest-codex/config.yaml need no trust. The store is "
    "trusted-configs.json in your state directory ($CODEX_ORCHESTRATOR_STATE_DIR, else "
    "$XDG_STATE_HOME/codex-orchestrator), which no sandboxed command can see."
)


def register(subparsers: Any) -> None:
    """Add ``trust``."""
    parser = subparsers.add_parser(
        "trust",
        help="trust a repository config file as it is now (or list, show, revoke)",
        description=DESCRIPTION,
        epilog="Without FILE: list the trusted files and whether each is unchanged "
        "(trusted, changed or missing). Exit codes: 0 ok, 2 usage or config error.",
    )
    parser.add_argument(
        "files",
        metavar="FILE",
        nargs="*",
        type=Path,
        help="codex.orchestrator.yaml|yml|json, a pyproject.toml (its [tool.codex-orchestrator] "
        "table), or the file you pass to --config-file",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--show",
        action="store_true",
        help="show what each FILE would enable and whether it is trusted; change nothing",
    )
    action.add_argument(
        "--revoke", action="store_true", help="forget FILE: its trust-needing keys are refused"
    )
    add_format_option(parser)
    parser.set_defaults(handler=run_trust_command)


def _describe(path: Path) -> dict[str, Any]:
    from .. import trust
    from ..config import load_config_file

    document = load_config_file(path)
    root = trust.config_root(path)
    verdict = trust.judge(path, document, root, trust.TrustStore.for_env())
    needs = set(verdict.needs)
    keys = []
    for key, value in document.items():
        flagged = sorted(k for k in needs if k == key or k.startswith(f"{key}."))
        keys.append({"key": key, "value": value, "needsTrust": flagged})
    return {
        "file": str(path),
        "status": verdict.status,
        "changedFile": verdict.changed_pin,
        "applies": verdict.applies,
        "keys": keys,
        "needsTrust": list(verdict.needs),
    }


def _show(paths: list[Path], fmt: str) -> int:
    from ..config import ResolvedConfig

    views = [_describe(p) for p in paths]
    for view in views:
        redacted = ResolvedConfig(
            values={k["key"]: k["value"] for k in view["keys"]},
            sources={k["key"]: view["file"] for k in view["keys"]},
        ).to_manifest()
        for item in view["keys"]:
            item["value"] = redacted[item["key"]]["value"]
    if fmt == "json":
        print(json.dumps(views, indent=2))
        return 0
    from ..terminal import visible

    for view in views:
        status = view["status"] + (
            f" (but {view['changedFile']} changed)" if view["changedFile"] else ""
        )
        print(f"{visible(view['file'])}: {status}")
        for item in view["keys"]:
            value = visible(json.dumps(item["value"]))
            if len(value) > 120:
                value = value[:117] + "..."
            mark = (
                "needs trust: " + ", ".join(item["needsTrust"])
                if item["needsTrust"]
                else "applies always"
            )
            print(f"  {visible(item['key'])} = {value}    [{mark}]")
        if not view["keys"]:
            print("  (no settings)")
    return 0


def _list(fmt: str) -> int:
    from .. import trust
    from ..config import load_config_file
    from ..errors import ConfigError

    rows = []
    for key, entry in sorted(trust.TrustStore.for_env().entries().items()):
        path = Path(key)
        try:
            document = load_config_file(path)
            verdict = trust.judge(
                path, document, trust.config_root(path), trust.TrustStore.for_env()
            )
            status = "changed" if not verdict.applies else "trusted"
        except ConfigError as exc:
            status = "missing" if not path.exists() else f"unreadable ({exc})"
        rows.append({"file": key, "status": status, "trustedAt": entry.trusted_at})
    if fmt == "json":
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no trusted configuration files")
    else:
        from ..terminal import visible

        for row in rows:
            print(f"{row['status']:<8} {row['trustedAt']}  {visible(row['file'])}")
    return 0


def run_trust_command(args: argparse.Namespace) -> int:
    """Entry point of ``codex-orchestrator trust``."""
    from .. import trust
    from ..config import load_config_file, trust_file
    from ..errors import UsageError
    from ..terminal import visible

    paths: list[Path] = list(args.files)
    if not paths:
        if args.show or args.revoke:
            raise UsageError("--show and --revoke need FILE; e.g. trust --show pyproject.toml")
        return _list(args.format)
    if args.show:
        return _show(paths, args.format)
    store = trust.TrustStore.for_env()
    done = []
    for path in paths:
        if args.revoke:
            removed = store.revoke(path)
            done.append({"file": str(path), "revoked": removed})
            if args.format == "text":
                said = "revoked" if removed else "was not trusted"
                print(f"{visible(str(path))}: {said}")
            continue
        entry = trust_file(path)  # a bad file is refused before it is trusted
        needs = trust.needing_trust(load_config_file(path))
        done.append({"file": str(path), "trusted": entry.path, "enables": needs})
        if args.format == "text":
            enables = ", ".join(needs) if needs else "nothing that needs trust"
            print(f"{visible(str(path))}: trusted as it is now (enables: {visible(enables)})")
    if args.format == "json":
        json.dump(done, sys.stdout, indent=2)
        print()
    return 0
