"""Fan-out peer: a broadcast server written the idiomatic way with `websockets` (asyncio).

`send` is acknowledged, encoded once and handed to `websockets.broadcast`, which writes to
every subscriber without awaiting each one (the library's recommended fast path).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers._common import announce, bound_socket, now_iso

__all__ = ["main"]

_subscribers: defaultdict[str, set[ServerConnection]] = defaultdict(set)
_seq: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


async def _handler(ws: ServerConnection) -> None:
    mine: list[str] = []
    try:
        async for raw in ws:
            msg = orjson.loads(raw)
            kind = msg.get("type")
            if kind == "send":
                thread = msg["thread_id"]
                message_id = str(uuid.uuid4())
                await ws.send(
                    orjson.dumps(
                        {
                            "type": "ack",
                            "client_msg_id": msg.get("client_msg_id"),
                            "message_id": message_id,
                        }
                    ).decode()
                )
                frame = orjson.dumps(
                    {
                        "type": "message",
                        "thread_id": thread,
                        "seq": next(_seq[thread]),
                        "message_id": message_id,
                        "sender_id": "bench",
                        "text": msg["text"],
                        "created_at": now_iso(),
                    }
                ).decode()
                broadcast(_subscribers[thread], frame)
            elif kind == "subscribe":
                thread = msg["thread_id"]
                _subscribers[thread].add(ws)
                mine.append(thread)
                await ws.send(
                    orjson.dumps(
                        {"type": "subscribed", "thread_id": thread, "last_seq": 0}
                    ).decode()
                )
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
    finally:
        for thread in mine:
            _subscribers[thread].discard(ws)


async def _serve() -> None:
    sock = bound_socket()
    async with serve(_handler, sock=sock, compression=None) as server:
        announce(sock)
        await server.serve_forever()


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
