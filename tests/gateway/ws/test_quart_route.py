"""``/ws`` on the HTTP port (Quart-Trio on Hypercorn) runs the same connection logic."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio
from _ws_client import WsClient
from _ws_fakes import FakeIngest, FakeThreads, FakeVerifier
from _ws_stack import ALLOWED_ORIGIN, fake_gateway
from hypercorn.config import Config
from hypercorn.trio import serve

from config.settings import load_settings
from gateway.app import create_app
from gateway.context import GatewayContext
from gateway.ws import FanoutHub, WsOptions
from telemetry import ProcessStatus


@pytest.fixture
async def http(nursery: trio.Nursery) -> tuple[GatewayContext, int]:
    settings = load_settings(cors_origins=ALLOWED_ORIGIN, http_host="127.0.0.1")
    status = ProcessStatus(role="gateway", process_id="test-gateway")
    hub = FanoutHub(metrics=status.metrics, mailbox_frames=64)
    threads = FakeThreads(members={"t_1": {"bob", "carol"}})
    ctx, _system = await fake_gateway(
        nursery,
        settings,
        hub=hub,
        verifier=FakeVerifier(),
        ingest=FakeIngest(hub, threads),
        threads=threads,
        options=WsOptions.from_settings(settings),
        status=status,
    )
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    binds = await nursery.start(partial(serve, create_app(ctx), config))
    port = int(binds[0].rsplit(":", 1)[1])
    return ctx, port


async def connect(ctx: GatewayContext, port: int, user: str, **kw: object) -> WsClient:
    client = await WsClient.connect(port, **kw)  # type: ignore[arg-type]
    await client.send({"type": "auth", "token": ctx.verifier.issue(user)})  # type: ignore[union-attr]
    return client


async def test_subscribe_send_and_live_delivery(http: tuple[GatewayContext, int]) -> None:
    ctx, port = http
    ingest: FakeIngest = ctx.ingest  # type: ignore[assignment]
    ingest.threads.store("t_1", "old")
    bob = await connect(ctx, port, "bob")
    await bob.send({"type": "subscribe", "thread_id": "t_1", "since_seq": 0})
    first = await bob.recv()
    # Several queued events may share one frame as a JSON array (the protocol allows it).
    frames = first if isinstance(first, list) else [first]
    while frames[-1]["type"] != "subscribed":
        more = await bob.recv()
        frames.extend(more if isinstance(more, list) else [more])
    assert [f.get("seq") for f in frames] == [1, None]
    assert frames[-1] == {"type": "subscribed", "thread_id": "t_1", "last_seq": 1, "online": []}
    await bob.send({"type": "send", "thread_id": "t_1", "client_msg_id": "c-9", "text": "hi"})
    assert (await bob.recv())["message_id"] == "m-c-9"
    assert ingest.accepted == [("bob", "t_1", "hi", "c-9", "ws")]
    ingest.post("t_1", "live")
    assert (await bob.recv())["seq"] == 2


async def test_errors_and_close_codes(http: tuple[GatewayContext, int]) -> None:
    ctx, port = http
    silent = await WsClient.connect(port)
    frames, closed = await silent.recv_until_closed()
    assert (closed.code, frames[0]["code"]) == (1008, "auth_timeout")

    evil = await WsClient.connect(port, origin="https://evil.example")
    frames, closed = await evil.recv_until_closed()
    assert (closed.code, frames[0]["code"]) == (1008, "origin_rejected")

    binary = await connect(ctx, port, "bob")
    await binary.send_bytes(b"\x00\x01")
    assert (await binary.recv_until_closed())[1].code == 1003

    big = await connect(ctx, port, "bob")
    await big.send_text('{"type":"ping","pad":"' + "x" * 70_000 + '"}')
    assert (await big.recv_until_closed())[1].code == 1009

    bad_json = await connect(ctx, port, "bob")
    await bad_json.send_text('{"type":NaN}')
    assert (await bad_json.recv_until_closed())[1].code == 1007


async def test_drain_closes_with_1001(http: tuple[GatewayContext, int]) -> None:
    ctx, port = http
    bob = await connect(ctx, port, "bob")
    await bob.send({"type": "ping"})
    assert await bob.recv() == {"type": "pong"}
    ctx.readiness.draining.set()
    assert (await bob.recv_until_closed())[1].code == 1001
