"""The generator's REST POST workers survive a server closing their kept-alive connection.

Hypercorn (the server Parley's HTTP port runs on) closes a connection after
`keep_alive_max_requests` answers, saying `Connection: close`: the ingest job must reconnect
and carry on, each post answered. A server that closes a connection without answering the
request on it gets that request once more, with the same body, on a new connection. No timing
is asserted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from adapters import free_port
from bench.loadgen._http import ConnectFailed, KeptAlive
from bench.loadgen._ingest import ingest_rest

T = TypeVar("T")


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run in a thread of its own: the session's Playwright (sync API) keeps an event
    loop running in the test thread once a browser test ran, and asyncio.run refuses that."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_ingest_rest_reconnects_after_hypercorn_keep_alive_limit() -> None:
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_max_requests = 5
    config.accesslog = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more_body = True
        while more_body:  # read the whole request before answering
            more_body = bool((await receive()).get("more_body"))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        server = asyncio.create_task(
            serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        )
        try:
            await _until_listening(port)
            return await ingest_rest(
                {
                    "http": {"host": "127.0.0.1", "port": port},
                    "connections": 2,
                    "duration": 0.5,
                    "warmup": 0.0,
                    "tokens": ["t"],
                    "thread_ids": ["t-1"],
                }
            )
        finally:
            stop.set()
            await server

    result = _run(main)
    assert result["errors"] == {}
    assert set(result["statuses"]) == {"202"}
    # Each connection carried at most 5 posts: every further post went over a new one.
    assert result["accepted"] > 10
    assert result["reconnects"] >= result["accepted"] // 5 - 2
    # Hypercorn said `Connection: close` with its last answer: nothing was sent unanswered.
    assert result["retried"] == 0


async def _until_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on {port}")


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _raw_server(handler: Handler) -> Any:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


def test_unanswered_post_is_sent_again_on_a_new_connection() -> None:
    bodies: list[bytes] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                bodies.append(await _read_request(reader))
                if first and len(bodies) == 2:
                    break  # the second request on the first connection: closed unanswered
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()

    async def main() -> tuple[list[int], KeptAlive]:
        async with _raw_server(handler) as port:
            client = await KeptAlive("127.0.0.1", port).connect()
            statuses = []
            for n in range(3):
                status, _ = await client.request("POST", "/p", b'{"client_msg_id":"m%d"}' % n)
                statuses.append(status)
            client.close()
            return statuses, client

    statuses, client = _run(main)
    assert statuses == [202, 202, 202]
    assert (client.reconnects, client.retried) == (1, 1)
    # The unanswered post went again with the same body (so the same client_msg_id).
    assert bodies == [b'{"client_msg_id":"m%d"}' % n for n in (0, 1, 1, 2)]
    assert connections == 2


def test_unanswered_twice_is_an_error_and_a_gone_server_a_connect_failure() -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await _read_request(reader)
        writer.close()

    async def main() -> tuple[KeptAlive, type[BaseException], type[BaseException]]:
        async with _raw_server(never_answers) as port:
            client = await KeptAlive("127.0.0.1", port).connect()
            with pytest.raises(OSError) as twice:
                await client.request("POST", "/p", b"{}")
        # The listener is closed now: reconnecting fails.
        with pytest.raises(OSError) as gone:
            await client.request("POST", "/p", b"{}")
        return client, twice.type, gone.type

    client, twice, gone = _run(main)
    assert twice is not ConnectFailed
    assert gone is ConnectFailed
    assert client.retried == 1
