"""``codex-orchestrator runs list|show|verify|gc|key``: read the manifests runs left, verify
their signed attestations, mark killed runs abandoned, and show this machine's signing key."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import CodexError
from ..manifest import is_stale, load_manifest, mark_abandoned
from ..run import find_manifest, iter_manifests
from ..terminal import visible
from ._options import add_context_options, add_format_option, load_context


def register(subparsers: Any) -> None:
    """Add ``runs`` and its sub-commands."""
    runs = subparsers.add_parser("runs", help="list and show recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = runs_sub.add_parser(
        "list",
        help="list runs, oldest first",
        description="One line per run, oldest first: run id, task, pipeline, status, duration "
        "(its age for a run still in progress; a run whose heartbeat stopped shows 'stale'), "
        "tests and commands, in columns that fit the terminal ($COLUMNS).",
    )
    add_context_options(listing)
    add_format_option(listing)
    listing.set_defaults(handler=run_list)

    show = runs_sub.add_parser(
        "show",
        help="show one run's manifest",
        description="A short view of the run: status, pipeline, times, approvals, tests "
        "(and each failed test with the first line of its failure), guardrails (and each "
        "finding as path:line rule message) and reviews. 'latest' is the latest top-level "
        "run (one without a parentRunId).",
    )
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
        return {
            "runId": path.parent.name,
            "status": "unreadable",
            "error": str(exc),
            "manifest": str(path),
        }


def _fields(manifest: dict[str, Any], path: Path) -> dict[str, Any]:
    return {
        "runId": manifest["runId"],
        "parentRunId": manifest.get("parentRunId"),
        "taskId": manifest["taskId"],
        "status": manifest["status"],
        "stale": is_stale(manifest),
        "runner": manifest["runner"],
        "pipelineId": manifest.get("pipelineId"),
        "startedAt": manifest["startedAt"],
        "completedAt": manifest.get("completedAt"),
        "durationSeconds": _duration(manifest),
        "tests": len(manifest.get("tests", [])),
        "commands": len(manifest.get("commands", [])),
        "manifest": str(path),
    }


def _duration(manifest: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds from start to completion; for a run still in progress (or one that died
    without finishing) its age so far."""
    import time

    from ..timeutil import parse_timestamp

    try:
        start = parse_timestamp(str(manifest["startedAt"])).timestamp()
        end = manifest.get("completedAt")
        stop = parse_timestamp(str(end)).timestamp() if end else (now or time.time())
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, stop - start)


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``3m04s``, ``2h05m``, ``3d04h``: at most six characters."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if days < 100 else f"{days}d"


# RUN ID is never cut (it is what the other commands take); TASK and PIPELINE are cut
# to these widths, and TASK further to fit the terminal.
_RUN_ID_WIDTH = 33
_TASK_MAX, _TASK_MIN = 28, 8
_PIPELINE_MAX = 14
_STATUS_WIDTH = 11  # in_progress


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "\u2026"


