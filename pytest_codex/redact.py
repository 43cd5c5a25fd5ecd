"""The one redactor: secrets are replaced before anything leaves the process.

A secret is recognised in these forms:

- a **known value** (the environment's secret-looking variables, a command's own env, the
  configuration's secrets and the orchestrator's own credentials,
  :mod:`pytest_codex.credentials`) in every encoding a program prints it in
  (:func:`encoded_forms`): raw, percent-encoded, JSON- and Python-escaped, base64 (standard
  and URL-safe, at any alignment) and hex;
- an **assignment or flag** whose name looks secret: ``API_KEY=x``, ``--token=x``,
  ``--password x``, ``"password": "x"``, ``-c api_key=x``, HTTP auth headers
  (``Authorization: Bearer x``) and the credential after ``Bearer``/``Basic``;
- **URL userinfo**: ``https://user:pass@host`` keeps the user and loses the password;
- **known token shapes** with nothing around them: GitHub (``ghp_``, ``github_pat_``, ...),
  ``sk-...`` API keys, AWS access key ids, Slack ``xox?-`` tokens, GitLab and npm tokens,
  JWTs and PEM private key blocks.

Everything works on bytes and in linear time, adversarial input included: a prefilter
(one Aho-Corasick pass, ``ahocorasick-rs``) says whether anything may be there; known values
are one more Aho-Corasick pass; the heuristics are one RE2 scan (``google-re2``: automata,
no backtracking) that resumes after each candidate, never re-scanning what it passed. The
heuristics judge *values* (what follows ``password=``); identifiers (node ids, paths, class
names) go through :meth:`Redactor.identifier`, known values only, and stay byte-identical.

:class:`StreamRedactor` applies it to a stream of chunks with a carry-over window, so a
secret split between chunks is replaced whole; one longer than the window is replaced from
its start and the rest of it dropped as it arrives.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import urllib.parse
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import ahocorasick_rs

from .credentials import env_credentials, url_parts, urls_in

REDACTED = "[REDACTED]"
_MARK = REDACTED.encode()

SECRET_MARKERS: tuple[str, ...] = (
    "TOKEN",
    "KEY",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION_ID",
    "PRIVATE",
    "SIGNATURE",
    "DSN",
)
SECRET_PREFIXES: tuple[str, ...] = ("AWS_",)
SECRET_SUFFIXES: tuple[str, ...] = ("_PAT", "_PWD", "_PASS")

# Values shorter than this are not scrubbed out of free text: replacing "1" or "true"
# everywhere would destroy output without protecting anything.
_MIN_SCRUB_LENGTH = 6
# Base64 and hex forms only of values this long (bytes): shorter ones would be a few
# characters that occur by chance.
_MIN_ENCODED_LENGTH = 8


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a variable, flag, header or key name looks like it holds a secret."""
    upper = name.upper().replace("-", "_").lstrip("_")
    return (
        any(marker in upper for marker in SECRET_MARKERS)
        or upper.startswith(SECRET_PREFIXES)
        or upper.endswith(SECRET_SUFFIXES)
    )


_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "key",
        "apikey",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "pass",
        "credential",
        "credentials",
        "creds",
        "auth",
        "authorization",
        "cookie",
        "private",
        "signature",
        "dsn",
        "pat",
        "bearer",
        "sessionid",
    }
)
_NOT_SECRET_LAST = frozenset({"error", "exception", "warning", "id", "file", "path", "name"})


@functools.lru_cache(maxsize=4096)
def looks_like_secret_key(name: str) -> bool:
    """Whether a key in free text (``api_key=``, ``"password":``, ``--token``) names a secret.

    Stricter than :func:`is_secret_name`: the name is split into words (``api_key``,
    ``apiKey``, ``X-Api-Key``) and one must be a secret word, so ``monkeypatch`` or
    ``KeyError: 'x'`` are left alone.
    """
    words = [w.lower() for w in _PARTS.findall(name)]
    if not words or words[-1] in _NOT_SECRET_LAST:
        return False
    return any(w in _SECRET_WORDS for w in words) or words[0] == "aws"


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the values of secret-looking variables replaced."""
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in env.items()}


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of secret-looking variables in ``env`` (default: ``os.environ``), with the
    credentials of the OpenTelemetry and notification variables (header values whatever
    their names, URL passwords, query values and path tokens)."""
    source = os.environ if env is None else env
    values = {v for k, v in source.items() if is_secret_name(k) and len(v) >= _MIN_SCRUB_LENGTH}
    values.update(v for v in env_credentials(source) if len(v) >= _MIN_SCRUB_LENGTH)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(values, key=len, reverse=True)


