"""The run options shared by ``exec``, ``resume``, ``start``, ``guardrails run`` and the pytest
plugin, declared once: config key, flag, choices and help. :mod:`pytest_codex.cli._options`
renders them into argparse, :mod:`pytest_codex.plugin` into pytest's parser (as
``--codex-<flag>``); :func:`option_config` is the one mapping from their values to
configuration keys.

The choices are the config schema's enums, which a test pins to the policy and sandbox
constants (``approvals.APPROVAL_POLICIES``, ``sandbox.SANDBOX_MODES``): an inert pytest
session declares these options without importing the approval machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import schemas
from .config import DEFAULTS


def _choices(key: str) -> tuple[str, ...]:
    return tuple(schemas.load_schema("config")["properties"][key]["enum"])


def _same(value: Any) -> Any:
    return value


def _endpoint(value: Any) -> Any:
    return {"endpoint": value}


def _targets(value: Any) -> Any:
    return list(value)


@dataclass(frozen=True)
class RunOption:
    """One run option: ``--<name>`` on the CLI, ``--codex-<name>`` under pytest."""

    key: str
    name: str
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    repeatable: bool = False
    cli_aliases: tuple[str, ...] = ()
    to_config: Callable[[Any], Any] = field(default=_same)

    @property
    def flag(self) -> str:
        """The CLI flag, e.g. ``--sandbox``."""
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        """The argparse destination, e.g. ``sandbox``."""
        return self.name.replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        """The pytest option, e.g. ``--codex-sandbox``."""
        return f"--codex-{self.name}"

    @property
    def pytest_dest(self) -> str:
        """The pytest option's destination, e.g. ``codex_sandbox``."""
        return f"codex_{self.dest}"

    @property
    def help_text(self) -> str:
        """The help, with the default where the configuration has one."""
        default = DEFAULTS.get(self.key)
        if isinstance(default, str):
            return f"{self.help} (default: {default})"
        return self.help


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        "approval_policy",
        "approval-policy",
        "approval policy for tool invocations",
        choices=_choices("approval_policy"),
    ),
    RunOption(
        "sandbox",
        "sandbox",
        "sandbox mode for commands",
        choices=_choices("sandbox"),
        cli_aliases=("-s",),
    ),
    RunOption(
        "otel",
        "otel-endpoint",
        "export the run's spans and metrics over OTLP/HTTP to URL (default: off; also "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT)",
        metavar="URL",
        to_config=_endpoint,
    ),
    RunOption(
        "notify",
        "notify",
        "notify TARGET (a command, an http(s):// webhook or a file:// JSONL file) when the "
        "run ends; repeatable (also CODEX_ORCHESTRATOR_NOTIFY)",
        metavar="TARGET",
        repeatable=True,
        to_config=_targets,
    ),
)


def option_config(
    value_of: Callable[[RunOption], Any], flag_of: Callable[[RunOption], str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The configuration the given option values set, and the flag of each key (for error
    messages): ``value_of`` reads an option's value (None = not given), ``flag_of`` names it."""
    values: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for option in RUN_OPTIONS:
        value = value_of(option)
        flags[option.key] = flag_of(option)
        if value is not None:
            values[option.key] = option.to_config(value)
    return values, flags
