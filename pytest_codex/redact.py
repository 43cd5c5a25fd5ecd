"""The one redactor: secrets are replaced before anything leaves the process.

A secret is recognised in four forms:

- the **value of a secret-looking environment variable** (its name contains ``TOKEN``,
  ``KEY``, ``SECRET``, ``PASSWORD``, ``CREDENTIAL``, ... or ends in ``_PAT``, or starts with
  ``AWS_``), wherever the value appears;
- an **assignment or flag** whose name looks secret: ``API_KEY=x``, ``--token=x``,
  ``--password x``, ``"password": "x"``, ``-c api_key=x``, HTTP auth headers
  (``Authorization: Bearer x``) and the credential after ``Bearer``/``Basic``;
- **URL userinfo**: ``https://user:pass@host`` keeps the user and loses the password;
- **known token shapes** with nothing around them: GitHub (``ghp_``, ``github_pat_``, ...),
  ``sk-...`` API keys, AWS access key ids, Slack ``xox?-`` tokens, GitLab and npm tokens,
  JWTs and PEM private key blocks.

:class:`Redactor` finds them all in one pass (:meth:`Redactor.spans`); :class:`StreamRedactor`
applies it to a stream of chunks with a carry-over window, so a secret split between two
chunks is still found whole. Every sink (manifests, events, both stdout dialects, command
logs, telemetry, notifications, approval records) goes through these.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ahocorasick_rs

REDACTED = "[REDACTED]"

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
    """The values of secret-looking variables in ``env`` (default: ``os.environ``)."""
    source = os.environ if env is None else env
    values = {v for k, v in source.items() if is_secret_name(k) and len(v) >= _MIN_SCRUB_LENGTH}
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(values, key=len, reverse=True)


# -- patterns ----------------------------------------------------------------------------------
# Each pattern has a group "secret" (the part replaced) and trigger substrings, looked for in
# the lower-cased text first: most output contains none of them, and a substring test is far
# cheaper than a regex scan.

_NAME_WORDS = (
    "token|key|secret|passw|passphrase|pwd|credential|auth|cookie|session_id|private|"
    "signature|dsn|_pat|aws_"
)
_SCHEMES = r"(?:bearer|basic|token|digest)\s+"

# NAME=value, NAME: value, "NAME": "value", --name=value (the name is checked in code).
_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?[ \t]*(?:=|:(?!//))[ \t]*"
    r"[\"']?(?P<secret>(?:" + _SCHEMES + r")?[^\s\"'`,]+)"
)
# --password value (a secret-looking flag and the next word).
_FLAG = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])--?(?P<name>[a-z0-9_-]*(?:" + _NAME_WORDS + r")[a-z0-9_-]*)"
    r"[ \t]+[\"']?(?P<secret>[^\s\"'`-][^\s\"'`]*)"
)
_BEARER = re.compile(r"(?i)\b(?:bearer|basic)[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{8,})")
_USERINFO = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:(?P<secret>[^/\s@\"']+)@")
_SHAPES = re.compile(
    r"(?P<secret>"
    r"\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bnpm_[A-Za-z0-9]{36}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|AIPA)[A-Z0-9]{16}\b"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_-]{35}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")"
)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")

# Patterns run only where a keyword occurs: one Aho-Corasick pass over the lower-cased text
# finds every keyword (and every known secret value) at once, and each pattern is then
# matched at its hit alone. Plain output with no keyword costs one pass at native speed.
# Keywords that start a token shape (matched at the hit), then those found inside names,
# headers and URLs.
_SHAPE_WORDS = (
    "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ glpat- npm_ sk- akia asia agpa aida aroa anpa aipa "
    "xoxa- xoxb- xoxp- xoxr- xoxs- aiza eyj"
)
_NAME_WORDS_FOUND = (
    # "pass" only where it starts a secret's name or ends one ("passw", "_pass", "pass="),
    # never "passed": test output says that on every line.
    "token key secret passw passph _pass -pass pass= pass: pass\" pass' pwd cred auth cookie "
    "private "
    "signature dsn _pat aws session"
)
_SHAPE_KEYWORDS = frozenset(_SHAPE_WORDS.split(" "))
_KEYWORDS: tuple[str, ...] = (
    *_NAME_WORDS_FOUND.split(" "),
    "bearer",
    "basic",
    "://",
    "-----begin",
    *sorted(_SHAPE_KEYWORDS),
)
_PATTERNS: tuple[tuple[re.Pattern[str], bool], ...] = (
    # (pattern, whether its "name" group must name a secret)
    (_ASSIGN, True),
    (_FLAG, True),
    (_BEARER, False),
    (_USERINFO, False),
    (_SHAPES, False),
)

Span = tuple[int, int]
_SCALARS = frozenset({int, float, bool, type(None)})  # values with nothing to redact
_CACHED_LENGTH = 200  # texts up to this long are remembered, redacted
_CACHE_ENTRIES = 4096  # then the memory starts anew
_SURROGATES = re.compile("[\udc80-\udcff]")

# Keys of the project's own records whose names look secret but whose values are not (an
# approval key is a redacted command; a key id is a public fingerprint): their strings are
# still redacted like any text, never replaced whole.
NOT_SECRET_KEYS = frozenset({"key", "approvalKey", "keyid", "publicKey", "trustedKeys"})
# Keys whose list of strings is a command line (redacted with :meth:`Redactor.argv`).
ARGV_KEYS = frozenset({"argv", "command", "input-messages"})


class Redactor:
    """Finds and replaces secrets in text, argv and JSON-like values.

    ``secrets`` are literal values to replace (default: those of the secret-looking
    variables of ``os.environ``); the patterns above apply in any case.
    """

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        values = secret_values() if secrets is None else secrets
        self.secrets: list[str] = sorted(
            {v for v in values if v and len(v) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True
        )
        self.longest = len(self.secrets[0]) if self.secrets else 0
        self._cache: dict[str, str] = {}  # short texts, redacted
        self._automaton, self._bytes_automaton, self._prefilter = _automata(tuple(self.secrets))

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
        """Whether ``data`` may hold a secret: False only when it is ASCII and no keyword
        and no known secret value occurs in it anywhere (then :meth:`spans` of its text is
        empty). Non-ASCII data always may (its case folding is left to :meth:`spans`)."""
        if not data.isascii():
            return True
        # A leftmost-first search reports no match if and only if no pattern occurs at all;
        # unlike an overlapping one, it runs at SIMD speed.
        return bool(self._prefilter.find_matches_as_indexes(data.lower()))

    def spans(self, text: str) -> list[Span]:
        """The non-overlapping ``(start, end)`` ranges of ``text`` that hold a secret."""
        if not text:
            return []
        matches: list[tuple[int, int, int]]
        if text.isascii():
            # Bytes: the automaton works on them directly (a str is converted to UTF-8
            # first), and the prefilter skips the overlapping scan for clean text.
            data = text.encode("ascii").lower()
            if not self._prefilter.find_matches_as_indexes(data):
                return []
            matches = self._bytes_automaton.find_matches_as_indexes(data, overlapping=True)
        else:
            lowered = text.lower()
            if len(lowered) != len(text):  # a few characters change length when lowered
                return _merge(self._scan_all(text))
            try:
                matches = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
            except UnicodeEncodeError:
                # Undecodable bytes kept as lone surrogates (``surrogateescape``): scan a
                # copy with U+FFFD in their place (one character each, so positions still
                # line up).
                lowered = _SURROGATES.sub("\ufffd", lowered)
                matches = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        found: list[Span] = []
        keywords = len(_KEYWORDS)
        for index, start, end in matches:
            if index >= keywords:  # a known secret value: matched case-sensitively
                secret = self.secrets[index - keywords]
                if text.startswith(secret, start):
                    found.append((start, end))
            else:
                found.extend(_at_keyword(text, _KEYWORDS[index], start))
        return _merge(found)

    def _scan_all(self, text: str) -> list[Span]:
        """Every pattern over the whole text (the slow path, for text whose lower-cased form
        does not line up with it)."""
        found: list[Span] = []
        for pattern, check_name in _PATTERNS:
            for match in pattern.finditer(text):
                if check_name and not looks_like_secret_key(match.group("name")):
                    continue
                if not match.group("secret").startswith(REDACTED):
                    found.append(match.span("secret"))
        for secret in self.secrets:
            position = text.find(secret)
            while position != -1:
                found.append((position, position + len(secret)))
                position = text.find(secret, position + len(secret))
        found.extend(_pem_spans(text, 0))
        return found

    # -- replacing -----------------------------------------------------------------------------
    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        if not text:
            return text
        if len(text) > _CACHED_LENGTH:
            return _apply(text, self.spans(text))
        # Event payloads repeat their short strings (outcomes, paths, ids) all the time.
        cache = self._cache
        done = cache.get(text)
        if done is None:
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()
            done = cache[text] = _apply(text, self.spans(text))
        return done

    __call__ = text

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted (every string under a
        secret-looking key replaced whole, and a list of strings under ``argv`` redacted as an
        argv, so ``["--password", "x"]`` loses ``x``)."""
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
            return self.text(value)
        if kind in _SCALARS:
            return value
        if key in ARGV_KEYS and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return self.argv(value)
        return self.value(value)

    def argv(self, argv: Iterable[str]) -> list[str]:
        """An argv with the word after a secret-looking flag and every secret replaced."""
        words = list(argv)
        out: list[str] = []
        hide_next = False
        for word in words:
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
) -> tuple[
    ahocorasick_rs.AhoCorasick, ahocorasick_rs.BytesAhoCorasick, ahocorasick_rs.BytesAhoCorasick
]:
    """The keyword automata: the keywords, then the lower-cased secret values (matched
    case-sensitively on a hit); built once per set of secrets. One over text (overlapping,
    for non-ASCII text), one over ASCII bytes (overlapping, the same pattern indexes) and the
    leftmost-first prefilter over bytes (does anything occur at all?)."""
    patterns = [*_KEYWORDS, *(s.lower() for s in secrets)]
    # A value that is not ASCII never occurs in ASCII bytes; encoded all the same, so the
    # indexes of both byte automata match the text one's.
    encoded = [p.encode("utf-8", "surrogatepass") for p in patterns]
    return (
        ahocorasick_rs.AhoCorasick(patterns),
        ahocorasick_rs.BytesAhoCorasick(encoded),
        ahocorasick_rs.BytesAhoCorasick(
            encoded,
            matchkind=ahocorasick_rs.MatchKind.LeftmostFirst,
            implementation=ahocorasick_rs.Implementation.DFA,
        ),
    )


