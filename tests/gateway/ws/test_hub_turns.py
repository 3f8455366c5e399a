"""FanoutHub and ActiveTurns: assistant turn records to live subscribers, and a subscriber
that goes live mid-turn gets the text so far then the rest (no gap, no duplicate)."""

from __future__ import annotations

import orjson

from gateway.ws import FanoutHub, Outbox
from gateway.ws._turns import ActiveTurns
from protocol.turns import TurnDelta, TurnFinished, TurnStarted

STARTED = TurnStarted(
    thread_id="t_1",
    turn_id="turn-1",
    assistant_id="plugin:assistant",
    reply_to="m-1",
    message_id="reply-1",
    started_at="2026-01-01T00:00:00.000Z",
)


def delta(index: int, text: str, turn_id: str = "turn-1") -> TurnDelta:
    return TurnDelta("t_1", turn_id, index, text)


def payloads(outbox: Outbox) -> list[dict[str, object]]:
    return [orjson.loads(f.payload) for f in outbox.take()]


def live(hub: FanoutHub, user: str) -> Outbox:
    outbox = hub.new_outbox()
    peer = hub.open(outbox)
    hub.authenticate(peer, user)
    sub, _ = hub.subscribe(peer, "t_1")
    hub.go_live(sub, 0)
    return outbox


def test_live_subscribers_get_every_turn_record_as_sent() -> None:
    hub = FanoutHub()
    alice, bob = live(hub, "alice"), live(hub, "bob")
    assert hub.publish_turn(STARTED) == 2
    hub.publish_turn(delta(0, "Hel"))
    hub.publish_turn(delta(1, "lo"))
    hub.publish_turn(TurnFinished("t_1", "turn-1", "complete", 2, message_id="reply-1"))
    for outbox in (alice, bob):
        frames = payloads(outbox)
        assert [f["phase"] for f in frames] == ["started", "delta", "delta", "finished"]
        assert [f.get("text") for f in frames[1:3]] == ["Hel", "lo"]
    assert len(hub.turns) == 0  # finished: forgotten


def test_a_subscriber_going_live_mid_turn_gets_the_text_so_far_then_the_rest() -> None:
    hub = FanoutHub()
    hub.publish_turn(STARTED)
    hub.publish_turn(delta(0, "Hel"))
    outbox = hub.new_outbox()
    peer = hub.open(outbox)
    hub.authenticate(peer, "bob")
    sub, _ = hub.subscribe(peer, "t_1")
    hub.publish_turn(delta(1, "lo"))  # during bob's replay: in the snapshot, not sent alone
    assert len(outbox) == 0
    hub.go_live(sub, 0)
    hub.publish_turn(delta(2, "!"))
    frames = payloads(outbox)
    assert frames[0]["phase"] == "started"
    assert (frames[0]["text"], frames[0]["next_index"]) == ("Hello", 2)
    assert [(f["index"], f["text"]) for f in frames[1:]] == [(2, "!")]


def test_deltas_of_a_turn_begun_before_the_gateway_listened_are_not_sent() -> None:
    hub = FanoutHub()
    outbox = live(hub, "bob")
    hub.publish_turn(delta(4, "late"))
    assert len(outbox) == 0
    hub.publish_turn(TurnFinished("t_1", "turn-1", "complete", 5, message_id="reply-1"))
    assert [f["phase"] for f in payloads(outbox)] == ["finished"]


def test_a_lost_delta_stops_the_snapshots_of_that_turn() -> None:
    turns = ActiveTurns()
    assert turns.observe(STARTED)
    assert turns.observe(delta(0, "a"))
    assert not turns.observe(delta(0, "a"))  # a duplicate is not sent twice
    assert not turns.observe(delta(2, "c"))  # 1 was lost: a snapshot would lie
    assert turns.snapshots("t_1") == []
    assert turns.running("t_1") == []
