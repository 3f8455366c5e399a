"""A minimal HTTP/1.1 keep-alive client as an asyncio protocol: one request in flight at a time.

Only what the bench needs: POST with a JSON body, a response with Content-Length or chunked
encoding. It parses the status, the framing headers and `Connection: close` and nothing else,
so the generator's ceiling stays far above the servers under test (see the `ceiling` target of
the harness).

`KeptAlive` is what the workers post through: a server may close a kept-alive connection
(Hypercorn after `keep_alive_max_requests` answers, saying `Connection: close`; any server
when it drains or times a connection out), and the worker then reconnects and carries on. A
request the server closed the connection on without answering is sent once more on the new
connection (same body, so the same client_msg_id): that close is not a lost post.
"""

from __future__ import annotations

import asyncio

__all__ = ["ConnectFailed", "HttpClient", "KeptAlive", "http_connect"]


class HttpClient(asyncio.Protocol):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost: BaseException | None = None
        # The last answer said `Connection: close`: the server closes after it
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    @property
    def usable(self) -> bool:
        """Connected, and the server has not closed nor said it will."""
        return self.transport is not None and self._lost is None and not self.closing

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionError("connection closed by server")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Send one request; the future gives (status, body). `headers` is raw "K: V\\r\\n"."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        if self._lost is not None or self.transport is None:
            fut.set_exception(self._lost or ConnectionError("not connected"))
            return fut
        self._waiter = fut
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        ).encode()
        self.transport.write(head + body)
        return fut

    def data_received(self, data: bytes) -> None:
        self._buf += data
        parsed = self._parse()
        if parsed is not None and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(parsed)

    def _parse(self) -> tuple[int, bytes] | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        if b"\r\nconnection: close" in head:
            self.closing = True
        cl = head.find(b"\r\ncontent-length:")
        if cl >= 0:
            line_end = head.find(b"\r\n", cl + 2)
            n = int(head[cl + 17 : line_end if line_end >= 0 else len(head)])
            if len(buf) < start + n:
                return None
            body = bytes(buf[start : start + n])
            del buf[: start + n]
            return status, body
        if b"transfer-encoding: chunked" in head:
            pos, chunks = start, []
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if len(buf) < line_end + 2 + size + 2:
                    return None
                chunks.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
                pos = line_end + 2 + size + 2
                if size == 0:
                    del buf[:pos]
                    return status, b"".join(chunks)
        # No body framing: 204/304 or a body-less status.
        del buf[:start]
        return status, b""


async def http_connect(host: str, port: int) -> HttpClient:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: HttpClient(host, port), host, port)
    return proto


class ConnectFailed(OSError):
    """(Re)connecting to the server failed: it is gone, not merely closing a connection."""


class KeptAlive:
    """A kept-alive connection that is opened again when the server closed it.

    `reconnects` counts the connections opened after the first; `retried` the requests sent a
    second time because the server closed the connection without answering them.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.client: HttpClient | None = None
        self.reconnects = 0
        self.retried = 0

    async def connect(self) -> KeptAlive:
        try:
            self.client = await http_connect(self.host, self.port)
        except OSError as exc:
            raise ConnectFailed(f"connect {self.host}:{self.port}: {exc}") from exc
        return self

    async def _reconnect(self) -> HttpClient:
        self.close()
        await self.connect()
        self.reconnects += 1
        assert self.client is not None
        return self.client

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, bytes]:
        """(status, body). Raises ConnectFailed when the server cannot be reached again, and
        OSError when it closed the connection without answering twice in a row."""
        client = self.client
        if client is None or not client.usable:
            client = await self._reconnect()
        try:
            return await client.request(method, path, body, headers)
        except OSError:
            # Closed before the answer: the server did not take this request.
            client = await self._reconnect()
            self.retried += 1
            return await client.request(method, path, body, headers)

    def close(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()
        self.client = None
