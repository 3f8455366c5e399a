"""Bench peer: the dedicated WebSocket listener alone, with loopback ports (no Kafka, no store).

Same contract as ``bench/peers/ws_broadcast.py`` (the ``websockets`` reference): a ``send`` is
acked and broadcast to the thread's subscribers; any token is accepted. It prints
``{"port": N}`` once listening, like every bench peer:

    python -m bench.peers.ws_listener
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from functools import partial

import orjson
import trio

from actors import open_actor_system
from config.settings import load_settings
from gateway.auth import Principal
from gateway.ingest import Accepted
from gateway.ws import (
    ConnectionServices,
    FanoutHub,
    WsServer,
    open_ws_listeners,
    serve_websockets,
)
from protocol.events import MessageEvent, PresenceEvent, TypingEvent
from protocol.refusals import Refusal


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
    """Ack at once; the event reaches the hub through a pump task, as chat.events records do
    in a gateway (Kafka consumer → events pump → ``hub.publish``), minus Kafka itself."""

    def __init__(self, hub: FanoutHub) -> None:
        self._hub = hub
        self._seq: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._queue: list[MessageEvent] = []
        self._arrived = trio.Event()

    async def pump(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived = trio.Event()
            batch, self._queue = self._queue, []
            for event in batch:  # like KafkaConsumer.get(): no checkpoint while records wait
                self._hub.publish(event)

    async def submit(
        self,
        principal: Principal,
        thread_id: str,
        text: str,
        client_msg_id: str | None,
        via: str,
        on_outcome: Callable[[Accepted | Refusal], None],
    ) -> None:
        await trio.lowlevel.checkpoint()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message_id = str(uuid.uuid4())
        event = MessageEvent(
            thread_id, next(self._seq[thread_id]), message_id, "bench", text, now, client_msg_id
        )
        self._queue.append(event)
        self._arrived.set()
        on_outcome(Accepted(message_id, thread_id, now))

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
    hub = FanoutHub.from_settings(settings)
    ingest = _Loopback(hub)
    cork = os.environ.get("PARLEY_WS_CORK", "1") != "0"
    draining = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_actor_system("ws-listener-peer") as system, trio.open_nursery() as nursery:
            connections = await system.start_supervisor(
                "connections", max_restarts=1_000_000, within=1.0
            )
            services = ConnectionServices(verifier=_AnyToken(), ingest=ingest, threads=_NoStore())
            server = WsServer.build(
                settings,
                services,
                hub,
                draining=draining,
                connections=connections,
                cork_fanout=cork,
            )
            nursery.start_soon(ingest.pump)
            if cork:
                await nursery.start(hub.run_flusher)
            listeners, url = await open_ws_listeners("127.0.0.1", 0)
            await nursery.start(partial(serve_websockets, server, listeners))
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            print(orjson.dumps({"port": port}).decode(), flush=True)
            async for _ in signals:
                draining.set()
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