# -- the encodings of a known value -------------------------------------------------------------
# What a program prints a value as: every form is searched for literally.

# The characters each common percent-encoder leaves alone, besides letters and digits:
# Python's quote (default and safe=""), JavaScript's encodeURIComponent and encodeURI.
_PERCENT_SAFE = ("", "/", "-_.!~*'()", ";,/?:@&=+$-_.!~*'()#")
_PERCENT_HEX = re.compile(rb"%[0-9A-F]{2}")
_UNICODE_ESCAPE = re.compile(rb"\\u[0-9a-f]{4}")


def _python_escaped(value: str, quote: str, ascii_only: bool) -> str:
    """``value`` as inside a Python string literal quoted with ``quote`` (``repr``'s rules;
    ``ascii_only``: as ``ascii()``, every non-ASCII character escaped)."""
    text = ascii(value) if ascii_only else repr(value)
    body = text[1:-1]
    if text[0] != quote:  # repr chose the other quote: re-quote the body our way
        body = body.replace("\\" + text[0], text[0]).replace(quote, "\\" + quote)
    return body


def encoded_forms(value: str) -> set[bytes]:
    """Every byte string ``value`` is looked for as (see the module docstring): raw,
    percent-encoded (``%20`` and ``+`` for a space, upper- and lower-case hex, the safe sets
    of the common encoders), JSON-escaped (``\\"``, ``\\u00e9`` in both cases, ``\\/``),
    Python-escaped (``\\xe9``, either quote, and the ``bytes`` literal), and for values of
    :data:`_MIN_ENCODED_LENGTH` bytes or more base64 (standard and URL-safe, the part fixed
    by the value at each of the three alignments) and hex (both cases)."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = {raw}
    for safe in _PERCENT_SAFE:
        for quoted in (urllib.parse.quote(raw, safe=safe), urllib.parse.quote_plus(raw, safe=safe)):
            form = quoted.encode("ascii")
            forms.add(form)
            forms.add(_PERCENT_HEX.sub(lambda m: m.group().lower(), form))
    try:
        escaped = [json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    except UnicodeEncodeError:  # pragma: no cover - json escapes lone surrogates
        escaped = []
    escaped += [
        _python_escaped(value, quote, ascii_only)
        for quote in ("'", '"')
        for ascii_only in (False, True)
    ]
    for text in escaped:
        form = text.encode("utf-8", "surrogateescape")
        forms.add(form)
        forms.add(_UNICODE_ESCAPE.sub(lambda m: m.group()[:2] + m.group()[2:].upper(), form))
        forms.add(form.replace(b"/", b"\\/"))
    literal = repr(raw)  # b'...' or b"..."
    forms.add(literal[2:-1].encode("ascii"))
    if len(raw) >= _MIN_ENCODED_LENGTH:
        for offset in range(3):
            # The characters fixed by the value alone when it starts ``offset`` bytes into a
            # group of three: those whose six bits all come from the value.
            encoded = base64.b64encode(bytes(offset) + raw + bytes(2))
            first = -(-8 * offset // 6)
            last = (8 * (offset + len(raw))) // 6
            core = encoded[first:last]
            forms.add(core)
            forms.add(core.translate(_URLSAFE))
        forms.add(raw.hex().encode("ascii"))
        forms.add(raw.hex().upper().encode("ascii"))
    return {f for f in forms if len(f) >= _MIN_SCRUB_LENGTH}


_URLSAFE = bytes.maketrans(b"+/", b"-_")


# -- the heuristics -----------------------------------------------------------------------------
# One RE2 pattern (Latin-1, so any byte is a character and invalid UTF-8 is no problem) whose
# alternatives each need a keyword of the prefilter below: a text without one has nothing the
# pattern could find. Names are judged in Python (looks_like_secret_key); values are measured
# with possessive patterns from where the pattern stopped.

_NAME_CHARS = rb"A-Za-z0-9_.\-"
_NAME_KEYWORDS = (
    rb"token|key|secret|passw|passph|[_\-]pass|pwd|cred|auth|cookie|private|signature|dsn|"
    rb"_pat|aws|session|bearer"
)
_SPACE = rb"\t-\r "  # ASCII white space, in a character class
_SHAPES = (
    rb"gh[pousr]_[A-Za-z0-9]{20,}"
    rb"|github_pat_[A-Za-z0-9_]{20,}"
    rb"|glpat-[A-Za-z0-9_\-]{20,}"
    rb"|npm_[A-Za-z0-9]{36}"
    rb"|sk-[A-Za-z0-9_\-]{16,}"
    rb"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|AIPA)[A-Z0-9]{16}\b"
    rb"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    rb"|AIza[0-9A-Za-z_\-]{35}"
    rb"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
)
# Secrets recognised by their own shape, never judged in Python (first: where one of them
# and a name start at the same place, they win).
_SHAPED_PATTERN = (
    rb"(?i:\b(bearer|basic)[ \t]+([A-Za-z0-9._~+/=\-]{8,}))"
    rb"|(://)[^/" + _SPACE + rb":@\"']*:([^/" + _SPACE + rb"@\"']+)@"
    rb"|\b(" + _SHAPES + rb")"
    rb"|(-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
)
# Names, from their keyword (the rest of a name before it is found by looking back): NAME=,
# NAME:, "name": (then the value), --name value.
_NAMED_PATTERN = (
    rb"(?i:(" + _NAME_KEYWORDS + rb")[" + _NAME_CHARS + rb"]*[\"']?[ \t]*[=:][ \t]*[\"']?)"
    # a name ending in "pass" only right before its separator (never "passed")
    rb"|(?i:(pass)(?:[\"'][ \t]*[=:]|[=:])[ \t]*[\"']?)"
    rb"|(?i:-([" + _NAME_CHARS + rb"]*?(?:" + _NAME_KEYWORDS + rb")[" + _NAME_CHARS + rb"]*)"
    rb"[ \t]+[\"']?([^" + _SPACE + rb"\"'`\-]))"
)
_HEURISTICS_PATTERN = _SHAPED_PATTERN + b"|" + _NAMED_PATTERN
# The groups, by number (google-re2's matches take numbers only): the last one that took
# part in a match says which alternative it is.
_BEARER, _USERINFO, _SHAPE, _PEM, _ASSIGN, _PASS, _FLAG = 2, 4, 5, 6, 7, 8, 10
_FLAG_NAME = 9
# The prefilter's keywords (matched on the lower-cased bytes): every alternative above needs
# one. "pass" only where it starts or ends a secret's name, never "passed".
_KEYWORDS: tuple[bytes, ...] = (
    *(b"token", b"key", b"secret", b"passw", b"passph", b"_pass", b"-pass", b"pass="),
    *(b"pass:", b'pass"', b"pass'", b"pwd", b"cred", b"auth", b"cookie", b"private"),
    *(b"signature", b"dsn", b"_pat", b"aws", b"session", b"bearer", b"basic", b"://"),
    *(b"-----begin", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_", b"glpat-"),
    *(b"npm_", b"sk-", b"akia", b"asia", b"agpa", b"aida", b"aroa", b"anpa", b"aipa"),
    *(b"xoxa-", b"xoxb-", b"xoxp-", b"xoxr-", b"xoxs-", b"aiza", b"eyj"),
)

# How far a value reaches, from its first character (possessive: linear, no backtracking).
_VALUE = re.compile(rb"(?i:(?:bearer|basic|token|digest)[ \t]++)?+[^\t-\r \"'`,]*+")
_FLAG_VALUE = re.compile(rb"[^\t-\r \"'`]*+")
# What continues a secret that reached the end of a chunk (see StreamRedactor).
_CONTINUES: dict[str, re.Pattern[bytes]] = {
    "value": re.compile(rb"[^\t-\r \"'`,]*+"),
    "flag": _FLAG_VALUE,
    "bearer": re.compile(rb"[A-Za-z0-9._~+/=\-]*+"),
    "shape": re.compile(rb"[A-Za-z0-9_\-.]*+"),
}
_PEM_END = b"-----END"
_NAME_BACK = re.compile(rb"[A-Za-z0-9_.\-]{0,64}+")  # matched on the reversed bytes before
_MAX_NAME = 64  # a name is judged by its last this many characters before its keyword


@functools.cache
def _patterns() -> tuple[Any, Any]:
    """The heuristics (every alternative) and the shaped alternatives alone, compiled once."""
    import re2  # loaded on the first text with a keyword: start-up stays light

    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.max_mem = 64 << 20
    return re2.compile(_HEURISTICS_PATTERN, options), re2.compile(_SHAPED_PATTERN, options)


# A span to replace: (context, start, end). ``context`` is where what identifies it begins
# (the name of an assignment, a flag, "Bearer"); a stream never cuts between the two.
Span = tuple[int, int]
_Found = tuple[int, int, int]
# A secret reaching the end of the text, which may go on in the next chunk: its context,
# start, and what continues it ("pem": a private key block up to its END line).
_Open = tuple[int, int, str]


class Scan:
    """What one scan found: spans (sorted, non-overlapping), the open one, the work done."""

    __slots__ = ("found", "open", "work")

    def __init__(self) -> None:
        self.found: list[_Found] = []
        self.open: _Open | None = None
        self.work = 0


class _Shaped:
    """The shaped alternatives, searched lazily: where a named candidate covered a stretch
    of text, a shaped secret may begin inside it (a PEM header inside a long name). Each
    search's answer is kept until passed, so the text is searched at most once more."""

    __slots__ = ("done", "next", "search")

    def __init__(self) -> None:
        self.search = _patterns()[1].search
        self.next: Any = None  # the next match found, not yet passed
        self.done = False  # searched to the end of the text: nothing more

    def within(self, data: bytes, start: int, stop: int, scan: Scan) -> int:
        """Record the shaped secrets that begin in ``[start, stop)``; return where the last of
        them ends (at least ``stop``)."""
        while start < stop:
            match = self.next
            if match is None or match.start() < start:
                if self.done:
                    return stop
                match = self.search(data, start)
                scan.work += (len(data) if match is None else match.end()) - start
                if match is None:
                    self.done = True
                    return stop
                self.next = match
            if match.start() >= stop:
                return stop
            end = _shaped(data, match, scan)
            start = end
            stop = max(stop, end)
        return stop


