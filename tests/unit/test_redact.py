"""The one redactor: every form a secret takes, in text, argv, values and streams."""

from __future__ import annotations

import pytest

from pytest_codex.redact import (
    REDACTED,
    Redactor,
    StreamRedactor,
    is_secret_name,
    looks_like_secret_key,
    redact_url,
)

ENV_SECRET = "s3cr3t-Value-9f8e7d"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
FINE_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
SK = "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
SLACK = "xoxb-" + "123456789012-abcdefghijkl"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"

# (text containing a secret, the secret)
FORMS = [
    (f"value is {ENV_SECRET} here", ENV_SECRET),
    ("export API_KEY=plainvalue123", "plainvalue123"),
    ("--token=flagvalue456", "flagvalue456"),
    ("--password spacedvalue789", "spacedvalue789"),
    ('{"password": "jsonvalue000"}', "jsonvalue000"),
    ("curl -H 'Authorization: Bearer headertoken111'", "headertoken111"),
    ("--header Authorization=Bearer headertoken222", "headertoken222"),
    ("git clone https://alice:urlpass333@example.com/r.git", "urlpass333"),
    ("codex -c api_key=codexkey444", "codexkey444"),
    (f"found {GH_TOKEN} in a log", GH_TOKEN),
    (f"fine-grained {FINE_PAT}.", FINE_PAT),
    (f"OPENAI {SK}", SK),
    (f"aws id {AKIA} ok", AKIA),
    (f"slack {SLACK}", SLACK),
    (f"key:\n{PEM}\n", PEM_BODY),
    ("GITHUB_PAT=patvalue555", "patvalue555"),
    ("X-Api-Key: apikeyvalue666", "apikeyvalue666"),
]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([ENV_SECRET])


@pytest.mark.parametrize(("text", "secret"), FORMS)
def test_every_form_of_a_secret_is_replaced(redactor: Redactor, text: str, secret: str) -> None:
    redacted = redactor.text(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "KeyError: 'name'",
        "monkeypatch=fixture",
        "https://example.com/path?a=b",
        "keyboard layout us",
        "the tokenizer ran",
        "passed 12 tests, 0 failed",
        "Basic usage: run it",
    ],
)
def test_ordinary_output_is_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.text(text) == text


def test_an_unterminated_private_key_block_is_redacted_to_the_end(redactor: Redactor) -> None:
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}"
    assert PEM_BODY.splitlines()[0] not in redactor.text(text)


def test_argv_hides_the_word_after_a_secret_flag_and_keeps_the_rest(redactor: Redactor) -> None:
    argv = ["deploy", "--api-key", "argvsecret1", "--verbose", "--token", ENV_SECRET, "x"]
    assert redactor.argv(argv) == [
        "deploy",
        "--api-key",
        REDACTED,
        "--verbose",
        "--token",
        REDACTED,
        "x",
    ]


def test_values_are_redacted_recursively_and_secret_keys_whole(redactor: Redactor) -> None:
    value = {"env": {"DB_PASSWORD": "short", "HOME": "/root"}, "out": [f"a {ENV_SECRET}"]}
    assert redactor.value(value) == {
        "env": {"DB_PASSWORD": REDACTED, "HOME": "/root"},
        "out": [f"a {REDACTED}"],
    }


def test_redacting_twice_changes_nothing_more(redactor: Redactor) -> None:
    for text, _ in FORMS:
        once = redactor.text(text)
        assert redactor.text(once) == once


@pytest.mark.parametrize(("text", "secret"), FORMS)
def test_a_secret_split_at_any_point_of_a_stream_never_leaves_in_pieces(
    redactor: Redactor, text: str, secret: str
) -> None:
    whole = f"line one\n{text}\nline three\n"
    for cut in range(1, len(whole)):
        stream = StreamRedactor(redactor)
        out = stream.feed(whole[:cut]) + stream.feed(whole[cut:]) + stream.flush()
        assert secret not in out, cut
        assert out == redactor.text(whole), cut


def test_a_stream_of_single_characters_is_redacted_like_the_whole(redactor: Redactor) -> None:
    whole = "".join(f"{text}\n" for text, _ in FORMS)
    stream = StreamRedactor(redactor)
    out = "".join(stream.feed(ch) for ch in whole) + stream.flush()
    assert out == redactor.text(whole)
    assert not any(secret in out for _, secret in FORMS)


def test_a_stream_holds_back_at_most_its_window(redactor: Redactor) -> None:
    stream = StreamRedactor(redactor, window=4096)
    emitted = stream.feed("x" * 100_000)
    assert len(emitted) >= 100_000 - 4096
    assert emitted + stream.flush() == "x" * 100_000


def test_env_names_that_look_secret() -> None:
    for name in (
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "DB_PASSWORD",
        "MY_PAT",
        "AWS_REGION_X",
        "SOME_CREDENTIALS",
        "client_secret",
    ):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "LANG", "PYTHONPATH"):
        assert not is_secret_name(name), name


def test_free_text_keys_are_judged_by_their_words() -> None:
    assert looks_like_secret_key("apiKey")
    assert looks_like_secret_key("X-Api-Key")
    assert looks_like_secret_key("aws_secret_access_key")
    assert not looks_like_secret_key("monkeypatch")
    assert not looks_like_secret_key("KeyError")
    assert not looks_like_secret_key("key_file")


