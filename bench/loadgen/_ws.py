"""A minimal WebSocket client as an asyncio protocol: the load generator's receive path.

Why not a library client: the generator must stay well above the server under test, and a
callback per received chunk (no coroutine resumption per frame) is the cheapest receive path
Python offers. Server frames are unmasked and uncompressed (no extension is offered), so
parsing is a few slices. Client frames are masked as RFC 6455 requires.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable

__all__ = ["WsClient", "encode_client_frame", "ws_connect"]

_OP_CONT, _OP_TEXT, _OP_BIN, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return payload
    # XOR as one big integer: far faster in CPython than a per-byte loop.
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_client_frame(payload: bytes, opcode: int = _OP_TEXT) -> bytes:
    n = len(payload)
    key = os.urandom(4)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class WsClient(asyncio.Protocol):
    """One connection. `on_message(client, payload)` runs for every complete text message."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        on_message: Callable[[WsClient, bytes], None],
        tag: int = 0,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.on_message = on_message
        self.tag = tag
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._buf = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] = []

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            del buf[: end + 4]
            if b" 101 " not in status + b" ":
                self._fail(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                return
            self._upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending ----------------------------------------------------------------------------
    def send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_client_frame(payload))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_client_frame(struct.pack("!H", 1000), _OP_CLOSE))
            self.transport.close()

    # -- internals --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
            # Nobody may await it once the caller gave up; avoid "exception never retrieved".
            self.opened.exception()

    def _parse(self) -> None:
        buf = self._buf
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            if b1 & 0x80:
                head += 4  # a masked server frame is a protocol error; tolerate it for a bench
            if end - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            if b1 & 0x80:
                payload = _mask(payload, bytes(buf[pos + head - 4 : pos + head]))
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        if pos:
            del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (_OP_TEXT, _OP_BIN):
            if fin:
                self.on_message(self, payload)
            else:
                self._fragments = [payload]
        elif opcode == _OP_CONT:
            self._fragments.append(payload)
            if fin:
                whole, self._fragments = b"".join(self._fragments), []
                self.on_message(self, whole)
        elif opcode == _OP_PING:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(encode_client_frame(payload, _OP_PONG))
        elif opcode == _OP_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.close()


async def ws_connect(
    host: str,
    port: int,
    path: str,
    on_message: Callable[[WsClient, bytes], None],
    tag: int = 0,
    limit_s: float = 10.0,
) -> WsClient:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: WsClient(host, port, path, on_message, tag), host, port
    )
    await asyncio.wait_for(asyncio.shield(proto.opened), limit_s)
    return proto
