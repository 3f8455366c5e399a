"""A dedicated WebSocket listener on 127.0.0.1:0 wired to in-memory fakes of its ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from _ws_client import WsClient
from _ws_fakes import FakeIngest, FakeThreads, FakeVerifier

from actors import ActorSystem, TaskService, open_actor_system, start_service
from config.settings import Settings, load_settings
from gateway.auth import OriginPolicy
from gateway.context import GatewayContext
from gateway.ws import (
    ConnectionServices,
    FanoutHub,
    WsOptions,
    WsServer,
    open_ws_listeners,
    serve_websockets,
)
from telemetry import ProcessStatus

ALLOWED_ORIGIN = "https://app.example.com"


@dataclass
class Stack:
    ctx: GatewayContext
    hub: FanoutHub
    verifier: FakeVerifier
    threads: FakeThreads
    ingest: FakeIngest
    port: int

    async def client(
        self, user: str = "bob", *, subscribe: Sequence[tuple[str, int]] = (), **kw: Any
    ) -> WsClient:
        client = await WsClient.connect(self.port, **kw)
        await client.send({"type": "auth", "token": self.verifier.issue(user)})
        for thread_id, since in subscribe:
            await client.send({"type": "subscribe", "thread_id": thread_id, "since_seq": since})
            while (await client.recv())["type"] != "subscribed":
                continue  # replayed messages before the confirmation
        return client


def make_options(**overrides: Any) -> WsOptions:
    base: dict[str, Any] = {
        "auth_timeout_s": 0.5,
        "ping_interval_s": 5.0,
        "close_timeout_s": 0.5,
        "max_frame_bytes": 4096,
        "history_page": 3,
        "expiry_check_s": 0.1,
    }
    base.update(overrides)
    return WsOptions(**base)


async def start_actor_system(nursery: trio.Nursery) -> ActorSystem:
    """An actor system living as long as `nursery` (the test's one supervision tree)."""

    async def run(*, task_status: trio.TaskStatus[ActorSystem]) -> None:
        async with open_actor_system("test", shutdown_timeout=5.0) as system:
            task_status.started(system)
            await trio.sleep_forever()

    system: ActorSystem = await nursery.start(run)
    return system


async def fake_gateway(
    nursery: trio.Nursery,
    settings: Settings,
    *,
    hub: FanoutHub,
    verifier: FakeVerifier,
    ingest: FakeIngest,
    threads: FakeThreads,
    options: WsOptions,
    status: ProcessStatus,
) -> tuple[GatewayContext, ActorSystem]:
    """A complete GatewayContext over in-memory fakes, as `gateway.start_gateway` builds it
    over the real parts; connection actors are supervised in a test actor system."""
    system = await start_actor_system(nursery)
    connections = await system.start_supervisor("connections", max_restarts=1000, within=1.0)
    ws = WsServer(
        services=ConnectionServices(verifier=verifier, ingest=ingest, threads=threads),  # type: ignore[arg-type]
        hub=hub,
        options=options,
        origins=OriginPolicy.from_settings(settings),
        draining=status.readiness.draining,
        metrics=status.metrics,
        connections=connections,
        shutdown_grace_s=settings.shutdown_grace_s,
    )
    ctx = GatewayContext(
        settings=settings,
        status=status,
        verifier=verifier,  # type: ignore[arg-type]
        ingest=ingest,  # type: ignore[arg-type]
        threads=threads,  # type: ignore[arg-type]
        ws=ws,
        board=None,  # type: ignore[arg-type]
        ws_url="",
    )
    return ctx, system


async def start_stack(
    nursery: trio.Nursery, *, mailbox_frames: int = 64, **option_overrides: Any
) -> Stack:
    settings = load_settings(
        cors_origins=ALLOWED_ORIGIN, http_host="127.0.0.1", shutdown_grace_s=2.0
    )
    status = ProcessStatus(role="gateway", process_id="test-gateway")
    hub = FanoutHub(
        metrics=status.metrics, mailbox_frames=mailbox_frames, max_connections_per_user=3
    )
    threads = FakeThreads(members={"t_1": {"bob", "carol", "alice"}, "t_2": {"carol"}})
    verifier = FakeVerifier()
    ingest = FakeIngest(hub, threads)
    options = make_options(**option_overrides)
    ctx, system = await fake_gateway(
        nursery,
        settings,
        hub=hub,
        verifier=verifier,
        ingest=ingest,
        threads=threads,
        options=options,
        status=status,
    )
    listeners, url = await open_ws_listeners("127.0.0.1", 0)
    if options.cork_fanout:
        await start_service(system, "fanout-flusher", TaskService(hub.run_flusher))
    await nursery.start(partial(serve_websockets, ctx.ws, listeners))
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    assert url == f"ws://127.0.0.1:{port}/ws"
    return Stack(ctx, hub, verifier, threads, ingest, port)
