"""Ingest and end-to-end peer: uvicorn + Starlette (asyncio, httptools when installed).

`POST /api/messages` validates the JSON body, assigns an id and answers 202, as a bare
endpoint would; when WebSocket clients subscribed to the thread, it also broadcasts the
message to them (each `send_text` awaited, Starlette's ordinary way). No broker, no store:
the ratio against Parley is the price of durability plus the framework's overhead.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.peers._common import announce, bound_socket, now_iso

__all__ = ["main"]

_subscribers: defaultdict[str, set[WebSocket]] = defaultdict(set)
_seq: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


async def _broadcast(thread: str, message_id: str, text: str) -> None:
    targets = _subscribers.get(thread)
    if not targets:
        return
    frame = orjson.dumps(
        {
            "type": "message",
            "thread_id": thread,
            "seq": next(_seq[thread]),
            "message_id": message_id,
            "sender_id": "bench",
            "text": text,
            "created_at": now_iso(),
        }
    ).decode()
    for ws in list(targets):
        try:
            await ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError):
            targets.discard(ws)


async def post_message(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        thread, text = str(body["thread_id"]), str(body["text"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Response(b'{"detail":"invalid body"}', 422, media_type="application/json")
    message_id = str(uuid.uuid4())
    await _broadcast(thread, message_id, text)
    return Response(
        orjson.dumps({"message_id": message_id, "thread_id": thread, "accepted_at": now_iso()}),
        202,
        media_type="application/json",
    )


async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    mine: list[str] = []
    try:
        while True:
            msg = orjson.loads(await ws.receive_text())
            kind = msg.get("type")
            if kind == "subscribe":
                thread = str(msg["thread_id"])
                _subscribers[thread].add(ws)
                mine.append(thread)
                await ws.send_text(
                    orjson.dumps(
                        {"type": "subscribed", "thread_id": thread, "last_seq": 0}
                    ).decode()
                )
            elif kind == "send":
                message_id = str(uuid.uuid4())
                await ws.send_text(
                    orjson.dumps(
                        {
                            "type": "ack",
                            "client_msg_id": msg.get("client_msg_id"),
                            "message_id": message_id,
                        }
                    ).decode()
                )
                await _broadcast(str(msg["thread_id"]), message_id, str(msg["text"]))
    except WebSocketDisconnect:
        pass
    finally:
        for thread in mine:
            _subscribers[thread].discard(ws)


app = Starlette(
    routes=[
        Route("/api/messages", post_message, methods=["POST"]),
        WebSocketRoute("/ws", ws_endpoint),
    ]
)


def main() -> None:
    sock = bound_socket()
    announce(sock)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