def _shaped(data: bytes, match: Any, scan: Scan) -> int:
    """Record a shaped secret (bearer credential, URL password, token shape, private key
    block); return where scanning goes on."""
    start: int
    end: int
    start, end = match.span()
    group = match.lastindex
    size = len(data)
    if group == _BEARER:
        scan.found.append((start, match.start(_BEARER), end))
        if end == size:
            scan.open = (start, match.start(_BEARER), "bearer")
    elif group == _USERINFO:
        scan.found.append((start, match.start(_USERINFO), match.end(_USERINFO)))
    elif group == _SHAPE:
        scan.found.append((start, start, end))
        if end == size:
            scan.open = (start, start, "shape")
    else:  # a private key block: its body, to its END line or the end of the text
        stop = data.find(_PEM_END, end)
        scan.work += (size if stop < 0 else stop + len(_PEM_END)) - end
        if stop < 0:
            scan.found.append((start, end, size))
            scan.open = (start, end, "pem")
            return size
        scan.found.append((start, end, stop))
        return stop
    return end


def _name_start(data: bytes, at: int) -> int:
    """Where the name whose keyword begins at ``at`` begins (at most :data:`_MAX_NAME`
    characters back)."""
    back = data[max(0, at - _MAX_NAME) : at][::-1]
    return at - _NAME_BACK.match(back).end()  # type: ignore[union-attr]


