"""Who runs the CLI in red-team tests: root, and an unprivileged user reached with
``setpriv`` (created with ``useradd`` when the suite runs as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

REDTEAM_USER = "codex-redteam"


@dataclass(frozen=True)
class Actor:
    """A command prefix and the uid/gid files are made for."""

    name: str
    prefix: tuple[str, ...]
    uid: int
    gid: int

    def chown(self, *paths: os.PathLike[str] | str) -> None:
        """Hand ``paths`` (and everything below them) to this actor."""
        for top in paths:
            for dirpath, dirnames, filenames in os.walk(top):
                for name in [*dirnames, *filenames]:
                    os.lchown(os.path.join(dirpath, name), self.uid, self.gid)
            os.lchown(top, self.uid, self.gid)


def unprivileged() -> Actor:
    """An unprivileged actor (skips the test when none can be made)."""
    if os.getuid() != 0:
        return Actor("user", (), os.getuid(), os.getgid())
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed: cannot run the attacks as an unprivileged user")
    try:
        entry = pwd.getpwnam(REDTEAM_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", REDTEAM_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0 and "already exists" not in made.stderr:
            pytest.skip(f"cannot create an unprivileged user: {made.stderr.strip()}")
        entry = pwd.getpwnam(REDTEAM_USER)
    prefix = (
        setpriv,
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        "--",
    )
    probe = subprocess.run([*prefix, sys.executable, "-c", "import pytest_codex"], check=False)
    if probe.returncode != 0:
        pytest.skip(f"{REDTEAM_USER} cannot run this Python environment")
    return Actor("user", prefix, entry.pw_uid, entry.pw_gid)


@pytest.fixture(params=["root", "user"], ids=["as-root", "as-user"])
def actor(request: pytest.FixtureRequest) -> Actor:
    """Each test runs as root (when the suite is root) and as an unprivileged user."""
    if request.param == "root":
        if os.getuid() != 0:
            pytest.skip("not running as root")
        return Actor("root", (), 0, 0)
    return unprivileged()
