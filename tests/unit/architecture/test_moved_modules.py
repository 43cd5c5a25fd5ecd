"""Modules that moved into subpackages keep their old import paths."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from pytest_codex._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_name_is_the_module_at_its_new_place(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        sys.modules.pop(old, None)
        moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)


def test_an_old_name_imports_in_a_fresh_interpreter_with_from_syntax() -> None:
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "try:\n"
        "    from pytest_codex.cli_exec import split_command\n"
        "except DeprecationWarning as exc:\n"
        "    print('warned:', exc)\n"
        "warnings.simplefilter('ignore')\n"
        "from pytest_codex.cli_exec import split_command\n"
        "from guardrails.checklist_doc import ChecklistDoc\n"
        "import pytest_codex.cli.exec as new\n"
        "assert split_command is new.split_command\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "warned: pytest_codex.cli_exec moved to pytest_codex.cli.exec" in done.stdout


def test_names_that_never_existed_still_fail_to_import() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pytest_codex.cli_nonexistent")