def _scan_shaped(data: bytes, scan: Scan) -> None:
    """The shaped secrets of ``data`` alone (what an identifier may lose)."""
    _Shaped().within(data, 0, len(data), scan)


def _scan_heuristics(data: bytes, scan: Scan) -> None:
    """Every heuristic secret of ``data``, in one pass that resumes after each candidate
    (plus the lazy search of :class:`_Shaped` where a named candidate covered text)."""
    search = _patterns()[0].search
    shaped: _Shaped | None = None
    size = len(data)
    found = scan.found
    pos = 0
    while pos < size:
        match = search(data, pos)
        if match is None:
            scan.work += size - pos
            return
        start, end = match.span()
        scan.work += end - pos + 1
        group = match.lastindex
        if group < _ASSIGN:
            pos = _shaped(data, match, scan)
            continue
        # A name: the stretch it covers is searched for shaped secrets too, whatever the
        # verdict (a PEM header may begin inside a name that looks like a flag).
        name_start = _name_start(data, start)
        stop = end
        value_start = -1
        if group == _FLAG:
            flag = data[name_start : min(match.end(_FLAG_NAME), start + 2 * _MAX_NAME)]
            if (
                flag.startswith(b"-")
                and not flag.startswith(b"---")
                and looks_like_secret_key(flag.lstrip(b"-").decode("ascii"))
            ):
                value_start = match.start(_FLAG)
                value = _FLAG_VALUE.match(data, value_start)
                assert value is not None
                stop = value.end()
        else:
            name_end = match.end(group)
            name_end += len(_NAME_BACK.match(data, name_end).group())  # type: ignore[union-attr]
            separator = data[name_end:end]
            # Judged before the value is measured: a rejected name costs no more than itself.
            if (
                end < size
                and data[end] != 0x3A  # "::": a node id, a C++ name
                and not (b":" in separator and data.startswith(b"//", end))  # a URL's scheme
                and looks_like_secret_key(data[name_start:name_end].decode("ascii"))
            ):
                value = _VALUE.match(data, end)
                assert value is not None
                if value.end() > end:
                    value_start, stop = end, value.end()
        if value_start >= 0:
            scan.work += stop - value_start
            if not data.startswith(_MARK, value_start):
                found.append((name_start, value_start, stop))
                if stop == size:
                    scan.open = (name_start, value_start, "flag" if group == _FLAG else "value")
        if shaped is None:
            shaped = _Shaped()
        pos = shaped.within(data, start + 1, stop, scan)