_NAME_BACKWARDS = re.compile(r"[A-Za-z0-9_.-]*")  # matched on the reversed text before a hit
_SCHEME_TAIL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}\Z")


def _at_keyword(text: str, keyword: str, start: int) -> list[Span]:
    """The secrets a keyword found at ``start`` belongs to (often none)."""
    if keyword in _SHAPE_KEYWORDS:
        match = _SHAPES.match(text, start)
        return [match.span("secret")] if match else []
    if keyword == "-----begin":
        return _pem_spans(text, start)
    if keyword == "://":
        tail = _SCHEME_TAIL.search(text, max(0, start - 32), start)
        match = _USERINFO.match(text, tail.start()) if tail else None
        return [match.span("secret")] if match else []
    spans: list[Span] = []
    if keyword in ("bearer", "basic"):
        match = _BEARER.match(text, start)
        if match:
            spans.append(match.span("secret"))
    # The keyword is part of a name: NAME=value, "name": value, --name value.
    before = text[max(0, start - 64) : start][::-1]
    name_start = start - _name_length(before)
    for pattern, at in ((_ASSIGN, name_start), (_FLAG, _flag_start(text, name_start))):
        if at < 0:
            continue
        match = pattern.match(text, at)
        if (
            match is not None
            and not match.group("secret").startswith(REDACTED)
            and looks_like_secret_key(match.group("name"))
        ):
            spans.append(match.span("secret"))
    return spans


