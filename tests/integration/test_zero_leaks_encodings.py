"""Zero leaks, in every encoding: each known secret is printed raw, percent-encoded, JSON-
and Python-escaped, in base64 and hex, split across stdout and stderr, and searched for in
every encoding through every sink.

Known values: an environment secret with a quote, a backslash, a slash, a space and non-ASCII
characters; a command's own env; a multi-KiB token and a private key printed on one line
(JSON-escaped); and the orchestrator's own credentials, given by config file, flags, ``-c``
and environment variables: OTLP headers under names that do not look secret
(``x-honeycomb-team``, ``x-scope-orgid``), a webhook URL's userinfo, path token and
``?sig=``. The sinks:
``exec --jsonl`` (PTY), ``exec --json`` (pipe), ``exec`` with human output (on a terminal), a
``pytest --codex-task`` run with notifications to a file, a webhook and a command and OTLP to
a collector on 127.0.0.1, and an approval remembered for the task (``approvals.json``). Every
byte written under the repository and the test's directory, every byte on stdout and stderr,
every webhook and OTLP body is searched; the credentials still reach the receivers intact; the
digests recorded for ``--password`` cannot be checked against a guess offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import random
import re
import shlex
import string
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

from pytest_codex.config import trust_file
from tests.helpers.receivers import collector, receiver

CLI = [sys.executable, "-m", "pytest_codex.cli"]
_RNG = random.SystemRandom()


def _word(n: int = 16) -> str:
    return "".join(_RNG.choices(string.ascii_letters + string.digits, k=n))


def _lower_hex(quoted: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)


def encodings(value: str) -> dict[str, str]:
    """How a program prints ``value``, with the standard library's encoders; for base64 the
    part of a longer blob the value alone fixes, at each alignment."""
    raw = value.encode()
    forms = {
        "raw": value,
        "percent": urllib.parse.quote(value, safe=""),
        "percent-lower": _lower_hex(urllib.parse.quote(value, safe="")),
        "percent-plus": urllib.parse.quote_plus(value),
        "percent-plus-lower": _lower_hex(urllib.parse.quote_plus(value)),
        "json": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "python-repr": repr(value)[1:-1],
        "python-ascii": ascii(value)[1:-1],
        "python-bytes": repr(raw)[2:-1],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for offset in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            blob = encode(b"x" * offset + raw + b"yz").decode()
            first = -(-8 * offset // 6)
            forms[f"{name}-{offset}"] = blob[first : (8 * (offset + len(raw))) // 6]
    return forms


# The command: prints each value of $LEAK_NAMES in every encoding (the base64 forms inside a
# longer blob, at each alignment), then the first one split between stdout and stderr.
PRINTER = textwrap.dedent(
    """\
    import base64, json, os, re, sys, urllib.parse
    names = os.environ["LEAK_NAMES"].split(",")
    print("password=" + os.environ["FLAG_SECRET"], flush=True)
    for name in names:
        value = os.environ[name]
        raw = value.encode()
        forms = [value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
                 urllib.parse.quote(value, safe="").lower(), json.dumps(value),
                 json.dumps(value, ensure_ascii=False), repr(value), ascii(value), repr(raw),
                 raw.hex(), raw.hex().upper()]
        forms[3] = re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), forms[1])
        for offset in range(3):
            forms.append(base64.b64encode(b"x" * offset + raw + b"yz").decode())
            forms.append(base64.urlsafe_b64encode(b"x" * offset + raw + b"yz").decode())
        for form in forms:
            print(name, "->", form, flush=True)
    first = os.environ[names[0]]
    half = len(first) // 2
    sys.stdout.write("split: " + first[:half]); sys.stdout.flush()
    sys.stderr.write(first[half:] + " :split\\n"); sys.stderr.flush()
    """
)


def _secrets() -> dict[str, str]:
    pem_body = "\n".join(base64.b64encode(os.urandom(48)).decode() for _ in range(40))
    return {
        "DEPLOY_TOKEN": f'Tk "q\\u/+\u00e9 {_word()}',  # the environment's
        "SERVICE_API_KEY": f"cmd-{_word()}",  # the command's own env only
        "BIG_TOKEN": "big" + _word(6000),  # longer than the carry-over window
        "SIGNING_PRIVATE_KEY": (
            f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----"
        ),
        "FLAG_SECRET": f"fl{_word()}",
        # the orchestrator's own credentials (innocent names: construction protects them)
        "HC_FILE": f"hcf{_word()}",
        "HC_ENV": f"hce{_word()}",
        "HC_OVERRIDE": f"hco{_word()}",
        "HOOK_PATH": f"Hk{_word(22)}9",
        "HOOK_SIG": f"sig{_word()}",
        "HOOK_PASS": f"hp{_word()}",
        "OTEL_PASS": f"op{_word()}",
        "FLAG_HOOK_PATH": f"Fp{_word(22)}7",
    }


def _env(root: Path, planted: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update(
        {
            "CODEX_ORCHESTRATOR_ROOT": str(root),
            "CODEX_ORCHESTRATOR_STATE_DIR": str(root.parent / "state"),  # outside the repo
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "home" / "config"),
            "DEPLOY_TOKEN": planted["DEPLOY_TOKEN"],
            "BIG_TOKEN": planted["BIG_TOKEN"],
            "SIGNING_PRIVATE_KEY": planted["SIGNING_PRIVATE_KEY"],
            "FLAG_SECRET": planted["FLAG_SECRET"],
            # innocently named: only the redactor's construction knows these
            "HC_FILE": planted["HC_FILE"],
            "HC_ENV": planted["HC_ENV"],
            "HC_OVERRIDE": planted["HC_OVERRIDE"],
            "HOOK_PATH": planted["HOOK_PATH"],
            "HOOK_SIG": planted["HOOK_SIG"],
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-scope-orgid={planted['HC_ENV']}",
            # what each run knows: HC_OVERRIDE only the run given it with -c
            "LEAK_NAMES": "DEPLOY_TOKEN,BIG_TOKEN,SIGNING_PRIVATE_KEY,HC_FILE,HC_ENV,"
            "HOOK_PATH,HOOK_SIG",
        }
    )
    return env


INNER_TEST = """
import os
import sys
from pathlib import Path

