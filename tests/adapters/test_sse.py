"""Server-sent events of chat completions, parsed without I/O (adapters._sse)."""

from __future__ import annotations

import re

import pytest

from adapters import LlmProtocolError
from adapters._sse import Chunk, LineSplitter, SseDecoder, SseEvent, error_message, parse_chunk


def test_lines_split_on_lf_crlf_and_cr_across_feeds() -> None:
    lines = LineSplitter()
    assert lines.feed(b"data: a\r") == ["data: a"]
    assert lines.feed(b"\ndata: b\n\nda") == ["data: b", ""]
    assert lines.pending
    assert lines.feed(b"ta: c\r\n") == ["data: c"]
    assert not lines.pending


def test_utf8_split_between_feeds_is_joined_before_decoding() -> None:
    raw = "data: héllo\n".encode()
    lines = LineSplitter()
    assert lines.feed(raw[:8]) == []
    assert lines.feed(raw[8:]) == ["data: héllo"]


def test_a_line_past_the_limit_is_refused() -> None:
    too_long = r"^the model server sent a line longer than 8 bytes$"
    with pytest.raises(LlmProtocolError, match=too_long):
        LineSplitter(max_line_bytes=8).feed(b"data: 123456")


def test_a_line_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(LlmProtocolError, match=r"^the model server sent a line that is not UTF-8$"):
        LineSplitter().feed(b"data: \xff\n")


def test_events_join_data_lines_and_skip_comments() -> None:
    decoder = SseDecoder()
    fed = [decoder.feed(line) for line in (": ping", "data: a", "data: b", "id: 7", "")]
    assert fed == [None, None, None, None, SseEvent(data="a\nb")]
    assert decoder.feed("") is None  # a blank line alone dispatches nothing
    assert [decoder.feed(x) for x in ("event: x", "data:y", "")][-1] == SseEvent("y", "x")


def test_llama_cpp_error_lines_become_error_events() -> None:
    decoder = SseDecoder()
    assert decoder.feed('error: {"code":500,"message":"boom"}') is None
    event = decoder.feed("")
    assert event == SseEvent('{"code":500,"message":"boom"}', "error")
    assert error_message(event.data) == (500, "boom")
    assert error_message('{"error":{"message":"too long","code":400}}') == (400, "too long")
    assert error_message("plain words") == (None, "plain words")


def test_chunks_give_content_finish_reason_and_usage() -> None:
    role = '{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}'
    assert parse_chunk(role) == Chunk()
    text = '{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}'
    assert parse_chunk(text) == Chunk(content="Hi")
    last = '{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}'
    assert parse_chunk(last) == Chunk(finish_reason="length")
    usage = '{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}'
    assert parse_chunk(usage) == Chunk(prompt_tokens=12, completion_tokens=3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not json", "a chunk that is not JSON: 'not json'"),
        ("[1]", "a chunk that is not an object: '[1]'"),
        ('{"id":"x"}', "a chunk without a 'choices' list"),
        ('{"choices":[7]}', "a choice that is not an object"),
        ('{"choices":[{"delta":"x"}]}', "a 'delta' that is not an object"),
        ('{"choices":[{"delta":{"content":5}}]}', "a 'delta.content' that is not a string"),
        ('{"choices":[{"delta":{},"finish_reason":1}]}', "a 'finish_reason' that is not a string"),
    ],
)
def test_malformed_chunks_are_refused_with_the_reason(data: str, reason: str) -> None:
    with pytest.raises(LlmProtocolError, match=rf"^the model server sent {re.escape(reason)}$"):
        parse_chunk(data)
