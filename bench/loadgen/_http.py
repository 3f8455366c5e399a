"""A minimal HTTP/1.1 keep-alive client as an asyncio protocol: one request in flight at a time.

Only what the bench needs: POST with a JSON body, a response with Content-Length or chunked
encoding. It parses the status and the framing headers and nothing else, so the generator's
ceiling stays far above the servers under test (see the `ceiling` target of the harness).
"""

from __future__ import annotations

import asyncio

__all__ = ["HttpClient", "http_connect"]


class HttpClient(asyncio.Protocol):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

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