def _merge(found: list[_Found]) -> list[_Found]:
    if len(found) < 2:
        return found
    found.sort(key=lambda f: f[1])
    merged = [found[0]]
    for context, start, end in found[1:]:
        last_context, last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_context, last_start, max(last_end, end))
        else:
            merged.append((context, start, end))
    return merged


def _apply(data: bytes, found: Sequence[_Found], stop: int | None = None) -> bytes:
    """``data[:stop]`` with every span replaced by the mark."""
    stop = len(data) if stop is None else stop
    if not found:
        return data[:stop] if stop < len(data) else data
    parts: list[bytes] = []
    position = 0
    for _, start, end in found:
        if end > stop:
            break
        parts.append(data[position:start])
        parts.append(_MARK)
        position = end
    parts.append(data[position:stop])
    return b"".join(parts)


# Scalars with nothing to redact.
_SCALARS = frozenset({int, float, bool, type(None)})
_CACHED_LENGTH = 200  # texts up to this long are remembered, redacted
_CACHE_ENTRIES = 4096  # then the memory starts anew
_PEEK = 4096  # the prefilter looks at this much first: keyword-dense text stops there

# Keys of the project's own records whose names look secret but whose values are not (an
# approval key is a redacted command; a key id is a public fingerprint): their strings are
# still redacted like any text, never replaced whole.
NOT_SECRET_KEYS = frozenset({"key", "approvalKey", "keyid", "publicKey", "trustedKeys"})
# Keys whose list of strings is a command line (redacted with :meth:`Redactor.argv`).
ARGV_KEYS = frozenset({"argv", "command", "input-messages"})
# Keys whose strings are identifiers (test node ids, paths, names, ids, event and marker
# names): known secret values are replaced, heuristics never rewrite them.
IDENTIFIER_KEYS = frozenset(
    {
        "nodeid",
        "path",
        "domain",
        "markers",
        "worker",
        "type",
        "name",
        "id",
        "runId",
        "taskId",
        "task",
        "correlationId",
        "sessionId",
        "toolRunId",
        "stage",
        "guardrail",
        "logPath",
        "manifestPath",
        "cwd",
        "file",
        "rule",
    }
)


