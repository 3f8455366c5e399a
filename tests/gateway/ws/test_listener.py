"""The dedicated listener over real sockets on 127.0.0.1 (fake ports behind it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
from _ws_client import Rejected, WsClient
from _ws_stack import ALLOWED_ORIGIN, Stack, start_stack

from protocol.events import MembershipEvent, PresenceEvent


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll a condition the server reaches on its own (no event to wait on from outside)."""
    with trio.fail_after(5):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_subscribe_replays_from_the_store_then_goes_live(stack: Stack) -> None:
    for i in range(1, 6):
        stack.threads.store("t_1", f"old {i}")
    client = await stack.client()
    await client.send({"type": "subscribe", "thread_id": "t_1", "since_seq": 2})
    frames = [await client.recv() for _ in range(4)]
    assert [f.get("seq") for f in frames[:3]] == [3, 4, 5]
    assert frames[3] == {"type": "subscribed", "thread_id": "t_1", "last_seq": 5, "online": []}
    stack.ingest.post("t_1", "new")
    live = await client.recv()
    assert (live["type"], live["seq"], live["text"]) == ("message", 6, "new")
    assert stack.threads.history_calls == 2  # pages of 3: a full page asks for the next


@pytest.mark.parametrize("snapshot_before_hook", [True, False])
async def test_seam_between_history_and_live_has_no_gap_and_no_duplicate(
    stack: Stack, snapshot_before_hook: bool
) -> None:
    for i in range(1, 3):
        stack.threads.store("t_1", f"old {i}")

    async def live_traffic_during_replay() -> None:
        # 3 and 4 are stored and published while the connection reads history: depending on
        # the store snapshot they come from history, from the live buffer, or from both.
        stack.ingest.post("t_1", "mid 3")
        stack.ingest.post("t_1", "mid 4")

    stack.threads.on_history = live_traffic_during_replay
    stack.threads.snapshot_before_hook = snapshot_before_hook
    client = await stack.client()
    await client.send({"type": "subscribe", "thread_id": "t_1", "since_seq": 0})
    frames = []
    while (frame := await client.recv())["type"] != "subscribed":
        frames.append(frame)
    assert frame == {"type": "subscribed", "thread_id": "t_1", "last_seq": 4, "online": []}
    stack.ingest.post("t_1", "after")
    frames.append(await client.recv())
    assert [f["seq"] for f in frames if f["type"] == "message"] == [1, 2, 3, 4, 5]


async def test_send_is_acked_with_the_message_id(stack: Stack) -> None:
    client = await stack.client("bob")
    await client.send({"type": "send", "thread_id": "t_1", "client_msg_id": "c-1", "text": "hi"})
    assert await client.recv() == {
        "type": "ack",
        "client_msg_id": "c-1",
        "message_id": "m-c-1",
        "thread_id": "t_1",
    }
    assert stack.ingest.accepted == [("bob", "t_1", "hi", "c-1", "ws")]


async def test_refused_send_is_an_error_frame_and_the_connection_stays(stack: Stack) -> None:
    client = await stack.client("bob")
    await client.send({"type": "send", "thread_id": "t_2", "client_msg_id": "c-1", "text": "x"})
    assert await client.recv() == {
        "type": "error",
        "code": "forbidden",
        "message": "you are not a member of this thread",
        "field": "thread_id",
        "thread_id": "t_2",
        "client_msg_id": "c-1",
    }
    await client.send({"type": "subscribe", "thread_id": "t_nope", "since_seq": 0})
    assert (await client.recv())["code"] == "not_found"
    await client.send({"type": "subscribe", "thread_id": "t_1", "since_seq": -5})
    error = await client.recv()
    assert (error["code"], error["field"]) == ("invalid", "since_seq")
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}
    assert stack.ingest.accepted == []


