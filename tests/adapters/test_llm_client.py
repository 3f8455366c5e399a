"""ChatCompletions against the REAL local model server, and against scripted faults.

The real server is llama.cpp serving SmolLM2-135M-Instruct (session fixture `llm_server`);
temperature 0 and a fixed seed make its answers repeatable. Faults the real server cannot be
made to show on demand (a stall, a malformed stream, a 503) come from httpx's MockTransport,
timed by Trio's autojump clock.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from adapters import (
    AdapterClosedError,
    ChatCompletions,
    ChatMessage,
    ChatRequest,
    LlmOptions,
    LlmProtocolError,
    LlmStatusError,
    LlmTimeoutError,
    LlmUnavailableError,
)
from infra import LlmServer, find_free_port

QUESTION = ChatRequest(
    messages=(
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "Name three colours."),
    ),
    max_tokens=24,
    temperature=0.0,
    seed=42,
)


def _options(base_url: str, **changes: float) -> LlmOptions:
    return LlmOptions(base_url=base_url, api_key="", model="SmolLM2-135M-Instruct", **changes)


class _Collect:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.first = trio.Event()

    async def __call__(self, text: str) -> None:
        self.parts.append(text)
        self.first.set()


# --- the real server -----------------------------------------------------------------------


@pytest.mark.integration
async def test_a_reply_streams_in_deltas_and_repeats_with_seed_and_temperature_0(
    llm_server: LlmServer,
) -> None:
    async with ChatCompletions(_options(llm_server.base_url)) as llm:
        first, second = _Collect(), _Collect()
        done = await llm.stream(QUESTION, first)
        again = await llm.stream(QUESTION, second)
    assert len(first.parts) > 1 and "".join(first.parts) == done.text
    assert done.text.strip() and done.text == again.text
    assert done.finish_reason in ("stop", "length")
    assert done.deltas == len(first.parts)
    assert done.completion_tokens is not None and 0 < done.completion_tokens <= 24
    assert done.prompt_tokens is not None and done.prompt_tokens > 10


async def _processing(client: httpx.AsyncClient) -> list[bool]:
    slots = (await client.get("/slots")).json()
    return [bool(s["is_processing"]) for s in slots]


@pytest.mark.integration
async def test_cancelling_the_scope_disconnects_and_the_server_stops_within_1s(
    llm_server: LlmServer,
) -> None:
    long = ChatRequest(
        messages=(ChatMessage("user", "Write a long story about a lighthouse keeper."),),
        max_tokens=1500,
        temperature=0.0,
        seed=42,
    )
    root = llm_server.base_url.removesuffix("/v1")
    async with (
        ChatCompletions(_options(llm_server.base_url)) as llm,
        httpx.AsyncClient(base_url=root, timeout=5) as probe,
    ):
        collect = _Collect()
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def run() -> None:
                    await llm.stream(long, collect)

                nursery.start_soon(run)
                await collect.first.wait()
                busy = await _processing(probe)
                assert any(busy), f"no server slot is processing the reply: {busy}"
                scope.cancel()
        assert scope.cancelled_caught
        # The server notices the closed socket at its next token and frees the slot.
        with trio.fail_after(1):
            # Polling another process's state: no event to wait for.
            while any(await _processing(probe)):  # noqa: ASYNC110
                await trio.sleep(0.02)
        # And the client still works for the next request on a fresh connection.
        assert (await llm.stream(QUESTION, _Collect())).text


@pytest.mark.integration
async def test_a_prompt_over_the_context_is_a_400_with_the_servers_reason(
    llm_server: LlmServer,
) -> None:
    huge = ChatRequest(messages=(ChatMessage("user", "word " * 3000),), max_tokens=8)
    async with ChatCompletions(_options(llm_server.base_url)) as llm:
        with pytest.raises(LlmStatusError, match=r"^the model server at \S+ answered 400 .+$") as e:
            await llm.stream(huge, _Collect())
    assert e.value.status == 400


@pytest.mark.integration
async def test_a_first_token_deadline_on_the_real_server_disconnects_it(
    llm_server: LlmServer,
) -> None:
    root = llm_server.base_url.removesuffix("/v1")
    # 1 ms: the server cannot have processed the prompt by then.
    options = _options(llm_server.base_url, first_token_timeout_s=0.001)
    async with ChatCompletions(options) as llm, httpx.AsyncClient(base_url=root) as probe:
        with pytest.raises(
            LlmTimeoutError, match=r"^the model server at \S+ sent no text within 0.001s$"
        ):
            await llm.stream(QUESTION, _Collect())
        with trio.fail_after(5):
            while any(await _processing(probe)):  # noqa: ASYNC110 (another process)
                await trio.sleep(0.02)


@pytest.mark.integration
async def test_a_server_killed_mid_reply_is_unavailable_and_works_again_once_restarted(
    tmp_path: Path,
) -> None:
    server = LlmServer(tmp_path, find_free_port(), die_with_parent=True)
    server.start()
    try:
        long = ChatRequest(
            messages=(ChatMessage("user", "Write a long story about a lighthouse keeper."),),
            max_tokens=1500,
            temperature=0.0,
            seed=42,
        )
        collect = _Collect()

        async def kill_after_first(text: str) -> None:
            await collect(text)
            pid = server.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

        async with ChatCompletions(_options(server.base_url)) as llm:
            with pytest.raises(
                LlmUnavailableError,
                match=r"^the model server at \S+ broke the connection after \d+ deltas: .+$",
            ):
                await llm.stream(long, kill_after_first)
            assert collect.parts
            # Down: the next request says so at once (refused, or cut if the dying process
            # still held its listening socket when the request came).
            with pytest.raises(
                LlmUnavailableError,
                match=r"^the model server at \S+ "
                r"(cannot be reached|broke the connection after 0 deltas): .+$",
            ):
                await llm.stream(QUESTION, _Collect())
            # Restarted on the same port: the same client works again.
            server.stop()
            # Blocking, on purpose: die_with_parent ties the process to the thread that starts
            # it, and a worker thread of trio.to_thread may exit while the server should live.
            server.start()
            assert (await llm.stream(QUESTION, _Collect())).text
    finally:
        server.stop()


async def test_a_server_that_is_down_is_unavailable() -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    down = rf"^the model server at {re.escape(url)} cannot be reached: .+$"
    async with ChatCompletions(_options(url)) as llm:
        with pytest.raises(LlmUnavailableError, match=down):
            await llm.stream(QUESTION, _Collect())


async def test_a_closed_client_refuses_requests() -> None:
    llm = ChatCompletions(_options("http://127.0.0.1:9/v1"))
    await llm.aclose()
    with pytest.raises(AdapterClosedError, match=r"^the chat-completions client is closed$"):
        await llm.stream(QUESTION, _Collect())


# --- scripted faults ----------------------------------------------------------------------

Script = Callable[[], AsyncIterator[bytes]]


def _chunk(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


def _transport(script: Script, status: int = 200) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(
            status, headers={"content-type": "text/event-stream"}, content=script()
        )

    return httpx.MockTransport(handler)


def _client(script: Script, status: int = 200, **changes: float) -> ChatCompletions:
    return ChatCompletions(
        _options("http://model.test/v1", **changes), transport=_transport(script, status)
    )


async def test_no_first_token_before_the_deadline_is_a_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def silent() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        await trio.sleep_forever()

    async with _client(silent, first_token_timeout_s=30) as llm:
        with pytest.raises(
            LlmTimeoutError, match=r"^the model server at \S+ sent no text within 30s$"
        ):
            await llm.stream(QUESTION, _Collect())


async def test_a_stall_after_some_text_is_a_timeout_naming_the_deltas(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield _chunk("Hel") + _chunk("lo")
        await trio.sleep_forever()

    collect = _Collect()
    async with _client(stalls, idle_timeout_s=5) as llm:
        with pytest.raises(
            LlmTimeoutError, match=r"^the model server at \S+ stalled for 5s after 2 deltas$"
        ):
            await llm.stream(QUESTION, collect)
    assert collect.parts == ["Hel", "lo"]


async def test_a_slow_reader_is_not_the_servers_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def steady() -> AsyncIterator[bytes]:
        yield _chunk("a") + _chunk("b")
        yield b"data: [DONE]\n\n"

    async def slow(text: str) -> None:
        await trio.sleep(60)

    async with _client(steady, idle_timeout_s=5, first_token_timeout_s=5) as llm:
        assert (await llm.stream(QUESTION, slow)).text == "ab"


async def test_an_error_status_carries_the_servers_message() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'

    async with _client(body, status=503) as llm:
        with pytest.raises(
            LlmStatusError,
            match=r"^the model server at \S+ answered 503 Service Unavailable: Loading model$",
        ) as e:
            await llm.stream(QUESTION, _Collect())
    assert e.value.status == 503


async def test_an_error_line_mid_stream_is_a_status_error() -> None:
    async def fails() -> AsyncIterator[bytes]:
        yield _chunk("Hi")
        yield b'error: {"code":500,"message":"decode failed"}\n\n'

    async with _client(fails) as llm:
        with pytest.raises(
            LlmStatusError, match=r"^the model server failed mid-reply: decode failed$"
        ) as e:
            await llm.stream(QUESTION, _Collect())
    assert e.value.status == 500


async def test_malformed_sse_is_a_protocol_error() -> None:
    async def garbage() -> AsyncIterator[bytes]:
        yield b"data: {not json\n\n"

    async with _client(garbage) as llm:
        with pytest.raises(
            LlmProtocolError, match=r"^the model server sent a chunk that is not JSON: .+$"
        ):
            await llm.stream(QUESTION, _Collect())


async def test_a_stream_cut_before_done_is_a_protocol_error() -> None:
    async def cut() -> AsyncIterator[bytes]:
        yield _chunk("Hi")

    async with _client(cut) as llm:
        with pytest.raises(
            LlmProtocolError,
            match=r"^the model server ended the stream before \[DONE\] after 1 deltas$",
        ):
            await llm.stream(QUESTION, _Collect())


async def test_done_ends_the_reply_and_the_key_is_sent_as_bearer() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = _chunk("ok") + b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
        return httpx.Response(200, content=body + b"data: [DONE]\n\ndata: ignored\n\n")

    options = LlmOptions(base_url="http://model.test/v1/", api_key="sk-test", model="m")
    async with ChatCompletions(options, transport=httpx.MockTransport(handler)) as llm:
        done = await llm.stream(QUESTION, _Collect())
    assert (done.text, done.finish_reason, done.deltas) == ("ok", "stop", 1)
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(options)
    body = httpx.Request("POST", "/", content=seen[0].content).read()
    assert b'"stream":true' in body and b'"seed":42' in body and b'"temperature":0.0' in body
