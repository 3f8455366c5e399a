"""FanoutHub: encode once, no checkpoint per recipient, slow consumers, seam, presence."""

from __future__ import annotations

import gc
import inspect

import orjson
import pytest
import trio

import gateway.ws.hub as hub_module
from gateway.ws import CloseCode, FanoutHub, Outbox
from gateway.ws.protocol import text_frame_header
from protocol.events import MembershipEvent, MessageEvent, PresenceEvent, TypingEvent
from protocol.refusals import TooManyConnections
from telemetry.metrics import Metrics


def message(seq: int, thread_id: str = "t_1") -> MessageEvent:
    return MessageEvent(thread_id, seq, f"m-{seq}", "alice", f"text {seq}", "2026-01-01T00:00:00Z")


def connect(hub: FanoutHub, user: str, *threads: str) -> Outbox:
    outbox = hub.new_outbox()
    peer = hub.open(outbox)
    hub.authenticate(peer, user)
    for thread_id in threads:
        sub, _ = hub.subscribe(peer, thread_id)
        hub.go_live(sub, 0)
    return outbox


def payloads(outbox: Outbox) -> list[dict[str, object]]:
    return [orjson.loads(f.payload) for f in outbox.take()]


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def test_publish_encodes_once_and_shares_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = hub_module.encode_event

    def counting(event: MessageEvent) -> bytes:
        nonlocal calls
        calls += 1
        return real(event)

    monkeypatch.setattr(hub_module, "encode_event", counting)
    hub = FanoutHub()
    outboxes = [connect(hub, f"u{i}", "t_1") for i in range(200)]
    assert hub.publish(message(1)) == 200
    assert calls == 1
    frames = [ob.take() for ob in outboxes]
    assert all(len(f) == 1 for f in frames)
    first = frames[0][0]
    assert all(f[0] is first for f in frames)  # the very same bytes object for everyone
    assert first.wire == text_frame_header(len(first.payload)) + first.payload


def test_publish_is_synchronous_so_no_recipient_costs_a_checkpoint() -> None:
    assert not inspect.iscoroutinefunction(FanoutHub.publish)
    hub = FanoutHub()
    outboxes = [connect(hub, f"u{i}", "t_1") for i in range(1000)]
    hub.publish(message(1))
    # No await happened since publish() was called: every mailbox already holds the frame.
    assert all(len(ob) == 1 for ob in outboxes)