def _terminal_width() -> int | None:
    """The width to fit lines in: ``COLUMNS``, else the terminal's; None when piped."""
    import os
    import shutil

    if not os.environ.get("COLUMNS") and not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def list_lines(rows: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """The text table of ``runs list``: aligned columns, one line per run, each at most
    ``width`` characters when given (TESTS and CMDS go first when it is narrow, then TASK
    is cut); a stale run shows ``stale`` and its age."""
    readable = [r for r in rows if r["status"] != "unreadable"]
    task_w = min(_TASK_MAX, max([4, *(len(str(r["taskId"])) for r in readable)]))
    pipes = [len(str(r.get("pipelineId") or "-")) for r in readable]
    pipe_w = min(_PIPELINE_MAX, max([8, *pipes]))
    counts = [("TESTS", "tests", 5), ("CMDS", "commands", 4)]
    fixed = _RUN_ID_WIDTH + 1 + 1 + pipe_w + 1 + _STATUS_WIDTH + 1 + 8
    if width is not None:
        while counts and fixed + _TASK_MIN + sum(w + 1 for _, _, w in counts) > width:
            counts.pop()
        room = width - fixed - sum(w + 1 for _, _, w in counts)
        task_w = max(_TASK_MIN, min(task_w, room))
    head = (
        f"{'RUN ID':{_RUN_ID_WIDTH}} {'TASK':{task_w}} {'PIPELINE':{pipe_w}} "
        f"{'STATUS':{_STATUS_WIDTH}} {'DURATION':>8}"
        + "".join(f" {title:>{w}}" for title, _, w in counts)
    )
    lines = [head]
    for row in rows:
        if row["status"] == "unreadable":
            problem = str(row["error"]).removeprefix(f"{row.get('manifest')}: ")
            line = f"{row['runId']:{_RUN_ID_WIDTH}} unreadable: {problem}"
        else:
            status = "stale" if row.get("stale") else str(row["status"])
            took = format_duration(row.get("durationSeconds"))
            line = (
                f"{row['runId']:{_RUN_ID_WIDTH}} {_cut(str(row['taskId']), task_w):{task_w}} "
                f"{_cut(str(row.get('pipelineId') or '-'), pipe_w):{pipe_w}} "
                f"{_cut(status, _STATUS_WIDTH):{_STATUS_WIDTH}} {took:>8}"
                + "".join(f" {row.get(key, 0):>{w}}" for _, key, w in counts)
            )
        lines.append(line)
    return lines if width is None else [_cut(line, width) for line in lines]


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
    print("\n".join(visible(line) for line in list_lines(rows, _terminal_width())))
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
        print(visible(render_manifest(manifest, path), lines=True))
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
        print(visible(f"run {run_dir.name}: INVALID: {result.detail} ({result.attestation})"))
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
            print(visible(f"trusted {key['keyid']} from {key['source']}{mine}"))
        if not trusted:
            print("no trusted keys: add the key above to evidence.trusted_keys")
    return 0


# A terminal shows the first failed tests and findings; the manifest keeps them all.
MAX_SHOWN = 20


def _first_line(text: Any) -> str:
    """The first non-blank line of a failure or message (``""`` for none)."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def render_manifest(manifest: dict[str, Any], path: Path) -> str:
    """A short human view of a manifest."""
    status = manifest["status"] + (" (stale heartbeat)" if is_stale(manifest) else "")
    lines = [
        f"run       {manifest['runId']}",
        f"task      {manifest['taskId']}",
        f"status    {status}"
        + (f" - {manifest['statusDetail']}" if manifest["statusDetail"] else ""),
        f"runner    {manifest['runner']} (pipeline {manifest.get('pipelineId')})",
        *([f"parent    {manifest['parentRunId']}"] if manifest.get("parentRunId") else []),
        f"started   {manifest['startedAt']}",
        f"completed {manifest.get('completedAt') or '-'}"
        + (" (took " if manifest.get("completedAt") else " (age ")
        + f"{format_duration(_duration(manifest))})",
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
    failed = [t for t in tests if t.get("outcome") in ("failed", "error")]
    for record in failed[:MAX_SHOWN]:
        lines.append(f"  {record['outcome']:6} {record['nodeid']}")
        first = _first_line(record.get("failure"))
        if first:
            lines.append(f"         {first}")
    if len(failed) > MAX_SHOWN:
        lines.append(f"  ... {len(failed) - MAX_SHOWN} more failed tests in the manifest")
    for guardrail in manifest.get("guardrails", []):
        cached = ", cached" if guardrail.get("cached") else ""
        findings = guardrail.get("findings") or []
        summary = f": {guardrail['summary']}" if guardrail.get("summary") else ""
        lines.append(
            f"  guardrail {guardrail['name']}: {guardrail['status']} "
            f"({len(findings)} findings{cached}){summary}"
        )
        for finding in findings[:MAX_SHOWN]:
            where = str(finding.get("path") or "-")
            if finding.get("line") is not None:
                where = f"{where}:{finding['line']}"
            lines.append(f"    {where} {finding.get('rule')} {_first_line(finding.get('message'))}")
        if len(findings) > MAX_SHOWN:
            lines.append(f"    ... {len(findings) - MAX_SHOWN} more findings in the manifest")
    for review in manifest.get("reviews", []):
        lines.append(
            f"review    {review['outcome']} by {review['actor']} at {review['recordedAt']}: "
            f"{review['reason']}"
        )
    return "\n".join(lines)
