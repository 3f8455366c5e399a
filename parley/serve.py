"""`parley serve`: run a gateway, a core, or both in one Trio process, as one actor tree.

Start order (the actor system stops in reverse, so the last started is the first stopped):

    store → producer → [core]    thread registry → commands consumer → dispatcher
                     → [gateway] token keys → events consumer → events pump
                                 → WebSocket listener → HTTP server
    → drain flag

On SIGTERM the drain flag goes up first (HTTP answers 503, WebSockets close 1001), the
servers finish what is in flight, the consumers hand out nothing more, wait for the thread
actors' acks and commit, then the producer flushes and the store closes. Exit code 0.
"""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hypercorn_serve

from actors import ActorSystem, Restart, RestartIntensityExceeded, open_actor_system
from actors._service import Service, ServiceActor
from adapters import KafkaConsumer, KafkaProducer, MongoStore, backoff_delays, ensure_topics
from config.errors import ConfigurationError
from config.settings import Role, Settings, load_settings
from core import Core
from gateway.app import create_app
from gateway.context import GatewayContext
from gateway.events_bridge import events_group_id, pump_events
from gateway.fast_ingest import FastIngest
from gateway.http_drain import RequestActivity, stop_when_quiet
from gateway.ingest import Ingest
from gateway.recent import RecentMessages
from gateway.threads import ThreadDirectory
from parley._options import kafka_options, store_options
from parley.logs import configure_logging

__all__ = ["run_server", "serve_main"]

log = logging.getLogger("parley.serve")
_GC_GEN0_THRESHOLD = 50_000
# After SIGTERM, Hypercorn keeps answering 503 until no request began for this long...
_HTTP_QUIET_S = 0.5
# ...but no longer than this (a load balancer's health checks never go quiet).
_HTTP_QUIET_CAP_S = 3.0

# A gateway needs only what happens from now on: clients recover older events by since_seq.
_LATEST: dict[str, Any] = {"auto.offset.reset": "latest"}


def serve_main(role: str | None = None, port: int | None = None) -> int:
    overrides: dict[str, object] = {}
    if role is not None:
        overrides["role"] = Role(role)
    if port is not None:
        overrides["http_port"] = port
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    _tune_gc()
    try:
        trio.run(partial(run_server, settings, trap_signals=True))
    except RestartIntensityExceeded as exc:
        # Already logged with its cause by the supervisor; the exit code tells the operator's
        # supervisor (systemd, Kubernetes) to restart us after its own backoff.
        log.error("stopped: a part kept failing", extra={"why": str(exc)})
        return 1
    log.info("stopped cleanly")
    return 0


def _tune_gc() -> None:
    # With CPython's default first threshold (700 allocations) nearly every in-flight
    # request, frame and message is alive at a young collection and gets promoted, so full
    # collections come every few seconds under load, and with 1,000 connections one takes
    # 70-107 ms: the event loop stops that long (measured with gc.callbacks timing each
    # collection in `parley serve`, e2e at 250-375 msg/s). At 50,000 there was none in the
    # same run and p99 at 375 msg/s went 184 -> 97 ms. Garbage in reference cycles waits;
    # everything else is still freed by reference counting at once.
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(_GC_GEN0_THRESHOLD, gen1, gen2)


async def run_server(
    settings: Settings,
    *,
    trap_signals: bool = False,
    task_status: trio.TaskStatus[GatewayContext] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or (with trap_signals) SIGTERM/SIGINT, then drain in order."""
    _check_ports_free(settings)
    ctx = GatewayContext(settings)
    async with open_actor_system(
        "parley", trap_signals=trap_signals, shutdown_timeout=settings.shutdown_grace_s + 5
    ) as system:
        ctx.snapshot_sources.append(lambda: {"actors": system.snapshot(limit_per_registry=50)})
        ctx.gauge_refreshers.append(partial(_actor_gauges, system, ctx))
        await _start(system, ctx)
        log.info(
            "parley serving",
            extra={
                "role": settings.role.value,
                "http": settings.http_base_url,
                "ws": ctx.ws_url or None,
            },
        )
        task_status.started(ctx)
        await trio.sleep_forever()


def _check_ports_free(settings: Settings) -> None:
    """A taken port is an operator's mistake: say so at once instead of a crash loop."""
    wanted = [("PARLEY_HTTP_PORT", settings.http_port)]
    if settings.role is not Role.CORE and settings.ws_port > 0:
        wanted.append(("PARLEY_WS_PORT", settings.ws_port))
    for name, port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.http_host, port))
            except OSError as exc:
                raise ConfigurationError(
                    f"port {port} ({name}) on {settings.http_host} is not free: {exc.strerror}; "
                    f"stop what uses it or set {name}"
                ) from None