def _name_length(reversed_before: str) -> int:
    """How many characters before a hit still belong to its name (which must start with a
    letter or an underscore)."""
    length = _NAME_BACKWARDS.match(reversed_before).end()  # type: ignore[union-attr]
    while length and not (
        reversed_before[length - 1].isalpha() or reversed_before[length - 1] == "_"
    ):
        length -= 1
    return length


def _flag_start(text: str, name_start: int) -> int:
    """Where the dashes of a flag whose name starts at ``name_start`` begin (-1: no flag)."""
    at = name_start
    while at > 0 and name_start - at < 2 and text[at - 1] == "-":
        at -= 1
    return at if at < name_start else -1


def _takes_secret(word: str) -> bool:
    """Whether ``word`` is a flag (``--token``, ``--api-key``) whose value is the next word."""
    if not word.startswith("-") or "=" in word:
        return False
    name = word.lstrip("-")
    return len(name) > 1 and looks_like_secret_key(name)


def _pem_spans(text: str, start: int) -> list[Span]:
    """The bodies of private key blocks beginning at ``start`` or later (an unterminated
    block reaches the end of the text)."""
    spans: list[Span] = []
    for begin in _PEM_BEGIN.finditer(text, start):
        end = _PEM_END.search(text, begin.end())
        spans.append((begin.end(), end.start() if end else len(text)))
        if start:  # called for one hit: the block there is enough
            break
    return spans


def _merge(spans: list[Span]) -> list[Span]:
    if len(spans) < 2:
        return spans
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _apply(text: str, spans: Sequence[Span]) -> str:
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        parts.append(REDACTED)
        position = end
    parts.append(text[position:])
    return "".join(parts)


_WORD_BACK = re.compile(r"\S*(?:\s+\S*)?")  # matched on the reversed text before a cut
# The same on ASCII bytes: str.isspace() there is \t-\r, \x1c-\x1f and the space.
_WORD_BACK_BYTES = re.compile(rb"[^\t-\r\x1c- ]*(?:[\t-\r\x1c- ]+[^\t-\r\x1c- ]*)?")


