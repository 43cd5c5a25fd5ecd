"""Helpers shared by the test suite (receivers, repositories) and the locations it uses."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout under test."""

CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "co-0303"
"""A real repository's task collateral, laid beside the checkout (absent in a bare clone)."""