def _actor_gauges(system: ActorSystem, ctx: GatewayContext) -> None:
    restarts = 0
    deepest = 0
    for node in system.snapshot(limit_per_registry=10_000):
        restarts += int(node.get("restarts") or 0)
        mailbox = node.get("mailbox")
        if isinstance(mailbox, dict):
            deepest = max(deepest, int(mailbox.get("depth") or 0))
    ctx.metrics.actor_restarts.set(restarts)
    ctx.metrics.mailbox_depth.set(deepest)


async def _service(system: ActorSystem, name: str, service: Service) -> None:
    # TRANSIENT: restarted after a crash, but a service that returns because it was asked to
    # stop (the drain) stays stopped.
    await system.start(lambda: ServiceActor(service), name=name, restart=Restart.TRANSIENT)


async def _start(system: ActorSystem, ctx: GatewayContext) -> None:
    settings = ctx.settings
    role = settings.role
    store = MongoStore(store_options(settings))
    producer = KafkaProducer(kafka_options(settings))
    await _service(system, "store", store)
    await _service(system, "producer", producer)
    await _service(system, "readiness", _ReadinessWatch(ctx, store, producer))
    await _ensure_topics(settings)

    if role in (Role.ALL, Role.CORE):
        commands = KafkaConsumer(
            kafka_options(settings),
            [settings.commands_topic],
            settings.core_group,
            group_instance_id=settings.group_instance_id,
        )
        core = Core(settings, store, producer, commands, ctx.metrics)
        registry = await core.start_registry(system)
        await _service(system, "commands-consumer", commands)
        await _service(system, "dispatcher", core)
        ctx.gauge_refreshers.append(lambda: ctx.metrics.thread_actors.set(registry.live_count))
        ctx.gauge_refreshers.append(
            lambda: ctx.metrics.consumer_lag.labels(settings.core_group).set(
                sum(commands.counters.lag.values())
            )
        )

    if role in (Role.ALL, Role.GATEWAY):
        await _start_gateway(system, ctx, store, producer)
    # Every role answers /healthz, /readyz and /metrics; a core's REST answers 503.
    await _service(system, "http", _HttpService(ctx))
    await _service(system, "drain-flag", _DrainFlag(ctx))


async def _start_gateway(
    system: ActorSystem, ctx: GatewayContext, store: MongoStore, producer: KafkaProducer
) -> None:
    from gateway.auth import TokenVerifier
    from gateway.limits import UserRateLimiter
    from gateway.ws.hub import FanoutHub
    from gateway.ws.listener import serve_websockets

    settings = ctx.settings
    verifier = TokenVerifier(settings)
    ctx.verifier = verifier
    # Start without waiting for the keys: /readyz stays false (and REST answers 503) until
    # the provider answers, instead of the process failing while it is down.
    await _service(
        system, "token-keys", _TaskService(partial(verifier.run, wait_for_keys=False))
    )
    events = KafkaConsumer(
        kafka_options(settings),
        [settings.events_topic],
        events_group_id(ctx.gateway_id),
        group_instance_id=settings.outbox_group_instance_id,
        pin_start_offsets=True,
        **_LATEST,
    )
    recent = RecentMessages(partial(_assignment_epoch, events))
    ctx.threads = ThreadDirectory(settings, store, producer, recent)
    await _service(system, "thread-refresher", _TaskService(ctx.threads.run_refresher))
    ctx.gauge_refreshers.append(lambda: ctx.metrics.replays_from_memory.set(recent.hits))
    ctx.ingest = Ingest(
        settings,
        producer,
        ctx.threads,
        UserRateLimiter.from_settings(settings),
        ctx.metrics,
        ctx.readiness,
    )
    ctx.hub = FanoutHub.from_settings(settings, ctx.metrics)
    await _service(system, "events-consumer", events)
    ctx.readiness.register("events")
    # Live delivery starts at the assignment: until then a subscriber could miss events.
    ctx.events_assigned = lambda: events.assigned
    await _service(system, "events-pump", _TaskService(partial(pump_events, ctx, events)))
    if settings.ws_port >= 0:
        # Not cancelled on stop: the listener returns by itself once the drain flag is up and
        # its connections were closed with 1001 (within the grace).
        ws = _TaskService(partial(serve_websockets, ctx), on_stop=ctx.readiness.draining.set)
        await _service(system, "websocket-listener", ws)
        await ws.started.wait()


