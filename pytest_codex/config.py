"""Configuration with one resolution order: CLI flag > environment variable > repository
config file > user config file > default.

The repository config file is the first of ``codex.orchestrator.yaml``,
``codex.orchestrator.yml``, ``codex.orchestrator.json`` and ``[tool.codex-orchestrator]`` in
``pyproject.toml`` found at the repository root (or the file named by ``--config-file`` /
``CODEX_ORCHESTRATOR_CONFIG``). It is untrusted input (see :mod:`pytest_codex.trust`): a key
that runs code or weakens the guarantees takes effect from it only when a person trusted the
file as it is (``codex-orchestrator trust FILE``); otherwise the run is refused. The user
config file (``$XDG_CONFIG_HOME/pytest-codex/config.yaml``) lives outside every workspace and
is trusted as it is. Every source is validated against ``schemas/config.schema.json``; a bad
value is a one-line :class:`~pytest_codex.errors.ConfigError` naming the file (or variable,
or flag), the key, and what was expected. The resolved values are recorded in the manifest
with their sources.
"""

from __future__ import annotations

import json
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import schemas, trust
from .credentials import HEADER_KEYS, config_credentials
from .errors import ConfigError
from .paths import user_config_dir
from .redact import REDACTED, Redactor, display_urls, is_secret_name

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

CONFIG_ENV = "CODEX_ORCHESTRATOR_CONFIG"
# Set for the commands of a run whose repository config file a person trusted: the digest of
# its settings. A run such a command records (pytest with the plugin, inside the sandbox,
# where the trust store is hidden) takes the same settings as trusted, and nothing else.
TRUSTED_CONFIG_ENV = "CODEX_ORCHESTRATOR_TRUSTED_CONFIG"
CONFIG_FILES = trust.ROOT_CONFIG_NAMES
PYPROJECT_TABLE = "codex-orchestrator"
USER_CONFIG_FILE = "config.yaml"


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    """The user's own configuration: ``$XDG_CONFIG_HOME/pytest-codex/config.yaml`` (or
    ``~/.config/...``), outside every workspace and hidden from every sandbox."""
    return user_config_dir(env) / USER_CONFIG_FILE