from pytest_codex.execution import execute_command

PRINTER = {printer!r}


def test_prints_every_encoding(codex_run, tool_orchestrator, scripted_approver):
    root = Path(os.environ["CODEX_ORCHESTRATOR_ROOT"])
    env = {{"SERVICE_API_KEY": {command_secret!r},
            "LEAK_NAMES": os.environ["LEAK_NAMES"] + ",SERVICE_API_KEY"}}
    execution = execute_command(codex_run, [sys.executable, "-c", PRINTER], cwd=root,
                                mode="pipe", env=env)
    assert execution.exit_code == 0
    scripted_approver.queue(("approve", "task"))
    argv = ["true", "--password", os.environ["FLAG_SECRET"]]
    assert tool_orchestrator.run(argv, requires_approval=True).ok
"""

NOTIFY_COMMAND = """
import sys

with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(" ".join(sys.argv[2:]) + "\\n")
"""


def _run(argv: list[str], root: Path, env: dict[str, str]) -> bytes:
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, timeout=300)
    output = result.stdout + b"\n" + result.stderr
    assert result.returncode == 0, output.decode("utf-8", "replace")[-3000:]
    return output


def _run_on_a_terminal(argv: list[str], root: Path, env: dict[str, str]) -> bytes:
    """``argv`` with its stdout and stderr on a terminal (the human output)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    assert process.wait(timeout=300) == 0, b"".join(chunks)[-3000:]
    return b"".join(chunks)


