"""The generator's ceiling: a raw asyncio server that does as little as a server can.

HTTP: every request gets a canned 202. WebSocket: `subscribe` → `subscribed`, `send` → `ack`
plus one pre-encoded frame written to every subscriber. What the generator measures against
this is its own limit on this machine; a Parley or peer figure near it is generator-bound.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections import defaultdict

import orjson

from bench.peers._common import announce, bound_socket

__all__ = ["main"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_RESPONSE_BODY = b'{"message_id":"0","thread_id":"t","accepted_at":"2026-01-01T00:00:00Z"}'
_RESPONSE = (
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_RESPONSE_BODY)).encode()
    + b"\r\n\r\n"
    + _RESPONSE_BODY
)
_subscribers: defaultdict[str, list[asyncio.Transport]] = defaultdict(list)


def _server_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.ws = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for subs in _subscribers.values():
            if self.transport in subs:
                subs.remove(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.ws:
            self._frames()
        else:
            self._http()

    def _http(self) -> None:
        assert self.transport is not None
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(buf[:end]).lower()
            if b"upgrade: websocket" in head:
                key = b""
                for line in bytes(buf[:end]).split(b"\r\n"):
                    if line.lower().startswith(b"sec-websocket-key:"):
                        key = line.split(b":", 1)[1].strip()
                accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
                self.transport.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                del buf[: end + 4]
                self.ws = True
                self._frames()
                return
            cl = head.find(b"content-length:")
            n = int(head[cl + 15 :].split(b"\r\n")[0]) if cl >= 0 else 0
            if len(buf) < end + 4 + n:
                return
            body = bytes(buf[end + 4 : end + 4 + n])
            del buf[: end + 4 + n]
            self.transport.write(_RESPONSE)
            if _subscribers and body:
                # The end-to-end ceiling: a POST reaches the thread's subscribers.
                msg = orjson.loads(body)
                self._broadcast(msg["thread_id"], msg["text"])

    def _frames(self) -> None:
        assert self.transport is not None
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 6:
            b1 = buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + 4 + n:
                break
            key = bytes(buf[pos + head : pos + head + 4])
            raw = bytes(buf[pos + head + 4 : pos + head + 4 + n])
            opcode = buf[pos] & 0x0F
            pos += head + 4 + n
            stream = (key * (n // 4 + 1))[:n]
            payload = (int.from_bytes(raw, "big") ^ int.from_bytes(stream, "big")).to_bytes(
                n, "big"
            )
            if opcode == 0x8:
                self.transport.close()
                return
            if opcode == 0x1:
                self._message(payload)
        del buf[:pos]

    def _message(self, payload: bytes) -> None:
        assert self.transport is not None
        msg = orjson.loads(payload)
        kind = msg.get("type")
        if kind == "subscribe":
            _subscribers[msg["thread_id"]].append(self.transport)
            self.transport.write(
                _server_frame(
                    b'{"type":"subscribed","thread_id":"%s","last_seq":0}'
                    % msg["thread_id"].encode()
                )
            )
        elif kind == "send":
            self.transport.write(
                _server_frame(
                    b'{"type":"ack","client_msg_id":"%s","message_id":"0"}'
                    % str(msg.get("client_msg_id")).encode()
                )
            )
            self._broadcast(msg["thread_id"], msg["text"])

    @staticmethod
    def _broadcast(thread: str, text: str) -> None:
        targets = _subscribers.get(thread)
        if not targets:
            return
        frame = _server_frame(
            orjson.dumps(
                {
                    "type": "message",
                    "thread_id": thread,
                    "seq": 0,
                    "message_id": "0",
                    "sender_id": "bench",
                    "text": text,
                }
            )
        )
        for t in targets:
            t.write(frame)


async def _serve() -> None:
    sock = bound_socket()
    server = await asyncio.get_running_loop().create_server(_Conn, sock=sock)
    announce(sock)
    async with server:
        await server.serve_forever()


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
