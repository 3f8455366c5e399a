"""A dedicated WebSocket listener on 127.0.0.1:0 wired to in-memory fakes of its ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from _ws_client import WsClient
from _ws_fakes import FakeIngest, FakeThreads, FakeVerifier

from config.settings import load_settings
from gateway.context import GatewayContext
from gateway.ws import FanoutHub, WsOptions, serve_websockets

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


async def start_stack(
    nursery: trio.Nursery, *, mailbox_frames: int = 64, **option_overrides: Any
) -> Stack:
    settings = load_settings(
        cors_origins=ALLOWED_ORIGIN, http_host="127.0.0.1", shutdown_grace_s=2.0
    )
    ctx = GatewayContext(settings)
    hub = FanoutHub(metrics=ctx.metrics, mailbox_frames=mailbox_frames, max_connections_per_user=3)
    threads = FakeThreads(members={"t_1": {"bob", "carol", "alice"}, "t_2": {"carol"}})
    verifier = FakeVerifier()
    ingest = FakeIngest(hub, threads)
    ctx.hub, ctx.verifier, ctx.ingest, ctx.threads = hub, verifier, ingest, threads  # type: ignore[assignment]
    url = await nursery.start(
        partial(
            serve_websockets,
            ctx,
            host="127.0.0.1",
            port=0,
            options=make_options(**option_overrides),
        )
    )
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    assert ctx.ws_url == url == f"ws://127.0.0.1:{port}/ws"
    return Stack(ctx, hub, verifier, threads, ingest, port)
