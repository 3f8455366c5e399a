"""The token estimate (assistants._tokens): an upper estimate, by the kind of text."""

from __future__ import annotations

import pytest

from assistants import estimate_tokens

# Token counts of SmolLM2's tokenizer, measured through llama.cpp's /tokenize
# (`python -m bench.llm_local`); the estimate must never be below them.
MEASURED = [
    (
        "The lighthouse keeper climbed the stairs every evening, counting the steps and "
        "listening to the sea. " * 8,
        145,
    ),
    ("Die Nachricht wurde gespeichert und an alle Teilnehmer verteilt. " * 8, 193),
    ("消息已保存并发送给所有成员。请稍后再试。" * 10, 340),
    ("🙂🚀🎉👍🏽 " * 30, 392),
    ("3141592653589793238462643383279502884197 " * 8, 328),
    ("U29tZSBiYXNlNjQgZW5jb2RlZCBkYXRhIGZvciB0aGUgdGVzdA==" * 8, 368),
    ("!@#$%^&*()_+-=[]{};':\",./<>?|\\~` " * 8, 185),
]


@pytest.mark.parametrize(("text", "tokens"), MEASURED)
def test_the_estimate_is_never_below_the_measured_count(text: str, tokens: int) -> None:
    assert estimate_tokens(text) >= tokens


def test_the_estimate_never_passes_the_byte_count() -> None:
    for text in ("a", "1234567890", "x" * 1000, "é" * 10, " \n\t "):
        assert 0 < estimate_tokens(text) <= len(text.encode())
    assert estimate_tokens("") == 0


def test_word_shapes() -> None:
    assert estimate_tokens("hello") == 2  # a word: a token per 2.5 letters
    assert estimate_tokens("hello world") == 4  # one space before a word is free
    assert estimate_tokens("aBcDeF") == 6  # mixed case: a token per letter
    assert estimate_tokens("12 34") == 5  # digits and the space after one
