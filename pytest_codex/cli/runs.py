"""``codex-orchestrator runs list|show|verify|gc|key``: read the manifests runs left, verify
their signed attestations, mark killed runs abandoned, and show this machine's signing key."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import CodexError
from ..manifest import is_stale, load_manifest, mark_abandoned
from ..run import find_manifest, iter_manifests
from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``runs`` and its sub-commands."""
    runs = subparsers.add_parser("runs", help="list and show recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = runs_sub.add_parser("list", help="list runs, oldest first")
    add_context_options(listing)
    add_format_option(listing)
    listing.set_defaults(handler=run_list)

    show = runs_sub.add_parser("show", help="show one run's manifest")
    show.add_argument("run", metavar="RUN", help="a run id, or 'latest'")
    add_context_options(show)
    add_format_option(show)
    show.set_defaults(handler=run_show)

    verify = runs_sub.add_parser(
        "verify",
        help="verify a run's signed attestation (attestation.intoto.jsonl)",
        description="Check the DSSE signature of the run's attestation against the trusted "
        "keys (config evidence.trusted_keys, and this machine's own key) and the sha256 digest "
        "of every subject (manifest.json, events.jsonl, commands/*.log) against the files.",
        epilog="Exit codes: 0 valid, 1 invalid (names the bad signature or the first subject "
        "that changed), 2 usage error (no such run).",
    )
    verify.add_argument(
        "run", metavar="RUN|PATH", help="a run id, 'latest', or a run directory / file in it"
    )
    add_context_options(verify)
    add_format_option(verify)
    verify.set_defaults(handler=run_verify)

    gc = runs_sub.add_parser(
        "gc", help="mark runs whose heartbeat is stale (killed runs) as abandoned"
    )
    add_context_options(gc)
    add_format_option(gc)
    gc.set_defaults(handler=run_gc)

    key = runs_sub.add_parser(
        "key",
        help="print this machine's public signing key and its keyid (creating the key if "
        "needed), to add to a repository's evidence.trusted_keys",
    )
    add_context_options(key, task=False)
    add_format_option(key)
    key.set_defaults(handler=run_key)


def _readable(path: Path) -> dict[str, Any]:
    """The manifest at ``path``; a :class:`CodexError` in one line when it is not one."""
    try:
        manifest: Any = load_manifest(path)
    except (OSError, ValueError) as exc:
        raise CodexError(f"{path}: cannot read the manifest ({exc})") from exc
    missing = [k for k in _SHOWN if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        what = "an object" if isinstance(manifest, dict) else type(manifest).__name__
        raise CodexError(
            f"{path}: not a run manifest ({what} without {', '.join(missing[:3])}); "
            "it was not written by codex-orchestrator"
        )
    return dict(manifest)


_SHOWN = ("runId", "taskId", "status", "runner", "startedAt")


def _row(path: Path) -> dict[str, Any]:
    try:
        manifest = _readable(path)
        return _fields(manifest, path)
    except (CodexError, KeyError, TypeError, ValueError) as exc:
        return {"runId": path.parent.name, "status": "unreadable", "error": str(exc)}


def _fields(manifest: dict[str, Any], path: Path) -> dict[str, Any]:
    return {
        "runId": manifest["runId"],
        "taskId": manifest["taskId"],
        "status": manifest["status"],
        "stale": is_stale(manifest),
        "runner": manifest["runner"],
        "pipelineId": manifest.get("pipelineId"),
        "startedAt": manifest["startedAt"],
        "completedAt": manifest.get("completedAt"),
        "tests": len(manifest.get("tests", [])),
        "commands": len(manifest.get("commands", [])),
        "manifest": str(path),
    }


def run_list(args: argparse.Namespace) -> int:
    """``runs list``."""
    context = load_context(args)
    task = args.task or None
    rows = [_row(path) for path in iter_manifests(context, task)]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {context.roots.runs_dir}")
        return 0
    print(f"{'RUN ID':36} {'TASK':28} {'STATUS':18} {'RUNNER':7} {'TESTS':>5} {'CMDS':>5}")
    for row in rows:
        if row["status"] == "unreadable":
            print(f"{row['runId']:36} unreadable: {row['error']}")
            continue
        status = str(row["status"]) + (" (stale)" if row.get("stale") else "")
        print(
            f"{row['runId']:36} {row.get('taskId', '?')!s:28} {status:18} "
            f"{row.get('runner', '?')!s:7} {row.get('tests', 0):>5} {row.get('commands', 0):>5}"
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``runs show``."""
    context = load_context(args)
    path = find_manifest(context, args.run, task_id=args.task or None)
    manifest = _readable(path)
    if args.format == "json":
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
        return 0
    try:
        print(render_manifest(manifest, path))
    except (KeyError, TypeError, AttributeError) as exc:
        raise CodexError(f"{path}: malformed manifest ({type(exc).__name__}: {exc})") from exc
    return 0


def _run_dir(context: Any, ref: str, task: str | None) -> Path:
    """The run directory ``ref`` names: a run id, ``latest``, or a path in a run directory."""
    from ..errors import RunNotFoundError
    from ..ids import is_run_id

    if ref == "latest" or is_run_id(ref):
        return find_manifest(context, ref, task_id=task).parent
    path = Path(ref).expanduser()
    if path.is_file():
        path = path.parent
    if path.name == "commands":
        path = path.parent
    if not path.is_dir() or not is_run_id(path.name):
        raise RunNotFoundError(
            f"{ref} is not a run id, 'latest' or a run directory (.runs/<task>/cli/<run-id>)"
        )
    return path


def run_verify(args: argparse.Namespace) -> int:
    """``runs verify``: exit 0 valid, 1 invalid."""
    from ..attestation import EvidencePolicy, load_signer, signer_public_key, verify_run

    context = load_context(args)
    run_dir = _run_dir(context, str(args.run), args.task or None)
    policy = EvidencePolicy.from_settings(context.config.get("evidence"), context.roots.root)
    keys = list(policy.trusted)
    own = load_signer(context.env, context.config.get("evidence"), create=False)
    if own is not None:
        keys.append(signer_public_key(own))
    result = verify_run(run_dir, keys)
    if args.format == "json":
        print(json.dumps({"run": run_dir.name, **result.to_json()}, indent=2))
    elif result.ok:
        print(f"run {run_dir.name}: valid attestation signed by {result.keyid}")
    else:
        print(f"run {run_dir.name}: INVALID: {result.detail} ({result.attestation})")
    return 0 if result.ok else 1


def run_gc(args: argparse.Namespace) -> int:
    """``runs gc``: mark stale ``in_progress`` runs ``abandoned``."""
    from ..ids import validate_task_id

    context = load_context(args)
    runs_dir = context.roots.runs_dir
    if args.task:
        tasks = [runs_dir / validate_task_id(args.task)]
    else:
        tasks = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    marked = [str(p) for task in tasks for p in mark_abandoned(task, by="runs gc")]
    if args.format == "json":
        print(json.dumps({"abandoned": marked}, indent=2))
    else:
        print("\n".join(f"abandoned {p}" for p in marked) or "no stale runs")
    return 0


def run_key(args: argparse.Namespace) -> int:
    """``runs key``: this machine's public key and keyid."""
    from ..attestation import EvidencePolicy, key_location, load_signer, signer_public_key

    context = load_context(args)
    settings = context.config.get("evidence")
    signer = load_signer(context.env, settings, workspace=context.roots.root)
    if signer is None:  # only when the key may not be created, which it may here
        raise CodexError(f"no signing key at {key_location(context.env, settings)}")
    public = signer_public_key(signer)
    policy = EvidencePolicy.from_settings(settings, context.roots.root)
    trusted = [{"keyid": k.keyid, "source": k.source} for k in policy.trusted]
    if args.format == "json":
        print(
            json.dumps(
                {
                    "keyid": public.keyid,
                    "publicKey": public.pem,
                    "trusted": trusted,
                    "trustedHere": any(k["keyid"] == public.keyid for k in trusted),
                },
                indent=2,
            )
        )
    else:
        print(f"keyid {public.keyid} (private key: {key_location(context.env, settings)})")
        print(public.pem, end="")
        for key in trusted:
            mine = " (this machine)" if key["keyid"] == public.keyid else ""
            print(f"trusted {key['keyid']} from {key['source']}{mine}")
        if not trusted:
            print("no trusted keys: add the key above to evidence.trusted_keys")
    return 0


def render_manifest(manifest: dict[str, Any], path: Path) -> str:
    """A short human view of a manifest."""
    status = manifest["status"] + (" (stale heartbeat)" if is_stale(manifest) else "")
    lines = [
        f"run       {manifest['runId']}",
        f"task      {manifest['taskId']}",
        f"status    {status}"
        + (f" - {manifest['statusDetail']}" if manifest["statusDetail"] else ""),
        f"runner    {manifest['runner']} (pipeline {manifest.get('pipelineId')})",
        f"started   {manifest['startedAt']}",
        f"completed {manifest.get('completedAt') or '-'}",
        f"approvals {manifest['approvalProfile']['approvalPolicy']}, "
        f"sandbox {manifest['approvalProfile']['sandboxMode']}",
        f"manifest  {path}",
    ]
    instructions = manifest.get("instructions")
    if instructions:
        included = [src["path"] for src in instructions["sources"] if not src.get("skipped")]
        lines.append(f"instructions {instructions['combinedHash'][:19]}... ({', '.join(included)})")
    for name, health in sorted(manifest.get("sinks", {}).items()):
        if health.get("state") not in ("closed", "active"):
            lines.append(f"sink      {name}: {health['state']} ({health.get('error')})")
    tests = manifest.get("tests", [])
    if tests:
        counts: dict[str, int] = {}
        for record in tests:
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
        lines.append("tests     " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for label, key in (
        ("commands", "commands"),
        ("toolRuns", "toolRuns"),
        ("guardrails", "guardrails"),
    ):
        if manifest.get(key):
            lines.append(f"{label:9} {len(manifest[key])}")
    for guardrail in manifest.get("guardrails", []):
        cached = ", cached" if guardrail.get("cached") else ""
        lines.append(
            f"  guardrail {guardrail['name']}: {guardrail['status']} "
            f"({len(guardrail['findings'])} findings{cached})"
        )
    for review in manifest.get("reviews", []):
        lines.append(
            f"review    {review['outcome']} by {review['actor']} at {review['recordedAt']}: "
            f"{review['reason']}"
        )
    return "\n".join(lines)