class Redactor:
    """Finds and replaces secrets in bytes, text, argv and JSON-like values.

    ``secrets`` are literal values to replace, in every encoding (default: those of the
    secret-looking variables of ``os.environ``); the heuristics apply in any case.
    """

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        values = secret_values() if secrets is None else secrets
        self.secrets: list[str] = sorted(
            {v for v in values if v and len(v) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True
        )
        self._known, self._prefilter, self.longest = _automata(tuple(self.secrets))
        self._cache: dict[str, str] = {}  # short texts, redacted
        self._names: dict[str, str] = {}  # short identifiers, redacted
        self.work = 0  # bytes examined by every scan so far (see Scan.work)

    @classmethod
    def for_env(cls, *envs: Mapping[str, str] | None, extra: Iterable[str] = ()) -> Redactor:
        """A redactor for the secret-looking values of ``os.environ`` and ``envs``."""
        values = set(secret_values())
        for env in envs:
            if env:
                values.update(secret_values(env))
        values.update(extra)
        return cls(values)

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        """A redactor that also knows ``extra``."""
        return Redactor([*self.secrets, *extra])

    # -- finding -------------------------------------------------------------------------------
    def might_contain(self, data: bytes) -> bool:
        """Whether ``data`` may hold a secret: False only when no keyword and no known value
        (in any encoding, any case) occurs in it anywhere (then :meth:`scan` finds nothing)."""
        self.work += len(data)
        lowered = data.lower()
        # A leftmost-first search reports no match if and only if no pattern occurs at all;
        # unlike an overlapping one, it runs at SIMD speed. A look at the start first:
        # keyword-dense text answers there without a list of every keyword.
        find = self._prefilter.find_matches_as_indexes
        return bool((len(lowered) > _PEEK and find(lowered[:_PEEK])) or find(lowered))

    def scan(self, data: bytes, *, names: bool = True) -> Scan:
        """Every secret of ``data``: known values in every encoding, credentials after
        ``Bearer``, URL passwords, token shapes, private key blocks, and (``names``) the
        values of assignments and flags whose names look secret."""
        scan = Scan()
        if not data or not self.might_contain(data):
            return scan
        if names:
            _scan_heuristics(data, scan)
        else:
            _scan_shaped(data, scan)
        if self._known is not None:
            scan.work += len(data)
            for index, start, end in self._known.find_matches_as_indexes(data, overlapping=True):
                del index
                scan.found.append((start, start, end))
        scan.found = _merge(scan.found)
        if scan.open is not None and scan.found[-1][2] != len(data):
            scan.open = None  # merged into a span that ends before the end (cannot happen)
        self.work += scan.work
        return scan

    def spans(self, text: str) -> list[Span]:
        """The non-overlapping ``(start, end)`` character ranges of ``text`` holding a
        secret."""
        data = text.encode("utf-8", "surrogateescape")
        found = self.scan(data).found
        if len(data) == len(text):
            return [(start, end) for _, start, end in found]
        return [
            (
                len(data[:start].decode("utf-8", "surrogateescape")),
                len(data[:end].decode("utf-8", "surrogateescape")),
            )
            for _, start, end in found
        ]

    # -- replacing -----------------------------------------------------------------------------
    def redact_bytes(self, data: bytes) -> bytes:
        """``data`` with every secret replaced by ``[REDACTED]``."""
        return _apply(data, self.scan(data).found)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        if not text:
            return text
        if len(text) > _CACHED_LENGTH:
            return self._text(text, True)
        # Event payloads repeat their short strings (outcomes, paths, ids) all the time.
        cache = self._cache
        done = cache.get(text)
        if done is None:
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()
            done = cache[text] = self._text(text, True)
        return done

    __call__ = text

    def identifier(self, text: str) -> str:
        """An identifier (a test node id, a path, a class or function name) with known secret
        values and shaped secrets (tokens, URL passwords) replaced, never judged by names:
        ``TestKey::test_rotation`` stays as it is."""
        if not text:
            return text
        cache = self._names
        done = cache.get(text)
        if done is None:
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()
            done = self._text(text, False)
            if len(text) <= _CACHED_LENGTH:
                cache[text] = done
        return done

    def _text(self, text: str, names: bool) -> str:
        if text.isascii():
            data = text.encode("ascii")
            found = self.scan(data, names=names).found
            return _apply(data, found).decode("ascii") if found else text
        data = text.encode("utf-8", "surrogateescape")
        found = self.scan(data, names=names).found
        return _apply(data, found).decode("utf-8", "surrogateescape") if found else text

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted (every string under a
        secret-looking key replaced whole, strings under identifier keys with known values
        only, and a list of strings under ``argv`` redacted as an argv, so
        ``["--password", "x"]`` loses ``x``)."""
        kind = type(value)  # exact types first: isinstance against an ABC is slow
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value
        if kind is dict or isinstance(value, Mapping):
            entry = self._entry
            return {k: entry(k, v) for k, v in value.items()}
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _entry(self, key: Any, value: Any) -> Any:
        kind = type(value)
        if kind is str or isinstance(value, str):
            if value and is_secret_name(str(key)) and key not in NOT_SECRET_KEYS:
                return REDACTED
            if key in IDENTIFIER_KEYS:
                return self.identifier(value)
            return self.text(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            if key in ARGV_KEYS:
                return self.argv(value)
            if key in IDENTIFIER_KEYS:
                return [self.identifier(v) for v in value]
        return self.value(value)

    def argv(self, argv: Iterable[str]) -> list[str]:
        """An argv with the word after a secret-looking flag and every secret replaced."""
        out: list[str] = []
        hide_next = False
        for word in argv:
            if hide_next and not word.startswith("-"):
                out.append(REDACTED)
                hide_next = False
                continue
            hide_next = _takes_secret(word)
            out.append(self.text(word))
        return out


@functools.lru_cache(maxsize=32)
def _automata(
    secrets: tuple[str, ...],
) -> tuple[ahocorasick_rs.BytesAhoCorasick | None, ahocorasick_rs.BytesAhoCorasick, int]:
    """For a set of known values: the automaton of their encoded forms (exact, overlapping),
    the prefilter (keywords and every form, lower-cased, leftmost-first: does anything occur
    at all?) and the length of the longest form; built once per set."""
    forms = sorted({form for secret in secrets for form in encoded_forms(secret)})
    known = ahocorasick_rs.BytesAhoCorasick(forms) if forms else None
    prefilter = ahocorasick_rs.BytesAhoCorasick(
        sorted({*_KEYWORDS, *(form.lower() for form in forms)}),
        matchkind=ahocorasick_rs.MatchKind.LeftmostFirst,
        implementation=ahocorasick_rs.Implementation.DFA,
    )
    return known, prefilter, max((len(f) for f in forms), default=0)


def _takes_secret(word: str) -> bool:
    """Whether ``word`` is a flag (``--token``, ``--api-key``) whose value is the next word."""
    if not word.startswith("-") or "=" in word:
        return False
    name = word.lstrip("-")
    return len(name) > 1 and looks_like_secret_key(name)


# -- streams ------------------------------------------------------------------------------------
# Matched on the reversed bytes before a cut: the word at the cut, the space and the word
# before it ("Bearer x" and "--password x" span a space).
_WORD_BACK = re.compile(rb"[^\t-\r ]*+(?:[\t-\r ]++[^\t-\r ]*+)?+")
_HOLD = 256  # at least this much of a stream's tail is held back

Piece = tuple[Hashable, bytes]


class StreamRedactor:
    """Redacts a stream of byte chunks, holding back a carry-over window.

    The tail of each chunk that could be the start of a secret (the last word and the one
    before it, at least as many bytes as the longest known form, a secret that may still
    grow) is held until the next chunk or :meth:`flush`, so a secret split between chunks is
    replaced whole and never leaves as two halves. A secret that grows past ``window`` (a
    token of many KiB, a private key block) is replaced from its start at once and the rest
    of it dropped as it arrives, up to its end.

    Chunks may carry a tag (:meth:`feed_tagged`: which stream of a command they came from);
    what is released keeps the tags, and a secret across two tags is replaced where it
    starts. ``vetted`` chunks were redacted by a stream of their own tag already: text of a
    single tag is then not scanned again.
    """

    def __init__(self, redactor: Redactor, *, window: int = 4096) -> None:
        self.redactor = redactor
        self.hold = max(redactor.longest - 1, _HOLD)
        self.window = max(window, 2 * self.hold + 64)
        self._pending = b""
        self._tags: list[tuple[int, Hashable]] = []  # where each tag's run of _pending starts
        self._swallow: str | None = None  # what continues the secret being dropped
        self._pem_tail = b""

    # -- single stream ---------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """The redacted bytes that are safe to emit now (possibly empty)."""
        return b"".join(piece for _, piece in self.feed_tagged(data, None))

    def flush(self) -> bytes:
        """Everything still held, redacted; the stream starts anew (a secret cut off at the
        end keeps being dropped when more of it comes)."""
        return b"".join(piece for _, piece in self.flush_tagged())

    def release_lines(self) -> bytes:
        """The complete lines of what is held, redacted (the stream went quiet): the partial
        last line and a secret reaching past the last newline stay held."""
        return b"".join(piece for _, piece in self.release_lines_tagged())

    @property
    def holding(self) -> bool:
        """Whether bytes are held back."""
        return bool(self._pending)

    @property
    def held(self) -> int:
        """How many bytes are held back (at most :attr:`window`)."""
        return len(self._pending)

    # -- tagged ------------------------------------------------------------------------------
    def feed_tagged(self, data: bytes, tag: Hashable, *, vetted: bool = False) -> list[Piece]:
        """:meth:`feed` for a chunk of ``tag``: the pieces safe to emit now, in order."""
        if self._swallow is not None:
            data = self._swallowed(data)
            if not data:
                return []
        if not data:
            return []
        tags = self._tags
        if not tags or tags[-1][1] != tag:
            tags.append((len(self._pending), tag))
        text = self._pending + data if self._pending else data
        size = len(text)
        floor = max(0, size - self.window)
        cut = self._word_cut(text, size - self.hold, floor)
        scan = self._scan(text, vetted)
        found = scan.found
        swallow: str | None = None
        # Never cut inside a secret or between it and its name: a complete one leaves
        # whole; the one that may still grow is held with its name (and whatever else
        # reaches into that), or, when that is more than the window, replaced now and the
        # rest of it dropped as it comes.
        for context, _, end in found:
            if context < cut < end and (scan.open is None or end < size):
                cut = end
        if scan.open is not None and scan.open[0] < cut:
            cut = scan.open[0]
            for context, _, end in reversed(found):
                if context < cut < end:
                    cut = context
            if cut < floor:
                swallow, cut = scan.open[2], size
        pieces = self._release(text, cut, found)
        self._swallow = swallow
        return pieces

    def flush_tagged(self, *, vetted: bool = False) -> list[Piece]:
        """:meth:`flush`, keeping the tags."""
        text = self._pending
        if not text:
            self._tags.clear()
            return []
        scan = self._scan(text, vetted)
        pieces = self._release(text, len(text), scan.found)
        if scan.open is not None:
            self._swallow = scan.open[2]
        return pieces

    def release_lines_tagged(self, *, vetted: bool = False) -> list[Piece]:
        """:meth:`release_lines`, keeping the tags."""
        text = self._pending
        cut = text.rfind(b"\n") + 1
        if cut <= 0:
            return []
        scan = self._scan(text, vetted)
        for context, _, end in scan.found:
            if end <= cut:
                continue
            if context < cut:  # a secret (or its name) across the last newline: hold its line
                cut = text.rfind(b"\n", 0, context) + 1
            break
        if cut <= 0:
            return []
        return self._release(text, cut, scan.found)

    # -- internals ---------------------------------------------------------------------------
    def _scan(self, text: bytes, vetted: bool) -> Scan:
        """What :meth:`Redactor.scan` finds in ``text``; nothing for vetted text of one tag
        (its own stream's redactor saw it whole)."""
        return Scan() if vetted and len(self._tags) == 1 else self.redactor.scan(text)

    def _swallowed(self, data: bytes) -> bytes:
        """``data`` less the continuation of the secret being dropped (empty: all of it)."""
        kind = self._swallow
        if kind == "pem":
            joined = self._pem_tail + data
            stop = joined.find(_PEM_END)
            if stop < 0:
                self._pem_tail = joined[-(len(_PEM_END) - 1) :]
                return b""
            self._swallow, self._pem_tail = None, b""
            return joined[stop:]
        assert kind is not None
        match = _CONTINUES[kind].match(data)
        assert match is not None
        stop = match.end()
        self.redactor.work += stop
        if stop == len(data):
            return b""
        self._swallow = None
        return data[stop:]

    def _word_cut(self, text: bytes, limit: int, floor: int) -> int:
        """The last point at or before ``limit`` where the text may be cut: the start of a
        word, keeping the word before it too; never below ``floor``."""
        cut = max(floor, min(limit, len(text)))
        if cut <= floor:
            return floor
        back = text[max(floor, cut - 512) : cut][::-1]
        length = _WORD_BACK.match(back).end()  # type: ignore[union-attr]
        if length == len(back) and cut - length > floor:  # one long word: look further back
            back = text[floor:cut][::-1]
            length = _WORD_BACK.match(back).end()  # type: ignore[union-attr]
        return cut - length

    def _release(self, text: bytes, cut: int, found: list[_Found]) -> list[Piece]:
        """Emit ``text[:cut]`` (spans ending there replaced), keep the rest, split by tags."""
        tags = self._tags
        self._pending = text[cut:]
        if len(tags) == 1:
            tag = tags[0][1]
            if not self._pending:
                tags.clear()
            if cut <= 0:
                return []
            return [(tag, _apply(text, found, cut))]
        pieces: list[Piece] = []
        runs = [
            (start, tags[i + 1][0] if i + 1 < len(tags) else len(text), tag)
            for i, (start, tag) in enumerate(tags)
        ]
        for start, end, tag in runs:
            stop = min(end, cut)
            if start >= stop:
                continue
            parts: list[bytes] = []
            position = start
            for _, s, e in found:
                if e <= position or s >= stop:
                    continue
                if e > cut:
                    break
                if s >= position:
                    parts.append(text[position:s])
                    parts.append(_MARK)
                position = max(position, min(e, stop))
            parts.append(text[position:stop])
            piece = b"".join(parts)
            if piece:
                pieces.append((tag, piece))
        kept = [(max(0, start - cut), tag) for start, end, tag in runs if end > cut]
        self._tags = kept
        return pieces


# -- the functions the rest of the code calls ---------------------------------------------------


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret value and every secret-shaped string replaced."""
    return Redactor(secrets).text(text)


def redact_argv(argv: Iterable[str], secrets: Iterable[str] | None = None) -> list[str]:
    """An argv with secret values, secret flag values, headers and userinfo replaced."""
    return Redactor(secrets).argv(argv)


def display_url(url: str) -> str:
    """``url`` without its credentials (for display and records): the password of its
    userinfo, query values, the fragment and token-like path segments become
    ``[REDACTED]`` (see :func:`pytest_codex.credentials.url_parts`)."""
    parts: list[str] = []
    position = 0
    for start, end in url_parts(url):
        parts += [url[position:start], REDACTED]
        position = end
    return "".join(parts) + url[position:]


redact_url = display_url


def display_urls(text: str) -> str:
    """``text`` with every URL in it shown by :func:`display_url` (a notification command
    line may hold a webhook URL)."""
    if "://" not in text:
        return text
    for url in set(urls_in(text)):
        text = text.replace(url, display_url(url))
    return text


def split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo, and the ``Authorization`` header value (HTTP basic auth)
    built from it: ``https://u:p@host/x`` gives ``("https://host/x", "Basic dTpw")``; a URL
    without userinfo comes back as it is, with None."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return clean, "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
