"""ThreadActor: the one sequencer of a thread. It numbers, stores, then announces messages.

Kafka partitions by thread_id, so one core owns each thread and its actor handles that
thread's records one at a time, in log order. For each accepted message:

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
from collections.abc import Awaitable, Callable
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

# Called after a message is stored and announced; plugins (assistants answering turns) will
# hang off this point. It must not block the thread: hooks get their own tasks.
TurnHook = Callable[[MessageEvent], Awaitable[None]]


class MessageStorePort(Protocol):
    async def last_seq(self, thread_id: str) -> int: ...
    async def insert_message(self, doc: dict[str, Any]) -> StoredMessage: ...


class EventPublisher(Protocol):
    async def __call__(self, event: MessageEvent) -> None: ...


@dataclass
class ThreadSequencer:
    """The state and the work of one thread; the actor feeds it records in order."""

    thread_id: str
    store: MessageStorePort
    publish: EventPublisher
    last_seq: int | None = None
    stored: int = 0
    duplicates: int = 0

    async def handle(self, post: PostMessage) -> tuple[MessageEvent, bool]:
        """Store and announce `post`; returns its event and whether it was stored before."""
        if self.last_seq is None:
            self.last_seq = await self.store.last_seq(self.thread_id)
        for _attempt in range(_MAX_SEQ_RETRIES):
            seq = self.last_seq + 1
            try:
                result = await self.store.insert_message(_document(post, seq))
            except SeqConflictError:
                # Someone else wrote this seq: we are not (or no longer) the only owner.
                self.last_seq = await self.store.last_seq(self.thread_id)
                log.warning("seq conflict; reloaded", extra={"thread_id": self.thread_id})
                continue
            if result.duplicate:
                self.duplicates += 1
            else:
                self.stored += 1
                self.last_seq = seq
            event = _event(result.doc)
            await self.publish(event)
            return event, result.duplicate
        raise SeqConflictError(
            f"thread {self.thread_id}: seq kept conflicting after {_MAX_SEQ_RETRIES} reloads"
        )


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
    """Feeds its thread's records to a ThreadSequencer, one at a time, in log order.

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
        return self._sequencer.last_seq

    def on_reactivate(self, state: object) -> None:
        if isinstance(state, int):
            self._sequencer.last_seq = state

    async def _publish(self, event: MessageEvent) -> None:
        await self._deps.producer.produce(
            self._deps.events_topic, encode(event), key=event.thread_id
        )

    async def receive(self, msg: Work) -> None:
        delays = backoff_delays()
        while True:
            try:
                event, duplicate = await self._sequencer.handle(msg.post)
            except (InvalidDocumentError, PoisonRecordError) as exc:
                await self._deps.dead_letter(msg.record, str(exc))
                break
            except (AdapterError, SeqConflictError) as exc:
                delay = next(delays)
                log.warning("thread %s: %s; retrying in %.1fs", msg.post.thread_id, exc, delay)
                # A passivated last_seq may be stale after an outage: reload it.
                self._sequencer.last_seq = None
                await trio.sleep(delay)
                continue
            if duplicate:
                self._deps.on_duplicate(event)
            else:
                self._deps.on_stored(event)
            break
        self._deps.consumer.ack(msg.record)


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
