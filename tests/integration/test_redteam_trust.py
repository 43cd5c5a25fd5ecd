"""Red team: the trusted side reads and runs nothing the agent wrote (docs/trust-boundary.md).

Every attack plants what a command with write access to the workspace could leave behind (a
configuration file, a ``git`` shim in the repository's ``.venv/bin``, a filter in a
submodule's git directory, a symbolic link at ``-o FILE``), often in a file that did not exist
before, and then runs the real ``codex-orchestrator`` console script, as root and as an
unprivileged user (``setpriv``). A marker file outside the workspace shows whether planted
code ran; the CLI must refuse or ignore the plant, and the marker must not exist.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_codex.sandbox import probe_bubblewrap
from tests.helpers.actors import Actor, actor  # noqa: F401  (the actor fixture)

BWRAP = probe_bubblewrap()
pytestmark = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)
CLI = Path(sys.executable).parent / "codex-orchestrator"
TASK = "rt-trust"
SHIMS = ("git", "python3", "python", "bash", "sh", "bwrap", "ruff", "touch", "true")


@dataclass
class Workspace:
    """A git repository (outside the private /tmp) owned by the actor, with a marker path
    outside it that planted code would create."""

    base: Path
    root: Path
    actor: Actor
    marker: Path
    path_prefix: list[str] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "XDG"))}
        env.update(
            HOME=str(self.base),
            XDG_CONFIG_HOME=str(self.base / ".config"),
            XDG_STATE_HOME=str(self.base / ".state"),
            CODEX_ORCHESTRATOR_ROOT=str(self.root),
            MCP_RUNNER_TASK_ID=TASK,
            PATH=os.pathsep.join([*self.path_prefix, os.environ.get("PATH", os.defpath)]),
        )
        env.update(extra)
        return env

    def run(
        self, *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` as the actor, in the workspace (``cwd``), with ``env`` added."""
        return subprocess.run(
            [*self.actor.prefix, *argv],
            cwd=cwd or self.root,
            env=self.env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(CLI), *args, env=env)

    def exec(self, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = ["exec", "--approval-policy", "never", "-s", "workspace-write", "--", *command]
        return self.cli(*argv, **env)

    def write(self, rel: str, text: str) -> Path:
        """Plant ``rel`` as the actor would (owned by it)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.actor.chown(self.root)
        return path

    def trust(self, rel: str) -> None:
        """A person reviews ``rel`` and trusts it (``codex-orchestrator trust``)."""
        done = self.cli("trust", rel)
        assert done.returncode == 0, done.stderr

    def shim(self, directory: Path, name: str) -> Path:
        """An executable ``name`` in ``directory`` that records that it ran."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {self.marker}\nexit 0\n')
        path.chmod(0o755)
        return path


@pytest.fixture
def ws(actor: Actor) -> Iterator[Workspace]:  # noqa: F811
    if not CLI.is_file():
        pytest.skip(f"the codex-orchestrator console script is not beside {sys.executable}")
    base = Path(tempfile.mkdtemp(prefix="codex-redteam-trust-", dir="/var/tmp"))
    root = base / "repo"
    root.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "t@example.invalid"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "src.txt").write_text("source\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=root, check=True)
    marker = base / f"ran-{secrets.token_hex(4)}"
    actor.chown(base)
    os.chmod(base, 0o755)
    try:
        yield Workspace(base, root, actor, marker)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _refused(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("codex-orchestrator:")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


# -- principle 2: repository configuration is untrusted ----------------------------------------
NOTIFY = "notify:\n  - touch {marker}\n"


def test_a_table_appended_to_a_pyproject_that_had_none_is_refused(ws: Workspace) -> None:
    ws.write("pyproject.toml", "[project]\nname = 'demo'\n")
    assert ws.exec("true").returncode == 0  # before the attack: runs
    with (ws.root / "pyproject.toml").open("a") as handle:
        handle.write(f"\n[tool.codex-orchestrator]\nnotify = ['touch {ws.marker}']\n")
    _refused(ws.exec("true"), "pyproject.toml", "'notify'", "codex-orchestrator trust")
    assert not ws.marker.exists()


def test_a_new_pyproject_is_refused(ws: Workspace) -> None:
    ws.write("pyproject.toml", f"[tool.codex-orchestrator]\nnotify = ['touch {ws.marker}']\n")
    _refused(ws.exec("true"), "pyproject.toml", "'notify'", "codex-orchestrator trust")
    assert not ws.marker.exists()


def test_a_new_config_file_beside_a_trusted_pyproject_is_refused(ws: Workspace) -> None:
    ws.write("pyproject.toml", "[tool.codex-orchestrator]\nsandbox = 'read-only'\n")
    ws.trust("pyproject.toml")
    ws.write("codex.orchestrator.yaml", NOTIFY.format(marker=ws.marker))
    _refused(ws.exec("true"), "codex.orchestrator.yaml", "'notify'")
    # Neutral keys only: still refused, it would push the trusted file out of force.
    ws.write("codex.orchestrator.yaml", "task: other\n")
    _refused(ws.exec("true"), "takes the place of the trusted")
    assert not ws.marker.exists()


@pytest.mark.parametrize("how", ["--config-file", "CODEX_ORCHESTRATOR_CONFIG"])
def test_a_named_config_file_in_the_workspace_is_refused(ws: Workspace, how: str) -> None:
    planted = ws.write("ci/settings.yaml", "approvals:\n  allow: [{command: sh, escalate: true}]\n")
    if how == "--config-file":
        argv = ["exec", "--config-file", str(planted), "--approval-policy", "never", "--", "true"]
        done = ws.cli(*argv)
    else:
        done = ws.exec("true", CODEX_ORCHESTRATOR_CONFIG=str(planted))
    _refused(done, "settings.yaml", "'approvals.allow'")


def test_a_yaml_merge_key_cannot_smuggle_a_key(ws: Workspace) -> None:
    ws.write("codex.orchestrator.yaml", f"<<: {{notify: ['touch {ws.marker}']}}\n")
    _refused(ws.exec("true"), "'notify'")
    assert not ws.marker.exists()


def test_a_trusted_file_edited_by_one_byte_is_refused(ws: Workspace) -> None:
    harmless = ws.base / "notified-0"
    ws.write("codex.orchestrator.yaml", NOTIFY.format(marker=harmless))
    ws.trust("codex.orchestrator.yaml")
    assert ws.exec("true").returncode == 0
    assert harmless.exists()  # the trusted notify command ran
    path = ws.root / "codex.orchestrator.yaml"
    path.write_bytes(path.read_bytes().replace(b"notified-0", b"notified-1"))
    _refused(ws.exec("true"), "changed since it was trusted", "codex-orchestrator trust")
    assert not (ws.base / "notified-1").exists()


def test_a_symlink_swapped_in_for_a_trusted_file_is_refused(ws: Workspace) -> None:
    ws.write("codex.orchestrator.yaml", "notify: []\nsandbox: read-only\n")
    ws.trust("codex.orchestrator.yaml")
    planted = ws.write("docs/notes.yaml", NOTIFY.format(marker=ws.marker))
    link = ws.root / "codex.orchestrator.yaml"
    link.unlink()
    link.symlink_to(planted)
    ws.actor.chown(ws.root)
    _refused(ws.exec("true"), "changed since it was trusted")
    assert not ws.marker.exists()


def test_a_sandboxed_command_cannot_reach_the_trust_store(ws: Workspace) -> None:
    ws.write("codex.orchestrator.yaml", NOTIFY.format(marker=ws.marker))
    store = ws.base / ".state" / "codex-orchestrator" / "trusted-configs.json"
    # The command tries to trust the file itself, with the CLI and by writing the store.
    script = (
        f"{CLI} trust codex.orchestrator.yaml; mkdir -p {store.parent}; "
        f"echo '{{}}' > {store}; exit 0"
    )
    planted = ws.cli("exec", "--approval-policy", "never", "--", "sh", "-c", script)
    assert planted.returncode == 2  # the untrusted notify key refuses the run itself
    ws.write("codex.orchestrator.yaml", "task: t\n")
    ran = ws.cli("exec", "--approval-policy", "never", "--", "sh", "-c", script)
    assert ran.returncode == 0, ran.stderr
    ws.write("codex.orchestrator.yaml", NOTIFY.format(marker=ws.marker))
    _refused(ws.exec("true"), "is not trusted")
    assert not ws.marker.exists()


# -- principle 4: nothing is resolved from the workspace ---------------------------------------
def _venv_with_shims_and_pth(ws: Workspace) -> Path:
    venv = ws.root / ".venv"
    for name in SHIMS:
        ws.shim(venv / "bin", name)
    (venv / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    purelib = Path(sysconfig.get_paths()["purelib"])
    site = venv / purelib.relative_to(Path(sysconfig.get_paths()["data"]))
    site.mkdir(parents=True, exist_ok=True)
    (site / "planted.pth").write_text(f"import os; open({str(ws.marker)!r}, 'a').write('pth')\n")
    ws.actor.chown(ws.root)
    ws.path_prefix = [str(venv / "bin"), "bin", "."]
    return venv


def _can_spawn_itself(who: Actor) -> bool:
    """Whether this Python, run as ``who``, can start itself again (a virtual environment
    whose interpreter lives under root's 0700 home cannot, as another user)."""
    probe = [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-V'])"]
    return subprocess.run([*who.prefix, *probe], capture_output=True, check=False).returncode == 0


def test_programs_on_a_workspace_path_never_run_on_the_trusted_side(ws: Workspace) -> None:
    _venv_with_shims_and_pth(ws)
    notified = ws.base / "notified"
    user_config = ws.base / ".config" / "pytest-codex" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(f"notify: ['touch {notified}']\n")
    ws.actor.chown(ws.base / ".config")
    # The command itself by absolute path: a shim it finds on PATH inside the sandbox is
    # its own business (and cannot write the marker, outside the workspace).
    plain = ws.exec("/bin/true")
    assert plain.returncode == 0, plain.stderr
    if _can_spawn_itself(ws.actor):  # a session starts a server: our Python, by path
        session = ws.cli("exec", "--session", "s1", "--approval-policy", "never", "--", "/bin/true")
        assert session.returncode == 0, session.stderr
    assert notified.exists()  # the real touch ran, by absolute path
    assert not ws.marker.exists(), ws.marker.read_text()
    manifest = json.loads(
        sorted((ws.root / ".runs" / TASK / "cli").glob("*/manifest.json"))[0].read_text()
    )
    assert manifest["repository"]["commit"]  # git ran: the real one


def test_python_m_from_the_workspace_imports_no_planted_module(ws: Workspace) -> None:
    for name in ("argparse", "yaml", "jsonschema", "json"):
        ws.write(f"{name}.py", f"open({str(ws.marker)!r}, 'a').write('{name}')\n")
    ws.write("codex.orchestrator.yaml", "task: t\n")
    done = ws.run(sys.executable, "-m", "pytest_codex.cli", "exec", "--", "true")
    assert done.returncode == 0, done.stderr
    assert not ws.marker.exists(), ws.marker.read_text()


def _trap(ws: Workspace) -> Path:
    script = ws.base / "trap.sh"
    script.write_text(f'#!/bin/sh\necho "trap $*" >> {ws.marker}\ncat\n')
    script.chmod(0o755)
    return script


def _git(ws: Workspace, repo: Path, *args: str) -> None:
    """git as the actor (a repository of another user is "dubious" to git)."""
    ws.actor.chown(ws.base)
    done = ws.run("git", "-c", "protocol.file.allow=always", *args, cwd=repo)
    assert done.returncode == 0, done.stderr


def test_git_config_of_a_submodule_or_an_embedded_repository_never_runs(ws: Workspace) -> None:
    trap = _trap(ws)
    upstream = ws.base / "upstream"
    upstream.mkdir()
    _git(ws, upstream, "init", "-q", "-b", "main")
    (upstream / "lib.py").write_text("x = 1\n")
    _git(ws, upstream, "add", "-A")
    _git(ws, upstream, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "lib")
    _git(ws, ws.root, "submodule", "add", "-q", str(upstream), "sub")
    _git(ws, ws.root, "commit", "-q", "-m", "sub")
    # A command writes the submodule's git directory (under .git/modules, or its own .git):
    # a clean filter, fsmonitor, textconv, an external diff, a pager, an include.
    include = ws.root / "gitconfig-include"
    include.write_text(f'[core]\n\tfsmonitor = {trap}\n[filter "evil"]\n\tclean = {trap}\n')
    for repo in (ws.root / "sub",):
        for key, value in (
            ("core.fsmonitor", str(trap)),
            ("filter.evil.clean", str(trap)),
            ("diff.evil.textconv", str(trap)),
            ("diff.external", str(trap)),
            ("core.pager", str(trap)),
            ("include.path", str(include)),
        ):
            _git(ws, repo, "config", key, value)
    (ws.root / "sub" / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (ws.root / "sub" / "lib.py").write_text("x = 2\n")  # dirty inside the submodule
    embedded = ws.root / "vendor" / "embedded"
    embedded.mkdir(parents=True)
    _git(ws, embedded, "init", "-q")
    _git(ws, embedded, "config", "core.fsmonitor", str(trap))
    _git(ws, embedded, "config", "filter.evil.clean", str(trap))
    (embedded / ".gitattributes").write_text("* filter=evil\n")
    (embedded / "f.txt").write_text("f\n")
    # The parent's own config includes a file in the workspace.
    _git(ws, ws.root, "config", "include.path", str(include))
    (ws.root / ".gitattributes").write_text("* filter=evil\n")
    (ws.root / "src.txt").write_text("changed\n")
    ws.actor.chown(ws.base)
    done = ws.exec("true")
    assert done.returncode == 0, done.stderr
    probe = ws.run(
        sys.executable,
        "-P",
        "-c",
        "import json, sys; from pathlib import Path; "
        "from guardrails.cache import git_state; "
        "from pytest_codex.repository import repository_identity; "
        "r = Path(sys.argv[1]); "
        "print(json.dumps([repository_identity(r)['dirty'], git_state(r, {})['status']]))",
        str(ws.root),
    )
    assert probe.returncode == 0, probe.stderr
    dirty, status = json.loads(probe.stdout)
    assert dirty is True and "src.txt" in status  # git ran and saw the parent's change
    assert not ws.marker.exists(), ws.marker.read_text()


@pytest.mark.parametrize("kind", ["gitdir-file", "symlink"])
def test_a_dot_git_pointing_into_the_workspace_is_not_trusted(ws: Workspace, kind: str) -> None:
    trap = _trap(ws)
    evil = ws.root / "evil-gitdir"
    shutil.move(str(ws.root / ".git"), evil)
    _git(ws, ws.root, "--git-dir", str(evil), "config", "core.fsmonitor", str(trap))
    if kind == "gitdir-file":
        (ws.root / ".git").write_text("gitdir: evil-gitdir\n")
    else:
        (ws.root / ".git").symlink_to("evil-gitdir")
    (ws.root / "src.txt").write_text("changed\n")
    ws.actor.chown(ws.base)
    done = ws.exec("true")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(
        sorted((ws.root / ".runs" / TASK / "cli").glob("*/manifest.json"))[0].read_text()
    )
    assert manifest["repository"]["commit"] is None  # not read from a planted git directory
    assert not ws.marker.exists(), ws.marker.read_text()


def test_a_workspace_guardrail_plugin_is_never_imported_by_the_cli(ws: Workspace) -> None:
    ws.write("local_guardrails.py", f"open({str(ws.marker)!r}, 'a').write('imported')\n")
    ws.write("codex.orchestrator.yaml", "guardrails:\n  plugins: [local_guardrails]\n")
    ws.trust("codex.orchestrator.yaml")  # even when a person trusted the setting
    done = ws.cli("guardrails", "list")
    _refused(done, "local_guardrails", "in the workspace")
    assert not ws.marker.exists()


# -- files written for the user ---------------------------------------------------------------
@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_output_last_message_never_follows_a_link_the_command_planted(
    ws: Workspace, existed: bool
) -> None:
    target = ws.base / "victim"
    if existed:
        target.write_text("precious\n")
        ws.actor.chown(target)
    out = ws.root / "last.txt"
    if existed:
        out.write_text("old\n")
        ws.actor.chown(out)
    script = f"rm -f {out}; ln -s {target} {out}"
    done = ws.cli(
        "exec", "-o", str(out), "--approval-policy", "never", "-s", "workspace-write",
        "--", "sh", "-c", script,
    )  # fmt: skip
    assert out.is_symlink()  # the sandboxed command did plant it
    assert done.returncode == 2, done.stderr
    assert "symbolic link" in done.stderr
    assert (target.read_text() == "precious\n") if existed else not target.exists()
