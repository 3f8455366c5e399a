"""A small protocol client for tests: auth, subscribe, send, and collect event frames."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

__all__ = ["ChatSocket", "chat_socket"]


class ChatSocket:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []  # every event received, in order
        self._cursor = 0

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(frame))

    async def _read_batch(self) -> None:
        raw = await self.ws.get_message()
        decoded = json.loads(raw)
        self.frames.extend(decoded if isinstance(decoded, list) else [decoded])

    async def next_of(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        """The next not-yet-taken frame of type `kind` (earlier other frames stay recorded)."""
        with trio.fail_after(within):
            while True:
                while self._cursor < len(self.frames):
                    frame = self.frames[self._cursor]
                    self._cursor += 1
                    if frame.get("type") == kind:
                        return frame
                await self._read_batch()

    async def messages(
        self, thread_id: str, count: int, within: float = 20.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` distinct messages of the thread arrived; return them by seq."""
        with trio.fail_after(within):
            while True:
                seen = {
                    f["message_id"]: f
                    for f in self.frames
                    if f.get("type") == "message" and f.get("thread_id") == thread_id
                }
                if len(seen) >= count:
                    return sorted(seen.values(), key=lambda f: f["seq"])
                await self._read_batch()

    def raw_messages(self, thread_id: str) -> list[dict[str, Any]]:
        return [
            f for f in self.frames if f.get("type") == "message" and f.get("thread_id") == thread_id
        ]

    async def authenticate(self, token: str) -> None:
        await self.send({"type": "auth", "token": token})

    async def subscribe(self, thread_id: str, since_seq: int = 0) -> dict[str, Any]:
        await self.send({"type": "subscribe", "thread_id": thread_id, "since_seq": since_seq})
        return await self.next_of("subscribed")


@asynccontextmanager
async def chat_socket(
    url: str, token: str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ChatSocket]:
    async with open_websocket_url(url, ssl_context=ssl_context) as ws:
        sock = ChatSocket(ws)
        await sock.authenticate(token)
        yield sock
