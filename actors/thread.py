"""ThreadActor: the one sequencer of a thread. It numbers, stores, then announces messages.

Kafka partitions by thread_id, so one core owns each thread and its actor handles that
thread's records in log order. What queued up while it was busy is taken as one batch: one
ordered store write and one wait for Kafka's acks for all of it (a round trip per message
would cap a busy thread at a few hundred messages a second). For each accepted message:

1. seq = last_seq + 1 and an idempotent insert (unique message_id, unique (thread_id, seq));
   a redelivered record finds its stored document and keeps its original seq;
2. the stored message is produced to `chat.events` and the broker's ack awaited;
3. only then is the Kafka record acknowledged, so its offset may be committed.

A crash between 1 and 3 redelivers the record; step 1 finds it stored and step 2 announces
it again (clients dedupe by message_id). If another core still believes it owns the thread
(a zombie after a rebalance), the unique (thread_id, seq) index refuses one of the two
writes; the loser reloads last_seq from the store and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import trio

from actors import Actor, MailboxPolicy
from adapters import (
    AdapterError,
    InvalidDocumentError,
    PoisonRecordError,
    SeqConflictError,
    backoff_delays,
)
from parley.events import MessageEvent, PostMessage, encode

if TYPE_CHECKING:
    from adapters import ConsumedRecord, KafkaConsumer, KafkaProducer, StoredMessage

__all__ = ["CoreDeps", "MessageStorePort", "ThreadActor", "ThreadSequencer", "TurnHook", "Work"]

log = logging.getLogger(__name__)

_MAX_SEQ_RETRIES = 5
# Records of one thread taken from the mailbox at once: bounds one store write.
BATCH_LIMIT = 256

# Called after a message is stored and announced; plugins (assistants answering turns) will
# hang off this point. It must not block the thread: hooks get their own tasks.
TurnHook = Callable[[MessageEvent], Awaitable[None]]


class MessageStorePort(Protocol):
    async def last_seq(self, thread_id: str) -> int: ...
    async def insert_message(self, doc: dict[str, Any]) -> StoredMessage: ...
    async def insert_new_messages(self, docs: Sequence[dict[str, Any]]) -> int: ...


class EventPublisher(Protocol):
    """Announces events on chat.events, in order; returns once Kafka has all of them."""

    async def __call__(self, events: Sequence[MessageEvent]) -> None: ...


@dataclass
class ThreadSequencer:
    """The state and the work of one thread; the actor feeds it records in order."""

    thread_id: str
    store: MessageStorePort
    publish: EventPublisher
    last_seq: int | None = None
    stored: int = 0
    duplicates: int = 0
    # True while last_seq is a guess (see _known_last_seq), not read from the store.
    guessed: bool = False

    def _known_last_seq(self) -> int:
        if self.last_seq is None:
            # A thread this actor has not seen is most often new: guess 0 instead of asking.
            # If it has messages, seq 1 is taken, the unique (thread_id, seq) index refuses
            # the write, and the conflict path reads the real last seq. So only threads with
            # history pay a query, which on FerretDB scans the whole messages collection.
            self.last_seq, self.guessed = 0, True
        return self.last_seq

    async def _reload_after_conflict(self) -> None:
        if not self.guessed:
            # Someone else wrote this seq: we are not (or no longer) the only owner.
            log.warning("seq conflict; reloaded", extra={"thread_id": self.thread_id})
        self.guessed = False
        self.last_seq = await self.store.last_seq(self.thread_id)

    async def handle(self, post: PostMessage) -> tuple[MessageEvent, bool]:
        """Store and announce `post`; returns its event and whether it was stored before."""
        for _attempt in range(_MAX_SEQ_RETRIES):
            seq = self._known_last_seq() + 1
            try:
                result = await self.store.insert_message(_document(post, seq))
            except SeqConflictError:
                await self._reload_after_conflict()
                continue
            if result.duplicate:
                self.duplicates += 1
            else:
                self.stored += 1
                self.last_seq, self.guessed = seq, False
            event = _event(result.doc)
            await self.publish([event])
            return event, result.duplicate
        raise SeqConflictError(
            f"thread {self.thread_id}: seq kept conflicting after {_MAX_SEQ_RETRIES} reloads"
        )

    async def handle_new(self, posts: Sequence[PostMessage]) -> list[MessageEvent]:
        """Store and announce the leading posts that are new, in one write; returns their events.

        Stops at the first post that clashes (stored before, or its seq taken by someone
        else): that one and the rest are for handle(), which tells those cases apart.
        """
        first = self._known_last_seq() + 1
        docs = [_document(post, first + i) for i, post in enumerate(posts)]
        stored = await self.store.insert_new_messages(docs)
        if stored == 0:
            return []
        self.guessed = False
        self.last_seq = first - 1 + stored
        self.stored += stored
        events = [_event(doc) for doc in docs[:stored]]
        await self.publish(events)
        return events


def _document(post: PostMessage, seq: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "message_id": post.message_id,
        "thread_id": post.thread_id,
        "seq": seq,
        "sender_id": post.sender_id,
        "text": post.text,
        "created_at": post.created_at,
    }
    if post.client_msg_id is not None:
        doc["client_msg_id"] = post.client_msg_id
    return doc


def _event(doc: dict[str, Any]) -> MessageEvent:
    return MessageEvent(
        thread_id=doc["thread_id"],
        seq=int(doc["seq"]),
        message_id=doc["message_id"],
        sender_id=doc["sender_id"],
        text=doc["text"],
        created_at=str(doc["created_at"]),
        client_msg_id=doc.get("client_msg_id"),
    )


@dataclass(frozen=True, slots=True)
class Work:
    """One accepted message for this thread and the Kafka record it came in."""

    post: PostMessage
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

    def __init__(self, thread_id: str, deps: CoreDeps) -> None:
        self._deps = deps
        self._sequencer = ThreadSequencer(thread_id, deps.store, self._publish)

    def on_passivate(self) -> object:
        # Keep only the last seq: a reactivated actor need not ask the store again.
        sequencer = self._sequencer
        return None if sequencer.guessed else sequencer.last_seq

    def on_reactivate(self, state: object) -> None:
        if isinstance(state, int):
            self._sequencer.last_seq = state

    async def _publish(self, events: Sequence[MessageEvent]) -> None:
        topic = self._deps.events_topic
        await self._deps.producer.produce_many(
            topic, [(event.thread_id, encode(event)) for event in events]
        )

    async def receive(self, msg: Work) -> None:
        # What queued behind this record goes as one ordered write of this thread's records,
        # and the store writes the batches of threads that arrive together in one go (group
        # commit, adapters/_group_insert.py). A single record takes that path too: with a
        # hundred quiet threads most batches are one message, and sharing writes is the gain.
        batch = [msg, *self.ref.take_queued(BATCH_LIMIT - 1)]
        done = await self._store_new(batch)
        for work in batch[done:]:
            await self._store_one(work)

    async def _store_new(self, batch: list[Work]) -> int:
        """The batch's leading new messages in one go; returns how many were done."""
        delays = backoff_delays()
        while True:
            try:
                events = await self._sequencer.handle_new([work.post for work in batch])
            except InvalidDocumentError:
                return 0  # one of them can never be stored: one at a time finds which
            except AdapterError as exc:
                await self._back_off(batch[0].post.thread_id, exc, next(delays))
                continue
            for event, work in zip(events, batch, strict=False):
                self._deps.on_stored(event)
                self._deps.consumer.ack(work.record)
            return len(events)

    async def _store_one(self, msg: Work) -> None:
        delays = backoff_delays()
        while True:
            try:
                event, duplicate = await self._sequencer.handle(msg.post)
            except (InvalidDocumentError, PoisonRecordError) as exc:
                await self._deps.dead_letter(msg.record, str(exc))
                break
            except (AdapterError, SeqConflictError) as exc:
                await self._back_off(msg.post.thread_id, exc, next(delays))
                continue
            if duplicate:
                self._deps.on_duplicate(event)
            else:
                self._deps.on_stored(event)
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

    store: MessageStorePort
    producer: KafkaProducer
    consumer: KafkaConsumer
    events_topic: str
    dead_letter: Callable[[ConsumedRecord, str], Awaitable[None]]
    on_stored: Callable[[MessageEvent], None]
    on_duplicate: Callable[[MessageEvent], None]
