"""Streaming chat completions from any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama).

    async with ChatCompletions(options) as llm:
        done = await llm.stream(request, on_delta)   # on_delta(text) per chunk, in order
        done.text, done.finish_reason                # "stop", "length", ...

One POST to `{base_url}/chat/completions` with `"stream": true`; the answer is server-sent
events (`adapters._sse`) ending with `data: [DONE]`. httpx runs on Trio natively (no thread).

Cancelling the caller's scope ends the request: leaving the `client.stream()` block closes the
response, and a response that was not read to its end cannot go back to the pool, so httpcore
closes its socket (shielded from the cancellation); the server sees the disconnect at its next
write and stops generating (tests/adapters/test_llm_client.py measures it on llama.cpp's
server through its /slots endpoint). The first-token and idle deadlines use the same road: one
cancel scope whose deadline moves on with every chunk, so a stalled server is disconnected
before `LlmTimeoutError` is raised.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
import trio

from adapters._errors import (
    AdapterClosedError,
    LlmProtocolError,
    LlmStatusError,
    LlmTimeoutError,
    LlmUnavailableError,
)
from adapters._options import LlmOptions
from adapters._sse import DONE, LineSplitter, SseDecoder, error_message, parse_chunk

__all__ = ["ChatCompletions", "ChatMessage", "ChatRequest", "Completion", "OnDelta"]

OnDelta = Callable[[str], Awaitable[None]]
# An error body is read for its message, never more than this.
_MAX_ERROR_BODY = 4096


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion. `temperature` 0 and a fixed `seed` give repeatable output."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float | None = None
    seed: int | None = None
    # None: the client's model (LlmOptions.model); an assistant may name its own.
    model: str | None = None

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "stream": True,
            # The last chunk then carries token counts (OpenAI, vLLM, llama.cpp, Ollama).
            "stream_options": {"include_usage": True},
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.seed is not None:
            body["seed"] = self.seed
        return body


@dataclass(frozen=True, slots=True)
class Completion:
    """A reply streamed to its end."""

    text: str
    finish_reason: str  # "stop", "length", ... as the server said; "" if it never said
    deltas: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatCompletions:
    """The chat-completions client; one per process is enough (it pools connections)."""

    def __init__(
        self, options: LlmOptions, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.options = options
        headers = {"accept": "text/event-stream"}
        if options.api_key:
            headers["authorization"] = f"Bearer {options.api_key}"
        self._client = httpx.AsyncClient(
            base_url=options.base_url.rstrip("/") + "/",
            headers=headers,
            # Reads are bounded by our own deadlines (first token, idle), not per socket read.
            timeout=httpx.Timeout(options.connect_timeout_s, read=None),
            transport=transport,
        )
        self._closed = False

    async def __aenter__(self) -> ChatCompletions:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    async def stream(self, request: ChatRequest, on_delta: OnDelta) -> Completion:
        """Stream one reply, awaiting `on_delta(text)` for every non-empty piece, in order.

        Raises an `LlmError` (see adapters._errors) when the server is down, slow, refuses or
        talks nonsense; whatever `on_delta` raises propagates unchanged. Cancellation closes
        the HTTP stream.
        """
        if self._closed:
            raise AdapterClosedError("the chat-completions client is closed")
        opts = self.options
        state = _Stream()
        deadline = trio.CancelScope(deadline=trio.current_time() + opts.first_token_timeout_s)
        with deadline:
            try:
                async with self._client.stream(
                    "POST", "chat/completions", json=request.body(request.model or opts.model)
                ) as response:
                    if response.status_code >= 400:
                        raise await _status_error(response, opts.base_url)
                    async for data in response.aiter_bytes():
                        for content in state.feed(data):
                            # Time spent in on_delta (a slow reader) is not the server's.
                            deadline.deadline = math.inf
                            await on_delta(content)
                        if state.deltas:
                            # Once text flows, any chunk (even an empty one) proves liveness.
                            deadline.deadline = trio.current_time() + opts.idle_timeout_s
                        if state.done:
                            break
            except httpx.TimeoutException as exc:
                raise LlmUnavailableError(
                    f"the model server at {opts.base_url} did not accept a connection "
                    f"within {opts.connect_timeout_s:g}s ({type(exc).__name__})"
                ) from None
            except httpx.ConnectError as exc:
                raise LlmUnavailableError(
                    f"the model server at {opts.base_url} cannot be reached: {exc}"
                ) from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise LlmUnavailableError(
                    f"the model server at {opts.base_url} broke the connection after "
                    f"{state.deltas} deltas: {exc or type(exc).__name__}"
                ) from None
        if deadline.cancelled_caught:
            if state.deltas == 0:
                raise LlmTimeoutError(
                    f"the model server at {opts.base_url} sent no text within "
                    f"{opts.first_token_timeout_s:g}s"
                )
            raise LlmTimeoutError(
                f"the model server at {opts.base_url} stalled for "
                f"{opts.idle_timeout_s:g}s after {state.deltas} deltas"
            )
        return state.completion()


class _Stream:
    """The parse state of one reply: bytes → lines → events → text pieces."""

    def __init__(self) -> None:
        self.lines = LineSplitter()
        self.events = SseDecoder()
        self.parts: list[str] = []
        self.deltas = 0
        self.finish_reason = ""
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.done = False

    def feed(self, data: bytes) -> list[str]:
        """The text pieces `data` completes (non-empty, in order)."""
        pieces: list[str] = []
        for line in self.lines.feed(data):
            event = self.events.feed(line)
            if event is None or self.done:
                continue
            if event.event == "error":
                code, message = error_message(event.data)
                raise LlmStatusError(f"the model server failed mid-reply: {message}", status=code)
            if event.data == DONE:
                self.done = True
                continue
            if event.data.startswith('{"error"'):
                code, message = error_message(event.data)
                raise LlmStatusError(f"the model server failed mid-reply: {message}", status=code)
            chunk = parse_chunk(event.data)
            if chunk.prompt_tokens is not None:
                self.prompt_tokens = chunk.prompt_tokens
            if chunk.completion_tokens is not None:
                self.completion_tokens = chunk.completion_tokens
            if chunk.finish_reason:
                self.finish_reason = chunk.finish_reason
            if chunk.content:
                self.parts.append(chunk.content)
                self.deltas += 1
                pieces.append(chunk.content)
        return pieces

    def completion(self) -> Completion:
        if not self.done and not self.finish_reason:
            raise LlmProtocolError(
                f"the model server ended the stream before [DONE] after {self.deltas} deltas"
            )
        return Completion(
            text="".join(self.parts),
            finish_reason=self.finish_reason,
            deltas=self.deltas,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


async def _status_error(response: httpx.Response, base_url: str) -> LlmStatusError:
    body = bytearray()
    async for data in response.aiter_bytes():
        body += data
        if len(body) >= _MAX_ERROR_BODY:
            break
    _, message = error_message(bytes(body[:_MAX_ERROR_BODY]).decode("utf-8", "replace"))
    status = response.status_code
    return LlmStatusError(
        f"the model server at {base_url} answered {status} {response.reason_phrase}: "
        f"{message or '(no body)'}",
        status=status,
    )