async def test_rate_limited_sends_carry_retry_after_then_abuse_closes_1008(
    nursery: trio.Nursery,
) -> None:
    stack = await start_stack(nursery, rate_refusals_before_close=3)
    stack.ingest.rate_limited = True
    client = await stack.client("bob")
    for i in range(3):
        await client.send(
            {"type": "send", "thread_id": "t_1", "client_msg_id": f"c{i}", "text": "x"}
        )
    frames, closed = await client.recv_until_closed()
    assert [f["code"] for f in frames] == ["rate_limited", "rate_limited"]
    assert frames[0]["retry_after_s"] == 0.5
    assert closed.code == 1008


async def test_no_auth_within_the_deadline_closes_1008(stack: Stack) -> None:
    client = await WsClient.connect(stack.port)
    frames, closed = await client.recv_until_closed()
    assert closed.code == 1008
    assert [f["code"] for f in frames] == ["auth_timeout"]


async def test_first_frame_must_be_auth(stack: Stack) -> None:
    client = await WsClient.connect(stack.port)
    await client.send({"type": "subscribe", "thread_id": "t_1", "since_seq": 0})
    frames, closed = await client.recv_until_closed()
    assert (closed.code, [f["code"] for f in frames]) == (1008, ["auth_required"])


async def test_bad_token_closes_1008_without_echoing_it(stack: Stack) -> None:
    client = await WsClient.connect(stack.port)
    await client.send({"type": "auth", "token": "forged-token-value"})
    frames, closed = await client.recv_until_closed()
    assert closed.code == 1008
    assert frames[0]["code"] == "invalid_token"
    assert "forged-token-value" not in str(frames) + str(closed.reason)


async def test_bearer_subprotocol_authenticates_without_an_auth_frame(stack: Stack) -> None:
    token = stack.verifier.issue("carol")
    client = await WsClient.connect(stack.port, subprotocols=["bearer", token])
    assert client.subprotocol == "bearer"  # never the token itself
    await client.send({"type": "subscribe", "thread_id": "t_2", "since_seq": 0})
    assert await client.recv() == {
        "type": "subscribed", "thread_id": "t_2", "last_seq": 0, "online": []
    }


async def test_token_expiring_on_an_open_connection_closes_1008(stack: Stack) -> None:
    client = await WsClient.connect(stack.port)
    await client.send({"type": "auth", "token": stack.verifier.issue("bob", ttl_s=0.3)})
    frames, closed = await client.recv_until_closed()
    assert (closed.code, [f["code"] for f in frames]) == (1008, ["token_expired"])


async def test_a_refresh_auth_frame_keeps_the_connection_open(stack: Stack) -> None:
    client = await WsClient.connect(stack.port)
    await client.send({"type": "auth", "token": stack.verifier.issue("bob", ttl_s=0.4)})
    await client.send({"type": "auth", "token": stack.verifier.issue("bob", ttl_s=3600)})
    await trio.sleep(0.6)  # past the first token's expiry
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}


async def test_refresh_for_another_user_closes_1008(stack: Stack) -> None:
    client = await stack.client("bob")
    await client.send({"type": "auth", "token": stack.verifier.issue("carol")})
    frames, closed = await client.recv_until_closed()
    assert (closed.code, [f["code"] for f in frames]) == (1008, ["principal_mismatch"])


async def test_frame_over_the_cap_closes_1009(stack: Stack) -> None:
    client = await stack.client()
    await client.send_text('{"type":"ping","pad":"' + "x" * 5000 + '"}')
    _, closed = await client.recv_until_closed()
    assert closed.code == 1009


async def test_fragmented_message_over_the_cap_closes_1009(stack: Stack) -> None:
    client = await stack.client()
    chunk = b"x" * 3000
    await client.send_raw(WsClient.masked_frame(0x1, chunk, fin=False))
    await client.send_raw(WsClient.masked_frame(0x0, chunk, fin=True))
    _, closed = await client.recv_until_closed()
    assert closed.code == 1009


async def test_invalid_utf8_closes_1007(stack: Stack) -> None:
    client = await stack.client()
    await client.send_raw(WsClient.masked_frame(0x1, b'{"type":"ping","x":"\xff\xfe"}'))
    _, closed = await client.recv_until_closed()
    assert closed.code == 1007