# -- settings views: every default stated once, read by the CLI, the plugin and guardrails --
@dataclass(frozen=True)
class ApprovalsSettings:
    """``approvals``: allow/deny rules and the scope of answers that name none."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    scope: str = "once"

    def rules(self) -> dict[str, list[str]]:
        """The ``{"allow": [...], "deny": [...]}`` mapping the approval rules are built from."""
        return {"allow": list(self.allow), "deny": list(self.deny)}


@dataclass(frozen=True)
class OrchestratorSettings:
    """What every ToolOrchestrator of a run is built with (``start``, ``exec``, pytest,
    ``checklist verify``, the guardrail fixture and guardrail items alike)."""

    approval_policy: str = "on-request"
    sandbox: str = "workspace-write"
    network_access: bool = False
    max_attempts: int = 3
    backoff_initial_ms: float = 250.0
    approvals: ApprovalsSettings = field(default_factory=ApprovalsSettings)

    @property
    def backoff_initial_seconds(self) -> float:
        """The first retry delay in seconds."""
        return self.backoff_initial_ms / 1000.0

    @classmethod
    def from_config(cls, config: ResolvedConfig | Mapping[str, Any] | None) -> OrchestratorSettings:
        """The view of a resolved configuration (or of a plain mapping of its values)."""
        get = _getter(config)
        approvals = get("approvals") or {}
        return cls(
            approval_policy=str(get("approval_policy") or cls.approval_policy),
            sandbox=str(get("sandbox") or cls.sandbox),
            network_access=bool(_or(get("network_access"), cls.network_access)),
            max_attempts=int(_or(get("max_attempts"), cls.max_attempts)),
            backoff_initial_ms=float(_or(get("backoff_initial_ms"), cls.backoff_initial_ms)),
            approvals=ApprovalsSettings(
                allow=tuple(approvals.get("allow") or ()),
                deny=tuple(approvals.get("deny") or ()),
                scope=str(approvals.get("scope") or ApprovalsSettings.scope),
            ),
        )


@dataclass(frozen=True)
class ExecSettings:
    """``exec``: the exec runtime's bounds (``memory_cap_bytes`` None = the runtime's own
    capture cap; ``timeout_seconds`` None = no timeout unless ``--timeout``) and whether
    command logs keep the raw, unredacted bytes (``raw_logs``; see docs/redaction.md)."""

    memory_cap_bytes: int | None = None
    max_sessions: int = 8
    idle_timeout_seconds: float = 900.0
    timeout_seconds: float | None = None
    raw_logs: bool = False

    @classmethod
    def from_config(cls, config: ResolvedConfig | Mapping[str, Any] | None) -> ExecSettings:
        """The view of a resolved configuration (or of a plain mapping of its values)."""
        section = _getter(config)("exec") or {}
        cap = section.get("memory_cap_bytes")
        timeout = section.get("timeout_seconds")
        return cls(
            memory_cap_bytes=None if cap is None else int(cap),
            max_sessions=int(_or(section.get("max_sessions"), cls.max_sessions)),
            idle_timeout_seconds=float(
                _or(section.get("idle_timeout_seconds"), cls.idle_timeout_seconds)
            ),
            timeout_seconds=None if timeout is None else float(timeout),
            raw_logs=bool(section.get("raw_logs", False)),
        )

    def manager_options(self) -> dict[str, Any]:
        """Keyword arguments of ``ExecSessionManager`` for these bounds."""
        options: dict[str, Any] = {
            "max_sessions": self.max_sessions,
            "idle_timeout": self.idle_timeout_seconds,
            "raw_logs": self.raw_logs,
        }
        if self.memory_cap_bytes is not None:
            options["memory_cap"] = self.memory_cap_bytes
        return options


@dataclass(frozen=True)
class RunSettings:
    """What a run is started with: heartbeat, the orchestrator's and exec's settings."""

    heartbeat_interval_seconds: float = 5.0
    orchestrator: OrchestratorSettings = field(default_factory=OrchestratorSettings)
    exec: ExecSettings = field(default_factory=ExecSettings)
    guardrails: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ResolvedConfig | Mapping[str, Any] | None) -> RunSettings:
        """The view of a resolved configuration (or of a plain mapping of its values)."""
        get = _getter(config)
        return cls(
            heartbeat_interval_seconds=float(
                _or(get("heartbeat_interval_seconds"), cls.heartbeat_interval_seconds)
            ),
            orchestrator=OrchestratorSettings.from_config(config),
            exec=ExecSettings.from_config(config),
            guardrails=dict(get("guardrails") or {}),
        )


def _getter(config: ResolvedConfig | Mapping[str, Any] | None) -> Callable[[str], Any]:
    if config is None:
        return lambda key: None
    return config.get


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


DEFAULTS: dict[str, Any] = {
    "approval_policy": OrchestratorSettings.approval_policy,
    "sandbox": OrchestratorSettings.sandbox,
    "network_access": OrchestratorSettings.network_access,
    "heartbeat_interval_seconds": RunSettings.heartbeat_interval_seconds,
    "max_attempts": OrchestratorSettings.max_attempts,
    "backoff_initial_ms": OrchestratorSettings.backoff_initial_ms,
    "notify": [],
    "runs_dir": ".runs",
    "out_dir": "out",
}


def _text(var: str) -> Callable[[Mapping[str, str]], tuple[Any, str] | None]:
    def read(env: Mapping[str, str]) -> tuple[Any, str] | None:
        value = env.get(var)
        return (value, var) if value else None

    return read


def _bool(var: str) -> Callable[[Mapping[str, str]], tuple[Any, str] | None]:
    def read(env: Mapping[str, str]) -> tuple[Any, str] | None:
        value = env.get(var)
        if not value:
            return None
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True, var
        if lowered in ("0", "false", "no", "off"):
            return False, var
        raise ConfigError(f"environment variable {var}={value!r} is not a boolean; use 1 or 0")

    return read


def _csv(var: str) -> Callable[[Mapping[str, str]], tuple[Any, str] | None]:
    def read(env: Mapping[str, str]) -> tuple[Any, str] | None:
        value = env.get(var)
        if not value:
            return None
        return [item.strip() for item in value.split(",") if item.strip()], var

    return read


def _otel(env: Mapping[str, str]) -> tuple[Any, str] | None:
    # The standard OpenTelemetry variables; the traces-specific endpoint wins.
    for var in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if env.get(var):
            value: dict[str, Any] = {"endpoint": env[var]}
            if env.get("OTEL_SERVICE_NAME"):
                value["service_name"] = env["OTEL_SERVICE_NAME"]
            return value, var
    return None


ENV_READERS: dict[str, Callable[[Mapping[str, str]], tuple[Any, str] | None]] = {
    "task": _text("MCP_RUNNER_TASK_ID"),
    "runs_dir": _text("CODEX_ORCHESTRATOR_RUNS_DIR"),
    "out_dir": _text("CODEX_ORCHESTRATOR_OUT_DIR"),
    "approval_policy": _text("CODEX_ORCHESTRATOR_APPROVAL_POLICY"),
    "sandbox": _text("CODEX_ORCHESTRATOR_SANDBOX"),
    "network_access": _bool("CODEX_ORCHESTRATOR_NETWORK_ACCESS"),
    "notify": _csv("CODEX_ORCHESTRATOR_NOTIFY"),
    "otel": _otel,
}


@dataclass(frozen=True)
class ResolvedConfig:
    """The configuration in force, with where each value came from.

    ``sources`` maps a key to ``cli``, ``env:<VAR>``, ``config:<file>``, ``user:<file>`` or
    ``default``. ``file`` is the repository config file in force and ``trusted`` whether a
    person trusted it as it is (its keys that need trust were refused otherwise).
    """

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    file: Path | None = None
    file_document: Mapping[str, Any] = field(default_factory=dict)
    user_file: Path | None = None
    trusted: bool = False
    # Secrets given alongside the configuration (Codex -c overrides), known to every redactor.
    extra_secrets: tuple[str, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when nothing set it."""
        return self.values.get(key, default)

    def child_env(self) -> dict[str, str]:
        """Variables for the commands of a run: the trusted file's settings digest, so a run
        a command records inside the sandbox (which cannot see the trust store) applies the
        same trusted settings (see :data:`TRUSTED_CONFIG_ENV`)."""
        if self.file is None or not self.trusted:
            return {}
        return {TRUSTED_CONFIG_ENV: trust.settings_digest(self.file_document)}

    def source(self, key: str) -> str | None:
        """Where ``key`` came from, or None when nothing set it."""
        return self.sources.get(key)

    def without(self, *keys: str) -> ResolvedConfig:
        """A copy in which ``keys`` are unset (their defaults apply)."""
        import dataclasses

        return dataclasses.replace(
            self,
            values={k: v for k, v in self.values.items() if k not in keys},
            sources={k: v for k, v in self.sources.items() if k not in keys},
        )

    def settings(self) -> RunSettings:
        """The typed, frozen view of these values (defaults filled in)."""
        return RunSettings.from_config(self)

    def to_manifest(self) -> dict[str, dict[str, Any]]:
        """The manifest's ``config`` section, through the one redactor: secret-looking keys,
        header values whatever their names, URL credentials (userinfo, query values, path
        tokens), token shapes and the environment's and configuration's secret values."""
        redactor = Redactor.for_env(extra=self.secret_values())
        return {
            key: {
                "value": redactor.value(_redact_value(key, self.values[key])),
                "source": self.sources[key],
            }
            for key in sorted(self.values)
        }

    def secret_values(self) -> list[str]:
        """The secrets the configuration holds (values under secret-looking keys, URL
        passwords, and the orchestrator's own credentials: header values, query values and
        path tokens of its endpoints, :mod:`pytest_codex.credentials`), the config file's
        too, so every redactor of a run knows them."""
        return [
            *secrets_in(self.values),
            *config_credentials(dict(self.file_document)),
            *self.extra_secrets,
        ]