async def test_a_parked_writer_is_woken_by_publish() -> None:
    hub = FanoutHub()
    outbox = connect(hub, "bob", "t_1")
    got: list[int] = []

    async def writer() -> None:
        await outbox.wait()
        got.append(len(outbox.take()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        hub.publish(message(1))
        hub.publish(message(2))
    assert got == [2]  # both frames were taken by one wake-up: one send_all for both


def test_full_mailbox_closes_only_that_connection_as_slow_consumer() -> None:
    metrics = Metrics()
    hub = FanoutHub(metrics=metrics, mailbox_frames=3)
    slow = connect(hub, "slow", "t_1")
    fast = connect(hub, "fast", "t_1")
    for seq in (1, 2, 3):
        hub.publish(message(seq))
        fast.take()
    assert not slow.closing
    assert hub.publish(message(4)) == 1
    assert slow.closing and slow.close_code == CloseCode.SLOW_CONSUMER == 4000
    assert slow.take() == []  # queued frames are dropped: the client recovers via since_seq
    assert len(fast) == 1
    hub.publish(message(5))  # a closing mailbox is skipped, and not counted twice
    assert sample(metrics, "parley_ws_slow_consumer_closes_total") == 1.0
    # Both connections got 1-3, then only "fast" got 4 and 5.
    assert sample(metrics, "parley_events_broadcast_total") == 2 * 3 + 1 + 1


def test_pending_subscription_buffers_then_flushes_without_gap_or_duplicate() -> None:
    hub = FanoutHub()
    outbox = hub.new_outbox()
    peer = hub.open(outbox)
    hub.authenticate(peer, "bob")
    sub, first = hub.subscribe(peer, "t_1")
    assert first
    for seq in (5, 6, 7):  # live while the connection replays history up to 6
        hub.publish(message(seq))
    hub.publish(TypingEvent("t_1", "carol"))
    assert len(outbox) == 0
    assert hub.go_live(sub, 6) == 7
    assert [p.get("seq", p["type"]) for p in payloads(outbox)] == [7, "typing"]
    hub.publish(message(7))  # a redelivery at or below the seam is not sent again
    hub.publish(message(8))
    assert [p["seq"] for p in payloads(outbox)] == [8]


def test_pending_overflow_is_a_slow_consumer() -> None:
    hub = FanoutHub(mailbox_frames=2)
    outbox = hub.new_outbox()
    peer = hub.open(outbox)
    hub.authenticate(peer, "bob")
    hub.subscribe(peer, "t_1")
    for seq in (1, 2, 3):
        hub.publish(message(seq))
    assert outbox.closing and outbox.close_code == CloseCode.SLOW_CONSUMER


def test_presence_first_and_last_connection_of_a_user() -> None:
    hub = FanoutHub()
    a, b = hub.open(hub.new_outbox()), hub.open(hub.new_outbox())
    hub.authenticate(a, "bob")
    hub.authenticate(b, "bob")
    assert hub.subscribe(a, "t_1")[1] is True
    assert hub.subscribe(b, "t_1")[1] is False
    assert hub.subscribe(a, "t_1")[1] is False  # re-subscribe: same subscription, replay again
    assert hub.unsubscribe(a, "t_1") is False
    assert hub.close(b) == ["t_1"]
    assert hub.subscriber_count("t_1") == 0
    assert hub.close(a) == []


def test_a_new_subscriber_is_told_who_is_already_online_here() -> None:
    hub = FanoutHub()
    peers = {}
    for user in ("alice", "bob", "carol"):
        peers[user] = hub.open(hub.new_outbox())
        hub.authenticate(peers[user], user)
    second_bob = hub.open(hub.new_outbox())
    hub.authenticate(second_bob, "bob")
    hub.subscribe(peers["alice"], "t_1")
    hub.subscribe(peers["bob"], "t_1")
    hub.subscribe(second_bob, "t_1")
    hub.subscribe(peers["carol"], "t_2")
    assert hub.online("t_1", besides="carol") == ["alice", "bob"]  # bob once, t_2 not
    assert hub.online("t_1", besides="alice") == ["bob"]
    assert hub.online("t_1", besides="carol", limit=1) == ["alice"]
    hub.close(peers["bob"])
    assert hub.online("t_1", besides="carol") == ["alice", "bob"]  # still on his other tab
    hub.close(second_bob)
    hub.close(peers["alice"])
    assert hub.online("t_1", besides="carol") == []


def test_typing_and_presence_are_not_echoed_to_the_user_themselves() -> None:
    hub = FanoutHub()
    bob = connect(hub, "bob", "t_1")
    carol = connect(hub, "carol", "t_1")
    assert hub.publish(TypingEvent("t_1", "bob")) == 1
    assert len(bob) == 0 and payloads(carol) == [
        {"type": "typing", "thread_id": "t_1", "user_id": "bob"}
    ]
    assert hub.publish(PresenceEvent("t_1", "bob", "online")) == 1
    assert len(bob) == 0 and payloads(carol)[0]["status"] == "online"


def test_membership_event_drops_removed_users_at_once() -> None:
    hub = FanoutHub()
    bob_box = hub.new_outbox()
    bob = hub.open(bob_box)
    hub.authenticate(bob, "bob")
    hub.go_live(hub.subscribe(bob, "t_1")[0], 0)
    removed: list[tuple[str, bool]] = []
    bob.on_removed = lambda thread_id, offline: removed.append((thread_id, offline))
    carol = connect(hub, "carol", "t_1")
    assert hub.publish(MembershipEvent("t_1", ("carol", "dave"))) == 0
    assert removed == [("t_1", True)]
    assert payloads(bob_box) == [
        {
            "type": "error",
            "code": "forbidden",
            "message": "you are no longer a member of this thread",
            "field": "thread_id",
            "thread_id": "t_1",
        }
    ]
    hub.publish(message(1))
    assert len(bob_box) == 0 and len(carol) == 1


def test_connections_per_user_are_capped() -> None:
    hub = FanoutHub(max_connections_per_user=2)
    for _ in range(2):
        hub.authenticate(hub.open(hub.new_outbox()), "bob")
    third = hub.open(hub.new_outbox())
    with pytest.raises(TooManyConnections, match=r"^this user already has 2 open connections$"):
        hub.authenticate(third, "bob")
    hub.close(third)
    assert hub.connection_count == 2


def test_close_all_asks_every_connection_to_go_away() -> None:
    metrics = Metrics()
    hub = FanoutHub(metrics=metrics)
    boxes = [connect(hub, f"u{i}", "t_1") for i in range(3)]
    assert sample(metrics, "parley_ws_connections") == 3
    assert hub.close_all(CloseCode.GOING_AWAY, "server shutting down") == 3
    assert all(b.closing and b.close_code == 1001 for b in boxes)


@pytest.mark.parametrize("with_flusher", [False, True])
async def test_a_burst_is_written_once_per_connection(
    monkeypatch: pytest.MonkeyPatch, with_flusher: bool
) -> None:
    import socket

    import gateway.ws._outbox as outbox_module

    writes: list[int] = []
    real_write = outbox_module.os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr(outbox_module.os, "write", counting)
    hub = FanoutHub()
    pairs = [socket.socketpair() for _ in range(3)]
    woken: list[int] = []
    outboxes = []
    for i, (ours, _theirs) in enumerate(pairs):
        ours.setblocking(False)
        outbox = connect(hub, f"u{i}", "t_1")
        outbox.fd = ours.fileno()
        outboxes.append(outbox)

    async def writer(i: int, outbox: Outbox) -> None:
        await outbox.wait()  # parked like a listener's writer with nothing in flight
        woken.append(i)

    try:
        async with trio.open_nursery() as nursery:
            for i, outbox in enumerate(outboxes):
                nursery.start_soon(writer, i, outbox)
            if with_flusher:
                await nursery.start(hub.run_flusher)
            await trio.testing.wait_all_tasks_blocked()
            if with_flusher:
                # Plain publish() calls with no checkpoint between them: one flush later.
                assert sum(hub.publish(message(k)) for k in (1, 2, 3)) == 9
                assert writes == []
                await trio.testing.wait_all_tasks_blocked()
            else:
                assert hub.publish_many([message(1), message(2), message(3)]) == 9
            assert sorted(writes) == sorted(ours.fileno() for ours, _ in pairs)  # one each
            await trio.testing.wait_all_tasks_blocked()
            assert woken == []  # nobody needed waking
            nursery.cancel_scope.cancel()
        for _, theirs in pairs:
            data = theirs.recv(65_536)
            assert [data.count(b'"seq":%d' % k) for k in (1, 2, 3)] == [1, 1, 1]
            assert data.index(b'"seq":1') < data.index(b'"seq":2') < data.index(b'"seq":3')
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def test_publish_many_beyond_the_mailbox_closes_a_connection_that_cannot_take_it() -> None:
    hub = FanoutHub(mailbox_frames=4)
    outbox = connect(hub, "bob", "t_1")  # no socket, no parked writer: nothing drains
    assert hub.publish_many([message(seq) for seq in range(1, 7)]) == 4
    assert outbox.closing and outbox.close_code == CloseCode.SLOW_CONSUMER


def test_members_not_following_a_thread_are_told_of_it() -> None:
    hub = FanoutHub()
    outboxes = {}
    peers = {}
    for user in ("alice", "bob", "carol"):
        outboxes[user] = hub.new_outbox()
        peers[user] = hub.open(outboxes[user])
        hub.authenticate(peers[user], user)
    hub.subscribe(peers["alice"], "t_9")
    hub.go_live(peers["alice"].subs["t_9"], 0)
    hub.publish(MembershipEvent("t_9", ("alice", "bob")))
    assert payloads(outboxes["bob"]) == [
        {"type": "thread", "thread_id": "t_9", "members": ["alice", "bob"]}
    ]
    assert payloads(outboxes["alice"]) == []  # she follows it already
    assert payloads(outboxes["carol"]) == []  # not a member
    hub.close(peers["bob"])
    hub.publish(MembershipEvent("t_9", ("alice", "bob")))  # a closed connection is forgotten
    assert payloads(outboxes["bob"]) == []


class _Owner:
    """Stands for the connection actor: it holds its peer, the peer holds its callback."""

    def __init__(self, hub: FanoutHub) -> None:
        self.removed_from: list[str] = []
        self.peer = hub.open(hub.new_outbox())
        self.peer.on_removed = self.removed

    def removed(self, thread_id: str, offline: bool) -> None:
        self.removed_from.append(thread_id)


def test_a_closed_connection_leaves_no_reference_cycle() -> None:
    """Peer ↔ Subscription and peer → owner's callback → peer: uncut, every closed connection
    waited for a full collection (which stops the event loop for as long as it walks)."""
    hub = FanoutHub()
    gc.collect()
    gc.disable()
    try:
        owner = _Owner(hub)
        hub.authenticate(owner.peer, "bob")
        for thread_id in ("t_1", "t_2"):
            sub, _ = hub.subscribe(owner.peer, thread_id)
            hub.go_live(sub, 0)
        assert sorted(hub.close(owner.peer)) == ["t_1", "t_2"]
        assert owner.removed_from == []  # closing is not a removal by a membership change
        del owner, sub
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, hub_module.Peer | _Owner)]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
