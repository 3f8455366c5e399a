"""ThreadActor: the one owner of a thread in the cluster; feeds its ThreadSequencer in order.

Kafka partitions by thread_id, so one core owns each thread and its actor handles that
thread's records in log order. What queued up while it was busy is taken as one batch: one
ordered store write and one wait for Kafka's acks for all of it (a round trip per message
would cap a busy thread at a few hundred messages a second). Only once the
sequencer stored and announced a message (core/_sequencer.py) is its Kafka record
acknowledged, so its offset may be committed: a crash before that redelivers the record,
the store finds it stored and it is announced again (clients dedupe by message_id).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from actors import Actor, MailboxPolicy
from adapters import (
    AdapterError,
    InvalidDocumentError,
    PoisonRecordError,
    SeqConflictError,
    backoff_delays,
)
from core._sequencer import MessageStore, ThreadSequencer
from core._turns import ThreadTurns, TurnDeps
from protocol.events import (
    ChangeCommand,
    MessageChange,
    MessageEvent,
    PostMessage,
    ThreadCommand,
    TurnStopRequest,
    encode,
)

if TYPE_CHECKING:
    from adapters import ConsumedRecord, KafkaConsumer, KafkaProducer

__all__ = ["CoreDeps", "ThreadActor", "Work"]

log = logging.getLogger(__name__)

# Records of one thread taken from the mailbox at once: bounds one store write.
BATCH_LIMIT = 256


@dataclass(frozen=True, slots=True)
class Work:
    """One accepted command for this thread (a post, an edit, a delete) and its Kafka record."""

    post: ThreadCommand
    record: ConsumedRecord


class ThreadActor(Actor[Work]):
    """Feeds its thread's records to a ThreadSequencer in log order, in batches when queued.

    Failures of the infrastructure (store or Kafka unreachable, unknown outcome) retry the
    same record with backoff, for as long as it takes: the record is not acknowledged, so
    nothing after it in the partition is committed, and nothing is lost. A record that can
    never be stored goes to the dead-letter topic with its reason and is acknowledged.
    """

    # Never full in practice: the consumer pauses partitions long before (max_outstanding).
    mailbox_capacity = 4096
    mailbox_policy = MailboxPolicy.REJECT
    stop_grace = 10.0
    # The assistant turns of the thread run in the actor's nursery (never a connection's).
    uses_nursery = True

    def __init__(self, thread_id: str, deps: CoreDeps) -> None:
        self._deps = deps
        self._sequencer = ThreadSequencer(thread_id, deps.store, self._publish)
        self._turns = (
            None
            if deps.turns is None
            else ThreadTurns(thread_id, deps.turns, lambda: self.nursery, self._store_reply_now)
        )

    async def on_stopping(self) -> None:
        # Drain or passivation: a running turn is stopped and its partial reply stored here
        # (the mailbox loop has ended, so the sequencer is this task's alone).
        if self._turns is not None:
            await self._turns.drain()

    async def _store_reply_now(self, post: PostMessage) -> None:
        event, duplicate = await self._sequencer.handle(post)
        if not duplicate:
            self._deps.on_stored(event)

    async def _turns_after(self, events: Sequence[MessageEvent]) -> None:
        if self._turns is not None and events:
            await self._turns.on_stored(list(events))

    def on_passivate(self) -> object:
        # Keep only the last seq: a reactivated actor need not ask the store again.
        sequencer = self._sequencer
        return None if sequencer.guessed else sequencer.last_seq

    def on_reactivate(self, state: object) -> None:
        if isinstance(state, int):
            self._sequencer.last_seq = state

    async def _publish(self, events: Sequence[MessageEvent | MessageChange]) -> None:
        topic = self._deps.events_topic
        await self._deps.producer.produce_many(
            topic, [(event.thread_id, encode(event)) for event in events]
        )

    async def receive(self, msg: Work) -> None:
        # What queued behind this record goes as one ordered write of this thread's records,
        # and the store writes the batches of threads that arrive together in one go (group
        # commit, adapters/_group_insert.py). A single record takes that path too: with a
        # hundred quiet threads most batches are one message, and sharing writes is the gain.
        # Edits and deletes are rare and go one at a time, in their place in the log.
        batch = [msg, *self.ref.take_queued(BATCH_LIMIT - 1)]
        start = 0
        while start < len(batch):
            first = batch[start].post
            if isinstance(first, TurnStopRequest):
                if self._turns is not None:
                    self._turns.stop(first)
                self._deps.consumer.ack(batch[start].record)
                start += 1
                continue
            if not isinstance(first, PostMessage):
                await self._store_change(batch[start], first)
                start += 1
                continue
            end = start
            posts: list[PostMessage] = []
            while end < len(batch) and isinstance(post := batch[end].post, PostMessage):
                posts.append(post)
                end += 1
            run = batch[start:end]
            done = await self._store_new(run, posts)
            for work, post in zip(run[done:], posts[done:], strict=True):
                await self._store_one(work, post)
            start = end

    async def _store_change(self, msg: Work, command: ChangeCommand) -> None:
        delays = backoff_delays()
        while True:
            try:
                await self._sequencer.handle_change(command)
            except (InvalidDocumentError, PoisonRecordError) as exc:
                await self._deps.dead_letter(msg.record, str(exc))
                break
            except (AdapterError, SeqConflictError) as exc:
                await self._back_off(command.thread_id, exc, next(delays))
                continue
            break
        self._deps.consumer.ack(msg.record)

    async def _store_new(self, batch: list[Work], posts: list[PostMessage]) -> int:
        """The batch's leading new messages in one go; returns how many were done."""
        delays = backoff_delays()
        while True:
            try:
                events = await self._sequencer.handle_new(posts)
            except InvalidDocumentError:
                return 0  # one of them can never be stored: one at a time finds which
            except AdapterError as exc:
                await self._back_off(posts[0].thread_id, exc, next(delays))
                continue
            for event, work in zip(events, batch, strict=False):
                self._deps.on_stored(event)
                self._deps.consumer.ack(work.record)
            await self._turns_after(events)
            return len(events)

    async def _store_one(self, msg: Work, post: PostMessage) -> None:
        delays = backoff_delays()
        while True:
            try:
                event, duplicate = await self._sequencer.handle(post)
            except (InvalidDocumentError, PoisonRecordError) as exc:
                await self._deps.dead_letter(msg.record, str(exc))
                break
            except (AdapterError, SeqConflictError) as exc:
                await self._back_off(post.thread_id, exc, next(delays))
                continue
            if duplicate:
                self._deps.on_duplicate(event)
            else:
                self._deps.on_stored(event)
                self._deps.consumer.ack(msg.record)
                await self._turns_after([event])
                return
            break
        self._deps.consumer.ack(msg.record)

    async def _back_off(self, thread_id: str, exc: Exception, delay: float) -> None:
        log.warning("thread %s: %s; retrying in %.1fs", thread_id, exc, delay)
        # A passivated last_seq may be stale after an outage: reload it.
        self._sequencer.last_seq = None
        await trio.sleep(delay)


@dataclass(frozen=True)
class CoreDeps:
    """What every ThreadActor of one core shares."""

    store: MessageStore
    producer: KafkaProducer
    consumer: KafkaConsumer
    events_topic: str
    dead_letter: Callable[[ConsumedRecord, str], Awaitable[None]]
    on_stored: Callable[[MessageEvent], None]
    on_duplicate: Callable[[MessageEvent], None]
    # None: this core runs no assistant turns (tests of the message path alone).
    turns: TurnDeps | None = None
