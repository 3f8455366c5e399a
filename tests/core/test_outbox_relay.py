"""OutboxRelay against fakes: publish (awaiting the acks) first, mark published after; a
failed publish marks nothing, so the next round publishes the same events again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing

from adapters import UnknownOutcomeError
from core._outbox_relay import OutboxRelay
from protocol.domain import DomainEvent, MemberAdded, ThreadCreated, UserProfileUpdated

AT = "2026-11-22T00:00:00.000Z"
CREATED = ThreadCreated("ev1", "th1", "alice", AT, "t", ["alice"])
ADDED = MemberAdded("ev2", "th1", "alice", AT, "bob", ["alice", "bob"])
OTHER = ThreadCreated("ev3", "th2", "bob", AT, "u", ["bob"])
PROFILE = UserProfileUpdated("ev4", "bob", "bob", AT, "Bob B.")


class FakeOutbox:
    def __init__(self, events: list[DomainEvent]) -> None:
        self.events = list(events)
        self.marks: list[list[str]] = []
        self.written = trio.Event()

    def outbox_written(self) -> trio.Event:
        return self.written

    async def pending_outbox(self, limit: int = 100) -> list[DomainEvent]:
        return self.events[:limit]

    async def mark_published(self, events: Sequence[DomainEvent]) -> None:
        self.marks.append([e.event_id for e in events])
        self.events = [e for e in self.events if e not in events]


class FakeProducer:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, Any, Any]] = []

    async def produce_many(self, topic: str, records: Sequence[tuple[Any, Any]]) -> list[Any]:
        if self.fail:
            raise UnknownOutcomeError("broker down")
        self.sent += [(topic, key, value) for key, value in records]
        return []


async def test_publishes_keyed_by_thread_or_user_then_marks() -> None:
    store, producer = FakeOutbox([CREATED, ADDED, OTHER, PROFILE]), FakeProducer()
    relay = OutboxRelay(store, producer, "domain")
    assert await relay.relay_once() == 4
    assert [(t, k) for t, k, _ in producer.sent] == [("domain", "th1")] * 2 + [
        ("domain", "th2"),
        ("domain", "bob"),
    ]
    assert store.marks == [["ev1", "ev2", "ev3", "ev4"]]
    assert await relay.relay_once() == 0


async def test_a_failed_publish_marks_nothing() -> None:
    store, producer = FakeOutbox([CREATED]), FakeProducer(fail=True)
    relay = OutboxRelay(store, producer, "domain")
    with pytest.raises(UnknownOutcomeError, match=r"^broker down$"):
        await relay.relay_once()
    assert store.marks == []
    producer.fail = False
    assert await relay.relay_once() == 1
    assert store.marks == [["ev1"]]


async def test_a_write_in_this_process_wakes_the_relay(mock_clock: object) -> None:
    # The mock clock never moves by itself: only the write can have woken the relay.
    store, producer = FakeOutbox([]), FakeProducer()
    relay = OutboxRelay(store, producer, "domain", poll_s=1000.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        await trio.testing.wait_all_tasks_blocked()
        store.events.append(CREATED)
        store.written.set()  # what MongoStore does on an outbox write: set, then a fresh one
        store.written = trio.Event()
        await trio.testing.wait_all_tasks_blocked()
        assert store.marks == [["ev1"]]
        relay.stop()
