"""Suite-wide set-up for this repository's own tests.

Registers ``pytester`` (the plugin's end-to-end tests run real pytest sessions with it) and
provides the locations tests share: the checkout and the co-0303 corpus of task collateral
that lies beside it in a developer's workspace and in CI (tests that need it skip, saying
so, where it is absent).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CORPUS, REPO_ROOT

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout under test."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The co-0303 corpus (``../shared/corpus/co-0303``); skips the test where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"the co-0303 corpus is not at {CORPUS} (it lies beside the checkout in CI)")
    return CORPUS
