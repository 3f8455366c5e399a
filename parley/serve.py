"""`parley serve`: run a gateway, a core, or both in one Trio process, as one actor tree.

Start order (the actor system stops in reverse, so the last started is the first stopped):

    store → producer → readiness watch → announcer → [core]    (core.start_core)
                                                   → [gateway] (gateway.start_gateway)
    → HTTP server → drain flag

On SIGTERM the drain flag goes up first (HTTP answers 503, WebSockets close 1001), the
servers finish what is in flight, the consumers hand out nothing more, wait for the thread
actors' acks and commit, then the producer flushes and the store closes. Exit code 0.
This module only wires the roles together; each role assembles itself.
"""

from __future__ import annotations

import gc
import logging
import socket
from functools import partial
from typing import TYPE_CHECKING

import trio

from actors import ActorSystem, RestartIntensityExceeded, open_actor_system, start_service
from adapters import (
    KafkaOptions,
    KafkaProducer,
    MongoStore,
    ProcessBoard,
    SharedAdapters,
    backoff_delays,
    ensure_topics,
)
from adapters import Readiness as AdapterReadiness
from config.errors import ConfigurationError
from config.settings import Role, Settings, load_settings
from core import start_core
from gateway import (
    GatewayContext,
    HttpServer,
    create_asgi_app,
    create_ops_app,
    start_gateway,
)
from parley._announce import Announcer
from parley._options import kafka_options, store_options
from parley.logs import configure_logging
from telemetry import ProcessStatus, process_id
from telemetry.tasks import TaskCount

if TYPE_CHECKING:
    from quart import Blueprint

__all__ = ["Served", "run_server", "serve_main"]

log = logging.getLogger("parley.serve")
_GC_GEN0_THRESHOLD = 50_000
# How often the adapters' readiness is copied into /readyz.
_READINESS_POLL_S = 0.5


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
        trio.run(partial(run_server, settings, trap_signals=True, freeze_startup_heap=True))
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


def _freeze_startup_heap() -> None:
    # What is alive once the server runs (modules, schemas, compiled patterns, the actors'
    # and adapters' own state: ~100,000 objects) lives as long as the process; a full
    # collection traversed all of it each time, ~60 ms with the event loop stopped (measured:
    # gc.collect() after importing the server's modules). Frozen, a full collection looks
    # only at what was allocated since. Cyclic garbage among frozen objects is never freed:
    # collect once first so there is none.
    gc.collect()
    gc.freeze()


class Served:
    """What a running `run_server` reports to its starter (tests, the bench)."""

    def __init__(self, status: ProcessStatus, gateway: GatewayContext | None) -> None:
        self.status = status
        self.gateway = gateway

    @property
    def ws_url(self) -> str:
        return self.gateway.ws_url if self.gateway is not None else ""


