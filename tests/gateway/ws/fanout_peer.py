"""Bench peer: the dedicated WebSocket listener alone, with loopback ports (no Kafka, no store).

Same contract as ``bench/peers/ws_broadcast.py`` (the ``websockets`` reference): a ``send`` is
acked and broadcast to the thread's subscribers; any token is accepted. It prints
``{"port": N}`` once listening, like every bench peer:

    python -m tests.gateway.ws.fanout_peer
"""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from collections import defaultdict

import orjson
import trio

from gateway.auth import Principal
from gateway.context import GatewayContext
from gateway.ingest import Accepted
from gateway.ws import FanoutHub, serve_websockets
from parley.events import MessageEvent, PresenceEvent, TypingEvent
from parley.settings import load_settings


class _AnyToken:
    async def verify(self, token: object) -> Principal:
        await trio.lowlevel.checkpoint()
        return Principal(str(token)[:64] or "anon", time.time() + 86_400, {})


class _NoStore:
    async def require_member(self, user_id: str, thread_id: str) -> None:
        await trio.lowlevel.checkpoint()

    async def history(self, thread_id: str, after_seq: int, limit: int) -> list[MessageEvent]:
        await trio.lowlevel.checkpoint()
        return []


class _Loopback:
    """Ack at once and hand the event straight to the hub (what Kafka + core would do)."""

    def __init__(self, hub: FanoutHub) -> None:
        self._hub = hub
        self._seq: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))

    async def accept(
        self, principal: Principal, thread_id: str, text: str, client_msg_id: str | None, via: str
    ) -> Accepted:
        await trio.lowlevel.checkpoint()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message_id = str(uuid.uuid4())
        event = MessageEvent(
            thread_id, next(self._seq[thread_id]), message_id, "bench", text, now, client_msg_id
        )
        self._hub.publish(event)
        return Accepted(message_id, thread_id, now)

    async def publish_ephemeral(self, event: TypingEvent | PresenceEvent) -> None:
        await trio.lowlevel.checkpoint()
        self._hub.publish(event)


async def main() -> None:
    settings = load_settings(
        http_host="127.0.0.1",
        max_connections_per_user=1_000_000,
        user_rate_per_s=1_000_000.0,
        user_rate_burst=1_000_000,
    )
    ctx = GatewayContext(settings)
    hub = FanoutHub.from_settings(settings, ctx.metrics)
    ctx.hub = hub
    ctx.verifier = _AnyToken()  # type: ignore[assignment]
    ctx.threads = _NoStore()  # type: ignore[assignment]
    ctx.ingest = _Loopback(hub)  # type: ignore[assignment]
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_websockets, ctx)
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            print(orjson.dumps({"port": port}).decode(), flush=True)
            async for _ in signals:
                ctx.readiness.draining.set()
                break


if __name__ == "__main__":
    trio.run(main)