def _assignment_epoch(consumer: KafkaConsumer) -> int | None:
    # Changes with every assignment change: the gateway's memory of recent messages is only
    # trusted while the events consumer read its partitions without a break.
    return consumer.counters.rebalances if consumer.assigned else None


async def _ensure_topics(settings: Settings) -> None:
    topics = [settings.commands_topic, settings.events_topic, settings.dlq_topic]
    delays = backoff_delays(first=0.5)
    while True:
        try:
            await ensure_topics(kafka_options(settings), topics)
            return
        except Exception as exc:  # the broker may still be starting: readiness says so
            log.warning("topics not ensured yet; retrying", extra={"why": str(exc)})
            await trio.sleep(next(delays))


class _TaskService:
    """A plain `async fn(task_status=...)` as a Service: stop() cancels it, or calls `on_stop`
    for a task that ends by itself once told."""

    def __init__(
        self, fn: Callable[..., Awaitable[object]], on_stop: Callable[[], None] | None = None
    ) -> None:
        self._fn = fn
        self._on_stop = on_stop
        self._scope: trio.CancelScope | None = None
        self.started = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # A fresh scope per incarnation: the supervisor may run this again after a crash.
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._fn)
                self.started.set()
                task_status.started()

    def stop(self) -> None:
        if self._on_stop is not None:
            self._on_stop()
        elif self._scope is not None:
            self._scope.cancel()


class _HttpService:
    """Hypercorn serving the Quart-Trio app until the drain flag is raised."""

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        # The posting routes are answered in front of Quart (see gateway.fast_ingest).
        self._app = RequestActivity(FastIngest(create_app(ctx), ctx))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = self._ctx.settings
        # Hypercorn stops once the clients went quiet after the 503s (see gateway.http_drain).
        trigger = partial(
            stop_when_quiet,
            self._ctx.readiness.draining,
            self._app,
            quiet_s=_HTTP_QUIET_S,
            cap_s=min(_HTTP_QUIET_CAP_S, settings.shutdown_grace_s / 4),
        )
        await hypercorn_serve(self._app, _hypercorn_config(settings), shutdown_trigger=trigger)

    def stop(self) -> None:
        # Hypercorn stops accepting and finishes in-flight requests (up to graceful_timeout).
        self._ctx.readiness.draining.set()


class _DrainFlag:
    """Started last, so stopped first: raises the drain flag the moment a shutdown begins."""

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        self._stopped = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._stopped.wait()

    def stop(self) -> None:
        log.info("draining")
        self._ctx.readiness.draining.set()
        self._stopped.set()


class _ReadinessWatch:
    """Mirrors the adapters' readiness into /readyz twice a second."""

    def __init__(self, ctx: GatewayContext, store: MongoStore, producer: KafkaProducer) -> None:
        self._ctx = ctx
        self._store = store
        self._producer = producer
        self._stopped = trio.Event()
        ctx.readiness.register("store")
        ctx.readiness.register("kafka")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        readiness = self._ctx.readiness
        while not self._stopped.is_set():
            store, kafka = self._store.readiness, self._producer.readiness
            readiness.set("store", store.ready, store.message)
            readiness.set("kafka", kafka.ready, kafka.message)
            if self._ctx.events_assigned is not None:
                ok = self._ctx.events_assigned()
                readiness.set("events", ok, "live events flowing" if ok else "joining events")
            if self._ctx.verifier is not None:
                ok = self._ctx.verifier.ready
                readiness.set("oidc", ok, "signing keys loaded" if ok else "no signing keys yet")
            with trio.move_on_after(0.5):
                await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def _hypercorn_config(settings: Settings) -> HyperConfig:
    config = HyperConfig()
    config.bind = [f"{settings.http_host}:{settings.http_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.backlog = 2048
    # How long Hypercorn waits for open connections after it stops accepting. In-flight posts
    # finish in milliseconds (one Kafka ack); what lingers are idle kept-alive connections,
    # which must not hold the whole drain (they reconnect elsewhere and retry).
    config.graceful_timeout = min(5.0, settings.shutdown_grace_s / 2)
    # Without pings a vanished client may never reach the app under Trio (hypercorn#210).
    config.websocket_ping_interval = 20.0
    return config