class StreamRedactor:
    """Redacts a stream of text chunks, holding back a carry-over window.

    The tail of each chunk that could be the start of a secret (the last word, at least as
    many characters as the longest known secret, and an unterminated PEM block) is held until
    the next chunk or :meth:`flush`, so a secret split between chunks is replaced whole and
    never leaves as two halves. ``window`` bounds how much is held.
    """

    def __init__(self, redactor: Redactor, *, window: int = 4096) -> None:
        self.redactor = redactor
        self.window = max(window, redactor.longest)
        self._carry = ""

    def feed(self, chunk: str) -> str:
        """The redacted text that is safe to emit now (possibly empty)."""
        text = self._carry + chunk
        if not text:
            return ""
        spans = self.redactor.spans(text)
        cut = self._cut(text, len(text) - max(self.redactor.longest - 1, 256))
        floor = max(0, len(text) - self.window)
        moved = True
        while moved and cut > floor:
            # Never split a secret, emit one that may still grow, or cut right before one
            # (its key or flag must stay with it for the next scan).
            moved = False
            for start, end in spans:
                if end <= cut:
                    continue  # emitted whole
                context = self._cut(text, start)  # the secret's word and the one before
                if context < cut:
                    cut, moved = context, True
                    break
        self._carry = text[cut:]
        return _apply(text[:cut], [s for s in spans if s[1] <= cut])

    def feed_ascii(self, data: bytes) -> bytes | None:
        """:meth:`feed` for bytes, when what is held and ``data`` are ASCII and hold no
        keyword and no known secret value (nothing to redact): the bytes that are safe to
        emit now (possibly empty), the same text :meth:`feed` would return, with the same
        tail held. None when that is not so; nothing was taken then, and :meth:`feed` must
        get the decoded text."""
        carry = self._carry
        if not carry.isascii():
            return None
        joined = carry.encode("ascii") + data if carry else data
        if self.redactor.might_contain(joined):  # also when data is not ASCII
            return None
        # Where feed would cut (it finds no spans here): the same rule as _cut, on bytes. No
        # private key block can begin here (its "-----BEGIN" is a keyword).
        size = len(joined)
        floor = max(0, size - self.window)
        cut = max(floor, min(size - max(self.redactor.longest - 1, 256), size))
        back = joined[max(floor, cut - 512) : cut][::-1]
        length = _WORD_BACK_BYTES.match(back).end()  # type: ignore[union-attr]
        if length == len(back) and cut - length > floor:  # one long word: look further back
            back = joined[floor:cut][::-1]
            length = _WORD_BACK_BYTES.match(back).end()  # type: ignore[union-attr]
        cut -= length
        self._carry = joined[cut:].decode("ascii")
        return joined[:cut]

    def flush(self) -> str:
        """Everything still held, redacted; the stream starts anew."""
        text, self._carry = self._carry, ""
        return self.redactor.text(text)

    @property
    def holding(self) -> bool:
        """Whether text is held back."""
        return bool(self._carry)

    def release_lines(self) -> str:
        """The complete lines of what is held, redacted (the stream went quiet): the partial
        last line, an unterminated private key block and a secret reaching past the last
        newline stay held."""
        text = self._carry
        cut = text.rfind("\n") + 1
        begin = text.rfind("-----BEGIN", 0, cut)
        if begin != -1 and "-----END" not in text[begin:]:
            cut = begin
        if cut <= 0:
            return ""
        spans = self.redactor.spans(text)
        for start, end in spans:
            if start < cut < end:
                cut = text.rfind("\n", 0, start) + 1
                break
        if cut <= 0:
            return ""
        self._carry = text[cut:]
        return _apply(text[:cut], [s for s in spans if s[1] <= cut])

    def _cut(self, text: str, limit: int) -> int:
        """The last point at or before ``limit`` where the text may be cut: the start of a
        word, keeping the word before it too ("Bearer x" and "--password x" span a space),
        before any unterminated private key block; at most ``window`` characters back."""
        floor = max(0, len(text) - self.window)
        cut = max(floor, min(limit, len(text)))
        # Back over the word at the cut, then the space and the word before it (matched on
        # the reversed text; ``\s`` is exactly ``str.isspace``).
        cut -= _WORD_BACK.match(text[floor:cut][::-1]).end()  # type: ignore[union-attr]
        begin = text.rfind("-----BEGIN", floor)
        if begin != -1 and begin < cut and "-----END" not in text[begin:]:
            cut = begin
        return cut


# -- the functions the rest of the code calls ---------------------------------------------------


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret value and every secret-shaped string replaced."""
    return Redactor(secrets).text(text)


def redact_argv(argv: Iterable[str], secrets: Iterable[str] | None = None) -> list[str]:
    """An argv with secret values, secret flag values, headers and userinfo replaced."""
    return Redactor(secrets).argv(argv)


def redact_url(url: str) -> str:
    """``url`` without the password of its userinfo (for display and records)."""
    return _apply(url, [m.span("secret") for m in _USERINFO.finditer(url)])


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
