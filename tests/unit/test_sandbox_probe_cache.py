"""The bubblewrap probe is remembered across processes, keyed by what decides it, and never
trusted when its cache file changed key, is garbage or claims what no probe reports."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pytest_codex import sandbox
from pytest_codex.sandbox import PROBE_CACHE_FILE, BackendStatus, backend, policy, probe_bubblewrap

REAL = probe_bubblewrap()
pytestmark = pytest.mark.skipif(
    REAL.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {REAL.reason}"
)
probe = probe_bubblewrap.__wrapped__  # the uncached function: one call, one decision


@pytest.fixture
def counting_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A bwrap that logs each invocation, then runs the real one; and its log."""
    state = tmp_path / "state"
    monkeypatch.setenv("CODEX_ORCHESTRATOR_STATE_DIR", str(state))
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "bwrap"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {REAL.executable} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _cache(tmp_path: Path) -> Path:
    return tmp_path / "state" / PROBE_CACHE_FILE


def test_a_second_probe_is_answered_from_the_cache(
    counting_bwrap: tuple[Path, Path], tmp_path: Path
) -> None:
    wrapper, log = counting_bwrap
    first = probe(str(wrapper))
    assert first.backend == "bubblewrap"
    assert _calls(log) == 2  # --version and the probe
    assert _cache(tmp_path).is_file()
    second = probe(str(wrapper))
    assert _calls(log) == 2
    assert second == first


def test_doctor_probes_fresh_and_refreshes_the_cache(
    counting_bwrap: tuple[Path, Path], tmp_path: Path
) -> None:
    wrapper, log = counting_bwrap
    probe(str(wrapper))
    probe(str(wrapper), fresh=True)
    assert _calls(log) == 4
    probe(str(wrapper))
    assert _calls(log) == 4


def test_a_changed_binary_is_probed_again(
    counting_bwrap: tuple[Path, Path], tmp_path: Path
) -> None:
    wrapper, log = counting_bwrap
    probe(str(wrapper))
    later = time.time() + 5
    os.utime(wrapper, (later, later))
    probe(str(wrapper))
    assert _calls(log) == 4


@pytest.mark.parametrize("field", ["bootId", "kernel", "uid", "flags", "limits", "sysctls"])
def test_a_cache_of_another_key_is_ignored(
    counting_bwrap: tuple[Path, Path], tmp_path: Path, field: str
) -> None:
    wrapper, log = counting_bwrap
    probe(str(wrapper))
    document = json.loads(_cache(tmp_path).read_text())
    document["key"][field] = "something else"
    document["status"]["features"] = ["network-namespace"]  # would weaken the sandbox
    _cache(tmp_path).write_text(json.dumps(document))
    again = probe(str(wrapper))
    assert _calls(log) == 4
    assert again.features == REAL.features
    assert json.loads(_cache(tmp_path).read_text())["key"][field] != "something else"


@pytest.mark.parametrize(
    "poison",
    [
        "",
        "{",
        "[]",
        '{"v": 1}',
        "\xff\xfe garbage",
    ],
)
def test_a_garbage_cache_file_is_ignored(
    counting_bwrap: tuple[Path, Path], tmp_path: Path, poison: str
) -> None:
    wrapper, log = counting_bwrap
    _cache(tmp_path).parent.mkdir(parents=True)
    _cache(tmp_path).write_text(poison, encoding="latin-1")
    status = probe(str(wrapper))
    assert _calls(log) == 2
    assert status.features == REAL.features
    assert json.loads(_cache(tmp_path).read_text())["v"] == 2


@pytest.mark.parametrize(
    "status",
    [
        {"features": ["made-up"], "missing": [], "version": "1"},
        {"features": ["user-namespace"], "missing": [], "version": "1"},  # no network ns
        {"features": ["network-namespace"], "missing": [["nope", "x"]], "version": "1"},
        {"features": ["network-namespace"], "missing": "x", "version": "1"},
        {"features": ["network-namespace"], "missing": [], "version": 3},
        {"features": "network-namespace", "missing": [], "version": "1"},
        {"missing": [], "version": "1"},
    ],
)
def test_a_poisoned_status_under_the_right_key_is_ignored(
    counting_bwrap: tuple[Path, Path], tmp_path: Path, status: dict[str, object]
) -> None:
    wrapper, log = counting_bwrap
    probe(str(wrapper))
    document = json.loads(_cache(tmp_path).read_text())
    document["status"] = status
    _cache(tmp_path).write_text(json.dumps(document))
    again = probe(str(wrapper))
    assert _calls(log) == 4
    assert again.features == REAL.features


def test_an_unsuccessful_probe_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ORCHESTRATOR_STATE_DIR", str(tmp_path / "state"))
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    status: BackendStatus = probe(str(broken))
    assert status.backend == "none"
    assert not _cache(tmp_path).exists()


def test_the_cache_lives_where_no_sandbox_can_see_it(tmp_path: Path) -> None:
    roots = type("Roots", (), {"root": tmp_path, "runs_dir": None, "out_dir": None})()
    hidden = {p.path for p in sandbox.protected_paths(roots) if p.hide}
    assert backend._probe_cache_path().parent in hidden


def test_inside_says_what_pathlib_says() -> None:
    import itertools
    import os
    from pathlib import Path

    names = [
        "/",
        "/a",
        "/a/",
        "/a/b",
        "/a/b/c",
        "/ab",
        "/a/../a/b",
        "/a/./b",
        "//a",
        "a",
        "a/b",
        ".",
        "",
        "b",
        "/b/a",
        "/tmp",
        "/tmp/x",
    ]

    def reference(path: str, root: str) -> bool:
        normal = Path(os.path.normpath(path))
        return normal == Path(root) or normal.is_relative_to(Path(root))

    for path, root in itertools.product([n for n in names if n], names):
        assert policy.inside(Path(path), [Path(root)]) == reference(path, root), (path, root)
    assert not policy.inside(Path("/a"), [])