def test_no_known_secret_leaves_in_any_encoding_through_any_sink(tmp_path: Path) -> None:
    planted = _secrets()
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "home").mkdir()
    streams: list[tuple[str, bytes]] = []
    inputs: set[Path] = set()
    printer = [sys.executable, "-c", PRINTER]
    team = f"otel.exporter.otlp-http.headers.x-honeycomb-team={planted['HC_OVERRIDE']}"

    with collector() as (otel_url, otel), receiver() as (hook_url, hook):
        otel_endpoint = otel_url.replace("://", f"://otel:{planted['OTEL_PASS']}@")
        hook_base = hook_url.replace("://", f"://alice:{planted['HOOK_PASS']}@")
        webhook = f"{hook_base}/services/T0AB12CD3/{planted['HOOK_PATH']}?sig={planted['HOOK_SIG']}"
        flag_hook = f"{hook_url}/api/webhooks/{planted['FLAG_HOOK_PATH']}"
        env = _env(root, planted)
        # The configuration every run reads: notifications to a file, a webhook (userinfo,
        # path token, ?sig=) and a command, OTLP with a header whose name looks harmless.
        notify_out = tmp_path / "notify-command.txt"
        notify_file = tmp_path / "notify-file.jsonl"
        notify_cmd = tmp_path / "notify_cmd.py"  # outside the workspace, as notify scripts must be
        notify_cmd.write_text(NOTIFY_COMMAND)
        (root / "test_printer.py").write_text(
            INNER_TEST.format(printer=PRINTER, command_secret=planted["SERVICE_API_KEY"])
        )
        config = {
            "notify": [
                f"file://{notify_file}",
                webhook,
                f"{shlex.quote(sys.executable)} {notify_cmd} {notify_out}",
            ],
            "otel": {
                "endpoint": otel_endpoint,
                "headers": {"x-honeycomb-team": planted["HC_FILE"]},
            },
            "guardrails": {"enabled": []},
        }
        (root / "codex.orchestrator.json").write_text(json.dumps(config))
        # Trusted as a person would (codex-orchestrator trust), in the runs' own state.
        trust_file(root / "codex.orchestrator.json", env)
        inputs.update({notify_cmd, root / "test_printer.py"})
        inputs.add(root / "codex.orchestrator.json")

        # 1. exec --jsonl (PTY), OTLP with a header from the environment, a webhook by flag
        streams.append(
            (
                "exec --jsonl",
                _run(
                    [*CLI, "exec", "--task", "enc", "--jsonl", "--otel-endpoint", otel_endpoint,
                     "--notify", flag_hook, "--", *printer],
                    root,
                    env,
                ),
            )
        )  # fmt: skip
        # 2. exec --json (pipe), -c overrides of credential keys
        streams.append(
            (
                "exec --json",
                _run(
                    [*CLI, "exec", "--task", "enc", "--json", "--pipe",
                     "-c", team,
                     "-c", f'notify=["{webhook}"]', "--", *printer],
                    root,
                    {**env, "LEAK_NAMES": env["LEAK_NAMES"] + ",HC_OVERRIDE"},
                ),
            )
        )  # fmt: skip
        # 3. exec with human output, on a terminal; the webhook from the environment
        human_env = {**env, "CODEX_ORCHESTRATOR_NOTIFY": webhook}
        streams.append(
            (
                "exec human",
                _run_on_a_terminal(
                    [*CLI, "exec", "--task", "enc", "--pipe", "--", *printer], root, human_env
                ),
            )
        )
        # 4. pytest --codex-task: a command with its own env, an approval for the task
        streams.append(
            (
                "pytest",
                _run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                     f"--basetemp={tmp_path / 'inner'}", "--codex-task=enc", "test_printer.py"],
                    root,
                    env,
                ),
            )
        )  # fmt: skip

    # Every sink got something, and the credentials reached the receivers intact.
    assert otel.spans() and hook.requests and notify_file.is_file() and notify_out.is_file()
    assert (root / ".runs" / "enc" / "approvals.json").is_file()
    hook_paths = {path for path, _ in hook.requests}
    assert f"/services/T0AB12CD3/{planted['HOOK_PATH']}?sig={planted['HOOK_SIG']}" in hook_paths
    assert f"/api/webhooks/{planted['FLAG_HOOK_PATH']}" in hook_paths
    basic = base64.b64encode(f"alice:{planted['HOOK_PASS']}".encode()).decode()
    assert f"Basic {basic}" in {h.get("Authorization") for h in hook.headers}
    sent = {(k.lower(), v) for h in otel.headers for k, v in h.items()}
    assert {("x-scope-orgid", planted["HC_ENV"]), ("x-honeycomb-team", planted["HC_FILE"])} <= sent

    searched = {
        name: {form: text.encode() for form, text in encodings(value).items()}
        for name, value in planted.items()
    }
    # Not printed in every encoding by any command, but must not appear raw anywhere.
    hits: list[str] = []

    def search(label: str, data: bytes) -> None:
        for name, forms in searched.items():
            for form, needle in forms.items():
                if needle in data:
                    hits.append(f"{label}: {name} as {form}")

    for label, data in streams:
        search(label, data)
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path not in inputs and ".git" not in path.parts:
            if path.parent == tmp_path / "state":
                continue  # the digest key: this user's, hidden from every sandbox
            search(str(path.relative_to(tmp_path)), path.read_bytes())
    for index, (_, body) in enumerate(hook.requests):
        search(f"webhook body {index}", body)
    for index, (_, body) in enumerate(otel.requests):
        search(f"OTLP body {index}", body)
    assert not hits, "secrets leaked:\n" + "\n".join(sorted(set(hits))[:80])

    # The digest of `--password <secret>` recorded with the approval is keyed: hashing the
    # right guess offline finds nothing.
    argv = ["true", "--password", planted["FLAG_SECRET"]]
    guess = hashlib.sha256(
        json.dumps(argv, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    recorded = b"".join(p.read_bytes() for p in (root / ".runs").rglob("*") if p.is_file())
    assert b'"digest"' in (root / ".runs" / "enc" / "approvals.json").read_bytes()
    assert guess.encode() not in recorded
    # What was printed is there, redacted: each form of each value is one mark.
    logs = b"".join(p.read_bytes() for p in (root / ".runs").rglob("*.log"))
    for name in ("DEPLOY_TOKEN", "BIG_TOKEN", "SIGNING_PRIVATE_KEY", "HC_FILE", "HOOK_SIG"):
        lines = re.findall(rb"^" + name.encode() + rb" -> .*\[REDACTED\]", logs, re.MULTILINE)
        assert len(lines) == 4 * 17, name  # 4 runs, 17 forms each
    assert b"SERVICE_API_KEY -> [REDACTED]" in logs and b"HC_OVERRIDE -> [REDACTED]" in logs
    assert all(b"-> [REDACTED]" in data for label, data in streams if label != "pytest")
    # Both printed halves of the split secret came out as one mark, in the merged log.
    assert logs.count(b"split: [REDACTED] :split") >= 3
