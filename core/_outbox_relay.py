"""OutboxRelay: publishes the domain events the store holds pending, then marks them published.

A change and its domain event are written in one document write (the thread document's
outbox, see MongoStore.create_thread / set_members); this relay is the only thing that moves
them to ``parley.domain-changes`` (``KAFKA_DOMAIN_CHANGES_TOPIC``). Order per event: publish
and await the broker's ack (acks=all), then mark it published. A SIGKILL before the publish
leaves it pending, so the next relay (after a restart, or another core) publishes it; a SIGKILL
between the publish and the mark publishes it again with the SAME event_id, which consumers
dedupe by. Nothing is lost either way.

The store has no change streams (FerretDB), so the relay polls the pending flag; a poll that
found work goes again at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import trio

from adapters import AdapterError, backoff_delays
from protocol.domain import encode_domain_event

if TYPE_CHECKING:
    from adapters import DeliveryInfo
    from protocol.domain import DomainEvent

__all__ = ["OutboxRelay", "OutboxStore"]

log = logging.getLogger(__name__)

_POLL_S = 0.5
_BATCH = 100


class OutboxStore(Protocol):
    async def pending_outbox(self, limit: int = ...) -> list[DomainEvent]: ...
    async def mark_published(self, thread_id: str, events: Sequence[DomainEvent]) -> None: ...


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
        while not self._stop.is_set():
            try:
                moved = await self.relay_once()
            except AdapterError as exc:
                delay = next(delays)
                log.warning("outbox relay: %s; retrying in %.1fs", exc, delay)
                with trio.move_on_after(delay):
                    await self._stop.wait()
                continue
            delays = backoff_delays()
            if moved < _BATCH:
                with trio.move_on_after(self._poll_s):
                    await self._stop.wait()

    async def relay_once(self) -> int:
        """Publish what is pending (awaiting the acks), then mark it; returns how many."""
        events = await self._store.pending_outbox(_BATCH)
        if not events:
            return 0
        await self._producer.produce_many(
            self._topic, [(event.thread_id, encode_domain_event(event)) for event in events]
        )
        by_thread: dict[str, list[DomainEvent]] = {}
        for event in events:
            by_thread.setdefault(event.thread_id, []).append(event)
        for thread_id, published in by_thread.items():
            await self._store.mark_published(thread_id, published)
        self.published += len(events)
        return len(events)

    def stop(self) -> None:
        self._stop.set()
