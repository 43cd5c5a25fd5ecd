"""The docs keep up with the code: CLI reference, plugin options, manifest fields."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from pytest_codex.cli.docs import generate, option_strings
from tests.helpers import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def test_the_cli_reference_matches_help() -> None:
    assert (DOCS / "cli.md").read_text() == generate(), (
        "docs/cli.md is stale: run `python -m pytest_codex.cli.docs > docs/cli.md`"
    )


def test_every_cli_flag_is_documented() -> None:
    reference = (DOCS / "cli.md").read_text()
    missing = [
        f"{path} {flag}"
        for path, flags in option_strings().items()
        for flag in flags
        if flag not in reference
    ]
    assert missing == []


def test_every_plugin_option_and_ini_key_is_documented() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    options = set(re.findall(r"(--codex-[a-z-]+)", help_text))
    ini_keys = set(re.findall(r"^\s{2}(codex_[a-z_]+)", help_text, flags=re.M))
    assert options, "the plugin registered no --codex-* options"
    documented = (DOCS / "plugin.md").read_text()
    assert sorted(o for o in options if o not in documented) == []
    assert sorted(k for k in ini_keys if k not in documented) == []


def test_every_manifest_field_is_documented() -> None:
    schema = json.loads((REPO_ROOT / "schemas" / "manifest.schema.json").read_text())
    documented = (DOCS / "manifest.md").read_text()
    assert [f for f in schema["properties"] if f"`{f}`" not in documented] == []


def test_the_public_api_resolves_lazily() -> None:
    code = (
        "import sys, pytest_codex as p\n"
        "assert 'pytest_codex.run' not in sys.modules\n"
        "missing = [n for n in p.__all__ if not hasattr(p, n)]\n"
        "assert missing == [], missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
