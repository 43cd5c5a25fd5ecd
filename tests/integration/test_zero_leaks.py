"""Zero leaks: secrets planted in every form never leave the process, whatever the sink.

One test plants unique random secrets (environment values, argv flags, auth headers, URL
userinfo, ``NAME=value`` assignments, a Codex ``-c`` override, token shapes, a PEM block, a
secret split across a pause in pipe and PTY mode) in a ``codex-orchestrator exec --jsonl``
(PTY mode, OTEL export to a collector-like receiver), an ``exec --json`` (pipe mode), a
``pytest --codex-task`` run with a failing guardrail, a command and notifications to a file,
a webhook and a command, and a ``review``; then it searches every byte written under the
repository (runs, out, caches, approvals, metrics), every byte on stdout and stderr, every
webhook and OTLP body and the notify command's payload file for each secret value.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shlex
import string
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers.receivers import collector, receiver
from tests.helpers.trust import trusted

CLI = [sys.executable, "-m", "pytest_codex.cli"]
_RNG = random.SystemRandom()  # unique values on every run


def _word(n: int = 20) -> str:
    return "".join(_RNG.choices(string.ascii_letters + string.digits, k=n))


def _secrets() -> dict[str, str]:
    """A fresh value for every form (names say the form)."""
    upper = string.ascii_uppercase + string.digits
    split = "sp" + _word(24)
    return {
        # values of secret-looking environment variables
        "env_token": "tk" + _word(),
        "env_pat": "pt" + _word(),
        "env_aws": "aw" + _word(30),
        "env_key": "ky" + _word(),
        "env_split_pipe": split,
        "env_split_pty": "sq" + _word(24),
        # argv forms
        "flag_password": "pw" + _word(),
        "flag_token": "ft" + _word(),
        "flag_api_key": "fa" + _word(),
        "header_bearer": "hb" + _word(),
        "header_option": "ho" + _word(),
        "url_password": "up" + _word(),
        "assignment": "as" + _word(),
        "codex_override": "co" + _word(),
        "cli_codex_override": "cc" + _word(),
        # token shapes with no name around them
        "ghp": "ghp_" + _word(36),
        "github_pat": "github_pat_" + _word(22) + "_" + _word(40),
        "sk": "sk-" + _word(32),
        "akia": "AKIA" + "".join(_RNG.choices(upper, k=16)),
        "xoxb": "xoxb-" + "".join(_RNG.choices(string.digits, k=12)) + "-" + _word(24),
        "pem_line1": base64.b64encode(os.urandom(45)).decode(),
        "pem_line2": base64.b64encode(os.urandom(45)).decode(),
        # configured URLs, review reason
        "webhook_password": "wp" + _word(),
        "otel_password": "op" + _word(),
        "review_token": "rv" + _word(),
    }


# The command every run executes: its argv holds the argv forms, its output echoes them,
# the environment's secrets, the token shapes, a PEM block and a secret split by a pause.
SCRIPT = textwrap.dedent(
    """\
    echo "args: $*"
    echo "env: $DEPLOY_TOKEN / $GITHUB_PAT / $AWS_SECRET_ACCESS_KEY / $SERVICE_API_KEY"
    echo "shapes: $S_GHP $S_FINE ($S_SK) $S_AKIA,$S_XOXB"
    printf '%s\\n' "-----BEGIN RSA PRIVATE KEY-----" "$S_PEM1" "$S_PEM2" \\
      "-----END RSA PRIVATE KEY-----"
    printf 'split: %s' "$HALF_ONE"; sleep 0.3; printf '%s done\\n' "$HALF_TWO"
    echo "error: login failed for --password $2" >&2
    """
)


def _argv(s: dict[str, str]) -> list[str]:
    return [
        "sh",
        "-c",
        SCRIPT,
        "leaky",
        "--password",
        s["flag_password"],
        f"--token={s['flag_token']}",
        "--api-key",
        s["flag_api_key"],
        "-H",
        f"Authorization: Bearer {s['header_bearer']}",
        "--header",
        f"Authorization=Bearer {s['header_option']}",
        f"https://bob:{s['url_password']}@git.example.invalid/r.git",
        f"DB_PASSWORD={s['assignment']}",
        "-c",
        f"api_key={s['codex_override']}",
        s["env_token"],
        s["ghp"],
    ]


def _env(root: Path, s: dict[str, str], split: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    half = len(s[split]) // 2
    env.update(
        {
            "CODEX_ORCHESTRATOR_ROOT": str(root),
            "HOME": str(root / "home"),
            "XDG_CACHE_HOME": str(root / "home" / "cache"),
            "XDG_CONFIG_HOME": str(root / "home" / "config"),
            "DEPLOY_TOKEN": s["env_token"],
            "GITHUB_PAT": s["env_pat"],
            "AWS_SECRET_ACCESS_KEY": s["env_aws"],
            "SERVICE_API_KEY": s["env_key"],
            "SPLIT_TOKEN": s[split],
            # innocently named: only the patterns protect these
            "S_GHP": s["ghp"],
            "S_FINE": s["github_pat"],
            "S_SK": s["sk"],
            "S_AKIA": s["akia"],
            "S_XOXB": s["xoxb"],
            "S_PEM1": s["pem_line1"],
            "S_PEM2": s["pem_line2"],
            "HALF_ONE": s[split][:half],
            "HALF_TWO": s[split][half:],
        }
    )
    return env


GUARDRAIL = """
import os

