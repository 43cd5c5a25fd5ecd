"""The orchestrator's own credentials: what in a webhook or OTLP endpoint is a secret by
construction, whatever it is called.

The orchestrator sends notifications and telemetry with credentials it was given: header
values (``otel.headers``, ``OTEL_EXPORTER_OTLP_HEADERS``; ``x-honeycomb-team`` does not look
secret, and is), URL userinfo, query values (``?sig=``, ``?token=``, ``?code=``) and tokens in
a URL's path (``/services/T0/B0/XXXX``, ``/api/webhooks/123/abc``). Those are delivered as
given and recorded nowhere: :func:`url_parts` says where they are in a URL (for the display
form, :func:`pytest_codex.redact.display_url`), :func:`url_credentials`,
:func:`header_credentials`, :func:`env_credentials` and :func:`config_credentials` give
their values, which every redactor of a run knows (in every encoding).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# Variables whose values hold the orchestrator's credentials (the OpenTelemetry exporter's
# and the notification targets').
HEADER_VARIABLES = (
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
)
URL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "CODEX_ORCHESTRATOR_NOTIFY",
)
NOTIFY_VARIABLE = "CODEX_ORCHESTRATOR_NOTIFY"
# Configuration keys (at any depth, or any part of a dotted ``-c`` key) whose values are
# header values.
HEADER_KEYS = frozenset({"headers", "http_headers"})

# Only these URLs carry credentials in their path and query (webhooks, OTLP endpoints).
WEB_SCHEMES = frozenset({"http", "https"})
URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{0,31}://[^\s\"'<>`]+")
# A path segment this long, or shorter with a digit or both cases, is a token.
_TOKEN_LENGTH = 24
_SHORT_TOKEN_LENGTH = 8


def _token_like(segment: str) -> bool:
    if len(segment) >= _TOKEN_LENGTH:
        return True
    if len(segment) < _SHORT_TOKEN_LENGTH:
        return False
    return any(c.isdigit() for c in segment) or (
        any(c.isupper() for c in segment) and any(c.islower() for c in segment)
    )


def url_parts(url: str) -> list[tuple[int, int]]:
    """Where the credentials of ``url`` are (character ranges, in order): the password of
    its userinfo and, for ``http(s)`` URLs, every query value, the fragment, and every path
    segment that looks like a token (:data:`_TOKEN_LENGTH` characters or more, or
    :data:`_SHORT_TOKEN_LENGTH` or more with a digit or both cases)."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return []
    start = scheme_end + 3
    end_of_authority = len(url)
    for separator in "/?#":
        at = url.find(separator, start)
        if at >= 0:
            end_of_authority = min(end_of_authority, at)
    parts: list[tuple[int, int]] = []
    at_sign = url.rfind("@", start, end_of_authority)
    if at_sign >= 0:
        colon = url.find(":", start, at_sign)
        if colon >= 0 and colon + 1 < at_sign:
            parts.append((colon + 1, at_sign))
    if url[:scheme_end].lower() not in WEB_SCHEMES:
        return parts  # a file:// target's path is a path, not a credential
    position = end_of_authority
    query = url.find("?", position)
    fragment = url.find("#", position)
    path_end = min(i for i in (query, fragment, len(url)) if i >= 0)
    segment_start = position
    while segment_start < path_end:
        if url[segment_start] == "/":
            segment_start += 1
            continue
        stop = url.find("/", segment_start, path_end)
        stop = path_end if stop < 0 else stop
        if _token_like(urllib.parse.unquote(url[segment_start:stop])):
            parts.append((segment_start, stop))
        segment_start = stop
    if query >= 0 and (fragment < 0 or query < fragment):
        query_end = fragment if fragment >= 0 else len(url)
        item = query + 1
        while item < query_end:
            stop = url.find("&", item, query_end)
            stop = query_end if stop < 0 else stop
            equals = url.find("=", item, stop)
            if equals >= 0 and equals + 1 < stop:
                parts.append((equals + 1, stop))
            item = stop + 1
    if fragment >= 0 and fragment + 1 < len(url):
        parts.append((fragment + 1, len(url)))
    return parts


def url_credentials(url: str) -> list[str]:
    """The credentials of ``url`` (see :func:`url_parts`), as written and percent-decoded."""
    values: list[str] = []
    for start, end in url_parts(url):
        value = url[start:end]
        values.append(value)
        decoded = urllib.parse.unquote_plus(value)
        if decoded != value:
            values.append(decoded)
    return values


def urls_in(text: str) -> Iterator[str]:
    """Every URL in ``text`` (a notification command may hold one)."""
    for match in URL.finditer(text):
        yield match.group().rstrip(".,;)]}")


def header_credentials(headers: Mapping[str, Any] | str) -> list[str]:
    """The values of ``headers`` (a mapping, or ``k=v,k2=v2`` as the OpenTelemetry variables
    write them), whatever their names, as written and percent-decoded; the credential alone
    too after an auth scheme (``Bearer x``: ``x``)."""
    if isinstance(headers, str):
        pairs = [item.partition("=") for item in headers.split(",")]
        items: Iterable[Any] = [value for _, sep, value in pairs if sep]
    else:
        items = headers.values()
    values: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        for value in {item.strip(), urllib.parse.unquote(item.strip())}:
            if not value:
                continue
            values.append(value)
            scheme, _, credential = value.partition(" ")
            if credential.strip() and scheme.lower() in ("bearer", "basic", "token", "apikey"):
                values.append(credential.strip())
    return values


def env_credentials(env: Mapping[str, str]) -> list[str]:
    """The orchestrator's credentials in ``env``: OTLP header values and the credentials of
    every OTLP endpoint and notification target URL."""
    values: list[str] = []
    for name in HEADER_VARIABLES:
        if env.get(name):
            values += header_credentials(env[name])
    for name in URL_VARIABLES:
        # CODEX_ORCHESTRATOR_NOTIFY is a comma-separated list of targets.
        for item in (
            (env.get(name) or "").split(",") if name == NOTIFY_VARIABLE else [env.get(name) or ""]
        ):
            for url in urls_in(item):
                values += url_credentials(url)
    return values


def config_credentials(values: Any, key: str = "") -> list[str]:
    """The orchestrator's credentials in configuration ``values`` (the resolved values, a
    config file's document or Codex ``-c`` overrides): header values under every
    ``headers`` key (``otel.headers``, or a dotted ``-c`` key through one), and the
    credentials of every URL in a string."""
    found: list[str] = []
    if isinstance(values, Mapping):
        for name, value in values.items():
            dotted = {part.lower() for part in str(name).split(".")}
            if dotted & HEADER_KEYS and isinstance(value, str):
                found += header_credentials({"": value})
                found += config_credentials(value, str(name))
            elif dotted & HEADER_KEYS and isinstance(value, Mapping):
                found += header_credentials(value)
            else:
                found += config_credentials(value, str(name))
    elif isinstance(values, list | tuple):
        for value in values:
            found += config_credentials(value, key)
    elif isinstance(values, str):
        for url in urls_in(values):
            found += url_credentials(url)
    return found
