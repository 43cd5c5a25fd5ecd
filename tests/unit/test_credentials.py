"""The orchestrator's own credentials: found by construction, shown without them."""

from __future__ import annotations

from pytest_codex.credentials import (
    config_credentials,
    env_credentials,
    header_credentials,
    url_credentials,
)
from pytest_codex.redact import REDACTED, Redactor, display_url, display_urls, secret_values

SLACK = "https://hooks.slack.com/services/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"
DISCORD = "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123"


def test_path_tokens_query_values_and_passwords_are_credentials() -> None:
    assert (
        display_url(SLACK) == f"https://hooks.slack.com/services/{REDACTED}/{REDACTED}/{REDACTED}"
    )
    assert display_url(DISCORD) == f"https://discord.com/api/webhooks/{REDACTED}/{REDACTED}"
    signed = "https://bob:pw%40x@collector.example/v1/traces?sig=abc%2Bdef&se=2030#frag"
    assert display_url(signed) == (
        f"https://bob:{REDACTED}@collector.example/v1/traces?sig={REDACTED}&se={REDACTED}"
        f"#{REDACTED}"
    )
    assert "pw@x" in url_credentials(signed) and "abc+def" in url_credentials(signed)
    # What is not a credential stays: hosts, ports, plain path words, parameter names.
    plain = "http://127.0.0.1:4318/v1/traces"
    assert display_url(plain) == plain
    # A file target's path is a path: never a credential.
    path = "file:///tmp/pytest-of-root/pytest-287/test_run0/notify.jsonl"
    assert display_url(path) == path and url_credentials(path) == []
    assert display_urls(f"curl -X POST {SLACK} -d @-") == (
        f"curl -X POST https://hooks.slack.com/services/{REDACTED}/{REDACTED}/{REDACTED} -d @-"
    )


def test_header_values_are_credentials_whatever_their_names() -> None:
    assert header_credentials({"x-honeycomb-team": "hc-team-key-123", "X-Scope": "tenant"}) == [
        "hc-team-key-123",
        "tenant",
    ]
    found = header_credentials("x-honeycomb-team=hc%20key%2Fone,authorization=Bearer tok-123456")
    assert {"hc%20key%2Fone", "hc key/one", "Bearer tok-123456", "tok-123456"} <= set(found)


def test_the_environment_and_configuration_name_them_by_construction() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=hc-team-key-123",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://o:otel-pass-1@otel.example/v1/traces",
        "CODEX_ORCHESTRATOR_NOTIFY": f"{SLACK},file:///tmp/x",
        "HOME": "/root",
    }
    found = env_credentials(env)
    assert {"hc-team-key-123", "otel-pass-1", "q1W2e3R4t5Y6u7I8o9P0a1S2"} <= set(found)
    assert "hc-team-key-123" in secret_values(env)
    config = {
        "otel": {"endpoint": "https://otel.example/v1/traces", "headers": {"x-team": "team-7a"}},
        "notify": [{"target": DISCORD}],
        # Codex -c overrides: dotted keys through a headers table
        "otel.exporter.otlp-http.headers.x-honeycomb-team": "hc-override-99",
    }
    found = config_credentials(config)
    assert {"team-7a", "AbCdEfGhIjKlMnOpQrStUvWxYz0123", "hc-override-99"} <= set(found)
    redactor = Redactor(found)
    assert redactor.text("sent with hc-override-99") == f"sent with {REDACTED}"