from guardrails import Finding, Guardrail, Result, hookimpl


class Leaky(Guardrail):
    name = "leaky"

    def run(self, ctx):
        message = (
            f"found {os.environ['S_GHP']} and {os.environ['DEPLOY_TOKEN']} "
            f"(--password {os.environ['FLAG_PASSWORD']})"
        )
        return Result.from_findings([Finding("leaky/secret", message, "app.py", 1, "rotate it")])


@hookimpl
def codex_guardrails():
    return [Leaky()]
"""

TEST_FILE = """
import os
import sys
from pathlib import Path

from pytest_codex.execution import execute_command

ARGV = {argv!r}


def test_runs_a_leaky_command(codex_run):
    root = Path(os.environ["CODEX_ORCHESTRATOR_ROOT"])
    execution = execute_command(codex_run, ARGV, cwd=root, mode="pipe")
    print("stdout of the test:", os.environ["DEPLOY_TOKEN"], os.environ["S_SK"])
    print("stderr of the test:", os.environ["S_XOXB"], file=sys.stderr)
    assert execution.exit_code == 0
"""

NOTIFY_COMMAND = """
import sys

with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(" ".join(sys.argv[2:]) + "\\n")
    out.write(sys.stdin.read() if not sys.stdin.isatty() else "")
"""


def _run(argv: list[str], root: Path, env: dict[str, str], stdin: str = "") -> bytes:
    result = subprocess.run(
        argv, cwd=root, env=env, input=stdin.encode(), capture_output=True, timeout=300
    )
    output = result.stdout + b"\n" + result.stderr
    assert result.returncode in (0, 1), output.decode("utf-8", "replace")[-3000:]
    return output


def _hits(label: str, data: bytes, planted: dict[str, str]) -> list[str]:
    return [
        f"{label}: {form} ({value[:6]}...)"
        for form, value in planted.items()
        if value.encode() in data
    ]


def test_no_secret_leaves_the_process_in_any_form_through_any_sink(tmp_path: Path) -> None:
    planted = _secrets()
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "home").mkdir()
    inputs: set[Path] = set()
    streams: list[tuple[str, bytes]] = []

    with collector() as (otel_url, otel), receiver() as (hook_url, hook):
        otel_endpoint = otel_url.replace("://", f"://otel:{planted['otel_password']}@")
        webhook = hook_url.replace("://", f"://alice:{planted['webhook_password']}@") + "/hook"

        # 1. exec --jsonl, PTY mode, OTEL export with credentials in the endpoint
        env = _env(root, planted, "env_split_pty")
        streams.append(
            (
                "exec --jsonl stdout+stderr",
                _run(
                    [
                        *CLI,
                        "exec",
                        "--task",
                        "leaks",
                        "--jsonl",
                        "--otel-endpoint",
                        otel_endpoint,
                        "--",
                        *_argv(planted),
                    ],
                    root,
                    env,
                ),
            )
        )

        # 2. exec --json (Codex dialect), pipe mode, a Codex -c override of a secret
        env = _env(root, planted, "env_split_pipe")
        streams.append(
            (
                "exec --json stdout+stderr",
                _run(
                    [
                        *CLI,
                        "exec",
                        "--task",
                        "leaks",
                        "--json",
                        "--pipe",
                        "-c",
                        f"api_key={planted['cli_codex_override']}",
                        "--",
                        *_argv(planted),
                    ],
                    root,
                    env,
                ),
            )
        )

        # 3. pytest --codex-task: a command, a failing guardrail, three notification kinds
        notify_out = tmp_path / "notify-command-payloads.txt"
        notify_file = tmp_path / "notify-file.jsonl"
        notify_cmd = tmp_path / "notify_cmd.py"  # outside the workspace, as notify scripts must be
        notify_cmd.write_text(NOTIFY_COMMAND)
        (root / "local_guardrails.py").write_text(GUARDRAIL)
        (root / "test_leaky.py").write_text(TEST_FILE.format(argv=_argv(planted)))
        config = {
            "notify": [
                f"file://{notify_file}",
                webhook,
                f"{shlex.quote(sys.executable)} {notify_cmd} {notify_out}",
            ],
            "guardrails": {"plugins": ["local_guardrails"], "enabled": ["leaky"]},
        }
        config_file = root / "codex.orchestrator.json"
        trusted(config_file, json.dumps(config))
        inputs.update({notify_cmd, root / "local_guardrails.py", root / "test_leaky.py"})
        inputs.add(config_file)
        env = _env(root, planted, "env_split_pipe")
        env["FLAG_PASSWORD"] = planted["flag_password"]
        env["PYTHONPATH"] = str(root)
        streams.append(
            (
                "pytest stdout+stderr",
                _run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-p",
                        "no:cacheprovider",
                        f"--basetemp={tmp_path / 'inner'}",
                        "--codex-task=leaks",
                    ],
                    root,
                    env,
                ),
            )
        )

        # 4. a review whose reason holds secrets
        reason = (
            f"token {planted['review_token']} is fine? also {planted['env_token']} and "
            f"{planted['ghp']}"
        )
        env = _env(root, planted, "env_split_pipe")
        env["REVIEW_TOKEN"] = planted["review_token"]
        streams.append(
            (
                "review stdout+stderr",
                _run(
                    [
                        *CLI,
                        "review",
                        "--task",
                        "leaks",
                        "--outcome",
                        "changes-requested",
                        "--reason",
                        reason,
                        "--format",
                        "json",
                    ],
                    root,
                    env,
                ),
            )
        )

    # Each sink really got something (a test that checks nothing would pass too).
    assert otel.spans(), "no OTLP body arrived"
    assert hook.requests, "no webhook body arrived"
    assert notify_file.is_file() and notify_out.is_file()
    runs = sorted((root / ".runs" / "leaks" / "cli").glob("*/manifest.json"))
    assert len(runs) == 3, runs
    logs = sorted((root / ".runs").rglob("*.log"))
    # Credentials in configured URLs: sent as basic auth, never recorded.
    basic = base64.b64encode(f"alice:{planted['webhook_password']}".encode()).decode()
    assert {h.get("Authorization") for h in hook.headers} == {f"Basic {basic}"}
    basic = base64.b64encode(f"otel:{planted['otel_password']}".encode()).decode()
    assert {h.get("Authorization") for h in otel.headers} == {f"Basic {basic}"}

    hits: list[str] = []
    for label, data in streams:
        hits += _hits(label, data, planted)
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path not in inputs and ".git" not in path.parts:
            hits += _hits(str(path.relative_to(tmp_path)), path.read_bytes(), planted)
    for index, (url, body) in enumerate(hook.requests):
        hits += _hits(f"webhook body {index} ({url})", body, planted)
    for index, (url, body) in enumerate(otel.requests):
        hits += _hits(f"OTLP body {index} ({url})", body, planted)
    assert not hits, "secrets leaked:\n" + "\n".join(hits)
    # The split secrets went through in halves and came out redacted whole, in PTY and pipe
    # mode alike.
    manifest = json.loads(runs[-1].read_text())
    assert manifest["commands"][0]["logRedacted"] is True
    assert len(logs) == 3 and all(b"split: [REDACTED] done" in p.read_bytes() for p in logs)
