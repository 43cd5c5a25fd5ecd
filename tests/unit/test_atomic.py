"""Crash-safe writes keep what they replace intact: permissions and exact text."""

from __future__ import annotations

import stat
from pathlib import Path

from pytest_codex.atomic import NEW_FILE_MODE, atomic_write_text


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old\n")
    target.chmod(0o755)
    atomic_write_text(target, "new\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert target.read_text() == "new\n"


def test_a_new_file_is_created_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "new.json"
    atomic_write_text(target, "{}\n")
    assert stat.S_IMODE(target.stat().st_mode) == NEW_FILE_MODE


def test_line_endings_are_written_exactly(tmp_path: Path) -> None:
    target = tmp_path / "crlf.md"
    atomic_write_text(target, "- [ ] a\r\n- [x] b\r\n")
    assert target.read_bytes() == b"- [ ] a\r\n- [x] b\r\n"
    assert not list(tmp_path.glob(".crlf.md.*.tmp"))
