"""A drain's polite close waits for sends in flight, so their ack still reaches the client."""

from __future__ import annotations

from gateway.ws._outbox import Outbox, OutFrame


def _frame(text: bytes) -> OutFrame:
    return OutFrame(text, text)


def test_close_during_a_held_send_waits_for_the_ack() -> None:
    outbox = Outbox(limit=8)
    outbox.hold()
    outbox.close(1001, "server shutting down")
    assert not outbox.closing
    assert outbox.push(_frame(b"ack"))
    outbox.release()
    assert outbox.closing
    assert (outbox.close_code, outbox.close_reason) == (1001, "server shutting down")
    assert [f.payload for f in outbox.items] == [b"ack"]


def test_a_discarding_close_does_not_wait() -> None:
    outbox = Outbox(limit=8)
    outbox.hold()
    outbox.close(4000, "slow consumer", discard=True)
    assert outbox.closing
    outbox.release()
    assert outbox.close_code == 4000


def test_the_first_deferred_close_wins() -> None:
    outbox = Outbox(limit=8)
    outbox.hold()
    outbox.close(1001, "first")
    outbox.close(1008, "second")
    outbox.release()
    assert (outbox.close_code, outbox.close_reason) == (1001, "first")
