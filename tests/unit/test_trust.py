"""Repository configuration is untrusted: every key is classified in the schema, and a file
setting a key that needs trust applies only once a person trusted it as it is."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas, trust
from pytest_codex.config import TRUSTED_CONFIG_ENV, resolve_config, trust_file, user_config_file
from pytest_codex.errors import ConfigError

ROOT_ENV = "CODEX_ORCHESTRATOR_ROOT"


def _classified(schema: Mapping[str, Any], where: str) -> Iterator[str]:
    """Every property of ``schema`` without an ``x-trust`` rule (recursing into per-key
    objects), as a dotted path."""
    for name, rule in (schema.get("properties") or {}).items():
        key = f"{where}{name}"
        if "x-trust" not in rule:
            yield key
        elif rule["x-trust"] == "per-key":
            yield from _classified(rule, f"{key}.")
            extra = rule.get("additionalProperties")
            if isinstance(extra, Mapping) and "x-trust" not in extra:
                yield f"{key}.*"
        else:
            value = rule["x-trust"]
            assert value in ("neutral", "trusted") or (
                isinstance(value, Mapping) and isinstance(value.get("neutral"), list)
            ), f"{key}: x-trust {value!r} is not one of the forms pytest_codex.trust reads"


def test_every_config_key_is_classified_in_the_published_schema() -> None:
    unclassified = list(_classified(schemas.load_schema("config"), ""))
    assert not unclassified, f"keys without x-trust: {unclassified}"


@pytest.mark.parametrize(
    ("document", "needs"),
    [
        ({"task": "t", "max_attempts": 2, "heartbeat_interval_seconds": 1}, []),
        ({"notify": ["echo hi"]}, ["notify"]),
        ({"notify": []}, []),
        ({"sandbox": "read-only", "network_access": False}, []),
        ({"sandbox": "danger-full-access"}, ["sandbox"]),
        ({"network_access": True}, ["network_access"]),
        ({"approval_policy": "untrusted"}, []),
        ({"approval_policy": "on-failure"}, ["approval_policy"]),
        ({"approvals": {"deny": ["rm"], "scope": "once"}}, []),
        ({"approvals": {"allow": ["make"]}}, ["approvals.allow"]),
        ({"approvals": {"scope": "task"}}, ["approvals.scope"]),
        ({"evidence": {"sign": True, "require_signed": True}}, []),
        ({"evidence": {"sign": False}}, ["evidence.sign"]),
        ({"evidence": {"require_signed": False}}, ["evidence.require_signed"]),
        ({"evidence": {"trusted_keys": []}}, ["evidence.trusted_keys"]),
        ({"evidence": {"key_path": "/k.pem"}}, ["evidence.key_path"]),
        ({"exec": {"timeout_seconds": 5, "raw_logs": False}}, []),
        ({"exec": {"raw_logs": True}}, ["exec.raw_logs"]),
        ({"otel": {"service_name": "x"}}, []),
        ({"otel": {"endpoint": "http://127.0.0.1:1"}}, ["otel.endpoint"]),
        ({"runs_dir": "elsewhere"}, ["runs_dir"]),
        ({"out_dir": "elsewhere"}, ["out_dir"]),
        ({"guardrails": {"enabled": []}}, ["guardrails"]),
        ({"pipelines": []}, ["pipelines"]),
        ({"instructions": {"budget_bytes": 10}}, []),
    ],
)
def test_what_needs_trust(document: dict[str, Any], needs: list[str]) -> None:
    assert trust.needing_trust(document) == needs


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def _resolve(root: Path, **kwargs: Any) -> Any:
    return resolve_config(root, env={ROOT_ENV: str(root), **os.environ}, **kwargs)


def test_an_untrusted_file_with_a_trust_needing_key_is_refused_in_one_line(repo: Path) -> None:
    (repo / "codex.orchestrator.yaml").write_text("task: t\nnotify: ['touch /tmp/x']\n")
    with pytest.raises(ConfigError) as caught:
        _resolve(repo)
    message = str(caught.value)
    assert "\n" not in message
    assert "codex.orchestrator.yaml" in message and "'notify'" in message
    assert f"codex-orchestrator trust {repo / 'codex.orchestrator.yaml'}" in message


def test_tightening_settings_apply_from_an_untrusted_file(repo: Path) -> None:
    (repo / "codex.orchestrator.yaml").write_text(
        "task: t\nsandbox: read-only\napproval_policy: untrusted\napprovals: {deny: [rm]}\n"
    )
    config = _resolve(repo)
    assert config.get("sandbox") == "read-only" and config.get("task") == "t"
    assert config.get("approvals") == {"deny": ["rm"]} and config.trusted is False


def test_a_trusted_file_applies_until_one_value_changes(repo: Path) -> None:
    path = repo / "codex.orchestrator.yaml"
    path.write_text("notify: ['echo a']\n# a comment\n")
    trust_file(path)
    config = _resolve(repo)
    assert config.get("notify") == ["echo a"] and config.trusted is True
    path.write_text("notify: ['echo a']\n# another comment: meaning unchanged\n")
    assert _resolve(repo).trusted is True
    path.write_text("notify: ['echo b']\n")  # one byte of a value
    with pytest.raises(ConfigError, match="changed since it was trusted"):
        _resolve(repo)


def test_a_trusted_file_that_changes_to_neutral_keys_only_is_still_refused(repo: Path) -> None:
    # Dropping a tightening key (a stricter policy) is a loosening too.
    path = repo / "codex.orchestrator.yaml"
    path.write_text("sandbox: read-only\nnotify: ['echo a']\n")
    trust_file(path)
    path.write_text("task: t\n")
    with pytest.raises(ConfigError, match="changed since it was trusted"):
        _resolve(repo)


def test_a_symlink_swapped_in_for_a_trusted_file_is_judged_by_what_it_points_to(
    repo: Path, tmp_path: Path
) -> None:
    path = repo / "codex.orchestrator.yaml"
    path.write_text("notify: ['echo a']\n")
    trust_file(path)
    other = tmp_path / "planted.yaml"
    other.write_text("notify: ['touch /tmp/planted']\n")
    path.unlink()
    path.symlink_to(other)
    with pytest.raises(ConfigError, match="changed since it was trusted"):
        _resolve(repo)


def test_a_new_untrusted_file_cannot_shadow_a_trusted_pyproject(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text("[tool.codex-orchestrator]\nsandbox = 'read-only'\nnotify = ['echo']\n")
    trust_file(pyproject)
    assert _resolve(repo).get("sandbox") == "read-only"
    (repo / "codex.orchestrator.json").write_text('{"task": "t"}\n')
    with pytest.raises(ConfigError, match=r"takes the place of the trusted \S*pyproject.toml"):
        _resolve(repo)


def test_pyproject_trust_covers_only_its_table(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'a'\n[tool.codex-orchestrator]\nnotify = ['echo']\n")
    trust_file(pyproject)
    pyproject.write_text("[project]\nname = 'b'\n[tool.codex-orchestrator]\nnotify = ['echo']\n")
    assert _resolve(repo).trusted is True


def test_a_key_file_named_by_trusted_keys_is_pinned(repo: Path) -> None:
    keys = repo / "keys"
    keys.mkdir()
    (keys / "ci.pub").write_text("not yet a key\n")
    path = repo / "codex.orchestrator.yaml"
    path.write_text("evidence:\n  trusted_keys: [keys/ci.pub, keys/new.pub]\n")
    trust_file(path)
    assert _resolve(repo).trusted is True
    (keys / "new.pub").write_text("planted\n")  # did not exist when it was trusted
    with pytest.raises(ConfigError, match=r"keys/new.pub \(named by evidence.trusted_keys\)"):
        _resolve(repo)


def test_the_config_file_flag_and_variable_name_untrusted_files_too(repo: Path) -> None:
    named = repo / "custom.yaml"
    named.write_text("runs_dir: /elsewhere\n")
    with pytest.raises(ConfigError, match="'runs_dir'"):
        _resolve(repo, config_file=named)
    env = {**os.environ, "CODEX_ORCHESTRATOR_CONFIG": str(named)}
    with pytest.raises(ConfigError, match="'runs_dir'"):
        resolve_config(repo, env=env)


def test_yaml_anchors_and_merge_keys_cannot_hide_a_key(repo: Path) -> None:
    (repo / "codex.orchestrator.yaml").write_text(
        "base: &b {notify: ['touch /tmp/x']}\n<<: *b\n".replace("base: &b", "task: t\n_: &b")
    )
    with pytest.raises(ConfigError):
        _resolve(repo)  # either unknown key '_' or 'notify': never applied untrusted
    (repo / "codex.orchestrator.yaml").write_text("<<: {notify: ['touch /tmp/x']}\n")
    with pytest.raises(ConfigError, match="'notify'"):
        _resolve(repo)


def test_the_user_config_file_needs_no_trust(repo: Path) -> None:
    user = user_config_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("notify: ['echo user']\n")
    try:
        config = _resolve(repo)
        assert config.get("notify") == ["echo user"]
        assert config.source("notify") == f"user:{user}"
    finally:
        user.unlink()


def test_revoking_refuses_the_file_again(repo: Path) -> None:
    path = repo / "codex.orchestrator.yaml"
    path.write_text("notify: ['echo a']\n")
    trust_file(path)
    assert trust.TrustStore.for_env().revoke(path) is True
    with pytest.raises(ConfigError, match="is not trusted"):
        _resolve(repo)
    assert trust.TrustStore.for_env().revoke(path) is False


def test_a_damaged_store_is_a_one_line_error(tmp_path: Path) -> None:
    store = trust.TrustStore(tmp_path / "trusted-configs.json")
    store.path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a trust store"):
        store.entries()


def test_a_command_of_a_trusting_run_inherits_the_verdict_on_the_same_settings_only(
    repo: Path,
) -> None:
    path = repo / "codex.orchestrator.yaml"
    path.write_text("notify: ['echo a']\n")
    trust_file(path)
    parent = _resolve(repo)
    child_env = parent.child_env()
    assert set(child_env) == {TRUSTED_CONFIG_ENV}
    trust.TrustStore.for_env().revoke(path)  # inside the sandbox the store is hidden
    env = {ROOT_ENV: str(repo), **os.environ, **child_env}
    assert resolve_config(repo, env=env).trusted is True
    path.write_text("notify: ['echo b']\n")  # other settings: the inherited digest is no help
    with pytest.raises(ConfigError, match="is not trusted"):
        resolve_config(repo, env=env)
    untrusted = repo / "other"
    (untrusted / ".git").mkdir(parents=True)
    (untrusted / "codex.orchestrator.yaml").write_text("task: t\n")
    assert _resolve(untrusted).child_env() == {}