def secrets_in(values: Mapping[str, Any]) -> list[str]:
    """The secrets configuration ``values`` hold (a resolved configuration's, or Codex
    ``-c`` overrides): values under secret-looking keys, URL passwords, and the
    orchestrator's own credentials (:func:`pytest_codex.credentials.config_credentials`)."""
    found: list[str] = []
    _collect_secrets("", values, found)
    return found + config_credentials(values)


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str) and (is_secret_name(key) or key.lower() in HEADER_KEYS):
        return REDACTED
    if isinstance(value, str):
        return display_urls(value)
    if isinstance(value, Mapping):
        if key.lower() in HEADER_KEYS:  # header values are credentials, whatever the names
            return {k: REDACTED if isinstance(v, str) else v for k, v in value.items()}
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(key, v) for v in value]
    return value


_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")


def _collect_secrets(key: str, value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        if is_secret_name(key) and value:
            found.append(value)
            # "Bearer x": the credential alone is a secret too.
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic", "token"):
                found.append(credential)
        found.extend(urllib.parse.unquote(m) for m in _URL_PASSWORD.findall(value))
        found.extend(_URL_PASSWORD.findall(value))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _collect_secrets(str(k), v, found)
    elif isinstance(value, list):
        for v in value:
            _collect_secrets(key, v, found)


def find_config_file(root: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file in force for ``root`` (or named by ``CODEX_ORCHESTRATOR_CONFIG``)."""
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    found = config_candidates(root)
    return found[0] if found else None


def config_candidates(root: Path) -> list[Path]:
    """Every repository config file at ``root``, the one in force first."""
    found = [root / name for name in CONFIG_FILES if (root / name).is_file()]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: not valid TOML ({exc}); fix the syntax") from exc
        if PYPROJECT_TABLE in tool:
            found.append(pyproject)
    return found


# Bounds: a config file is a few kilobytes; what exceeds these is a mistake or an attack
# (a 470-byte YAML anchor bomb expands to millions of values and an 80 MB manifest).
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_VALUES = 20_000
MAX_CONFIG_DEPTH = 32
MAX_YAML_ALIASES = 200


def _yaml_loader() -> type:
    """A SafeLoader that refuses more than :data:`MAX_YAML_ALIASES` aliases."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise _TooManyAliases
            return super().compose_node(parent, index)

    return BoundedLoader


class _TooManyAliases(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ConfigError(f"{name} is not a number a configuration may hold; use a finite number")


def check_bounds(document: Any, label: str) -> None:
    """Refuse a configuration that expands beyond :data:`MAX_CONFIG_VALUES` values or
    :data:`MAX_CONFIG_DEPTH` levels (aliases counted as often as they are used), or that
    holds NaN or an infinity; one-line :class:`ConfigError` naming the key."""
    count = 0
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        count += 1
        key = path.split("[", 1)[0]
        where = f"key {key!r}" if key else "the configuration"
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{label}: {where}: the configuration expands to more than "
                f"{MAX_CONFIG_VALUES} values (YAML anchors and aliases count each time they "
                "are used); shorten it"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"{label}: {where}: nested deeper than {MAX_CONFIG_DEPTH} levels; flatten it"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{label}: {where}: {value} is not allowed; use a finite number")
        if isinstance(value, Mapping):
            for key, item in value.items():
                stack.append((item, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(value, list):
            for position, item in enumerate(value):
                stack.append((item, f"{path}[{position}]", depth + 1))


def load_config_file(path: Path) -> dict[str, Any]:
    """Parse and validate one config file; a one-line :class:`ConfigError` when it is bad."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: the config file is {size} bytes, more than the "
                f"{MAX_CONFIG_BYTES} allowed; shorten it"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; check --config-file or {CONFIG_ENV}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    document: Any
    if path.name == "pyproject.toml":
        import tomllib

        try:
            document = tomllib.loads(text).get("tool", {}).get(PYPROJECT_TABLE, {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
        label = f"{path} [tool.{PYPROJECT_TABLE}]"
    elif path.suffix == ".json":
        try:
            document = json.loads(text, parse_constant=_reject_constant) if text.strip() else {}
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "fix the syntax"
            ) from exc
        label = str(path)
    else:
        import yaml  # only YAML files need it

        try:
            document = yaml.load(text, Loader=_yaml_loader())  # a bounded SafeLoader
        except _TooManyAliases:
            raise ConfigError(
                f"{path}: more than {MAX_YAML_ALIASES} YAML aliases; "
                "write the values out instead of anchoring them"
            ) from None
        except RecursionError:
            raise ConfigError(
                f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels; flatten it"
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"{path}: not valid YAML ({where}{problem}); fix the syntax") from exc
        document = {} if document is None else document
        label = str(path)
    if not isinstance(document, dict):
        raise ConfigError(
            f"{label}: the configuration must be a mapping of keys to values, "
            f"not {_type_name(document)}"
        )
    check_bounds(document, label)
    check(document, label)
    return document


_SIMPLE_KEYWORDS = frozenset({"type", "enum", "description", "x-trust"})
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _simple_value_ok(key: str, value: Any) -> bool | None:
    """Check one top-level value against its schema when the schema is only ``type`` and
    ``enum`` (read from the config schema itself); None when jsonschema has to decide.

    Start-up stays fast this way: CLI flags and environment variables rarely need more.
    """
    rule = schemas.load_schema("config").get("properties", {}).get(key)
    if not isinstance(rule, Mapping) or not set(rule) <= _SIMPLE_KEYWORDS:
        return None
    if "enum" in rule and value not in rule["enum"]:
        return False
    expected = rule.get("type")
    if expected is not None:
        python_types = _PYTHON_TYPES.get(str(expected))
        if python_types is None:
            return None
        if isinstance(value, bool) and expected != "boolean":
            return False
        return isinstance(value, python_types)
    return True


def check(document: Mapping[str, Any], label: str) -> None:
    """Validate a (partial) configuration mapping; ``label`` names its source in errors."""
    check_bounds(dict(document), label)
    if all(_simple_value_ok(k, v) for k, v in document.items()):
        return
    from jsonschema.exceptions import best_match

    error = best_match(schemas.iter_errors("config", dict(document)))
    if error is not None:
        raise ConfigError(f"{label}: {explain(error)}")


def explain(error: ValidationError) -> str:
    """A one-line explanation of a config validation error: the key and what was expected."""
    path = ".".join(str(p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted(schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        where = f"{path}." if path else ""
        names = ", ".join(f"{where}{k}" for k in unknown)
        hint = f"; known keys: {', '.join(known)}" if known else ""
        return f"unknown key {names!r}{hint}"
    key = f"key {path!r}" if path else "the configuration"
    if error.validator == "type":
        expected = _schema_type(error.validator_value)
        return f"{key}: expected {expected}, got {_type_name(error.instance)} {error.instance!r}"
    if error.validator in ("enum", "const"):
        value: Any = error.validator_value
        allowed = list(value) if error.validator == "enum" else [value]
        return f"{key}: expected one of {', '.join(map(str, allowed))}, got {error.instance!r}"
    if error.validator == "required":
        return f"{key}: {error.message}"
    if error.validator == "oneOf":
        return f"{key}: expected {_describe_one_of(schema)}, got {_type_name(error.instance)}"
    return f"{key}: {error.message}"


def _describe_one_of(schema: Mapping[str, Any]) -> str:
    options = [_schema_type(option.get("type", "value")) for option in schema.get("oneOf", [])]
    return " or ".join(options) or "a valid value"


def _schema_type(value: Any) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }
    if isinstance(value, list):
        return " or ".join(names.get(str(v), str(v)) for v in value)
    return names.get(value, str(value))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def resolve_config(
    root: Path,
    *,
    cli: Mapping[str, Any] | None = None,
    cli_flags: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> ResolvedConfig:
    """Resolve every key: CLI flag > environment variable > repository config file > user
    config file > default.

    ``cli`` holds the values given on the command line (None = not given); ``cli_flags``
    names the flag of each key for error messages. A repository config file that sets a key
    needing trust without being trusted, or that changed since it was trusted, is a
    :class:`ConfigError` (see :mod:`pytest_codex.trust`).
    """
    env = os.environ if env is None else env
    path = config_file or find_config_file(root, env)
    document = load_config_file(path) if path is not None else {}
    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = dict.fromkeys(DEFAULTS, "default")
    # Where the user's own files are (config, trust store): the process's environment unless
    # the given one says otherwise (callers often pass only the variables they set).
    user_env = {**os.environ, **env}
    user = user_config_file(user_env)
    if _is_file(user):
        for key, value in load_config_file(user).items():
            values[key] = value
            sources[key] = f"user:{user}"
    trusted = False
    if path is not None:
        inherited = env.get(TRUSTED_CONFIG_ENV)
        if inherited and inherited == trust.settings_digest(document):
            # A command of a run whose parent trusted these very settings (a forged value
            # gains a command nothing: it runs where that command already runs).
            trusted = True
        else:
            verdict = trust.require(path, document, root, env=user_env)
            trusted = verdict.status == "trusted"
        if not trusted and config_file is None and not env.get(CONFIG_ENV):
            _refuse_shadowing(path, root, user_env)
        for key, value in document.items():
            values[key] = value
            sources[key] = f"config:{_display(path, root)}"
    for key, reader in ENV_READERS.items():
        found = reader(env)
        if found is None:
            continue
        value, var = found
        check({key: value}, f"environment variable {var}")
        values[key] = value
        sources[key] = f"env:{var}"
    flags = cli_flags or {}
    for key, value in (cli or {}).items():
        if value is None:
            continue
        check({key: value}, f"option {flags.get(key, '--' + key.replace('_', '-'))}")
        values[key] = value
        sources[key] = "cli"
    return ResolvedConfig(
        values=values,
        sources=sources,
        file=path,
        file_document=document,
        user_file=user if _is_file(user) else None,
        trusted=trusted,
    )


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False when a directory on the way cannot be searched."""
    try:
        return path.is_file()
    except PermissionError:
        return False


def _refuse_shadowing(path: Path, root: Path, env: Mapping[str, str]) -> None:
    """A new, untrusted file must not push a trusted one out of force (its settings would
    silently stop applying: a stricter policy, the keys evidence must be signed with)."""
    store = trust.TrustStore.for_env(env)
    for other in config_candidates(root)[1:]:
        if store.get(other) is not None:
            name = trust.shown(path)
            raise ConfigError(
                f"{name}: takes the place of the trusted {trust.shown(other)} but is not "
                f"trusted itself; remove it, or review it and run: codex-orchestrator trust "
                f"{name}"
            )


def trust_file(path: Path, env: Mapping[str, str] | None = None) -> trust.Trusted:
    """What ``codex-orchestrator trust FILE`` does: parse and validate ``path`` (a bad file
    is refused before it is trusted) and record the digest of its settings and of the files
    they name (see :mod:`pytest_codex.trust`)."""
    document = load_config_file(path)
    pins = trust.current_pins(document, trust.config_root(path, env))
    return trust.TrustStore.for_env(env).trust(path, trust.settings_digest(document), pins)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