def test_urls_lose_only_the_password() -> None:
    assert redact_url("https://bob:pw-123456@hooks.example/x") == (
        f"https://bob:{REDACTED}@hooks.example/x"
    )
    assert redact_url("http://127.0.0.1:4318/v1/traces") == "http://127.0.0.1:4318/v1/traces"


def test_the_prefilter_finds_every_keyword_and_known_value_in_any_case(
    redactor: Redactor,
) -> None:
    assert not redactor.might_contain(b"plain build output, 12 files compiled\n" * 100)
    for text, _ in FORMS:
        for variant in (text, text.upper(), text.swapcase()):
            assert redactor.might_contain(variant.encode()), variant
    assert redactor.might_contain(ENV_SECRET.lower().encode())  # then matched exactly
    assert redactor.might_contain("caf\u00e9".encode())  # not ASCII: left to spans()


def test_ascii_and_unicode_text_are_redacted_alike(redactor: Redactor) -> None:
    for text, secret in FORMS:
        ascii_out = redactor.text(text)
        unicode_out = redactor.text(text + " \u00e9")
        assert unicode_out == ascii_out + " \u00e9"
        assert secret not in ascii_out


@pytest.mark.parametrize(("text", "secret"), FORMS)
def test_the_bytes_fast_path_of_a_stream_emits_what_feed_would(
    redactor: Redactor, text: str, secret: str
) -> None:
    # A clean head long enough to be emitted (the fast path), then the form split anywhere.
    whole = "build step one ok\n" * 40 + f"{text}\nline three\n"
    for cut in range(1, len(whole)):
        fast, slow = StreamRedactor(redactor), StreamRedactor(redactor)
        out = []
        for part in (whole[:cut], whole[cut:]):
            got = fast.feed_ascii(part.encode())
            out.append(fast.feed(part) if got is None else got.decode())
            expected = slow.feed(part)
            assert out[-1] == expected, cut
        out.append(fast.flush())
        assert "".join(out) == redactor.text(whole), cut
        assert not any(secret in piece for piece in out), cut


def test_the_fast_path_takes_clean_ascii_and_refuses_the_rest(redactor: Redactor) -> None:
    stream = StreamRedactor(redactor)
    clean = b"compiled module %d in 0.2s\n"
    emitted = b"".join(stream.feed_ascii(clean % i) or b"" for i in range(1000))
    assert stream.holding and len(emitted) > 20_000
    held = len(b"".join(clean % i for i in range(1000))) - len(emitted)
    assert emitted + stream.flush().encode() == b"".join(clean % i for i in range(1000))
    assert held >= 256
    assert stream.feed_ascii(b"token=abcdefgh\n") is None
    assert stream.feed_ascii("caf\u00e9\n".encode()) is None
    assert not stream.holding  # a refusal takes nothing


def test_the_fast_path_cuts_at_the_same_kinds_of_space_as_feed(redactor: Redactor) -> None:
    # str.isspace() separates words: \x1c-\x1f count too (bytes.isspace() says no).
    for space in (" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f"):
        words = space.join(f"word{i}" for i in range(200))
        fast, slow = StreamRedactor(redactor), StreamRedactor(redactor)
        emitted = fast.feed_ascii(words.encode())
        assert emitted is not None and emitted.decode() == slow.feed(words), repr(space)
        assert emitted.endswith(space.encode()), repr(space)  # the cut is at a word's start
        assert emitted.decode() + fast.flush() == words


def test_short_texts_are_redacted_the_same_every_time(redactor: Redactor) -> None:
    # Short texts are remembered; more of them than the memory holds changes nothing.
    for round_ in range(2):
        for i in range(5000):
            assert redactor.text(f"API_KEY=value{i:06d}") == f"API_KEY={REDACTED}", round_
    assert redactor.text(f"a {ENV_SECRET}") == f"a {REDACTED}"


def test_values_of_every_json_like_type_are_walked(redactor: Redactor) -> None:
    class Name(str):
        pass

    value = {
        "items": (1, 2.5, True, None, Name(f"x {ENV_SECRET}")),
        "nested": [{"password": "hunter2"}, {"argv": ["x", "--token", "t0ken-value"]}],
    }
    assert redactor.value(value) == {
        "items": [1, 2.5, True, None, f"x {REDACTED}"],
        "nested": [{"password": REDACTED}, {"argv": ["x", "--token", REDACTED]}],
    }


@pytest.mark.parametrize("word", [100, 511, 512, 513, 700, 3000, 5000, 100_000])
def test_the_fast_path_holds_the_same_tail_after_long_words(redactor: Redactor, word: int) -> None:
    for text in (
        "x" * word,
        "head line\n" + "y" * word,
        "a few words " + "z" * word + " end",
        "one " + "w" * word + " two " + "v" * 300,
    ):
        fast, slow = StreamRedactor(redactor), StreamRedactor(redactor)
        for part in (text, text[: len(text) // 3]):
            emitted = fast.feed_ascii(part.encode())
            assert emitted is not None and emitted.decode() == slow.feed(part), (word, text[:20])
        assert fast.flush() == slow.flush()
