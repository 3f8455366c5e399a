"""A small wsproto test client over a real socket: full control over the bytes it sends."""

from __future__ import annotations

import contextlib
import os
import struct
from typing import Any

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


class Rejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Closed(Exception):
    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WsClient:
    def __init__(self, stream: trio.SocketStream, ws: WSConnection, subprotocol: str | None):
        self.stream = stream
        self.ws = ws
        self.subprotocol = subprotocol
        self._events: list[Any] = []
        self._parts: list[str] = []
        self.pongs = 0

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        path: str = "/ws",
        origin: str | None = None,
        subprotocols: list[str] | None = None,
        host: str = "127.0.0.1",
    ) -> WsClient:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        headers = [(b"origin", origin.encode())] if origin is not None else []
        request = Request(
            host=f"{host}:{port}",
            target=path,
            subprotocols=subprotocols or [],
            extra_headers=headers,
        )
        await stream.send_all(ws.send(request))
        while True:
            data = await stream.receive_some(65_536)
            if not data:
                raise Rejected(0)
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    client = cls(stream, ws, event.subprotocol)
                    return client
                if isinstance(event, RejectConnection):
                    await stream.aclose()
                    raise Rejected(event.status_code)

    async def send(self, obj: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(obj).decode())

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(Message(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(self.ws.send(Message(data=data)))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    @staticmethod
    def masked_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        """A client frame built by hand (for payloads wsproto would refuse to send)."""
        mask = os.urandom(4)
        head = bytes(((0x80 if fin else 0) | opcode,))
        n = len(payload)
        if n < 126:
            head += bytes((0x80 | n,))
        elif n < 65_536:
            head += struct.pack("!BH", 0x80 | 126, n)
        else:
            head += struct.pack("!BQ", 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + body

    async def _next_event(self) -> Any:
        while not self._events:
            try:
                data = await self.stream.receive_some(65_536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                raise Closed(1006, "connection dropped without a close frame")
            self.ws.receive_data(data)
            self._events.extend(self.ws.events())
        return self._events.pop(0)

    async def recv(self) -> Any:
        """The next JSON text message; ``Closed`` when the server closed."""
        while True:
            event = await self._next_event()
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    text = "".join(self._parts)
                    self._parts.clear()
                    return orjson.loads(text)
            elif isinstance(event, BytesMessage):
                raise AssertionError("the server sent a binary frame")
            elif isinstance(event, Ping):
                with contextlib.suppress(trio.BrokenResourceError):
                    await self.stream.send_all(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                # The server may already have dropped TCP (or wsproto's state says closed).
                with contextlib.suppress(Exception):
                    await self.stream.send_all(self.ws.send(event.response()))
                raise Closed(event.code, event.reason)
            else:
                self.pongs += 1

    async def recv_until_closed(self) -> tuple[list[Any], Closed]:
        frames: list[Any] = []
        while True:
            try:
                frames.append(await self.recv())
            except Closed as closed:
                return frames, closed

    async def close(self, code: int = 1000) -> None:
        try:
            await self.stream.send_all(self.ws.send(CloseConnection(code=code)))
            with trio.move_on_after(2):
                while True:
                    await self.recv()
        except (Closed, trio.BrokenResourceError):
            return  # the peer finished the close (or the socket broke): nothing left to read
        finally:
            await self.stream.aclose()
