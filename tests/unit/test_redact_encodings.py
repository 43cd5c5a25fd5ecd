"""Known values in every encoding a program prints, identifiers left alone, long secrets and
the interleaving of a command's streams (the encoders here are the standard library's, not
the redactor's own list of forms)."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

import pytest

from pytest_codex.redact import REDACTED, Redactor, StreamRedactor

# A quote, a backslash, a space, a slash, a plus and non-ASCII: every encoding differs.
VALUE = 'Pa55 "w\\rd"/+\u00e9t\u20ac-9f8e7d'
PLAIN = "s3cr3tPlainValue9f8e"


def _lower_hex(quoted: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)


def _printed(value: str) -> dict[str, str]:
    """How programs print ``value``: one string per encoding."""
    raw = value.encode()
    forms = {
        "raw": value,
        "percent": urllib.parse.quote(value, safe=""),
        "percent-lower": _lower_hex(urllib.parse.quote(value, safe="")),
        "percent-path": urllib.parse.quote(value),
        "percent-plus": urllib.parse.quote_plus(value),
        "percent-plus-lower": _lower_hex(urllib.parse.quote_plus(value)),
        "json": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "json-upper": json.dumps(value)[1:-1]
        .replace("\\u00e9", "\\u00E9")
        .replace("\\u20ac", "\\u20AC"),
        "python-repr": repr(value)[1:-1],
        "python-ascii": ascii(value)[1:-1],
        "python-bytes": repr(raw)[2:-1],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for offset in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            # The value inside a longer base64 blob, at each alignment.
            forms[f"{name}-{offset}"] = encode(b"x" * offset + raw + b"yz").decode()
    return forms


def _fixed_part(value: str, name: str, printed: str) -> str:
    """What of ``printed`` the value alone determines (for base64 inside a blob: the
    characters not shared with the bytes around it)."""
    if not name.startswith("b64"):
        return printed
    offset = int(name.rsplit("-", 1)[1])
    size = len(value.encode())
    first = -(-8 * offset // 6)
    return printed[first : (8 * (offset + size)) // 6]


@pytest.mark.parametrize("value", [VALUE, PLAIN])
def test_a_known_value_is_replaced_in_every_encoding(value: str) -> None:
    redactor = Redactor([value])
    for name, printed in _printed(value).items():
        line = f"out: {printed} :end"
        redacted = redactor.text(line)
        assert _fixed_part(value, name, printed) not in redacted, name
        assert REDACTED in redacted, name
        assert redacted.startswith("out: ") and redacted.endswith(" :end"), name


def test_short_values_are_not_looked_for_as_base64_or_hex() -> None:
    redactor = Redactor(["abc123"])  # 6 bytes: raw only
    assert redactor.text("abc123") == REDACTED
    hexed = b"abc123".hex()
    assert redactor.text(hexed) == hexed


def test_every_encoding_split_between_two_reads_is_replaced_whole() -> None:
    redactor = Redactor([VALUE])
    for name, printed in _printed(VALUE).items():
        data = f"head {printed} tail\n".encode()
        fixed = _fixed_part(VALUE, name, printed).encode()
        for cut in range(1, len(data), 3):
            stream = StreamRedactor(redactor)
            out = stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.flush()
            assert fixed not in out, (name, cut)


def test_a_secret_longer_than_the_window_is_replaced_whole() -> None:
    token = "tok" + "A1b2C3d4" * 1024  # 8 KiB, more than the 4 KiB window
    redactor = Redactor([])
    for chunk in (1000, 4096, 65536):
        stream = StreamRedactor(redactor, window=4096)
        data = f"start export API_TOKEN={token} end\n".encode()
        out = (
            b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
            + stream.flush()
        )
        assert out == f"start export API_TOKEN={REDACTED} end\n".encode(), chunk
    # A known value that long is held whole, in every encoding.
    redactor = Redactor([token])
    for name in ("raw", "b64-0", "b64url-2", "hex"):
        printed = _printed(token)[name]
        stream = StreamRedactor(redactor, window=4096)
        data = f"x {printed} y".encode()
        out = b"".join(stream.feed(data[i : i + 3000]) for i in range(0, len(data), 3000))
        out += stream.flush()
        assert _fixed_part(token, name, printed).encode() not in out, name
        assert out.count(REDACTED.encode()) == 1, name


def test_a_private_key_on_one_line_is_replaced_whole() -> None:
    body = "\n".join(base64.b64encode(bytes([i]) * 48).decode() for i in range(80))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    one_line = json.dumps({"key": pem})  # the newlines escaped: one 5 KiB line
    for redactor in (Redactor([pem]), Redactor([])):
        stream = StreamRedactor(redactor, window=4096)
        data = one_line.encode()
        out = b"".join(stream.feed(data[i : i + 1500]) for i in range(0, len(data), 1500))
        out += stream.flush()
        for line in body.splitlines():
            assert line.encode() not in out


def test_identifiers_are_judged_by_known_values_never_by_their_names() -> None:
    redactor = Redactor([PLAIN])
    for name in (
        "test_names.py::TestKey::test_rotation",
        "tests/test_lexnparse.py::TestTokenStream::test_simple",
        "tests/test_lexnparse.py::TestTokenStream::test_iter",
        "test_auth.py::TestPassword::test_password_is_hashed",
        "TestCredential.test_secret_key",
        "tests/keys/test_token_key.py",
    ):
        assert redactor.identifier(name) == name
        assert redactor.text(name) == name  # "::" never separates a name from a value
        assert redactor.value({"nodeid": name, "path": name}) == {"nodeid": name, "path": name}
    assert redactor.identifier(f"test_x[{PLAIN}]") == f"test_x[{REDACTED}]"
    # Free text keeps judging values: a value after "password=" is a secret.
    assert redactor.text("login password=hunter22 ok") == f"login password={REDACTED} ok"
    assert redactor.text("TestKey: hunter22") == f"TestKey: {REDACTED}"


def test_a_secret_across_two_streams_is_replaced_in_their_merged_order() -> None:
    redactor = Redactor([PLAIN])
    merged = StreamRedactor(redactor)
    half = len(PLAIN) // 2
    out = merged.feed_tagged(PLAIN[:half].encode(), "stdout", vetted=True)
    out += merged.feed_tagged(PLAIN[half:].encode() + b" done\n", "stderr", vetted=True)
    out += merged.flush_tagged(vetted=True)
    joined = b"".join(piece for _, piece in out)
    assert joined == REDACTED.encode() + b" done\n"
    # The mark goes to the stream where the secret began; nothing of it is left in either.
    assert out[0] == ("stdout", REDACTED.encode())
    assert all(PLAIN[:half].encode() not in p and PLAIN[half:].encode() not in p for _, p in out)


def test_text_of_one_stream_alone_is_not_scanned_again_when_vetted() -> None:
    redactor = Redactor([PLAIN])
    merged = StreamRedactor(redactor)
    before = redactor.work
    data = (b"token=x " * 100 + b"\n") * 50
    out = b"".join(p for _, p in merged.feed_tagged(data, "stdout", vetted=True))
    out += b"".join(p for _, p in merged.flush_tagged(vetted=True))
    assert out == data and redactor.work == before
