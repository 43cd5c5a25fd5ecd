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
    whole = f"line one\n{text}\nline three\n".encode()
    for cut in range(1, len(whole)):
        stream = StreamRedactor(redactor)
        out = stream.feed(whole[:cut]) + stream.feed(whole[cut:]) + stream.flush()
        assert secret.encode() not in out, cut
        assert out == redactor.redact_bytes(whole), cut


def test_a_stream_of_single_bytes_is_redacted_like_the_whole(redactor: Redactor) -> None:
    whole = "".join(f"{text}\n" for text, _ in FORMS).encode()
    stream = StreamRedactor(redactor)
    out = b"".join(stream.feed(whole[i : i + 1]) for i in range(len(whole))) + stream.flush()
    assert out == redactor.redact_bytes(whole)
    assert not any(secret.encode() in out for _, secret in FORMS)


def test_a_stream_holds_back_at_most_its_window(redactor: Redactor) -> None:
    stream = StreamRedactor(redactor, window=4096)
    emitted = stream.feed(b"x" * 100_000)
    assert len(emitted) >= 100_000 - 4096
    assert emitted + stream.flush() == b"x" * 100_000


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
    # Bytes throughout: text that is not ASCII is looked at like any other.
    assert not redactor.might_contain("caf\u00e9 \u00fcber".encode())
    assert redactor.might_contain("caf\u00e9 TOKEN=\u00fc".encode())


def test_ascii_and_unicode_text_are_redacted_alike(redactor: Redactor) -> None:
    for text, secret in FORMS:
        ascii_out = redactor.text(text)
        unicode_out = redactor.text(text + " \u00e9")
        assert unicode_out == ascii_out + " \u00e9"
        assert secret not in ascii_out


def test_a_stream_cuts_at_every_kind_of_ascii_space(redactor: Redactor) -> None:
    for space in (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c"):
        words = space.join(b"word%d" % i for i in range(200))
        stream = StreamRedactor(redactor)
        emitted = stream.feed(words)
        assert emitted.endswith(space), repr(space)  # the cut is at a word's start
        assert emitted + stream.flush() == words


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
def test_long_words_are_emitted_whole_in_the_end(redactor: Redactor, word: int) -> None:
    for text in (
        b"x" * word,
        b"head line\n" + b"y" * word,
        b"a few words " + b"z" * word + b" end",
        b"one " + b"w" * word + b" two " + b"v" * 300,
    ):
        stream = StreamRedactor(redactor)
        out = stream.feed(text) + stream.feed(text[: len(text) // 3]) + stream.flush()
        assert out == text + text[: len(text) // 3]