async def run_server(
    settings: Settings,
    *,
    trap_signals: bool = False,
    freeze_startup_heap: bool = False,
    task_status: trio.TaskStatus[Served] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or (with trap_signals) SIGTERM/SIGINT, then drain in order.

    `freeze_startup_heap` (the server process, not an in-process test): once serving, move
    every object alive to the collector's permanent generation (see _freeze_startup_heap)."""
    _check_ports_free(settings)
    status = ProcessStatus(role=settings.role.value, process_id=process_id(settings.gateway_id))
    async with open_actor_system(
        "parley", trap_signals=trap_signals, shutdown_timeout=settings.shutdown_grace_s + 5
    ) as system:
        status.add_snapshot_section(lambda: {"actors": system.snapshot(limit_per_registry=50)})
        status.add_gauges(partial(_restarts_gauge, system, status))
        status.add_gauges(partial(_mailbox_gauge, system, status), scrape_only=True)
        tasks = TaskCount.install()
        try:
            status.add_gauges(lambda: status.metrics.trio_tasks.set(tasks.alive))
            served = await _start(system, settings, status)
            log.info(
                "parley serving",
                extra={
                    "role": settings.role.value,
                    "http": settings.http_base_url,
                    "ws": served.ws_url or None,
                },
            )
            if freeze_startup_heap:
                _freeze_startup_heap()
            task_status.started(served)
            await trio.sleep_forever()
        finally:
            tasks.uninstall()


async def _start(system: ActorSystem, settings: Settings, status: ProcessStatus) -> Served:
    role = settings.role
    kafka = kafka_options(settings)
    store = MongoStore(store_options(settings))
    producer = KafkaProducer(kafka)
    await start_service(system, "store", store)
    await start_service(system, "producer", producer)
    await start_service(system, "readiness", _ReadinessWatch(status, store, producer))
    # Before the roles, so stopped after them: the last heartbeat says "stopped" once the
    # process has drained; meanwhile it says "draining".
    announcer = Announcer(system, settings, status, ProcessBoard(store))
    await start_service(system, "announcer", announcer)
    await _ensure_topics(settings, kafka)
    shared = SharedAdapters(kafka, store, producer)
    if role in (Role.ALL, Role.CORE):
        await start_core(system, settings, status, shared)
    gateway: GatewayContext | None = None
    if role in (Role.ALL, Role.GATEWAY):
        gateway = await start_gateway(system, settings, status, shared)
    internal: list[Blueprint] = []
    if role is Role.PLUGINS:
        from plugins import start_plugin_host

        host = await start_plugin_host(system, settings, status, shared)
        internal.append(host.routes_blueprint())
    if role is Role.ALL:
        from plugins import plugin_host_child

        child = plugin_host_child(settings)  # None unless PARLEY_PLUGIN_HOST=child
        if child is not None:
            await start_service(system, "plugin-host", child)
    # Every role answers /healthz, /readyz and /metrics; a core's chat API answers 503.
    app = (
        create_asgi_app(gateway, _plugin_routes(gateway, store))
        if gateway is not None
        else create_ops_app(settings, status, internal)
    )
    await start_service(system, "http", HttpServer(app, settings, status.readiness.draining))
    await start_service(system, "drain-flag", _DrainFlag(status))
    return Served(status, gateway)


def _plugin_routes(gateway: GatewayContext, store: MongoStore) -> list[Blueprint]:
    # The plugins role's HTTP face (GET /api/plugins), served by the gateway with its own
    # token check: the top floor wires the two roles together.
    from gateway.auth import bearer_token
    from plugins import plugins_blueprint

    async def authenticate(authorization: str | None) -> str:
        return (await gateway.authenticate(bearer_token(authorization))).user_id

    return [plugins_blueprint(store, authenticate)]


def _check_ports_free(settings: Settings) -> None:
    """A taken port is an operator's mistake: say so at once instead of a crash loop."""
    wanted = [("PARLEY_HTTP_PORT", settings.http_port)]
    if settings.role not in (Role.CORE, Role.PLUGINS) and settings.ws_port > 0:
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


def _restarts_gauge(system: ActorSystem, status: ProcessStatus) -> None:
    status.metrics.actor_restarts.set(system.restarts)


def _mailbox_gauge(system: ActorSystem, status: ProcessStatus) -> None:
    status.metrics.mailbox_depth.set(system.deepest_mailbox())


async def _ensure_topics(settings: Settings, kafka: KafkaOptions) -> None:
    topics = [
        settings.commands_topic,
        settings.events_topic,
        settings.dlq_topic,
        settings.domain_changes_topic,
        settings.turns_topic,
    ]
    delays = backoff_delays(first=0.5)
    while True:
        try:
            await ensure_topics(kafka, topics)
            return
        except Exception as exc:  # the broker may still be starting: readiness says so
            log.warning("topics not ensured yet; retrying", extra={"why": str(exc)})
            await trio.sleep(next(delays))


class _DrainFlag:
    """Started last, so stopped first: raises the drain flag the moment a shutdown begins."""

    def __init__(self, status: ProcessStatus) -> None:
        self._draining = status.readiness.draining
        self._stopped = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._stopped.wait()

    def stop(self) -> None:
        log.info("draining")
        self._draining.set()
        self._stopped.set()


class _ReadinessWatch:
    """Copies the adapters' readiness and every role's probes into /readyz twice a second."""

    def __init__(self, status: ProcessStatus, store: MongoStore, producer: KafkaProducer) -> None:
        self._stopped = trio.Event()
        self._status = status
        status.add_probe("store", lambda: _adapter_probe(store.readiness))
        status.add_probe("kafka", lambda: _adapter_probe(producer.readiness))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        while not self._stopped.is_set():
            self._status.poll_probes()
            with trio.move_on_after(_READINESS_POLL_S):
                await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


def _adapter_probe(readiness: AdapterReadiness) -> tuple[bool, str]:
    return readiness.ready, readiness.message