async def test_invalid_json_closes_1007(stack: Stack) -> None:
    client = await stack.client()
    await client.send_text('{"type":"ping","type":"ping"}')
    _, closed = await client.recv_until_closed()
    assert (closed.code, closed.reason) == (1007, "duplicate key 'type'")


async def test_binary_frame_closes_1003(stack: Stack) -> None:
    client = await stack.client()
    await client.send_bytes(b'{"type":"ping"}')
    _, closed = await client.recv_until_closed()
    assert closed.code == 1003


async def test_ping_flood_is_tolerated(stack: Stack) -> None:
    client = await stack.client()
    flood = b"".join(WsClient.masked_frame(0x9, b"p%d" % i) for i in range(2000))
    await client.send_raw(flood)
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}
    assert 1 <= client.pongs <= 2000


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "https://app.example.com.evil.com", "http://app.example.com"],
)
async def test_foreign_origin_is_closed_1008_before_reading_anything(
    stack: Stack, origin: str
) -> None:
    client = await WsClient.connect(stack.port, origin=origin)
    await client.send({"type": "auth", "token": stack.verifier.issue("bob")})
    frames, closed = await client.recv_until_closed()
    assert (closed.code, [f["code"] for f in frames]) == (1008, ["origin_rejected"])
    assert stack.hub.connection_count == 0


@pytest.mark.parametrize(
    "origin", [None, ALLOWED_ORIGIN, "http://localhost:5173", "http://127.0.0.1:8080"]
)
async def test_allowed_origins(stack: Stack, origin: str | None) -> None:
    client = await stack.client(origin=origin)
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}


async def test_wrong_path_is_404(stack: Stack) -> None:
    with pytest.raises(Rejected, match=r"^404$") as info:
        await WsClient.connect(stack.port, path="/other")
    assert info.value.status == 404


async def test_drain_closes_every_connection_with_1001(stack: Stack) -> None:
    clients = [await stack.client(user, subscribe=[("t_1", 0)]) for user in ("bob", "carol")]
    stack.ctx.readiness.draining.set()
    for client in clients:
        _, closed = await client.recv_until_closed()
        assert closed.code == 1001
    with pytest.raises(
        OSError, match=rf"^all attempts to connect to 127\.0\.0\.1:{stack.port} failed$"
    ):
        await WsClient.connect(stack.port)


async def test_slow_consumer_is_closed_4000_and_recovers_with_since_seq(
    nursery: trio.Nursery,
) -> None:
    stack = await start_stack(nursery, mailbox_frames=8)
    client = await stack.client("bob", subscribe=[("t_1", 0)])
    registry = stack.ctx.metrics.registry
    big = "x" * 32_000
    posted = 0
    # The client reads nothing: the kernel's buffers fill first, then the mailbox of 8.
    while not registry.get_sample_value("parley_ws_slow_consumer_closes_total"):
        stack.ingest.post("t_1", f"{posted} {big}")
        posted += 1
        if posted % 8 == 0:
            await trio.lowlevel.checkpoint()  # the writer hands what it can to the kernel
        assert posted < 5000
    frames, closed = await client.recv_until_closed()
    assert closed.code == 4000
    seen = [f["seq"] for f in frames if f["type"] == "message"]
    last = seen[-1] if seen else 0
    again = await stack.client("bob")
    await again.send({"type": "subscribe", "thread_id": "t_1", "since_seq": last})
    recovered = []
    while (frame := await again.recv())["type"] != "subscribed":
        recovered.append(frame["seq"])
    assert seen + recovered == list(range(1, posted + 1))
    assert registry.get_sample_value("parley_ws_slow_consumer_closes_total") == 1


