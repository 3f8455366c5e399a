"""OutboxRelay: publishes the domain events the store holds pending, then marks them published.

A change and its domain event are written in one document write (the outbox of the thread's
document, the user's document, or an edit's or delete's own row: MongoStore.create_thread,
set_members, set_title, set_archived, set_profile, apply_change); this relay is the only thing
that moves them to ``parley.domain-changes`` (``KAFKA_DOMAIN_CHANGES_TOPIC``). Order per event:
publish and await the broker's ack (acks=all), then mark it published. A SIGKILL before the
publish leaves it pending, so the next relay (after a restart, or another core) publishes it; a
SIGKILL between the publish and the mark publishes it again with the SAME event_id, which
consumers dedupe by. Nothing is lost either way.

The store has no change streams (FerretDB), and on FerretDB every query on `threads` but by
`_id` scans the collection, so the relay must not poll fast: it wakes at once when this
process wrote an outbox entry (``outbox_written``), and otherwise polls with a delay that
grows from 0.5 s to 10 s while nothing is pending (measured: polling every 0.5 s cost the
fan-out bench a third of its deliveries/s). A round that found a full batch goes again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import trio

from adapters import AdapterError, backoff_delays
from protocol.domain import encode_domain_event, key_of

if TYPE_CHECKING:
    from adapters import DeliveryInfo
    from protocol.domain import DomainEvent

__all__ = ["OutboxRelay", "OutboxStore"]

log = logging.getLogger(__name__)

_POLL_S = 0.5
_POLL_MAX_S = 10.0
_BATCH = 100


class OutboxStore(Protocol):
    async def pending_outbox(self, limit: int = ...) -> list[DomainEvent]: ...
    def outbox_written(self) -> trio.Event: ...
    async def mark_published(self, events: Sequence[DomainEvent]) -> None: ...


class Publisher(Protocol):
    async def produce_many(
        self, topic: str, records: Sequence[tuple[bytes | str | None, bytes | None]]
    ) -> list[DeliveryInfo]: ...


class OutboxRelay:
    """A Service (run/stop) under the core's supervision."""

    def __init__(
        self, store: OutboxStore, producer: Publisher, topic: str, *, poll_s: float = _POLL_S
    ) -> None:
        self._store = store
        self._producer = producer
        self._topic = topic
        self._poll_s = poll_s
        self._stop = trio.Event()
        self.published = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delays = backoff_delays()
        idle_wait = self._poll_s
        while not self._stop.is_set():
            written = self._store.outbox_written()  # taken before the read: no lost wake-up
            try:
                moved = await self.relay_once()
            except AdapterError as exc:
                delay = next(delays)
                log.warning("outbox relay: %s; retrying in %.1fs", exc, delay)
                await self._sleep(delay, written)
                continue
            delays = backoff_delays()
            if moved >= _BATCH:
                continue
            idle_wait = self._poll_s if moved else min(idle_wait * 2, _POLL_MAX_S)
            await self._sleep(idle_wait, written)

    async def _sleep(self, seconds: float, written: trio.Event) -> None:
        """Until `seconds` pass, this process writes an outbox entry, or stop() is called."""
        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:

                async def wake_on(event: trio.Event) -> None:
                    await event.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(wake_on, written)
                nursery.start_soon(wake_on, self._stop)

    async def relay_once(self) -> int:
        """Publish what is pending (awaiting the acks), then mark it; returns how many."""
        events = await self._store.pending_outbox(_BATCH)
        if not events:
            return 0
        await self._producer.produce_many(
            self._topic, [(key_of(event), encode_domain_event(event)) for event in events]
        )
        await self._store.mark_published(events)
        self.published += len(events)
        return len(events)

    def stop(self) -> None:
        self._stop.set()
