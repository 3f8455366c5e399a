"""start_gateway: the gateway role assembled in one place, into one complete object.

Start order (the actor system stops in reverse, so the last started is the first stopped):

    token keys → thread refresher → chat.events consumer → events pump
    → chat.turns consumer → turns pump → connections supervisor
    → [fan-out flusher → WebSocket listener]

The HTTP server is started by `parley serve` after every role, so it is stopped first.
Every part runs in the process's one actor system: connection actors are children of the
`connections` supervisor, whichever endpoint (listener or Quart's `/ws`) accepted them.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from actors import TaskService, start_service
from adapters import KafkaConsumer, ProcessBoard
from gateway._posting import BODY_TIMEOUT_S
from gateway.auth import TokenVerifier
from gateway.context import GatewayContext
from gateway.events_bridge import events_group_id, pump_events, pump_turns, turns_group_id
from gateway.fast_ingest import PostRoutes
from gateway.fast_posts import FastPosts
from gateway.ingest import Ingest
from gateway.limits import UserRateLimiter
from gateway.recent import RecentMessages
from gateway.threads import ThreadDirectory
from gateway.tls import server_ssl_context
from gateway.ws import (
    ConnectionServices,
    FanoutHub,
    WsServer,
    open_ws_listeners,
    serve_websockets,
)

if TYPE_CHECKING:
    from actors import ActorSystem
    from adapters import SharedAdapters
    from config.settings import Settings
    from telemetry import ProcessStatus

__all__ = ["start_gateway"]

log = logging.getLogger("parley.gateway")

# A gateway needs only what happens from now on: clients recover older events by since_seq.
_LATEST: dict[str, Any] = {"auto.offset.reset": "latest"}
# Connection actors are TEMPORARY (never restarted): a crash closes that one connection.
_CONNECTION_CRASHES_TOLERATED = 1_000_000


async def start_gateway(
    system: ActorSystem,
    settings: Settings,
    status: ProcessStatus,
    adapters: SharedAdapters,
) -> GatewayContext:
    """Start every part of a gateway under `system`; returns the complete context."""
    verifier = TokenVerifier(settings)
    # Start without waiting for the keys: /readyz stays false (and REST answers 401/503)
    # until the provider answers, instead of the process failing while it is down.
    await start_service(
        system, "token-keys", TaskService(partial(verifier.run, wait_for_keys=False))
    )
    status.add_probe("oidc", lambda: _keys_probe(verifier))
    events = KafkaConsumer(
        adapters.kafka,
        [settings.events_topic],
        events_group_id(status.process_id),
        group_instance_id=settings.outbox_group_instance_id,
        pin_start_offsets=True,
        **_LATEST,
    )
    recent = RecentMessages(partial(_assignment_epoch, events))
    threads = ThreadDirectory(settings, adapters.store, adapters.producer, recent)
    await start_service(system, "thread-refresher", TaskService(threads.run_refresher))
    status.add_gauges(lambda: status.metrics.replays_from_memory.set(recent.hits))
    metrics = status.metrics
    ingest = Ingest(
        settings,
        adapters.producer,
        threads,
        UserRateLimiter.from_settings(settings),
        metrics,
        status.readiness,
    )
    hub = FanoutHub.from_settings(settings, metrics)
    await start_service(system, "events-consumer", events)
    status.add_partitions("events", lambda: [f"{t}[{p}]" for t, p in events.assignment])
    # Live delivery starts at the assignment: until then a subscriber could miss events.
    status.add_probe(
        "events",
        lambda: (events.assigned, "live events flowing" if events.assigned else "joining events"),
    )
    await start_service(
        system, "events-pump", TaskService(partial(pump_events, threads, hub, events))
    )
    # Assistant turns: lossy, from the end of the log (a late subscriber gets a snapshot).
    turns = KafkaConsumer(
        adapters.kafka,
        [settings.turns_topic],
        turns_group_id(status.process_id),
        pin_start_offsets=True,
        **_LATEST,
    )
    await start_service(system, "turns-consumer", turns)
    await start_service(system, "turns-pump", TaskService(partial(pump_turns, hub, turns)))
    connections = await system.start_supervisor(
        "connections", max_restarts=_CONNECTION_CRASHES_TOLERATED, within=1.0
    )
    ws = WsServer.build(
        settings,
        ConnectionServices(verifier=verifier, ingest=ingest, threads=threads),
        hub,
        draining=status.readiness.draining,
        connections=connections,
    )
    ws_url = ""
    if settings.ws_port >= 0:
        tls = await server_ssl_context(settings)
        listeners, ws_url = await open_ws_listeners(
            settings.http_host, settings.ws_port, settings.public_url, secure=tls is not None
        )
        if ws.options.cork_fanout:
            await start_service(system, "fanout-flusher", TaskService(hub.run_flusher))
        # Not cancelled on stop: the listener returns by itself once the drain flag is up
        # and its connections were closed with 1001 (within the grace).
        routes = PostRoutes(
            verifier,
            ingest,
            status.readiness,
            max_body=settings.max_body_bytes,
            body_timeout_s=BODY_TIMEOUT_S,
            log=logging.getLogger("parley.posts"),
        )
        posts = FastPosts(routes, status.readiness.draining, secure=tls is not None)
        listener = TaskService(
            partial(serve_websockets, ws, listeners, ssl_context=tls, http=posts),
            on_stop=status.readiness.draining.set,
        )
        await start_service(system, "websocket-listener", listener)
        log.info("websocket listener up", extra={"url": ws_url})
    return GatewayContext(
        settings=settings,
        status=status,
        verifier=verifier,
        ingest=ingest,
        threads=threads,
        ws=ws,
        board=ProcessBoard(adapters.store),
        ws_url=ws_url,
    )


def _keys_probe(verifier: TokenVerifier) -> tuple[bool, str]:
    return verifier.ready, "signing keys loaded" if verifier.ready else "no signing keys yet"


def _assignment_epoch(consumer: KafkaConsumer) -> int | None:
    # Changes with every assignment change: the gateway's memory of recent messages is only
    # trusted while the events consumer read its partitions without a break.
    return consumer.counters.rebalances if consumer.assigned else None