async def test_typing_and_presence(stack: Stack) -> None:
    bob = await stack.client("bob", subscribe=[("t_1", 0)])
    carol = await stack.client("carol", subscribe=[("t_1", 0)])
    assert await bob.recv() == {
        "type": "presence",
        "thread_id": "t_1",
        "user_id": "carol",
        "status": "online",
    }
    await carol.send({"type": "typing", "thread_id": "t_1"})
    await carol.send({"type": "typing", "thread_id": "t_1"})  # throttled: not forwarded
    assert await bob.recv() == {"type": "typing", "thread_id": "t_1", "user_id": "carol"}
    await carol.send({"type": "typing", "thread_id": "t_2"})
    assert (await carol.recv())["code"] == "forbidden"  # not subscribed there
    await carol.close()
    assert (await bob.recv())["status"] == "offline"
    assert [e for e in stack.ingest.ephemeral if isinstance(e, PresenceEvent)] == [
        PresenceEvent("t_1", "bob", "online"),
        PresenceEvent("t_1", "carol", "online"),
        PresenceEvent("t_1", "carol", "offline"),
    ]


async def test_removed_member_stops_receiving(stack: Stack) -> None:
    bob = await stack.client("bob", subscribe=[("t_1", 0)])
    stack.hub.publish(MembershipEvent("t_1", ("alice", "carol")))
    error = await bob.recv()
    assert (error["code"], error["thread_id"]) == ("forbidden", "t_1")
    stack.ingest.post("t_1", "secret")
    await bob.send({"type": "ping"})
    assert await bob.recv() == {"type": "pong"}  # and no message before it
    await eventually(lambda: PresenceEvent("t_1", "bob", "offline") in stack.ingest.ephemeral)


async def test_too_many_connections_per_user_closes_1008(stack: Stack) -> None:
    clients = [await stack.client("bob") for _ in range(3)]
    for client in clients:
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}
    extra = await stack.client("bob")
    frames, closed = await extra.recv_until_closed()
    assert (closed.code, [f["code"] for f in frames]) == (1008, ["too_many_connections"])


async def test_client_close_is_answered_and_forgotten(stack: Stack) -> None:
    client = await stack.client("bob", subscribe=[("t_1", 0)])
    assert stack.hub.connection_count == 1
    await client.close()
    await eventually(lambda: stack.hub.connection_count == 0)
    assert stack.hub.subscriber_count("t_1") == 0


async def test_heartbeat_pings_idle_clients_and_drops_silent_ones(nursery: trio.Nursery) -> None:
    # Silent for three intervals means dropped: 0.75 s, long enough that a loaded CI machine
    # does not starve the live client that long (0.3 s at 0.1 was flaky there).
    stack = await start_stack(nursery, ping_interval_s=0.25)
    alive = await stack.client("bob")
    silent = await stack.client("carol")
    for _ in range(10):  # ~1 s, past 3 intervals: the live client answers pings (recv does)
        with trio.move_on_after(0.1):
            await alive.recv()
    await alive.send({"type": "ping"})
    assert await alive.recv() == {"type": "pong"}
    _, closed = await silent.recv_until_closed()
    assert closed.code == 1006  # dropped without a close handshake: it answered nothing


async def test_a_crashing_connection_actor_closes_1011_and_the_server_stays_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("bug in a port")

    monkeypatch.setattr(stack.ingest, "accept", broken)
    client = await stack.client("bob")
    await client.send({"type": "send", "thread_id": "t_1", "client_msg_id": "c", "text": "x"})
    _, closed = await client.recv_until_closed()
    assert closed.code == 1011
    other = await stack.client("carol")
    await other.send({"type": "ping"})
    assert await other.recv() == {"type": "pong"}


async def test_command_flood_closes_1008(stack: Stack) -> None:
    client = await stack.client("bob")
    flood = b"".join(WsClient.masked_frame(0x1, b'{"type":"ping"}') for _ in range(2000))
    await client.send_raw(flood)
    frames, closed = await client.recv_until_closed()
    assert closed.code == 1008
    assert all(f == {"type": "pong"} for f in frames)


async def test_a_later_subscriber_learns_who_is_already_online(stack: Stack) -> None:
    bob = await stack.client("bob", subscribe=[("t_1", 0)])
    carol = await stack.client("carol")
    await carol.send({"type": "subscribe", "thread_id": "t_1", "since_seq": 0})
    while (frame := await carol.recv())["type"] != "subscribed":
        continue
    assert frame["online"] == ["bob"]
    await bob.close()
