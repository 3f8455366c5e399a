"""Server-sent events as OpenAI-compatible chat-completion servers send them, without I/O.

    data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}
    <blank line>
    ...
    data: [DONE]

`LineSplitter` turns received bytes into lines (CRLF, LF or CR; a line longer than
`max_line_bytes` is refused, so a broken server cannot grow our memory without bound),
`SseDecoder` turns lines into events (comments and `id:`/`retry:` ignored, `data:` lines of one
event joined with newlines), and `parse_chunk` reads one chat-completion chunk. Every refusal
is an `LlmProtocolError` naming what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from adapters._errors import LlmProtocolError

__all__ = [
    "DONE",
    "Chunk",
    "LineSplitter",
    "SseDecoder",
    "SseEvent",
    "error_message",
    "parse_chunk",
]

DONE = "[DONE]"
# A chunk carries one token or a few: 1 MiB is far above any honest line.
MAX_LINE_BYTES = 1 << 20


class LineSplitter:
    """Bytes in, complete decoded lines out (without their end of line)."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_line_bytes
        self._pending_cr = False

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        for byte in data:
            if self._pending_cr:
                self._pending_cr = False
                if byte == 0x0A:  # the LF of a CRLF
                    continue
            if byte in (0x0A, 0x0D):
                lines.append(self._take())
                self._pending_cr = byte == 0x0D
            else:
                self._buffer.append(byte)
                if len(self._buffer) > self._max:
                    raise LlmProtocolError(
                        f"the model server sent a line longer than {self._max} bytes"
                    )
        return lines

    def _take(self) -> str:
        raw = bytes(self._buffer)
        self._buffer.clear()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LlmProtocolError("the model server sent a line that is not UTF-8") from None

    @property
    def pending(self) -> bool:
        """True while bytes of an unfinished line are held."""
        return bool(self._buffer)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its `event:` name ("message" unless named) and its data."""

    data: str
    event: str = "message"


class SseDecoder:
    """Lines in, events out (the WHATWG rules, less `id` and `retry`, which we never use)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(data="\n".join(self._data), event=self._event or "message")
            self._data = []
            self._event = ""
            return event
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "error":
            # llama.cpp's server reports a failure after the headers as an `error:` line.
            self._data.append(value)
            self._event = "error"
        return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one `chat.completion.chunk` adds: text, and how it ended (on the last one)."""

    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _obj(data: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise LlmProtocolError(
            f"the model server sent a chunk that is not JSON: {data[:80]!r}"
        ) from None
    if not isinstance(obj, dict):
        raise LlmProtocolError(
            f"the model server sent a chunk that is not an object: {data[:80]!r}"
        )
    return obj


def error_message(data: str) -> tuple[int | None, str]:
    """(code, message) of an error object sent in the stream (`{"error":{...}}`)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, data[:200]
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        return (
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            str(message)[:200] if message is not None else data[:200],
        )
    return None, str(err)[:200]


def parse_chunk(data: str) -> Chunk:
    """One `data:` payload (not `[DONE]`) → its text delta, finish reason and usage."""
    obj = _obj(data)
    usage = obj.get("usage")
    prompt_tokens = completion_tokens = None
    if isinstance(usage, dict):
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
    choices = obj.get("choices")
    if not isinstance(choices, list):
        raise LlmProtocolError("the model server sent a chunk without a 'choices' list")
    if not choices:
        # The usage chunk (stream_options.include_usage) has an empty choices list.
        return Chunk(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise LlmProtocolError("the model server sent a choice that is not an object")
    delta = choice.get("delta")
    if delta is None:
        delta = {}
    if not isinstance(delta, dict):
        raise LlmProtocolError("the model server sent a 'delta' that is not an object")
    content = delta.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise LlmProtocolError("the model server sent a 'delta.content' that is not a string")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise LlmProtocolError("the model server sent a 'finish_reason' that is not a string")
    return Chunk(content, finish, prompt_tokens, completion_tokens)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
